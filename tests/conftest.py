"""Fixtures for flowtest's own tests: a real sandbox on a free loopback port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowtest.client import ClientConfig, Exchange, FlowClient
from flowtest.sandbox import DEFAULT_API_KEY, SandboxConfig, running_sandbox
from flowtest.sandbox.server import RunningSandbox

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "scenarios" / "flows"


def sandbox_config(**changes: object) -> SandboxConfig:
    base = SandboxConfig(flows_dir=FLOWS, orgs=("demo", "acme"), port=0)
    return SandboxConfig(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def pytest_configure(config: pytest.Config) -> None:
    """The signal tests send Ctrl-C and SIGHUP to their children: a runner that started this suite
    with them ignored (a background job of a script, nohup) would pass that on to every child,
    and flowtest rightly leaves an ignored SIGHUP ignored. A handler of our own is reset to the
    default in each child; SIGHUP's default is inherited as it is."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(sandbox_config()) as running:
        yield running


@pytest.fixture
def exchanges() -> list[Exchange]:
    return []


@pytest.fixture
def client(sandbox: RunningSandbox, exchanges: list[Exchange]) -> Iterator[FlowClient]:
    config = ClientConfig(sandbox.url, "demo", DEFAULT_API_KEY)
    with FlowClient(config, recorder=exchanges.append) as flow_client:
        yield flow_client


# -- running pytest and flowtest the way a user does: in a subprocess --------------------

PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:schemathesis"]
FLOWTEST = [sys.executable, "-m", "flowtest.cli"]


def run_pytest(
    folder: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """pytest on ``folder`` (its own rootdir), as a subprocess; never raises on failure."""
    command = [*PYTEST, "--rootdir", str(folder), str(folder), *args]
    return subprocess.run(
        command,
        cwd=folder,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def failure_sections(output: str) -> dict[str, str]:
    """Each failed test's section of the report, by test name, with timings normalised."""
    found: dict[str, str] = {}
    parts = re.split(r"^_{3,} (.+?) _{3,}$", output, flags=re.MULTILINE)
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        body = body.split("\n=====")[0].strip("\n")
        body = re.sub(r"ses_[0-9a-f]+", "ses_X", body)
        found[name] = re.sub(r"\(\d+(\.\d+)?m?s\)", "(T)", body)
    return found


def start_pytest_with_logs(folder: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """pytest with DEBUG logs on stdout, for tests that wait for a request, then send a signal."""
    command = [
        *PYTEST,
        "--rootdir",
        str(folder),
        str(folder),
        "-o",
        "log_cli=true",
        "--log-cli-level=DEBUG",
        *args,
    ]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
    return subprocess.Popen(
        command, cwd=folder, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
