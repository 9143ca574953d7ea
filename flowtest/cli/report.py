"""``flowtest report``: the HTML report from Allure results."""

from __future__ import annotations

import argparse
from pathlib import Path

from flowtest.cli.options import Commands
from flowtest.config import DEFAULT_ALLURE_REPORT, DEFAULT_ALLURE_RESULTS


def add(commands: Commands[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("report", help="turn Allure results into one HTML file (Allure 3, npm)")
    parser.add_argument(
        "--results",
        type=Path,
        default=DEFAULT_ALLURE_RESULTS,
        help=f"Allure results folder (default {DEFAULT_ALLURE_RESULTS})",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_ALLURE_REPORT,
        help=f"report folder (default {DEFAULT_ALLURE_REPORT})",
    )
    parser.add_argument(
        "--quality-gate", action="store_true", help="fail (exit 1) when more tests failed than --max-failures"
    )
    parser.add_argument("--max-failures", type=int, default=0, help="for --quality-gate (default 0)")
    parser.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from flowtest.reporting.html_report import ReportPaths, build_report, quality_gate

    root = Path.cwd()
    paths = ReportPaths(root, (root / args.results).resolve(), (root / args.output).resolve())
    index = build_report(paths)
    print(f"flowtest: report written to {paths.shown(index)}")
    if not args.quality_gate:
        return 0
    passed, message = quality_gate(paths, args.max_failures)
    print(f"flowtest: {message}")
    return 0 if passed else 1
