"""What an installed flowtest costs a suite that has no scenarios.

    .venv/bin/python benchmarks/plugin_footprint.py [--runs 21]

`pytest --collect-only` on a one-test project, whole process, alternating three ways:
flowtest loaded (as installed), `-p no:flowtest`, and `-p no:flowtest -p no:allure_pytest`
(as if neither flowtest nor its allure-pytest dependency were installed). Prints the
medians and the ratios to the `-p no:flowtest` baseline measured in the same run; the
target is 1.15x at most. The dev tools' own pytest plugins (schemathesis, hypothesis) are
off in every arm: a user's install does not have them.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
DEV_PLUGINS = ["-p", "no:schemathesis", "-p", "no:hypothesispytest"]
ARMS = {
    "flowtest installed": [],
    "-p no:flowtest": ["-p", "no:flowtest"],
    "neither flowtest nor allure-pytest": ["-p", "no:flowtest", "-p", "no:allure_pytest"],
}
BASELINE = "-p no:flowtest"


def once(folder: Path, extra: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run([*BASE, *DEV_PLUGINS, *extra], cwd=folder, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if "1 test collected" not in done.stdout:
        raise SystemExit(f"collection failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return elapsed


def measure_arms(runs: int) -> dict[str, float]:
    """The median whole-process time of each arm; fails if flowtest wrote anything into the project."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "test_plain.py").write_text("def test_plain():\n    assert 1 + 1 == 2\n")
        times: dict[str, list[float]] = {name: [] for name in ARMS}
        for extra in ARMS.values():
            once(folder, extra)  # warm the file cache and .pyc files
        for _ in range(runs):
            for name, extra in ARMS.items():
                times[name].append(once(folder, extra))
        written = sorted(p.name for p in folder.iterdir())
    if written != ["test_plain.py"]:
        raise SystemExit(f"the run wrote into the project: {written}")
    return {name: statistics.median(samples) for name, samples in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=21, help="runs per arm, alternating")
    args = parser.parse_args()
    medians = measure_arms(args.runs)
    print(f"pytest --collect-only, one plain test, whole process, median of {args.runs} runs")
    for name, median in medians.items():
        print(f"  {name:<36} {median * 1000:7.0f} ms  {median / medians[BASELINE]:5.2f}x")
    print("  files in the project afterwards: only test_plain.py")


if __name__ == "__main__":
    main()
