"""``flowtest serve``: the sandbox server."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from flowtest.cli.options import (
    Commands,
    api_key_type,
    at_least_one_type,
    duration_type,
    port_type,
    positive_duration_type,
    project_root,
    rate_type,
    share_type,
)
from flowtest.sandbox import DEFAULT_API_KEY, DEFAULT_PORT
from flowtest.sandbox.flows import FlowFilesError


def add(commands: Commands[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("serve", help="run the sandbox server (the API contract on loopback)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=port_type,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--flows",
        type=Path,
        default=Path("scenarios/flows"),
        help="folder of *.flow.yaml files (default scenarios/flows)",
    )
    parser.add_argument(
        "--org",
        action="append",
        dest="orgs",
        metavar="ORG",
        help="organization the key opens (repeatable; default demo)",
    )
    parser.add_argument(
        "--api-key",
        type=api_key_type,
        default=DEFAULT_API_KEY,
        help="the API key clients must send (default: the development key)",
    )
    parser.add_argument(
        "--session-ttl", type=positive_duration_type, default=3600.0, help="session lifetime (default 1h)"
    )
    parser.add_argument("--latency", type=duration_type, default=0.0, help="added to every answer, e.g. 50ms")
    parser.add_argument("--error-rate", type=share_type, default=0.0, help="share of requests answered 503")
    parser.add_argument("--rate-limit", type=rate_type, default=None, help="requests per second, e.g. 20/s")
    parser.add_argument(
        "--max-sessions", type=at_least_one_type, default=10_000, help="live sessions at most"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed for --error-rate and for the flows' one_of choices"
    )
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from flowtest.sandbox.app import Faults, Limits
    from flowtest.sandbox.server import SandboxConfig, serve

    config = SandboxConfig(
        flows_dir=args.flows,
        orgs=tuple(args.orgs or ["demo"]),
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        limits=Limits(session_ttl=args.session_ttl, max_sessions=args.max_sessions),
        faults=Faults(args.latency, args.error_rate, args.rate_limit, args.seed),
        # Always on: a run in another process fetches what its sessions took (GET /_sandbox/coverage);
        # a set of small ints per session, at most 100,000 ended sessions kept.
        coverage=True,
        project_root=project_root(Path.cwd()),
    )

    def announce(url: str) -> None:
        orgs = ", ".join(config.orgs)
        key = "the development key " + DEFAULT_API_KEY if args.api_key == DEFAULT_API_KEY else "--api-key"
        print(f"flowtest sandbox listening on {url} (org {orgs}; API key: {key})", flush=True)
        if args.api_key == DEFAULT_API_KEY and not _loopback(args.host):
            print(
                f"flowtest: warning: the sandbox listens on {args.host}, beyond this machine, with the "
                f"development key, which is published ({DEFAULT_API_KEY}): whoever reaches it can use it; "
                "give it a key of your own with --api-key",
                file=sys.stderr,
                flush=True,
            )

    try:
        serve(config, announce, lambda line: print(line, file=sys.stderr, flush=True))
    except FlowFilesError as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        count = len(exc.errors)
        print(
            f"flowtest: the sandbox did not start: {count} problem(s) in flow files",
            file=sys.stderr,
        )
        return 2
    return 0


def _loopback(host: str) -> bool:
    """Whether only this machine can reach an address bound to ``host``."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower() == "localhost"
