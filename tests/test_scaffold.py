"""flowtest scaffold --uncovered: a draft per missing edge that validates and, run, passes."""

from __future__ import annotations

import subprocess
from pathlib import Path

from flowtest.coverage import FlowCoverage
from flowtest.sandbox import SandboxConfig, running_sandbox
from flowtest.sandbox.explore import Explorer
from flowtest.sandbox.flows import load_flows
from tests.conftest import FLOWS, FLOWTEST, run_pytest
from tests.test_coverage import PIZZA, SMALL, _worker

# Worded per session, a greeting with a variable, and a node nothing leads to.
FLOW = (
    PIZZA.replace("      - Welcome!", '      - one_of: ["Welcome!", "Hi there!"]').replace(
        "Hello again, VIP.", "Hello again, ${vip}."
    )
    + "  orphan:\n    say: Nobody comes here.\n    next: greet\n"
)
SMALL_ANY = SMALL.replace("  - bot: Welcome!", "  - bot: {any_of: [Welcome!, Hi there!]}")
AGENT_ON_ERROR = """\
# Drafted by flowtest scaffold --uncovered from scenarios/flows/pizza.flow.yaml: the shortest walk to
# agent -> sorry (scenarios/flows/pizza.flow.yaml:33).
name: 'Draft: pizza agent -> sorry'
flow: pizza
description: 'Drafted by flowtest scaffold: walks to agent -> sorry (scenarios/flows/pizza.flow.yaml:33), which no passing scenario took.'
tags:
- draft
conversation:
- bot:
    any_of:
    - Welcome!
    - Hi there!
- status: awaiting_input
- user: something else
- bot: Let me get someone.
- turn:
    $.transfer.destination: pizza-desk
- status: awaiting_transfer
- transfer: failed
- bot: Sorry (failed).
- status: completed
  # TODO: the last turn took agent -> sorry; check what the flow must do there (its bot
  # messages, variables: checks), then remove the draft tag.
"""


def _project(tmp_path: Path) -> Path:
    flows = tmp_path / "scenarios" / "flows"
    flows.mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("[tool.flowtest]\n")
    (flows / "pizza.flow.yaml").write_text(FLOW)
    (tmp_path / "scenarios" / "small.scenario.yaml").write_text(SMALL_ANY)
    with running_sandbox(SandboxConfig(flows_dir=flows, port=0, coverage=True)) as running:
        coverage = FlowCoverage(root=tmp_path)
        coverage.merge(_worker(running.url, tmp_path, ["small"]))
        coverage.report(tmp_path / "reports", [].append)
    return tmp_path


def _scaffold(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLOWTEST, "scaffold", "--uncovered"], cwd=project, capture_output=True, text=True)


def test_drafts_walk_to_each_missing_edge_validate_and_pass(tmp_path: Path) -> None:
    project = _project(tmp_path)
    first = _scaffold(project)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "flowtest: wrote scenarios/drafts/pizza/greet-say-1-shown.scenario.yaml",
        "flowtest: wrote scenarios/drafts/pizza/route-branch-1.scenario.yaml",
        "flowtest: wrote scenarios/drafts/pizza/route-otherwise.scenario.yaml",
        "flowtest: wrote scenarios/drafts/pizza/agent-on-success.scenario.yaml",
        "flowtest: wrote scenarios/drafts/pizza/agent-on-error.scenario.yaml",
        "flowtest: pizza: orphan.next: no walk of at most 12 turns reaches it; not drafted",
    ]
    drafts = project / "scenarios" / "drafts" / "pizza"
    assert (drafts / "agent-on-error.scenario.yaml").read_text() == AGENT_ON_ERROR
    assert "    vip: true\n" in (drafts / "greet-say-1-shown.scenario.yaml").read_text()
    assert "- user: large\n" in (drafts / "route-branch-1.scenario.yaml").read_text()

    validated = subprocess.run([*FLOWTEST, "validate"], cwd=project, capture_output=True, text=True)
    assert (validated.returncode, validated.stdout) == (0, "")
    ran = run_pytest(project, "-p", "no:allure_pytest")
    assert "6 passed" in ran.stdout, ran.stdout

    (drafts / "route-branch-1.scenario.yaml").write_text("# the designer's own now\n")
    again = _scaffold(project)
    assert (
        "flowtest: scenarios/drafts/pizza/route-branch-1.scenario.yaml exists; not overwritten"
        in again.stdout
    )
    assert (drafts / "route-branch-1.scenario.yaml").read_text() == "# the designer's own now\n"


def test_no_coverage_file_says_how_to_make_one(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.flowtest]\n")
    result = _scaffold(tmp_path)
    assert (result.returncode, result.stderr) == (
        2,
        "flowtest: error: reports/coverage.json: no coverage file; run the scenarios with --flowtest-coverage first\n",
    )


def test_the_explorer_reaches_every_edge_of_the_example_flows() -> None:
    for flow_id, flow in load_flows(FLOWS).items():
        assert flow.graph is not None
        reached = Explorer(flow).shortest(edge.index for edge in flow.graph.edges)
        assert len(reached) == len(flow.graph.edges), flow_id
