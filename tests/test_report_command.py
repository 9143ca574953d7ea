"""`flowtest report` as a user runs it: npm ci on first use, one HTML file, history kept."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FLOWS, FLOWTEST, ROOT, run_pytest

pytestmark = pytest.mark.skipif(shutil.which("npm") is None, reason="needs Node.js and npm")


def _project(tmp_path: Path) -> Path:
    for name in ("package.json", "package-lock.json"):
        shutil.copy(ROOT / name, tmp_path / name)
    templates = ROOT / "flowtest" / "authoring" / "templates"
    shutil.copy(templates / "allurerc.mjs", tmp_path / "allurerc.mjs")  # what flowtest init writes
    (tmp_path / "pyproject.toml").write_text(f'[tool.flowtest]\nsandbox_flows = "{FLOWS}"\n')
    (tmp_path / "hours.scenario.yaml").write_text(
        "name: Store hours\nflow: store-hours\nstrict: false\nconversation:\n  - status: completed\n"
    )
    run_pytest(tmp_path).check_returncode()
    return tmp_path


@pytest.mark.slow
def test_report_installs_allure_writes_one_file_and_keeps_history(tmp_path: Path) -> None:
    project = _project(tmp_path)
    first = subprocess.run([*FLOWTEST, "report"], cwd=project, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["flowtest: report written to reports/allure-report/index.html"]
    assert "installing Allure 3 with npm ci" in first.stderr
    index = project / "reports" / "allure-report" / "index.html"
    assert index.stat().st_size > 100_000
    assert not list(index.parent.glob("*.js"))  # single file: scripts are inlined
    history = project / "reports" / "history.jsonl"
    lines = len(history.read_text().splitlines())
    second = subprocess.run([*FLOWTEST, "report"], cwd=project, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0
    assert "npm ci" not in second.stderr
    assert len(history.read_text().splitlines()) == lines + 1


@pytest.mark.slow
def test_quality_gate_counts_failures_itself_and_fails_closed(tmp_path: Path) -> None:
    project = _project(tmp_path)
    gate = [*FLOWTEST, "report", "--quality-gate", "--max-failures", "0"]
    passed = subprocess.run(gate, cwd=project, capture_output=True, text=True, timeout=300)
    assert passed.returncode == 0, passed.stdout
    assert passed.stdout.splitlines()[-1].startswith(
        "flowtest: quality gate passed: 0 failed scenario(s), at most 0 allowed"
    )
    (project / "hours.scenario.yaml").write_text(
        "name: Store hours\nflow: store-hours\nstrict: false\nconversation:\n  - bot: {contains: never}\n"
    )
    assert run_pytest(project).returncode == 1
    failed = subprocess.run(gate, cwd=project, capture_output=True, text=True, timeout=300)
    assert failed.returncode == 1
    assert failed.stdout.splitlines()[-1] == (
        "flowtest: quality gate failed: 1 failed scenario(s), at most 0 allowed"
    )
    assert (project / "reports" / "allure-report" / "index.html").is_file()  # the report is still built


def test_without_node_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "reports" / "allure-results").mkdir(parents=True)
    (tmp_path / "reports" / "allure-results" / "x-result.json").write_text("{}")
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run([*FLOWTEST, "report"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert done.returncode == 2
    assert (
        done.stderr
        == "flowtest: error: flowtest report needs Node.js and npm on the PATH (https://nodejs.org)\n"
    )


@pytest.mark.parametrize(
    ("args", "command"),
    [((), "pytest scenarios"), (("--results", "out/r"), "pytest scenarios --alluredir out/r")],
)
def test_no_results_says_the_command_that_writes_them(
    tmp_path: Path, args: tuple[str, ...], command: str
) -> None:
    done = subprocess.run([*FLOWTEST, "report", *args], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2
    folder = args[1] if args else "reports/allure-results"
    assert done.stderr == (
        f"flowtest: error: no Allure results in {folder}; run the scenarios first: {command}\n"
    )


CATEGORY_OF = """import { readFileSync, readdirSync } from "node:fs";
import config from "./allurerc.mjs";
import { matchCategory, normalizeCategoriesConfig } from "@allurereport/core-api";
const categories = normalizeCategoriesConfig(config.categories);
const dir = process.argv[2];
for (const file of readdirSync(dir).filter((f) => f.endsWith("-result.json"))) {
  const r = JSON.parse(readFileSync(`${dir}/${file}`, "utf8"));
  const data = { status: r.status, labels: r.labels ?? [], message: r.statusDetails?.message };
  console.log(`CATEGORY\\t${r.name}\\t${matchCategory(categories, data)?.name ?? "-"}`);
}
"""


@pytest.mark.slow
def test_allure_3_sorts_failures_into_flowtests_categories(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "hours.scenario.yaml").write_text(
        "name: Wrong hours\nflow: store-hours\nstrict: false\nconversation:\n  - bot: {contains: never}\n"
    )
    typo = "name: Typo\nflow: store-hours\nconversation: [{bot: {x: 1}}]\n"
    (project / "typo.scenario.yaml").write_text(typo)
    assert run_pytest(project).returncode == 1
    subprocess.run([*FLOWTEST, "report"], cwd=project, capture_output=True, timeout=300).check_returncode()
    (project / "category_of.mjs").write_text(CATEGORY_OF)
    # Allure 3's own matcher, on the categories of the allurerc.mjs that flowtest init writes.
    done = subprocess.run(
        ["node", "category_of.mjs", "reports/allure-results"], cwd=project, capture_output=True, text=True
    )
    found = sorted(line.split("\t")[1:] for line in done.stdout.splitlines() if line.startswith("CATEGORY\t"))
    assert found == [["Typo (broken)", "Broken scenario file"], ["Wrong hours", "Conversation mismatch"]]


def _embedded(index: Path) -> dict[str, Any]:
    """The JSON files a single-file Allure 3 report carries inside its HTML, by name."""
    found = re.finditer(r'd\("([^"]+)","([A-Za-z0-9+/=]*)"\)', index.read_text(encoding="utf-8"))
    return {match.group(1): json.loads(base64.b64decode(match.group(2))) for match in found}


def _terminal_counts(stdout: str) -> dict[str, int]:
    """pytest's last line, '1 failed, 1 passed, 1 skipped, 1 xfailed in 0.8s', as counts."""
    summary = stdout.strip().splitlines()[-2]  # the line before flowtest's results line
    return {word: int(number) for number, word in re.findall(r"(\d+) (\w+)", summary.split(" in ")[0])}


