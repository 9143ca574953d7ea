"""``flowtest run``: the scenarios with pytest, then the HTML report, in one command.

pytest parses its own options: main() hands ``run`` its arguments before argparse, as it
does for ``load``. pytest runs in a subprocess of this Python, so the run is exactly what
``pytest`` would do; its exit code is this command's, whatever becomes of the report.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import subprocess
import sys
import webbrowser
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from flowtest.cli.options import Commands, missing_paths, project_root, settings_at
from flowtest.errors import FlowtestError

RUN_USAGE = """usage: flowtest run [PATHS ...] [PYTEST OPTIONS] [--open]

Runs the scenarios under PATHS (default: scenarios) with pytest, then builds the HTML
report (what `flowtest report` does) and says where it is; --open opens it in a browser.
Exits with pytest's exit code, also when the report cannot be built. Every other option
is pytest's own, for example:
  flowtest run
  flowtest run scenarios/support --open
  flowtest run scenarios -m smoke
  flowtest run scenarios --flowtest-scenario "Flight status, transfer to an agent fails" -v"""
OPEN = "--open"
# Stop signals a CI runner, `timeout` or `kill` sends to this process alone: pytest gets them
# too, and ends its sessions. Ctrl-C reaches pytest from the terminal (same process group).
_FORWARDED = (signal.SIGTERM, signal.SIGHUP)
_RESULTS_OPTIONS = ("--alluredir", "--flowtest-allure-results")


def add(commands: Commands[argparse.ArgumentParser]) -> None:
    # Listed for --help only: main() hands `run` and its arguments to pytest before argparse.
    commands.add_parser("run", help="run the scenarios with pytest, then build the HTML report")


def main(argv: Sequence[str]) -> int:
    """Run pytest on the scenarios, then build the report; pytest's exit code."""
    arguments = list(argv)
    if arguments[:1] in (["-h"], ["--help"]):
        print(RUN_USAGE)
        return 0
    open_report = OPEN in arguments
    arguments = [arg for arg in arguments if arg != OPEN]
    paths = list(itertools.takewhile(lambda arg: not arg.startswith("-"), arguments))
    missing = missing_paths(paths)
    if missing:
        print(f"flowtest: error: {missing}", file=sys.stderr)
        return 2
    results = _results_folder(arguments)
    before = _written(results)
    status, stopped_by = _pytest([*(paths or ["scenarios"]), *arguments[len(paths) :]])
    if stopped_by is not None:
        print(f"flowtest: stopped by {stopped_by}; no report (pytest exit {status})", file=sys.stderr)
        return status
    _after_report(status, _report(results, before), open_report)
    return status


def _after_report(status: int, index: Path | None, open_report: bool) -> None:
    """--open's browser, and a line for a failed run."""
    if index is not None and open_report and not webbrowser.open(index.as_uri()):
        print(f"flowtest: no browser to open it with here; open {index}", file=sys.stderr)
    if status != 0:
        why = "; the report shows why" if index is not None else ""
        print(f"flowtest: the run failed (pytest exit {status}){why}")


def _pytest(arguments: list[str]) -> tuple[int, str | None]:
    """pytest's exit code, and the stop signal this process passed on to it, if any."""
    sys.stdout.flush()
    # pytest's own last line tells how to build the report: this command builds it next.
    from flowtest.reporting.html_report import REPORT_BUILT_AFTER

    env = {**os.environ, REPORT_BUILT_AFTER: "1"}
    process = subprocess.Popen([sys.executable, "-m", "pytest", *arguments], env=env)
    stopped: list[str] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        stopped.append(signal.Signals(signum).name)
        process.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in _FORWARDED}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)  # pytest ends the run
    try:
        status = process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return status, (stopped[0] if stopped else None)


def _results_folder(arguments: list[str]) -> Path | None:
    """Where this run wrote its Allure results: an option given to pytest, else the settings."""
    for position, argument in enumerate(arguments):
        for option in _RESULTS_OPTIONS:
            if argument.startswith(f"{option}="):
                return Path(argument.split("=", 1)[1]).absolute()
            if argument == option and position + 1 < len(arguments):
                return Path(arguments[position + 1]).absolute()
    return settings_at(project_root(Path.cwd())).allure_results


def _written(results: Path | None) -> dict[Path, int]:
    """Each result file there, and when it was written: what this run writes is what changes."""
    if results is None or not results.is_dir():
        return {}
    return {path: path.stat().st_mtime_ns for path in results.glob("*-result.json")}


def _report(results: Path | None, before: dict[Path, int]) -> Path | None:
    """The report's index.html, or None after one line saying why there is none."""
    try:
        return _build_report(results, before)
    except FlowtestError as exc:
        reason = str(exc)
    except OSError as exc:
        reason = f"{exc.filename}: {exc.strerror or exc}" if exc.filename else str(exc)
    print(f"flowtest: no HTML report: {reason}", file=sys.stderr)
    return None


def _build_report(results: Path | None, before: dict[Path, int]) -> Path:
    from flowtest.reporting.html_report import ReportError, ReportPaths, build_report

    if results is None:
        raise ReportError('Allure results are turned off (allure_results = "" in [tool.flowtest])')
    if not set(_written(results).items()) - set(before.items()):
        raise ReportError("this run wrote no Allure results")  # those there are an older run's
    paths = ReportPaths.default(project_root(Path.cwd()), results)
    index = build_report(paths)
    print(f"flowtest: report written to {paths.shown(index)}")
    return index
