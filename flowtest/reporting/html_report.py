"""``flowtest report``: Allure results to one self-contained HTML file, with Allure 3 from npm.

Allure 3 is pinned in the project's package.json and installed with ``npm ci`` on
first use. Its history file (reports/history.jsonl) carries trends across runs.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from flowtest.errors import FlowtestError

logger = logging.getLogger(__name__)
QUALITY_GATE_MIN_NODE = 22  # Allure's quality gate uses iterator helpers that Node 20 lacks


class ReportError(FlowtestError):
    """The report could not be built; the message says what to install or fix."""


@dataclass(frozen=True)
class ReportPaths:
    root: Path
    results: Path
    output: Path

    @property
    def index(self) -> Path:
        return self.output / "index.html"


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
        raise ReportError(f"no Allure results in {paths.results}; run the scenarios first (make run)")
    allure = ensure_allure(paths.root)
    command = [str(allure), "generate", str(paths.results), "--output", str(paths.output)]
    done = subprocess.run(command, cwd=paths.root, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not paths.index.is_file():
        raise ReportError(f"allure generate failed: {_plain(done.stderr or done.stdout)[-500:]}")
    return paths.index


def quality_gate(paths: ReportPaths, max_failures: int) -> tuple[bool, str]:
    """(passed, message). Says so plainly when this Node cannot run the gate."""
    major = node_major()
    if major is None or major < QUALITY_GATE_MIN_NODE:
        found = f"Node.js {major}" if major else "no Node.js"
        needs = f"Allure's quality gate needs Node.js {QUALITY_GATE_MIN_NODE}+"
        return True, f"quality gate skipped: {needs} ({found} here)"
    allure = ensure_allure(paths.root)
    command = [str(allure), "quality-gate", "--max-failures", str(max_failures), str(paths.results)]
    done = subprocess.run(command, cwd=paths.root, capture_output=True, text=True, check=False)
    output = _plain(done.stdout + done.stderr).strip()
    return done.returncode == 0, output or f"quality gate passed (at most {max_failures} failures)"


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)
