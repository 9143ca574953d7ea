"""The Allure coverage page: each flow drawn (DOT, then SVG by flowtest report), and no test added."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from flowtest.coverage import FlowCoverage
from flowtest.coverage.page import GLOBALS
from flowtest.sandbox import SandboxConfig, running_sandbox
from tests.conftest import FLOWTEST, ROOT, run_pytest
from tests.test_coverage import AGENT, PIZZA, SMALL, _worker, write_project

# Until the plugin registers FlowCoverage on its reporter seam: the same calls from a conftest.


def test_the_page_draws_each_flow_with_its_untaken_edges_marked(tmp_path: Path) -> None:
    flows = write_project(tmp_path) / "scenarios" / "flows"
    with running_sandbox(SandboxConfig(flows_dir=flows, port=0, coverage=True)) as running:
        coverage = FlowCoverage(root=tmp_path)
        coverage.merge(_worker(running.url, tmp_path, ["small", "agent", "large"]))
    results = tmp_path / "results"
    coverage.report(tmp_path / "reports", [].append, results)
    drawn = (results / "flowtest-coverage-pizza-attachment.dot").read_text()
    green, orange, red = "#2e7d32", "#ef6c00", "#c62828"
    assert (
        f'"route" -> "small" [label="when size regex \\"^(small|s)$\\" :18", color="{green}", penwidth=1.4];'
        in drawn
    )
    assert (
        f'"route" -> "large" [label="when size contains \\"large\\" :20", color="{orange}", '
        f'fontcolor="{orange}", penwidth=1.6];'
    ) in drawn
    assert (
        f'"agent" -> "sorry" [label="on_error :33", color="{red}", fontcolor="{red}", style=dashed, penwidth=1.6];'
    ) in drawn
    assert f'"greet" -> "greet" [label="say[1] shown :9", color="{red}"' in drawn
    assert '"sorry" [label="sorry\\nline 37", fillcolor="#fafafa"' in drawn  # never entered
    assert json.loads((results / GLOBALS).read_text())["attachments"][1] == {
        "name": "Flow pizza: edges 6/9 (66.7%), nodes 6/8 (75.0%)",
        "type": "image/svg+xml",
        "source": "flowtest-coverage-pizza-attachment.svg",
    }


def test_a_gate_that_failed_is_the_reports_global_error(tmp_path: Path) -> None:
    # Every test passed: without it the report of a run the gate failed was all green.
    flows = write_project(tmp_path) / "scenarios" / "flows"
    with running_sandbox(SandboxConfig(flows_dir=flows, port=0, coverage=True)) as running:
        coverage = FlowCoverage(minimum=90, root=tmp_path)
        coverage.merge(_worker(running.url, tmp_path, ["small", "agent", "large"]))
    results = tmp_path / "results"
    lines: list[str] = []
    verdict = coverage.report(tmp_path / "reports", lines.append, results)
    assert not verdict.passed
    (message,) = [error["message"] for error in json.loads((results / GLOBALS).read_text())["errors"]]
    assert message.startswith("flowtest: coverage below --flowtest-coverage-min=90%: flow pizza covers 66.7%")
    assert message in lines  # the terminal's line, word for word
    coverage.minimum = 60
    assert coverage.report(tmp_path / "reports", [].append, results).passed
    assert json.loads((results / GLOBALS).read_text())["errors"] == []


@pytest.mark.skipif(shutil.which("npm") is None, reason="needs Node.js and npm")
def test_the_report_shows_the_page_and_counts_only_the_tests(tmp_path: Path) -> None:
    for name in ("package.json", "package-lock.json"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "flowtest" / "authoring" / "templates" / "allurerc.mjs", tmp_path)  # flowtest init's
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "pizza.flow.yaml").write_text(PIZZA)
    (tmp_path / "pyproject.toml").write_text('[tool.flowtest]\nsandbox_flows = "flows"\ncoverage = true\n')
    (tmp_path / "small.scenario.yaml").write_text(SMALL)
    (tmp_path / "agent.scenario.yaml").write_text(AGENT)
    ran = run_pytest(tmp_path)
    assert "2 passed" in ran.stdout and "pizza      6/8  75.0%      6/9  66.7%  -" in ran.stdout, ran.stdout
    built = subprocess.run([*FLOWTEST, "report"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    html = (tmp_path / "reports" / "allure-report" / "index.html").read_text()
    data = {name: base64.b64decode(value) for name, value in re.findall(r'd\("([^"]+)","([^"]*)"\)', html)}
    attachments = json.loads(data["widgets/globals.json"])["attachments"]
    assert [(a["name"], a["contentType"], a["missed"]) for a in attachments] == [
        ("Flow coverage: what no passing scenario reached", "text/markdown", False),
        ("Flow pizza: edges 6/9 (66.7%), nodes 6/8 (75.0%)", "image/svg+xml", False),
    ]
    assert json.loads(data["widgets/statistic.json"])["total"] == 2  # the page is no test
    svg = (tmp_path / "reports" / "allure-results" / "flowtest-coverage-pizza-attachment.svg").read_text()
    assert svg.startswith("<?xml") and "on_error :33" in svg
