"""Flow coverage end to end: real conversations (flowtest.runner) against a real loopback sandbox,
a small flow written for the test, exact counts, the merge of workers' data, the gate's line."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from flowtest.client import AsyncFlowClient, ClientConfig
from flowtest.coverage import FlowCoverage
from flowtest.coverage.fetch import LocalSandbox, SandboxSource, serves_coverage
from flowtest.runner import RunContext, run_case
from flowtest.sandbox import COVERAGE_PATH, DEFAULT_API_KEY, SandboxConfig, running_sandbox
from flowtest.scenario.loader import ScenarioLoader
from flowtest.scenario.model import Case, cases_of
from flowtest.trace import Result
from tests.conftest import run_pytest
from tests.faultserver import fault_server

PIZZA = """\
id: pizza
name: Pizza order
start: greet
variables: {vip: false}
nodes:
  greet:
    say:
      - Welcome!
      - text: Hello again, VIP.
        when: {var: vip, equals: true}
    next: ask_size
  ask_size:
    ask: size
    transform: [lower]
    next: route
  route:
    branch:
      - when: {var: size, regex: "^(small|s)$"}
        next: small
      - when: {var: size, contains: large}
        next: large
    otherwise: agent
  small:
    say: One small pizza.
    end: true
  large:
    say: One large pizza.
    end: true
  agent:
    say: Let me get someone.
    transfer: {destination: pizza-desk}
    on_success: connected
    on_error: sorry
  connected:
    say: Connected.
    end: true
  sorry:
    say: Sorry (${failReason}).
    end: true
"""
SMALL = """\
name: Small pizza
flow: pizza
conversation:
  - bot: Welcome!
  - user: Small
  - bot: One small pizza.
  - status: completed
"""
AGENT = """\
name: Unknown size goes to an agent
flow: pizza
conversation:
  - bot: Welcome!
  - user: a medium one
  - bot: Let me get someone.
  - transfer: success
  - bot: Connected.
"""
LARGE_FAILS = """\
name: Large pizza, wrongly expected small
flow: pizza
conversation:
  - bot: Welcome!
  - user: large please
  - bot: One small pizza.
"""
RUN_ID = "cov123"


def write_project(folder: Path) -> Path:
    """The pizza flow and its three scenarios, in the layout flowtest init makes."""
    flows = folder / "scenarios" / "flows"
    flows.mkdir(parents=True)
    (flows / "pizza.flow.yaml").write_text(PIZZA)
    for name, text in (("small", SMALL), ("agent", AGENT), ("large", LARGE_FAILS)):
        (folder / "scenarios" / f"{name}.scenario.yaml").write_text(text)
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path)


def _cases(project: Path, *names: str) -> list[Case]:
    loader = ScenarioLoader(project)
    return [
        cases_of(loader.load_file(project / "scenarios" / f"{name}.scenario.yaml").scenarios[0])[0]
        for name in names
    ]


def _run(url: str, cases: Sequence[Case], run_id: str = RUN_ID) -> list[Result]:
    async def go() -> list[Result]:
        async with AsyncFlowClient(ClientConfig(url, "demo", DEFAULT_API_KEY)) as client:
            return [await run_case(case, client, RunContext(run_id, "demo")) for case in cases]

    return asyncio.run(go())


@pytest.fixture
def sandbox_url(project: Path) -> Iterator[str]:
    config = SandboxConfig(flows_dir=project / "scenarios" / "flows", port=0, coverage=True)
    with running_sandbox(config) as running:
        yield running.url


def _worker(url: str, project: Path, names: Sequence[str], run_id: str = RUN_ID) -> dict[str, object]:
    """What one process does: run its conversations, then finish with its sandbox's data."""
    coverage = FlowCoverage(root=project)
    cases = _cases(project, *names)
    for case, result in zip(cases, _run(url, cases, run_id), strict=True):
        coverage.conversation(case, result)
    # Through JSON, as an xdist worker hands it to the controller.
    data: dict[str, object] = json.loads(
        json.dumps(coverage.finish(SandboxSource(url, DEFAULT_API_KEY, run_id)))
    )
    return data


ROUTE_TO_LARGE = {
    "from": "route",
    "to": "large",
    "where": "scenarios/flows/pizza.flow.yaml:20",
    "key": "route.branch[1]",
    "label": 'when size contains "large"',
}
EXPECTED = {
    "pizza": {
        "nodes": {"covered": 6, "total": 8},
        "edges": {"covered": 6, "total": 9},
        "missing": [
            {
                "from": "greet",
                "to": "greet",
                "where": "scenarios/flows/pizza.flow.yaml:9",
                "key": "greet.say[1]:shown",
                "label": "say[1] when vip equals true: shown",
            },
            ROUTE_TO_LARGE,
            {
                "from": "agent",
                "to": "sorry",
                "where": "scenarios/flows/pizza.flow.yaml:33",
                "key": "agent.on_error",
                "label": "on_error",
            },
        ],
        "name": "Pizza order",
        "file": "scenarios/flows/pizza.flow.yaml",
        "conversations": {"passed": 2, "failed": 1},
        "failing": {
            "nodes": {"covered": 4, "total": 8},
            "edges": {"covered": 4, "total": 9},
            "only": [ROUTE_TO_LARGE],
        },
    }
}
TABLE = [
    "flowtest coverage: 1 flow(s), 2 passing and 1 failing conversation(s); covered = taken by a passing conversation",
    "flow            nodes           edges  failing took",
    "pizza      6/8  75.0%      6/9  66.7%  4 edge(s)",
    "  missing: greet: say[1] when vip equals true: shown  scenarios/flows/pizza.flow.yaml:9",
    "           route -> large                             scenarios/flows/pizza.flow.yaml:20",
    "           agent -> sorry                             scenarios/flows/pizza.flow.yaml:33",
    "  only failing took: route -> large  scenarios/flows/pizza.flow.yaml:20",
]


