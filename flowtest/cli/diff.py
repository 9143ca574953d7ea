"""``flowtest diff``: what changed between two runs kept under ``reports/runs``."""

from __future__ import annotations

import argparse
from pathlib import Path

from flowtest.cli.options import Commands, argument, project_root
from flowtest.durations import parse_duration

DEFAULT_LATENCY = "500ms"


def add(commands: Commands[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "diff",
        help="what changed between two runs: tests newly failing or passing, steps that answer differently",
        description="Compare two runs kept under reports/runs (by default the last two). "
        "OLD and NEW are run ids (or their start) or run files.",
    )
    parser.add_argument(
        "old", nargs="?", metavar="OLD", help="the earlier run (default: the one before the last)"
    )
    parser.add_argument("new", nargs="?", metavar="NEW", help="the later run (default: the last)")
    parser.add_argument(
        "--latency",
        type=argument(_milliseconds),
        default=_milliseconds(DEFAULT_LATENCY),
        metavar="DURATION",
        help=f"report a step's latency when it moved by this much or more (default {DEFAULT_LATENCY})",
    )
    parser.add_argument(
        "--format", choices=("text", "markdown"), default="text", help="markdown: for a pull request"
    )
    parser.add_argument(
        "--runs", type=Path, default=None, help="folder of the run records (default reports/runs)"
    )
    parser.set_defaults(handler=_diff)


def _milliseconds(text: str) -> float:
    return parse_duration(text) * 1000


def _diff(args: argparse.Namespace) -> int:
    from flowtest.reporting.runlog import (
        RUNS_FOLDER,
        diff_runs,
        load_run,
        pick_runs,
        render_markdown,
        render_text,
    )

    folder = args.runs if args.runs is not None else project_root(Path.cwd()) / RUNS_FOLDER
    old, new = pick_runs(folder, args.old, args.new)
    diff = diff_runs(load_run(old), load_run(new), args.latency)
    print(render_markdown(diff) if args.format == "markdown" else render_text(diff), end="")
    return 0
