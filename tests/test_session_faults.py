"""Answers flowtest cannot read still end the session they name; lost ones say a session may be open.

A fault-injecting server on loopback counts sessions on its own side.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import FLOWTEST, PYTEST, run_pytest
from tests.faultserver import FaultServer, Reply, fault_server, turn

KEY = "sk-test-0123456789"
SCENARIO = """name: Greets {number}
flow: greet
conversation:
  - bot: Hello
  - user: hi
  - bot: "You said: hi"
"""
MODES = {
    "serial": [],
    "concurrent": ["--flowtest-concurrency", "4"],
    "xdist": ["-n", "2"],
}
UNREADABLE_STARTS = {
    "unknown status": lambda sid, _body: turn(sid, status="thinking"),
    "null status": lambda sid, _body: turn(sid, status=None),
    "messages not a list": lambda sid, _body: turn(sid, messages={"text": "Hello"}),
    "messages null": lambda sid, _body: {**turn(sid), "messages": None},
}


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with fault_server() as running:
        yield running


def write_scenarios(folder: Path, count: int) -> None:
    for number in range(count):
        (folder / f"greet{number}.scenario.yaml").write_text(SCENARIO.format(number=number))


def run_against(server: FaultServer, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_pytest(
        folder,
        f"--flowtest-base-url={server.url}",
        "--flowtest-timeout=1s",
        *args,
        env={"FLOWTEST_API_KEY": KEY},
    )


def each_unreadable(session_id: str, body: dict[str, object]) -> Reply:
    """The n-th Start Session gets the n-th kind of unreadable answer."""
    answers = list(UNREADABLE_STARTS.values())
    answer = answers[(int(session_id.removeprefix("ses_")) - 1) % len(answers)]
    return Reply(status=201, body=answer)


@pytest.mark.parametrize("mode", list(MODES))
def test_an_unreadable_start_answer_still_ends_the_session_it_names(
    tmp_path: Path, server: FaultServer, mode: str
) -> None:
    server.start = each_unreadable
    write_scenarios(tmp_path, len(UNREADABLE_STARTS))
    result = run_against(server, tmp_path, *MODES[mode])
    assert f"{len(UNREADABLE_STARTS)} failed" in result.stdout, result.stdout
    assert len(server.opened) == len(UNREADABLE_STARTS)
    assert server.open_sessions == [], result.stdout
    assert "session none" not in result.stdout


def test_the_transcript_names_the_session_of_an_unreadable_start(tmp_path: Path, server: FaultServer) -> None:
    server.start = Reply(status=201, body=UNREADABLE_STARTS["unknown status"])
    write_scenarios(tmp_path, 1)
    result = run_against(server, tmp_path)
    assert "unknown session status 'thinking'" in result.stdout
    assert "ses_1" in result.stdout


LOST_STARTS = {
    "timeout": Reply(status=201, delay=2.0),
    "truncated body": Reply(status=201, truncate=True),
    "no sessionId": Reply(status=201, body={"status": "awaiting_input", "messages": []}),
    "null sessionId": Reply(status=201, body={"sessionId": None, "status": "awaiting_input", "messages": []}),
    "HTML body": Reply(status=200, raw=b"<html><body>Gateway says hi</body></html>"),
    "reset": Reply(status=201, reset=True),
}


@pytest.mark.parametrize("answer", list(LOST_STARTS))
def test_a_lost_start_answer_says_a_session_may_be_open(
    tmp_path: Path, server: FaultServer, answer: str
) -> None:
    server.start = LOST_STARTS[answer]
    write_scenarios(tmp_path, 1)
    result = run_against(server, tmp_path)
    sent = server.requests[0][2]["metadata"]["externalSessionId"]
    assert re.fullmatch(r"flowtest-[0-9a-f]{12}-[0-9a-f]{12}", sent)
    assert (
        "Start Session's answer was lost, so a session may be open on the server: "
        f"look for metadata.externalSessionId {sent}"
    ) in result.stdout, result.stdout


def test_a_refused_start_does_not_claim_a_session_may_be_open(tmp_path: Path, server: FaultServer) -> None:
    server.start = Reply(status=400, body={"error": {"code": "BAD_REQUEST", "message": "no"}})
    write_scenarios(tmp_path, 1)
    result = run_against(server, tmp_path)
    assert "1 failed" in result.stdout
    assert "may be open" not in result.stdout


def test_record_ends_the_session_of_an_unreadable_start(tmp_path: Path, server: FaultServer) -> None:
    server.start = Reply(status=201, body=UNREADABLE_STARTS["null status"])
    inputs = tmp_path / "lines.txt"
    inputs.write_text("hi\n")
    result = subprocess.run(
        [*FLOWTEST, "record", "--flow", "greet", "--base-url", server.url, "--inputs", str(inputs)],
        cwd=tmp_path,
        env={"FLOWTEST_API_KEY": KEY, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown session status None" in result.stderr
    assert server.opened == ["ses_1"] and server.open_sessions == []


# -- a second Ctrl-C while End Session is in flight -----------------------------------------

WAITS = """name: Waits {number}
flow: greet
conversation:
  - bot: Hello
  - wait: 60s
"""


def wait_until(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the run to get there"
        time.sleep(0.02)


@pytest.mark.signals
@pytest.mark.parametrize("mode", ["serial", "concurrent"])
def test_a_second_ctrl_c_does_not_abandon_end_session(tmp_path: Path, server: FaultServer, mode: str) -> None:
    running = 1 if mode == "serial" else 3
    for number in range(running):
        (tmp_path / f"wait{number}.scenario.yaml").write_text(WAITS.format(number=number))
    server.end = Reply(delay=1.5)
    command = [*PYTEST, "--rootdir", str(tmp_path), str(tmp_path), f"--flowtest-base-url={server.url}"]
    process = subprocess.Popen(
        [*command, *MODES[mode]],
        cwd=tmp_path,
        env={"FLOWTEST_API_KEY": KEY, "PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_until(lambda: len(server.opened) == running)
    process.send_signal(signal.SIGINT)
    wait_until(server.end_started.is_set)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert server.open_sessions == [], output
    assert "flowtest: still ending" in output
    assert process.returncode == 2