def test_exact_counts_for_a_small_flow_from_passing_and_failing_conversations(
    project: Path, sandbox_url: str
) -> None:
    coverage = FlowCoverage(minimum=None, root=project)
    coverage.merge(_worker(sandbox_url, project, ["small", "agent", "large"]))
    lines: list[str] = []
    verdict = coverage.report(project / "reports", lines.append)
    assert verdict.passed
    assert json.loads((project / "reports" / "coverage.json").read_text()) == EXPECTED
    assert lines == TABLE


def test_workers_data_merged_by_the_controller_equals_one_process(project: Path) -> None:
    """Under -n each worker has its own embedded sandbox (its own edge numbering in memory)
    and its own run id; the controller merges what each hands over."""
    flows = project / "scenarios" / "flows"
    parts = []
    for names, run_id in ((["small"], "w0run"), (["agent", "large"], "w1run")):
        with running_sandbox(SandboxConfig(flows_dir=flows, port=0, coverage=True)) as running:
            parts.append(_worker(running.url, project, names, run_id))
    controller = FlowCoverage(root=project)
    for part in parts:
        controller.merge(part)
    lines: list[str] = []
    controller.report(project / "reports", lines.append)
    assert json.loads((project / "reports" / "coverage.json").read_text()) == EXPECTED
    assert lines == TABLE


def test_the_gate_says_which_flow_and_what_is_missing(project: Path, sandbox_url: str) -> None:
    coverage = FlowCoverage(minimum=70, root=project)
    coverage.merge(_worker(sandbox_url, project, ["small", "agent", "large"]))
    lines: list[str] = []
    verdict = coverage.report(project / "reports", lines.append)
    gate_line = (
        "flowtest: coverage below --flowtest-coverage-min=70%: flow pizza covers 66.7% of its edges (6/9); "
        "missing: greet: say[1] when vip equals true: shown (scenarios/flows/pizza.flow.yaml:9), "
        "route -> large (scenarios/flows/pizza.flow.yaml:20), agent -> sorry (scenarios/flows/pizza.flow.yaml:33)"
    )
    assert not verdict.passed
    assert verdict.lines == (gate_line,)
    assert lines[-1] == gate_line
    lower = FlowCoverage(minimum=66, root=project)
    lower.merge(_worker(sandbox_url, project, ["small", "agent", "large"], "again"))
    assert lower.report(project / "reports", [].append).passed


def test_with_coverage_off_nothing_is_recorded(project: Path) -> None:
    config = SandboxConfig(flows_dir=project / "scenarios" / "flows", port=0)
    with running_sandbox(config) as running:
        _run(running.url, _cases(project, "small"))
        assert all(session.state.taken is None for session in running.api.sessions.values())
        assert running.api.paths is None
        answer = httpx.get(
            running.url + COVERAGE_PATH, headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        ).json()
    assert (answer["recording"], answer["sessions"]) == (False, {})


def test_the_endpoint_needs_the_key_and_selects_a_runs_sessions_after_they_ended(
    project: Path, sandbox_url: str
) -> None:
    _run(sandbox_url, _cases(project, "small"), "mine")
    _run(sandbox_url, _cases(project, "agent"), "other")
    assert httpx.get(sandbox_url + COVERAGE_PATH).status_code == 401
    answer = httpx.get(
        sandbox_url + COVERAGE_PATH,
        params={"prefix": "flowtest-mine-"},
        headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"},
    ).json()
    (session,) = answer["sessions"].values()
    assert session["flow"] == "pizza"
    assert session["externalSessionId"].startswith("flowtest-mine-")
    assert session["nodes"] == ["greet", "ask_size", "route", "small"]
    keys = [answer["flows"]["pizza"]["edges"][index]["key"] for index in session["edges"]]
    assert keys == ["greet.say[1]:hidden", "greet.next", "ask_size.next", "route.branch[0]"]