@pytest.mark.slow
def test_the_report_counts_as_the_terminal_and_shows_a_known_issue_as_one(tmp_path: Path) -> None:
    project = _project(tmp_path)  # one scenario that passes
    head = "flow: store-hours\nstrict: false\n"
    never = "conversation:\n  - bot: {contains: never said}\n"
    (project / "wrong.scenario.yaml").write_text(f"name: Wrong hours\n{head}{never}")
    (project / "known.scenario.yaml").write_text(f"name: Known\n{head}xfail: CX-188 not built yet\n{never}")
    (project / "later.scenario.yaml").write_text(f"name: Later\n{head}skip: not yet\n{never}")
    run = run_pytest(project)
    assert _terminal_counts(run.stdout) == {"failed": 1, "passed": 1, "skipped": 1, "xfailed": 1}
    subprocess.run([*FLOWTEST, "report"], cwd=project, capture_output=True, timeout=300).check_returncode()
    report = project / "reports" / "allure-report"
    # Allure has no status of its own for a known issue: it is counted with the skipped, as
    # pytest counts an xfail, never with the failures (it was "Failed 2", both in red).
    summary = json.loads((report / "summary.json").read_text())
    assert {k: v for k, v in summary["stats"].items() if k != "new"} == {
        "total": 4,
        "failed": 1,
        "passed": 1,
        "skipped": 2,
    }
    embedded = _embedded(report / "index.html")
    assert embedded["widgets/default/statistic.json"]["failed"] == 1
    results = {r["name"]: r for name, r in embedded.items() if name.startswith("data/test-results/")}
    known = results["Known"]
    assert (known["status"], known["known"]) == ("skipped", True)
    assert [category["name"] for category in known["categories"]] == ["Known issues"]
    assert known["error"]["message"].startswith("Known issue: CX-188 not built yet\n")
    assert [c["name"] for c in results["Wrong hours"]["categories"]] == ["Conversation mismatch"]
    assert results["Later"]["known"] is False
