"""Answers flowtest will not read whole: nested too deep, too large, trickled; base URLs it refuses.

Each against the fault-injecting server on loopback, through pytest or `flowtest record`
in a subprocess, as a user runs them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowtest.client import codec
from tests.conftest import FLOWTEST, run_pytest
from tests.faultserver import FaultServer, Reply, fault_server, turn
from tests.test_session_faults import KEY, run_against, write_scenarios

DEEP = 5000  # past orjson's 1024 and json's recursion limit alike
MAY_BE_OPEN = "Start Session's answer was lost, so a session may be open on the server"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with fault_server() as running:
        yield running


def deep_answer(session_id: str, depth: int = DEEP) -> bytes:
    """A Start answer that names its session first, then holds JSON nested ``depth`` levels."""
    head = json.dumps(turn(session_id))[:-1]
    return f'{head}, "extra": {"[" * depth}{"]" * depth}}}'.encode()


def record(
    server: FaultServer, folder: Path, *args: str, env: dict[str, str] | None = None, lines: bytes = b"hi\n"
) -> subprocess.CompletedProcess[str]:
    """`flowtest record` of flow greet, the user's ``lines`` in lines.txt (--inputs)."""
    (folder / "lines.txt").write_bytes(lines)
    return subprocess.run(
        [*FLOWTEST, "record", "--flow", "greet", "--base-url", server.url, "--inputs", "lines.txt", *args],
        cwd=folder,
        env={"FLOWTEST_API_KEY": KEY, "PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- JSON nested deeper than flowtest reads ---------------------------------------------------


def test_the_deepest_json_read_is_what_orjson_writes_back() -> None:
    assert codec.loads(b"[" * codec.MAX_DEPTH + b"]" * codec.MAX_DEPTH)
    with pytest.raises(codec.TooDeep):
        codec.loads(b"[" * (codec.MAX_DEPTH + 1) + b"]" * (codec.MAX_DEPTH + 1))


@pytest.mark.parametrize("depth", [1000, DEEP])
def test_a_deep_start_answer_still_ends_the_session_it_names(
    tmp_path: Path, server: FaultServer, depth: int
) -> None:
    server.start = lambda sid, _body: Reply(status=201, raw=deep_answer(sid, depth))
    write_scenarios(tmp_path, 1)
    result = run_against(server, tmp_path)
    assert "1 failed" in result.stdout, result.stdout
    assert "is JSON nested deeper than 254 levels, more than flowtest reads" in result.stdout
    assert "a bug in flowtest" not in result.stdout + result.stderr
    assert server.opened == ["ses_1"] and server.open_sessions == [], result.stdout


def test_a_deep_start_answer_that_names_no_session_says_one_may_be_open(
    tmp_path: Path, server: FaultServer
) -> None:
    # The only sessionId is deep inside: not the answer's.
    nested = b'{"extra": ' + b"[" * DEEP + b'{"sessionId": "s"}' + b"]" * DEEP + b"}"
    server.start = Reply(status=201, raw=nested)
    write_scenarios(tmp_path, 1)
    result = run_against(server, tmp_path)
    sent = server.requests[0][2]["metadata"]["externalSessionId"]
    assert f"{MAY_BE_OPEN}: look for metadata.externalSessionId {sent}" in result.stdout, result.stdout
    assert "a bug in flowtest" not in result.stdout


@pytest.mark.parametrize("call", ["send", "get"])
def test_a_deep_answer_to_send_or_get_is_a_clear_failure(
    tmp_path: Path, server: FaultServer, call: str
) -> None:
    deep = Reply(raw=b'{"sessionId": "ses_1", "x": ' + b"[" * DEEP + b"]" * DEEP + b"}")
    setattr(server, call, deep)
    (tmp_path / "deep.scenario.yaml").write_text(
        "name: Deep\nflow: greet\nconversation:\n  - bot: Hello\n  - user: hi\n  - variables: {x: 1}\n"
    )
    result = run_against(server, tmp_path)
    assert "1 failed" in result.stdout, result.stdout
    assert "is JSON nested deeper than 254 levels, more than flowtest reads" in result.stdout
    assert "a bug in flowtest" not in result.stdout
    assert server.open_sessions == []


def test_record_ends_the_session_of_a_deep_start_answer(tmp_path: Path, server: FaultServer) -> None:
    server.start = lambda sid, _body: Reply(status=201, raw=deep_answer(sid))
    result = record(server, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "is JSON nested deeper than 254 levels" in result.stderr
    assert "Traceback" not in result.stderr
    assert server.opened == ["ses_1"] and server.open_sessions == []


# -- credentials in the base URL ----------------------------------------------------------------


def test_credentials_in_the_base_url_are_one_line_that_does_not_repeat_them(
    tmp_path: Path, server: FaultServer
) -> None:
    write_scenarios(tmp_path, 1)
    url = server.url.replace("http://", "http://alice:hunter2-pw@")
    result = run_pytest(tmp_path, f"--flowtest-base-url={url}", env={"FLOWTEST_API_KEY": KEY})
    host = server.url.removeprefix("http://")
    assert (
        f"--flowtest-base-url: http://***@{host} holds a user name or password: flowtest sends the API "
        "key (FLOWTEST_API_KEY) in a header instead; remove them from the URL"
    ) in result.stderr, result.stdout + result.stderr
    assert "hunter2" not in result.stdout + result.stderr and "alice" not in result.stdout + result.stderr
    assert "a bug in flowtest" not in result.stdout
    assert server.opened == []


def test_credentials_in_a_locust_host_are_one_line(tmp_path: Path, server: FaultServer) -> None:
    if importlib.util.find_spec("locust") is None:  # not imported here: it monkeypatches at import
        pytest.skip("needs the load extra")
    write_scenarios(tmp_path, 1)
    url = server.url.replace("http://", "http://alice:hunter2-pw@")
    result = subprocess.run(
        [*FLOWTEST, "load", str(tmp_path), "--headless", "-u", "1", "-t", "3s", "-H", url],
        cwd=tmp_path,
        env={**os.environ, "FLOWTEST_API_KEY": KEY},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "holds a user name or password" in result.stderr, result.stderr
    assert "a bug in flowtest" not in result.stderr and "Traceback" not in result.stderr
    assert result.returncode == 2


# -- answers trickled a byte at a time: --flowtest-timeout bounds each call's total time ---------


def test_a_trickled_answer_times_out_at_the_timeout(tmp_path: Path, server: FaultServer) -> None:
    # About 180 bytes a twentieth of a second apart: 9 s, each byte well inside the 1 s timeout.
    server.send = Reply(trickle=0.05)
    write_scenarios(tmp_path, 1)
    result = run_against(server, tmp_path)
    assert "1 failed" in result.stdout, result.stdout
    assert "failed: no answer within 1s" in result.stdout
    assert server.open_sessions == []


def test_record_gives_up_on_a_trickled_start_answer_and_says_a_session_may_be_open(
    tmp_path: Path, server: FaultServer
) -> None:
    server.start = Reply(status=201, trickle=0.05)
    result = record(server, tmp_path, env={"FLOWTEST_TIMEOUT": "1s"})
    assert result.returncode == 2, result.stderr
    assert "no answer within 1s" in result.stderr
    sent = server.requests[0][2]["metadata"]["externalSessionId"]
    assert f"a session may be open on the server: look for metadata.externalSessionId {sent}" in result.stderr


# -- answers larger than max_response_bytes ------------------------------------------------------

CAP = {"FLOWTEST_API_KEY": KEY, "FLOWTEST_MAX_RESPONSE_BYTES": "64KB"}
TOO_LARGE = (
    "is larger than 64 KiB, the most flowtest reads ({size}); if the API's answers are this large, "
    "raise max_response_bytes in [tool.flowtest] or FLOWTEST_MAX_RESPONSE_BYTES"
)


def padded(session_id: str, size: int) -> dict[str, object]:
    return {**turn(session_id), "padding": "x" * size}


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_answer_over_the_cap_is_a_failure_naming_the_cap_and_its_setting(
    tmp_path: Path, server: FaultServer, chunked: bool
) -> None:
    server.send = Reply(body=lambda sid, _body: padded(sid, 300_000), chunked=chunked)
    write_scenarios(tmp_path, 1)
    result = run_pytest(tmp_path, f"--flowtest-base-url={server.url}", env=CAP)
    size = "an answer of more than that" if chunked else "an answer of 293 KiB"
    assert TOO_LARGE.format(size=size) in result.stdout, result.stdout
    assert server.open_sessions == []


def test_a_start_answer_over_the_cap_still_ends_the_session_it_names(
    tmp_path: Path, server: FaultServer
) -> None:
    server.start = Reply(status=201, body=lambda sid, _body: padded(sid, 300_000))
    write_scenarios(tmp_path, 1)
    result = run_pytest(tmp_path, f"--flowtest-base-url={server.url}", env=CAP)
    assert "is larger than 64 KiB" in result.stdout, result.stdout
    assert server.opened == ["ses_1"] and server.open_sessions == []


def test_record_refuses_an_answer_over_the_cap(tmp_path: Path, server: FaultServer) -> None:
    server.send = Reply(body=lambda sid, _body: padded(sid, 300_000), chunked=True)
    result = record(server, tmp_path, env={"FLOWTEST_MAX_RESPONSE_BYTES": "64KB"})
    assert result.returncode == 2, result.stderr
    assert TOO_LARGE.format(size="an answer of more than that") in result.stderr
    assert server.open_sessions == []


def test_a_cap_that_is_not_a_size_is_one_line(tmp_path: Path) -> None:
    write_scenarios(tmp_path, 1)
    result = run_pytest(tmp_path, env={"FLOWTEST_MAX_RESPONSE_BYTES": "lots"})
    assert "FLOWTEST_MAX_RESPONSE_BYTES: expected a size such as 16MB or 512KB, got 'lots'" in result.stderr
