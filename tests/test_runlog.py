"""Run records (reports/runs) from real conversations, and `flowtest diff` between two runs."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from flowtest.client import AsyncFlowClient, ClientConfig
from flowtest.reporting.runlog import (
    RunLog,
    RunLogError,
    diff_runs,
    load_run,
    pick_runs,
    render_markdown,
    run_files,
)
from flowtest.runner import RunContext, run_case
from flowtest.sandbox import DEFAULT_API_KEY, running_sandbox
from flowtest.sandbox.app import Faults
from flowtest.scenario.loader import ScenarioLoader
from flowtest.scenario.model import Case, cases_of
from flowtest.trace import Result
from tests.conftest import FLOWTEST, run_pytest, sandbox_config

FLOW = """\
id: cafe
start: greet
nodes:
  greet:
    say: {greeting}
    next: order
  order:
    ask: item
    next: serve
  serve:
    set: {{served: "{count} ${{item}}"}}
    say: {count} ${{item}}, coming up.
    end: true
"""
SCENARIOS = """\
name: Greets and serves
flow: cafe
conversation:
  - bot: {contains: What can I get you}
  - user: tea
  - bot: {contains: coming up}
  - variables: {$.served: {exists: true}}
---
name: Serves one
flow: cafe
strict: false
conversation:
  - user: tea
  - bot: One tea, coming up.
---
name: Says hello
flow: cafe
strict: false
conversation:
  - bot: {starts_with: Hello}
"""


def _cases(root: Path) -> list[Case]:
    (root / "cafe.scenario.yaml").write_text(SCENARIOS)
    loaded = ScenarioLoader(root).load_file(root / "cafe.scenario.yaml")
    return [case for scenario in loaded.scenarios for case in cases_of(scenario)]


def _run(root: Path, flows: Path, cases: list[Case], run_id: str, latency: float = 0.0) -> Path:
    """Every case against a sandbox serving ``flows``, reported to a RunLog as the plugin would."""
    log = RunLog(run_id)
    with running_sandbox(sandbox_config(flows_dir=flows, faults=Faults(latency=latency))) as sandbox:

        async def go() -> list[Result]:
            async with AsyncFlowClient(ClientConfig(sandbox.url, "demo", DEFAULT_API_KEY)) as client:
                return [await run_case(case, client, RunContext(run_id, "demo")) for case in cases]

        for case, result in zip(cases, asyncio.run(go()), strict=True):
            log.conversation(case, result)
    written = log.finish(root / "reports" / "runs")
    assert written is not None
    return written


def _flows(root: Path, name: str, greeting: str, count: str) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "cafe.flow.yaml").write_text(FLOW.format(greeting=greeting, count=count))
    return folder


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The same three scenarios run against a flow, then against its next version (and slower)."""
    root = tmp_path_factory.mktemp("project")
    cases = _cases(root)
    before = _flows(root, "v1", "'Hi! What can I get you?'", "One")
    after = _flows(root, "v2", "'Hello! What can I get you?'", "Two")
    first = _run(root, before, cases, "run-one")
    second = _run(root, after, cases, "run-two", latency=0.45)
    return root, first, second


def test_a_run_record_holds_each_test_and_step_as_it_ran(two_runs: tuple[Path, Path, Path]) -> None:
    record = json.loads(two_runs[1].read_text())
    assert record["format"] == 1 and record["run_id"] == "run-one"
    tests = {test["name"]: test for test in record["tests"]}
    assert {name: test["outcome"] for name, test in tests.items()} == {
        "Greets and serves": "passed",
        "Serves one": "passed",
        "Says hello": "failed",
    }
    greets = tests["Greets and serves"]
    assert greets["nodeid"] == "cafe.scenario.yaml::Greets and serves"
    start, *_, variables, teardown = greets["steps"]
    assert start["title"] == "Start Session: cafe"
    assert start["bot"] == ["Hi! What can I get you?"]
    assert start["status"] == "awaiting_input"
    assert start["latency_ms"] >= 0
    user = greets["steps"][2]
    assert (user["title"], user["bot"], user["status"]) == ("user: tea", ["One tea, coming up."], "completed")
    assert variables["variables"]["served"] == "One tea"
    assert "latency_ms" not in variables  # a Get Session, not a turn: its time is no answer's latency
    assert teardown["kind"] == "teardown"
    assert tests["Says hello"]["steps"][1]["failure"] == (
        "step 1 (cafe.scenario.yaml:20): bot message 1 of the turn does not match"
    )


