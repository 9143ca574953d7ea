"""Run the sandbox: in the foreground (``flowtest serve``) or in a thread for tests and the plugin."""

from __future__ import annotations

import gc
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from flowtest.errors import FlowtestError
from flowtest.sandbox import DEFAULT_API_KEY, DEFAULT_PORT
from flowtest.sandbox.app import Clock, Faults, Limits, SandboxApi, create_app
from flowtest.sandbox.flows import FlowSet, load_flow_set
from flowtest.sandbox.paths import PathLog

logger = logging.getLogger(__name__)

_START_TIMEOUT = 15.0
_KEEP_ALIVE = 75  # seconds, nginx's default


@dataclass(frozen=True)
class SandboxConfig:
    flows_dir: Path = Path("scenarios/flows")
    orgs: tuple[str, ...] = ("demo",)
    api_key: str = field(default=DEFAULT_API_KEY, repr=False)
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    limits: Limits = Limits()
    faults: Faults = Faults()
    coverage: bool = False  # record the edges each session takes (GET /_sandbox/coverage)
    project_root: Path | None = None  # flow files that link outside it are not read


@dataclass(frozen=True)
class RunningSandbox:
    url: str
    api: SandboxApi
    config: SandboxConfig

    @property
    def open_sessions(self) -> int:
        return len(self.api.sessions)


def build_api(config: SandboxConfig, clock: Clock = time.time) -> SandboxApi:
    """Load the flows and make the API object. A broken flow file costs only its flow (Start
    Session answers with its problems); a missing flows folder is a FlowFilesError."""
    flows = load_sandbox_flows(config)
    keys = {config.api_key: frozenset(config.orgs)}
    paths = PathLog() if config.coverage else None
    return SandboxApi(flows, keys, config.limits, config.faults, clock, paths)


def load_sandbox_flows(config: SandboxConfig) -> FlowSet:
    if config.project_root is None:
        return load_flow_set(config.flows_dir)
    from flowtest.scenario.loader import ScenarioLoader  # the scenarios' rules: links out, paths shown

    loader = ScenarioLoader(config.project_root)
    return load_flow_set(config.flows_dir, loader.outside, loader.display)


def bind(host: str, port: int) -> socket.socket:
    """Bind and listen now, so the port is known (0 picks a free one) before the server runs."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this; without it h11 answers stall ~40ms on delayed ACKs.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise FlowtestError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    # As deep a queue of connections as the system allows: runs open thousands at once.
    sock.listen(socket.SOMAXCONN)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(api: SandboxApi, on_ready: Callable[[], None] | None) -> uvicorn.Server:
    app = create_app(api, on_ready)
    # Idle connections stay open longer than a client keeps them (aiohttp: 15 s), so the
    # client closes first: uvicorn's 5 s closed pooled connections as a request went out,
    # which failed Send Message calls once a run had thousands of conversations in flight.
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", timeout_keep_alive=_KEEP_ALIVE
    )
    return uvicorn.Server(config)


def serve(
    config: SandboxConfig, announce: Callable[[str], None], warn: Callable[[str], None] = logger.warning
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM (uvicorn handles both)."""
    api = build_api(config)
    if api.broken:
        for error in (error for errors in api.broken.values() for error in errors):
            warn(str(error))
        names = ", ".join(sorted(api.broken))
        problems = "Start Session answers with the problems above"
        warn(f"flowtest: {len(api.broken)} flow(s) cannot run ({names}): {problems}")
    sock = bind(config.host, config.port)
    url = url_of(sock)
    server = _server(api, lambda: announce(url))
    # The server's own process: what is loaded stays, and with thousands of live sessions
    # and connections, collecting the young generation every 700 allocations made its CPU
    # per request grow with the number of conversations in flight (the plugin does the
    # same for a concurrent run's process).
    gc.freeze()
    gc.set_threshold(10_000, *gc.get_threshold()[1:])
    # uvicorn shuts down gracefully on either signal, then re-raises it: both end here quietly.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        logger.info("sandbox stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def running_sandbox(config: SandboxConfig, clock: Clock = time.time) -> Iterator[RunningSandbox]:
    """The sandbox in a background thread on ``config.port`` (use 0 for a free one)."""
    api = build_api(config, clock)
    sock = bind(config.host, config.port)
    ready = threading.Event()
    server = _server(api, ready.set)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="flowtest-sandbox", daemon=True
    )
    thread.start()
    try:
        if not ready.wait(_START_TIMEOUT):
            raise FlowtestError(f"the sandbox did not start within {_START_TIMEOUT:.0f}s")
        yield RunningSandbox(url_of(sock), api, config)
    finally:
        server.should_exit = True
        thread.join(_START_TIMEOUT)
        sock.close()
