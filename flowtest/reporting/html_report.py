"""``flowtest report``: Allure results to one self-contained HTML file, with Allure 3 from npm.

Allure 3 is pinned in the project's package.json and installed with ``npm ci`` on
first use. Its history file (reports/history.jsonl) carries trends across runs.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowtest.config import DEFAULT_ALLURE_REPORT, DEFAULT_ALLURE_RESULTS
from flowtest.errors import FlowtestError

logger = logging.getLogger(__name__)
QUALITY_GATE_MIN_NODE = 22  # Allure's quality gate uses iterator helpers that Node 20 lacks

# Set by `flowtest run` for its pytest: the report is built next, so pytest need not say how.
REPORT_BUILT_AFTER = "FLOWTEST_REPORT_BUILT_AFTER"


class ReportError(FlowtestError):
    """The report could not be built; the message says what to install or fix."""


@dataclass(frozen=True)
class ReportPaths:
    root: Path
    results: Path
    output: Path

    @classmethod
    def default(cls, root: Path, results: Path | None = None) -> ReportPaths:
        return cls(root, results or root / DEFAULT_ALLURE_RESULTS, root / DEFAULT_ALLURE_REPORT)

    @property
    def index(self) -> Path:
        return self.output / "index.html"

    def shown(self, path: Path) -> str:
        """The path as the user would type it: relative to the project when inside it."""
        return str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path)


def report_command(paths: ReportPaths) -> str:
    """The command that builds this report."""
    command = "flowtest report"
    if paths.results != paths.root / DEFAULT_ALLURE_RESULTS:
        command += f" --results {paths.shown(paths.results)}"
    return command


def how_to_run(paths: ReportPaths) -> str:
    """The command that writes the results this report reads."""
    command = "pytest scenarios"
    if paths.results != paths.root / DEFAULT_ALLURE_RESULTS:
        command += f" --alluredir {paths.shown(paths.results)}"
    return f"run the scenarios first: {command}"


def node_major() -> int | None:
    node = shutil.which("node")
    if node is None:
        return None
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
    match = re.match(r"v(\d+)", version.strip())
    return int(match.group(1)) if match else None


def ensure_allure(root: Path) -> Path:
    """The allure executable, after ``npm ci`` when it is not installed yet."""
    if node_major() is None or shutil.which("npm") is None:
        raise ReportError("flowtest report needs Node.js and npm on the PATH (https://nodejs.org)")
    if not (root / "package.json").is_file():
        raise ReportError(f"no package.json pinning allure in {root} (flowtest init writes one)")
    allure = root / "node_modules" / ".bin" / "allure"
    if not allure.exists():
        logger.warning("installing Allure 3 with npm ci (first use)")
        command = ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"]
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ReportError(f"npm ci failed in {root}: {done.stderr.strip()[-500:]}")
    return allure


def build_report(paths: ReportPaths) -> Path:
    if not paths.results.is_dir() or not any(paths.results.glob("*-result.json")):
        raise ReportError(f"no Allure results in {paths.shown(paths.results)}; {how_to_run(paths)}")
    allure = ensure_allure(paths.root)
    draw_coverage(paths)
    command = [str(allure), "generate", str(paths.results), "--output", str(paths.output)]
    done = subprocess.run(command, cwd=paths.root, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not paths.index.is_file():
        raise ReportError(f"allure generate failed: {_plain(done.stderr or done.stdout)[-500:]}")
    return paths.index


def draw_coverage(paths: ReportPaths) -> None:
    """The coverage page's graphs: each flow's DOT drawn as SVG (flowtest.coverage.page), when the
    run recorded coverage."""
    if not any(paths.results.glob("flowtest-coverage-*-attachment.dot")):
        return
    script = Path(__file__).resolve().parent.parent / "coverage" / "render.mjs"
    command = [shutil.which("node") or "node", str(script), str(paths.results)]
    done = subprocess.run(command, cwd=paths.root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # The report still builds; the page says its graphs are missing.
        logger.warning("the coverage graphs were not drawn: %s", _plain(done.stderr).strip()[-300:])


def count_failures(results: Path) -> int:
    """Tests whose last attempt failed or broke; known issues (xfail) and muted tests aside."""
    return sum(1 for data in _last_attempts(results) if _counts_as_failure(data))


def _last_attempts(results: Path) -> Iterable[dict[str, Any]]:
    """Each test's latest result (by its stop time): a retried test counts once."""
    latest: dict[str, dict[str, Any]] = {}
    for path in results.glob("*-result.json"):
        data = _read_result(path)
        key = str(data.get("historyId") or path.name)
        if key not in latest or data.get("stop", 0) >= latest[key].get("stop", 0):
            latest[key] = data
    return latest.values()


def _read_result(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: cannot read this Allure result: {exc}") from None
    return data


def _counts_as_failure(data: dict[str, Any]) -> bool:
    if data.get("status") not in ("failed", "broken"):
        return False
    details = data.get("statusDetails") or {}
    return not details.get("known") and not details.get("muted")


def quality_gate(paths: ReportPaths, max_failures: int) -> tuple[bool, str]:
    """(passed, message). flowtest counts the failures itself, so the gate holds on any Node.js;
    where Allure's own gate can run (Node.js 22+), it must pass too."""
    failures = count_failures(paths.results)
    verdict = f"{failures} failed scenario(s), at most {max_failures} allowed"
    if failures > max_failures:
        return False, f"quality gate failed: {verdict}"
    major = node_major()
    if major is None or major < QUALITY_GATE_MIN_NODE:
        found = f"Node.js {major}" if major else "no Node.js"
        return True, (
            f"quality gate passed: {verdict} (counted by flowtest; Allure's own gate "
            f"needs Node.js {QUALITY_GATE_MIN_NODE}+, {found} here)"
        )
    allure = ensure_allure(paths.root)
    command = [str(allure), "quality-gate", "--max-failures", str(max_failures), str(paths.results)]
    done = subprocess.run(command, cwd=paths.root, capture_output=True, text=True, check=False)
    output = _plain(done.stdout + done.stderr).strip()
    return done.returncode == 0, output or f"quality gate passed: {verdict}"


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)
