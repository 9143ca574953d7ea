"""flowtest explore: a sandbox flow walked through its engine, a deployment explored in sessions;
the scenarios it writes pass when run, and every session it starts is ended (also on SIGTERM)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from flowtest.sandbox import DEFAULT_API_KEY, running_sandbox
from flowtest.sandbox.app import Faults
from flowtest.sandbox.server import RunningSandbox
from tests.conftest import FLOWS, FLOWTEST, run_pytest, sandbox_config

ENV = {**os.environ, "FLOWTEST_API_KEY": DEFAULT_API_KEY, "PYTHONUNBUFFERED": "1"}
FACTS = "ticket number: [INC4711, no idea]\nflight number: [BA117]\nhow can I help: [flight status, agent]\n"


def project(tmp_path: Path) -> Path:
    """A project with the example flows, as `flowtest init --example` leaves one."""
    shutil.copytree(FLOWS, tmp_path / "scenarios" / "flows")
    (tmp_path / "pyproject.toml").write_text('[tool.flowtest]\nallure_results = ""\n')
    (tmp_path / "facts.yaml").write_text(FACTS)
    return tmp_path


def explore(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FLOWTEST, "explore", *args], cwd=root, env=env or ENV, capture_output=True, text=True, timeout=120
    )


def test_the_example_flows_walked_through_their_engine_give_scenarios_that_pass(tmp_path: Path) -> None:
    root = project(tmp_path)
    env = {key: value for key, value in ENV.items() if key != "FLOWTEST_BASE_URL"}
    flows = ("support", "flight-status", "order-tracking", "store-hours", "rebooking")
    for flow in flows:
        done = explore(root, "--flow", flow, "--depth", "6", env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1].startswith("flowtest explore: "), done.stdout
    written = sorted((root / "scenarios" / "explored").rglob("*.scenario.yaml"))
    support = [path.name for path in written if path.parent.name == "support"]
    assert "01-billing-transfer-success.scenario.yaml" in support, support
    assert {path.parent.name for path in written} == set(flows)
    result = run_pytest(root, "scenarios/explored", env={"FLOWTEST_BASE_URL": ""})
    assert f"{len(written)} passed" in result.stdout, result.stdout[-3000:]


@pytest.fixture
def deployment() -> RunningSandbox:
    with running_sandbox(sandbox_config()) as running:
        yield running


def test_a_deployment_is_explored_by_buttons_and_facts_and_every_session_is_ended(
    tmp_path: Path, deployment: RunningSandbox
) -> None:
    root = project(tmp_path)
    done = explore(
        root,
        "--flow",
        "support",
        "--base-url",
        deployment.url,
        "--facts",
        "facts.yaml",
        "--depth",
        "4",
        "--out",
        "out",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (
        "flowtest explore: 17 sessions, 11 paths written to out (1 stopped at the depth, still waiting)"
    )
    assert deployment.api.started == 17 and deployment.open_sessions == 0
    names = sorted(path.name for path in (root / "out").iterdir())
    assert names[:5] == [
        "01-billing-transfer-success.scenario.yaml",
        "02-billing-transfer-failed.scenario.yaml",
        "03-billing-transfer-hangup.scenario.yaml",
        "04-technical-support-check-status.scenario.yaml",
        "05-technical-support-inc4711.scenario.yaml",
    ]
    pressed = (root / "out" / names[3]).read_text()
    assert "- user: tech\n" in pressed  # Technical support's payload, sent as the button would
    assert "name: 'Explored support: Technical support > Check status'" in pressed
    result = run_pytest(
        root, "out", f"--flowtest-base-url={deployment.url}", env={"FLOWTEST_API_KEY": DEFAULT_API_KEY}
    )
    assert "11 passed" in result.stdout, result.stdout[-3000:]


def test_the_budget_bounds_the_sessions(tmp_path: Path, deployment: RunningSandbox) -> None:
    root = project(tmp_path)
    done = explore(root, "--flow", "support", "--base-url", deployment.url, "--budget", "3", "--out", "out")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (
        "flowtest explore: 3 sessions, 0 paths written to out, 5 left unexplored (raise --budget)"
    )
    assert deployment.api.started == 3 and deployment.open_sessions == 0


@pytest.mark.signals
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_stop_signal_still_ends_the_session_under_way(tmp_path: Path, signum: signal.Signals) -> None:
    root = project(tmp_path)
    with running_sandbox(sandbox_config(faults=Faults(latency=0.3))) as slow:
        process = subprocess.Popen(
            [*FLOWTEST, "explore", "--flow", "support", "--base-url", slow.url, "--out", "out"],
            cwd=root,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while slow.api.started < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signum)
        output, _ = process.communicate(timeout=60)
        assert slow.open_sessions == 0, output
    assert process.returncode == 128 + signum, output  # as a shell reports a command stopped so


def test_what_cannot_be_explored_is_one_line(tmp_path: Path, deployment: RunningSandbox) -> None:
    root = project(tmp_path)
    (root / "bad.yaml").write_text("ticket number: {nested: value}\n")
    env = {key: value for key, value in ENV.items() if key != "FLOWTEST_BASE_URL"}
    cases = {
        ("--flow", "support", "--base-url", deployment.url, "--facts", "bad.yaml"): (
            "flowtest: error: bad.yaml:1:16: ticket number: expected an answer or a list of answers, "
            "got {'nested': 'value'}"
        ),
        ("--flow", "support", "--facts", "facts.yaml"): (
            "flowtest: error: --facts is for exploring a deployment (--base-url or FLOWTEST_BASE_URL); "
            "a sandbox flow is walked through its own engine"
        ),
        ("--flow", "nope"): (
            "flowtest: error: --flow nope: no such flow in "
            f"{root / 'scenarios' / 'flows'} (flows: flight-status, order-tracking, rebooking, store-hours, "
            "support)"
        ),
    }
    for args, message in cases.items():
        done = explore(root, *args, env=env)
        assert (done.returncode, done.stderr.strip()) == (2, message), done.stderr
    assert explore(root, "--flow", "store-hours", env=env).returncode == 0
    again = explore(root, "--flow", "store-hours", env=env)
    written = root / "scenarios" / "explored" / "store-hours" / "01-the-first-turn.scenario.yaml"
    assert (
        again.stderr.strip()
        == f"flowtest: error: {written} exists; flowtest explore does not overwrite files "
        "(remove the folder, or choose another --out)"
    )
