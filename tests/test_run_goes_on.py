"""One fault on one Start Session fails that scenario only; an API found unreachable stops only
what has not started, and every result that exists is kept. Against the fault-injecting server."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PYTEST
from tests.faultserver import FaultServer, Reply, fault_server, turn
from tests.test_session_faults import KEY, MODES, run_against, wait_until, write_scenarios


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with fault_server() as running:
        yield running


def first_start(fault: Reply) -> object:
    """The first Start Session gets ``fault``, every other one a good answer."""

    def reply(session_id: str, _body: object) -> Reply:
        return fault if session_id == "ses_1" else Reply(status=201)

    return reply


@pytest.mark.parametrize("mode", ["serial", "concurrent"])
@pytest.mark.parametrize(
    "fault",
    [Reply(status=201, reset=True), Reply(status=201, truncate=True), Reply(status=201, delay=2.0)],
    ids=["the server closed the connection", "cut off", "timeout"],
)
def test_one_fault_on_one_start_fails_that_scenario_only(
    tmp_path: Path, server: FaultServer, mode: str, fault: Reply
) -> None:
    server.start = first_start(fault)
    write_scenarios(tmp_path, 4)
    result = run_against(server, tmp_path, *MODES[mode])
    assert "1 failed, 3 passed" in result.stdout, result.stdout
    assert "not run" not in result.stdout


def test_an_unreachable_api_keeps_the_results_of_conversations_already_run(
    tmp_path: Path, server: FaultServer
) -> None:
    """Scenario 0 is read first and finds the API gone; 1 to 3 ran meanwhile and passed."""
    release = threading.Event()

    def send(session_id: str, body: dict[str, object]) -> Reply:
        if body.get("text") == "hold":  # scenario 0's turn, answered once the others are done
            return Reply(hold=release, body=turn(session_id, messages=[]))
        return Reply()

    server.send = send
    write_scenarios(tmp_path, 4)
    (tmp_path / "greet0.scenario.yaml").write_text(
        "name: Held\nflow: greet\nretries: 1\nconversation:\n  - bot: Hello\n  - user: hold\n  - bot: never\n"
    )
    command = [*PYTEST, "--rootdir", str(tmp_path), str(tmp_path), f"--flowtest-base-url={server.url}"]
    process = subprocess.Popen(
        [*command, "--flowtest-timeout=2s", "--flowtest-concurrency=4"],
        cwd=tmp_path,
        env={"FLOWTEST_API_KEY": KEY, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_until(lambda: server.holding.is_set() and len(server.ended) == 3)
    # The API goes away: scenario 0 fails, and its retry cannot even connect.
    server.stop_listening()
    release.set()
    output, _ = process.communicate(timeout=120)
    assert "connection refused" in output, output
    assert "1 failed, 3 passed" in output, output
    assert "not run" not in output
