"""The ``flowtest`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from flowtest import __version__
from flowtest.config import positive_rate
from flowtest.durations import parse_duration
from flowtest.errors import FlowtestError
from flowtest.reporting.html_report import ReportPaths, build_report, quality_gate
from flowtest.sandbox.app import Faults, Limits
from flowtest.sandbox.flows import FlowFilesError
from flowtest.sandbox.server import DEFAULT_API_KEY, DEFAULT_PORT, SandboxConfig, serve

logger = logging.getLogger(__name__)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate(text: str) -> float:
    try:
        return positive_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share from 0 to 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a share from 0 to 1, got {text!r}")
    return value


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("serve", help="run the sandbox server (the API contract on loopback)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
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
        default=DEFAULT_API_KEY,
        help="the API key clients must send (default: the development key)",
    )
    parser.add_argument("--session-ttl", type=_duration, default=3600.0, help="session lifetime (default 1h)")
    parser.add_argument("--latency", type=_duration, default=0.0, help="added to every answer, e.g. 50ms")
    parser.add_argument("--error-rate", type=_share, default=0.0, help="share of requests answered 503")
    parser.add_argument("--rate-limit", type=_rate, default=None, help="requests per second, e.g. 20/s")
    parser.add_argument("--max-sessions", type=int, default=10_000, help="live sessions at most")
    parser.add_argument("--seed", type=int, default=None, help="seed for --error-rate")
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    config = SandboxConfig(
        flows_dir=args.flows,
        orgs=tuple(args.orgs or ["demo"]),
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        limits=Limits(session_ttl=args.session_ttl, max_sessions=args.max_sessions),
        faults=Faults(args.latency, args.error_rate, args.rate_limit, args.seed),
    )

    def announce(url: str) -> None:
        orgs = ", ".join(config.orgs)
        key = "the development key " + DEFAULT_API_KEY if args.api_key == DEFAULT_API_KEY else "--api-key"
        print(f"flowtest sandbox listening on {url} (org {orgs}; API key: {key})", flush=True)

    try:
        serve(config, announce)
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


def _add_report(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("report", help="turn Allure results into one HTML file (Allure 3, npm)")
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("reports/allure-results"),
        help="Allure results folder (default reports/allure-results)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("reports/allure-report"),
        help="report folder (default reports/allure-report)",
    )
    parser.add_argument(
        "--quality-gate", action="store_true", help="fail (exit 1) when more tests failed than --max-failures"
    )
    parser.add_argument("--max-failures", type=int, default=0, help="for --quality-gate (default 0)")
    parser.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    root = Path.cwd()
    paths = ReportPaths(root, (root / args.results).resolve(), (root / args.output).resolve())
    index = build_report(paths)
    print(f"flowtest: report written to {index.relative_to(root) if index.is_relative_to(root) else index}")
    if not args.quality_gate:
        return 0
    passed, message = quality_gate(paths, args.max_failures)
    print(f"flowtest: {message}")
    return 0 if passed else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flowtest", description=__doc__)
    parser.add_argument("--version", action="version", version=f"flowtest {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(commands)
    _add_report(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="flowtest: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except FlowtestError as exc:
        print(f"flowtest: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