def test_diff_names_newly_failing_newly_passing_and_changed_steps(two_runs: tuple[Path, Path, Path]) -> None:
    done = subprocess.run(
        [*FLOWTEST, "diff", "--latency", "300ms"],
        cwd=two_runs[0],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert lines[0].startswith("flowtest diff: run-one (") and " -> run-two (" in lines[0]
    failing = lines.index("Newly failing (1)")
    # The step that failed, named, with the first words of its failure.
    assert lines[failing + 3] == (
        "  Serves one  step 2 (cafe.scenario.yaml:14): bot message 1 of the turn does not match"
    )
    assert lines[lines.index("Newly passing (1)") + 3].strip() == "Says hello"
    # 6 steps answer differently; each call is 450ms slower, seen or not depending on the machine.
    header = next(i for i, line in enumerate(lines) if line.startswith("Changed steps ("))
    changed = lines[header + 3 :]
    rows = [" ".join(line.split()) for line in changed]
    assert (
        "Greets and serves Start Session: cafe bot Hi! What can I get you? Hello! What can I get you?" in rows
    )
    assert "Greets and serves step 2, user: tea bot One tea, coming up. Two tea, coming up." in rows
    assert (
        'Greets and serves step 4, variables: $.served exists variables served="One tea" served="Two tea"'
        in rows
    )
    slower = "Greets and serves step 2, user: tea latency "
    latency = [row.split()[-2:] for row in rows if row.startswith(slower)]
    assert len(latency) == 1 and int(latency[0][1].removesuffix("ms")) >= 450  # the added 450ms
    assert not any(" status " in row for row in rows)  # the statuses stayed the same


def test_diff_as_markdown_for_a_pull_request(two_runs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, old, new = two_runs
    done = subprocess.run(
        [*FLOWTEST, "diff", str(old), str(new), "--format", "markdown", "--latency", "1h"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith("### flowtest: what changed from `run-one` to `run-two`\n\n")
    assert "1 newly failing, 1 newly passing, 6 changed step(s) (3 tests in the new run).\n" in text
    assert "**Newly failing (1)**\n\n| test | failure |\n|---|---|\n" in text
    failure = "step 2 (cafe.scenario.yaml:14): " + "bot message 1 of the turn does not match"
    assert f"\n| Serves one | {failure} |\n" in text
    variables = '| step 4, variables: $.served exists | variables | served="One tea" | served="Two tea" |'
    assert f"| Greets and serves {variables}" in text
    assert "latency" not in text.split("**Changed steps")[1]  # under the threshold given


def test_pipes_in_texts_do_not_break_the_markdown_table(tmp_path: Path) -> None:
    old = _record(tmp_path / "a.json", "a", {"bot": ["A | B"]})
    new = _record(tmp_path / "b.json", "b", {"bot": ["A | C"]})
    text = render_markdown(diff_runs(load_run(old), load_run(new), 500))
    assert "| t | user: hi | bot | A \\| B | A \\| C |" in text


def test_a_run_that_stopped_sooner_is_no_change_of_steps(tmp_path: Path) -> None:
    # The new run failed at step 1: its next record is End Session, where the old one went on.
    steps = [
        {"title": "Start Session: cafe", "kind": "start"},
        {"title": "user: hi", "kind": "user", "where": "step 1"},
        {"title": "status: completed", "kind": "status", "where": "step 2"},
        {"title": "End Session", "kind": "teardown"},
    ]
    stopped = [steps[0], {**steps[1], "failure": "step 1 (x:4): the session is completed"}, steps[3]]
    runs = []
    for run_id, recorded in (("a", steps), ("b", stopped)):
        test = {
            "name": "t",
            "nodeid": "x::t",
            "outcome": "failed" if run_id == "b" else "passed",
            "steps": recorded,
        }
        path = tmp_path / f"{run_id}.json"
        path.write_text(
            json.dumps({"format": 1, "run_id": run_id, "started": "2024-05-01T10:00:00", "tests": [test]})
        )
        runs.append(load_run(path))
    diff = diff_runs(runs[0], runs[1], 500)
    assert diff.newly_failing == (("t", "step 1 (x:4): the session is completed"),)
    assert diff.changes == ()  # the failure says why it stopped; no "End Session" row


def _record(path: Path, run_id: str, step: dict[str, object]) -> Path:
    test = {"name": "t", "nodeid": "x::t", "outcome": "passed", "steps": [{"title": "user: hi", **step}]}
    path.write_text(
        json.dumps({"format": 1, "run_id": run_id, "started": "2024-05-01T10:00:00", "tests": [test]})
    )
    return path


def test_only_the_last_runs_are_kept_and_diff_needs_two(tmp_path: Path) -> None:
    runs = tmp_path / "reports" / "runs"
    cases = _cases(tmp_path)
    flows = _flows(tmp_path, "v1", "'Hi! What can I get you?'", "One")
    with pytest.raises(RunLogError, match=r"no runs kept in .*: diff compares two"):
        pick_runs(runs, None, None)
    first = _run(tmp_path, flows, cases[:1], "first")
    with pytest.raises(RunLogError, match=r"one run kept in .*: diff compares two"):
        pick_runs(runs, None, None)
    tests = json.loads(first.read_text())["tests"]
    for number in range(3):
        log = RunLog(f"r{number}", keep=2)
        log.absorb(tests)  # as an xdist controller takes its workers' records
        log.finish(runs)
    assert [path.name.split("-", 1)[1] for path in run_files(runs)] == ["r1.json", "r2.json"]
    assert RunLog("empty").finish(runs) is None  # nothing ran: nothing to keep
    done = subprocess.run(
        [*FLOWTEST, "diff", "nope"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stderr == f"flowtest: error: nope: no run of that id in {runs} (and no such file)\n"
    same = subprocess.run(
        [*FLOWTEST, "diff", "r1", "r2"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert same.stdout.splitlines()[1:] == ["nothing changed"]


def test_the_reporter_on_flowtests_hooks_keeps_one_record_per_run_with_and_without_workers(
    tmp_path: Path,
) -> None:
    """flowtest registers it on its hooks: a plain run and an xdist run each leave one record."""
    root = tmp_path
    flows = _flows(root, "flows", "'Hi! What can I get you?'", "One")
    (root / "pyproject.toml").write_text(f'[tool.flowtest]\nsandbox_flows = "{flows}"\n')
    (root / "scenarios").mkdir()
    (root / "scenarios" / "cafe.scenario.yaml").write_text(SCENARIOS)
    plain = run_pytest(root, "scenarios", env={"FLOWTEST_BASE_URL": ""})
    assert "1 failed, 2 passed" in plain.stdout, plain.stdout
    spread = run_pytest(root, "scenarios", "-n", "2", env={"FLOWTEST_BASE_URL": ""})
    assert "1 failed, 2 passed" in spread.stdout, spread.stdout
    runs = run_files(root / "reports" / "runs")
    assert len(runs) == 2
    for path in runs:
        record = json.loads(path.read_text())
        assert [test["nodeid"] for test in record["tests"]] == [
            "scenarios/cafe.scenario.yaml::Greets and serves",
            "scenarios/cafe.scenario.yaml::Says hello",
            "scenarios/cafe.scenario.yaml::Serves one",
        ]
    done = subprocess.run(
        [*FLOWTEST, "diff", "--latency", "1h"], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.stdout.splitlines()[1:] == ["nothing changed"], done.stdout
