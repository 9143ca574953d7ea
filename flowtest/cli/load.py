"""``flowtest load``: the scenarios as a Locust load test (Locust parses its own arguments)."""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import os
import sys
from collections.abc import Sequence

from flowtest.cli.options import Commands, missing_paths
from flowtest.load import INSTALL_HINT, PATHS_VARIABLE, locustfile_path

LOAD_USAGE = """usage: flowtest load [PATHS ...] [LOCUST OPTIONS]

Runs the scenarios under PATHS (default: scenarios) as a Locust load test: each scenario
is a task (its tags are Locust tags, its weight: the task weight), each iteration a new
session. Every other option is Locust's own, for example:
  flowtest load scenarios --headless -u 50 -r 10 -t 1m -H https://api.example.com
  flowtest load scenarios --master --expect-workers 2 --headless -u 200 -r 20 -t 5m -H URL
  flowtest load scenarios --worker --master-host 10.0.0.5
  flowtest load scenarios --tags smoke --csv reports/load --html reports/load.html
The API key comes from FLOWTEST_API_KEY on every machine. See `locust --help`."""


def add(commands: Commands[argparse.ArgumentParser]) -> None:
    # Listed for --help only: main() hands `load` and its arguments to Locust before argparse.
    commands.add_parser("load", help="run the scenarios as a Locust load test (the load extra)")


def run(argv: Sequence[str]) -> int:
    """Replace this process with Locust running flowtest's locustfile on the scenarios."""
    paths = list(itertools.takewhile(lambda arg: not arg.startswith("-"), argv))
    rest = list(argv[len(paths) :])
    if rest[:1] in (["-h"], ["--help"]):
        print(LOAD_USAGE)
        return 0
    if importlib.util.find_spec("locust") is None:
        print(f"flowtest load needs Locust, an optional extra: {INSTALL_HINT}", file=sys.stderr)
        return 2
    missing = missing_paths(paths)
    if missing:
        print(f"flowtest: error: {missing}", file=sys.stderr)
        return 2
    env = {**os.environ, PATHS_VARIABLE: os.pathsep.join(paths or ["scenarios"])}
    command = [sys.executable, "-m", "locust", "-f", locustfile_path(), *rest]
    sys.stdout.flush()
    os.execve(sys.executable, command, env)
    return 0  # pragma: no cover  (execve does not return)