def test_flowtest_serve_in_another_process_gives_a_run_what_its_sessions_took(project: Path) -> None:
    command = [sys.executable, "-m", "flowtest.cli", "serve", "--port", "0", "--flows", "scenarios/flows"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        url = re.search(r"(http://\S+)", process.stdout.readline())
        assert url is not None
        coverage = FlowCoverage(root=project)
        coverage.merge(_worker(url.group(1), project, ["small", "agent", "large"]))
        lines: list[str] = []
        coverage.report(project / "reports", lines.append)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert json.loads((project / "reports" / "coverage.json").read_text()) == EXPECTED
    assert lines == TABLE


def test_the_embedded_sandbox_is_read_in_process_with_the_same_result(project: Path) -> None:
    flows = project / "scenarios" / "flows"
    with running_sandbox(SandboxConfig(flows_dir=flows, port=0, coverage=True)) as running:
        cases = _cases(project, "small", "agent", "large")
        coverage = FlowCoverage(root=project, observe=False, expected_flows=("pizza", "billing"))
        for case, result in zip(cases, _run(running.url, cases), strict=True):
            coverage.conversation(case, result)
        local = coverage.finish(LocalSandbox(running.api, RUN_ID))
        assert local == coverage.finish(SandboxSource(running.url, DEFAULT_API_KEY, RUN_ID))
    coverage.merge(local)
    lines: list[str] = []
    coverage.report(project / "reports", lines.append)
    assert lines == [*TABLE, "flows never started (settings: flows): billing"]
    assert json.loads((project / "reports" / "coverage.json").read_text()) == EXPECTED
    assert not (project / "reports" / "observed.json").exists()  # nothing observed: the graphs say more


# -- through pytest, as a user runs it ------------------------------------------------------


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (project / "pyproject.toml").write_text('[tool.flowtest]\nsandbox_flows = "scenarios/flows"\n')
    return run_pytest(project, "-p", "no:allure_pytest", *args)


@pytest.mark.parametrize(
    "mode", [(), ("--flowtest-concurrency=3",), ("-n", "2")], ids=["serial", "concurrent", "xdist"]
)
def test_a_run_with_coverage_prints_the_table_and_writes_the_file(
    project: Path, mode: tuple[str, ...]
) -> None:
    ran = _pytest(project, "--flowtest-coverage", *mode)
    assert "1 failed, 2 passed" in ran.stdout, ran.stdout
    shown = ran.stdout.split("flowtest coverage", 1)[1].splitlines()[1 : 1 + len(TABLE)]
    assert shown == TABLE
    assert json.loads((project / "reports" / "coverage.json").read_text()) == EXPECTED


def test_a_known_issues_conversations_count_as_failing_and_are_said_apart(project: Path) -> None:
    large = project / "scenarios" / "large.scenario.yaml"
    large.write_text(large.read_text().replace("\nflow:", "\nxfail: BUG-3\nflow:", 1))
    ran = _pytest(project, "--flowtest-coverage")
    assert "2 passed, 1 xfailed" in ran.stdout, ran.stdout
    assert (
        "flowtest coverage: 1 flow(s), 2 passing and 1 failing conversation(s), 1 of them a known issue (xfail); "
        "covered = taken by a passing conversation"
    ) in ran.stdout.splitlines()


def test_the_gate_fails_a_run_that_passed_with_one_line(project: Path) -> None:
    (project / "scenarios" / "large.scenario.yaml").unlink()  # every scenario passes
    ran = _pytest(project, "--flowtest-coverage-min=90")
    assert ran.returncode == 1 and "2 passed" in ran.stdout
    gate = [line for line in ran.stdout.splitlines() if line.startswith("flowtest: coverage below")]
    assert gate == [
        "flowtest: coverage below --flowtest-coverage-min=90%: flow pizza covers 66.7% of its edges (6/9); "
        "missing: greet: say[1] when vip equals true: shown (scenarios/flows/pizza.flow.yaml:9), "
        "route -> large (scenarios/flows/pizza.flow.yaml:20), agent -> sorry (scenarios/flows/pizza.flow.yaml:33)"
    ]
    assert _pytest(project, "--flowtest-coverage-min=60").returncode == 0


def test_without_coverage_the_run_prints_and_writes_none(project: Path) -> None:
    ran = _pytest(project)
    assert "flowtest coverage" not in ran.stdout
    assert not (project / "reports" / "coverage.json").exists()


def test_a_sandbox_that_cannot_be_asked_is_one_line(tmp_path: Path) -> None:
    from flowtest.errors import FlowtestError

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = SandboxSource(f"http://127.0.0.1:{port}", None, "r1")
    with pytest.raises(FlowtestError) as raised:
        source.fetch()
    assert str(raised.value).startswith(
        f"coverage: cannot ask the sandbox at http://127.0.0.1:{port} what ran: "
    )
    assert "refused" in str(raised.value)


def test_a_run_counts_no_observed_inventory_against_a_flowtest_sandbox(tmp_path: Path) -> None:
    flows = write_project(tmp_path) / "scenarios" / "flows"
    with running_sandbox(SandboxConfig(flows_dir=flows, port=0, coverage=True)) as recording:
        assert serves_coverage(recording.url, DEFAULT_API_KEY)
    with fault_server() as deployment:  # an API that is no sandbox: 404 there
        assert not serves_coverage(deployment.url, "key")
    with socket.socket() as probe:  # nothing listens: no sandbox
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert not serves_coverage(f"http://127.0.0.1:{port}", None)
