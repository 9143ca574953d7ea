"""`flowtest record` ends its session however it stops, checks what it was given before it starts,
and writes scenarios that pass when run: real subprocesses, real signals, a loopback server."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import FLOWTEST, run_pytest
from tests.faultserver import FaultServer, Reply, fault_server
from tests.test_answer_bounds import record
from tests.test_authoring import project, run
from tests.test_data_files import suite
from tests.test_session_faults import KEY, wait_until

pytestmark = pytest.mark.signals


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with fault_server() as running:
        yield running


# -- stop signals -----------------------------------------------------------------------------


def start_record(server: FaultServer, folder: Path) -> subprocess.Popen[str]:
    """`flowtest record` reading the user's lines from a pipe left open and silent: it waits."""
    return subprocess.Popen(
        [*FLOWTEST, "record", "--flow", "greet", "--base-url", server.url],
        cwd=folder,
        env={"FLOWTEST_API_KEY": KEY, "PATH": "/usr/bin:/bin"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("moment", ["a slow Start Session answer", "a quick one"])
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_ends_the_recorded_session(
    tmp_path: Path, server: FaultServer, stop: int, moment: str
) -> None:
    if moment == "a slow Start Session answer":
        server.start = Reply(status=201, delay=1.0)
    process = start_record(server, tmp_path)
    wait_until(lambda: len(server.opened) == 1)  # whatever the moment after it, the session is ended
    process.send_signal(stop)
    _, errors = process.communicate(timeout=60)
    assert server.open_sessions == [], errors
    assert process.returncode == 128 + stop, errors
    assert "Traceback" not in errors
    # What a designer who pressed Ctrl-C reads: the session ended, and that nothing was kept.
    session = server.opened[0]
    assert errors.splitlines()[-2:] == [
        f"[session {session} ended]",
        "flowtest record: stopped; nothing written (/quit ends a recording and writes it)",
    ]


def test_a_second_signal_while_ending_does_not_abandon_the_session(
    tmp_path: Path, server: FaultServer
) -> None:
    server.end = Reply(delay=1.5)
    process = start_record(server, tmp_path)
    wait_until(lambda: len(server.opened) == 1)
    process.send_signal(signal.SIGTERM)
    wait_until(server.end_started.is_set)
    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate(timeout=60)
    assert server.open_sessions == [], errors
    assert "flowtest: warning: still ending the session before stopping" in errors
    assert process.returncode == 128 + signal.SIGTERM


def test_a_start_answer_that_times_out_says_a_session_may_be_open(
    tmp_path: Path, server: FaultServer
) -> None:
    server.start = Reply(status=201, delay=3)
    result = record(server, tmp_path, env={"FLOWTEST_TIMEOUT": "1s"})
    assert result.returncode == 2, result.stderr
    sent = server.requests[0][2]["metadata"]["externalSessionId"]
    assert result.stderr.splitlines()[0] == (
        "flowtest: warning: Start Session's answer was lost, so a session may be open on the server: "
        f"look for metadata.externalSessionId {sent}"
    ), result.stderr


def test_a_refused_start_does_not_say_a_session_may_be_open(tmp_path: Path, server: FaultServer) -> None:
    server.start = Reply(status=400, body={"error": {"code": "BAD", "message": "no such flow"}})
    result = record(server, tmp_path)
    assert result.returncode == 2
    assert "may be open" not in result.stderr


# -- what record is given, checked before it starts --------------------------------------------


def test_inputs_that_are_not_utf8_are_one_line_and_open_no_session(
    tmp_path: Path, server: FaultServer
) -> None:
    result = record(server, tmp_path, lines=b"hello\ncaf\xe9 au lait\n")
    assert result.stderr == "flowtest: error: lines.txt:2:4: not UTF-8 text (byte 0xe9); save it as UTF-8\n"
    assert result.returncode == 2
    assert server.opened == []


def test_standard_input_that_is_not_utf8_is_one_line_and_ends_the_session(
    tmp_path: Path, server: FaultServer
) -> None:
    result = subprocess.run(
        [*FLOWTEST, "record", "--flow", "greet", "--base-url", server.url],
        cwd=tmp_path,
        env={"FLOWTEST_API_KEY": KEY, "PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "utf-8"},
        input=b"caf\xe9\n",
        capture_output=True,
        timeout=60,
    )
    errors = result.stderr.decode()
    assert errors.splitlines()[-1].endswith("flowtest: error: standard input: not UTF-8 text (byte 0xe9)"), (
        errors
    )
    assert "Traceback" not in errors
    assert server.opened == ["ses_1"] and server.open_sessions == []


@pytest.mark.parametrize("where", ["a file in the way", "a folder without write permission"])
def test_an_out_path_that_cannot_be_written_is_refused_before_recording(
    tmp_path: Path, server: FaultServer, where: str
) -> None:
    if where == "a file in the way":
        (tmp_path / "blocker").write_text("")
        out, message = "blocker/sub/x.scenario.yaml", "cannot write there: blocker is a file, not a folder"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes anywhere")
        (tmp_path / "locked").mkdir(mode=0o555)
        out, message = "locked/x.scenario.yaml", "cannot write there: no permission to write in locked"
    result = record(server, tmp_path, "--out", out)
    assert result.stderr == f"flowtest: error: {out}: {message}\n"
    assert server.opened == []  # refused before the recording, not after it


# -- scenarios that pass when run ---------------------------------------------------------------


def test_a_variable_set_from_a_phrase_is_checked_to_exist_not_pinned(tmp_path: Path) -> None:
    folder = suite(tmp_path)
    # wantsAgent is the answer lowered: "No thanks" sets "no thanks", not a phrase of the list.
    (folder / "phrases.utterances.yaml").write_text(
        "ASK_STATUS: [flight status please]\nDECLINE: [No thanks, nope]\n"
    )
    done = run(
        "record",
        "--flow",
        "flight-status",
        "--utterances",
        "--out",
        "scenarios/flights/recorded.scenario.yaml",
        cwd=tmp_path,
        stdin="flight status please\nba 117\nNo thanks\n",
    )
    assert done.returncode == 0, done.stderr
    recorded = yaml.safe_load((folder / "recorded.scenario.yaml").read_text())
    checks = recorded["conversation"][-1]["variables"]
    assert checks["$.wantsAgent"] == {"exists": True}
    assert checks["$.request"] == {"utterance": "ASK_STATUS"}
    assert checks["$.flightNumber"] == "BA117"  # typed, not a phrase: pinned
    tests = run_pytest(tmp_path, env={"FLOWTEST_BASE_URL": ""})
    assert "2 passed" in tests.stdout, tests.stdout


def test_a_default_name_is_one_no_scenario_of_the_project_has(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "scenarios" / "old.scenario.yaml").write_text(
        "name: Recorded store-hours conversation\nflow: store-hours\nskip: kept\n"
        "conversation:\n  - status: completed\n"
    )
    names = []
    for number in (1, 2):
        out = f"scenarios/r{number}.scenario.yaml"
        done = run("record", "--flow", "store-hours", "--out", out, cwd=root, stdin="")
        assert done.returncode == 0, done.stderr
        names.append(yaml.safe_load((root / out).read_text())["name"])
    assert names == ["Recorded store-hours conversation 2", "Recorded store-hours conversation 3"]
    tests = run_pytest(root)
    assert "2 passed, 1 skipped" in tests.stdout, tests.stdout
