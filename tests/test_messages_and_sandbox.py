"""Messages that point the right way (bodies that are not JSON, cut connections, huge
messages), and the sandbox's own hostile-input cases."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowtest.client import ClientConfig, FlowClient, RetryPolicy
from flowtest.errors import ApiError
from flowtest.sandbox import DEFAULT_API_KEY, running_sandbox
from flowtest.sandbox.app import Limits
from flowtest.sandbox.server import RunningSandbox
from tests.conftest import FLOWTEST, run_pytest, sandbox_config
from tests.faultserver import FaultServer, Reply, fault_server, turn

KEY = "k-0123456789"
NOT_JSON = {
    "html": (
        b"<html><body>Gateway says hi</body></html>",
        'is not JSON; it starts with "<html><body>Gateway',
    ),
    "invalid": (b'{"sessionId": "x", ', 'is not JSON; it starts with "{\\"sessionId\\": \\"x\\", "'),
    "empty": (b"", "has an empty body where a JSON object was expected"),
    "utf8": (b"\xff\xfe{}", 'is not JSON; it starts with "\ufffd\ufffd{}"'),
    "array": (b"[1, 2]", 'is an array, not a JSON object: "[1, 2]"'),
}


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with fault_server() as running:
        yield running


def run_scenarios(server: FaultServer, folder: Path, count: int, *args: str) -> str:
    for number in range(count):
        (folder / f"s{number}.scenario.yaml").write_text(
            f"name: S{number}\nflow: f\nconversation:\n  - bot: Hello\n  - user: hi\n  - bot: x\n"
        )
    result = run_pytest(folder, f"--flowtest-base-url={server.url}", *args, env={"FLOWTEST_API_KEY": KEY})
    return result.stdout


def test_a_2xx_body_that_is_no_json_object_says_so_and_shows_its_start(
    tmp_path: Path, server: FaultServer
) -> None:
    bodies = list(NOT_JSON.values())

    def start(session_id: str, _body: dict[str, Any]) -> Reply:
        return Reply(status=201, raw=bodies[int(session_id.removeprefix("ses_")) - 1][0])

    server.start = start
    output = run_scenarios(server, tmp_path, len(bodies))
    for name, (_, said) in NOT_JSON.items():
        assert f"/flows/f/sessions: the answer (201) {said}" in output, (name, output)
    assert "no value at $.sessionId" not in output


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        (Reply(truncate=True), "failed: the answer was cut off before its end ("),
        (Reply(reset=True), "failed: the server closed the connection without a complete answer ("),
    ],
    ids=["truncated", "reset"],
)
def test_a_cut_connection_says_what_happened(
    tmp_path: Path, server: FaultServer, reply: Reply, said: str
) -> None:
    server.send = reply
    output = run_scenarios(server, tmp_path, 1)
    assert said in output, output
    assert "proxy in between" in output
    assert server.open_sessions == []


def test_a_huge_bot_message_is_cut_in_the_output_with_how_much(tmp_path: Path, server: FaultServer) -> None:
    huge = "spam " * 2_000_000  # 10 MB
    server.send = Reply(body=lambda sid, _b: turn(sid, messages=[{"type": "text", "text": huge}]))
    output = run_scenarios(server, tmp_path, 1, "-v", "--junitxml=junit.xml")
    junit = (tmp_path / "junit.xml").read_text()
    assert len(output) < 60_000 and len(junit) < 60_000, (len(output), len(junit))
    assert "more characters not shown)" in output
    assert "bot message 1 of the turn does not match" in output


# -- the sandbox --------------------------------------------------------------------------------


def test_the_sandbox_answers_400_to_a_deeply_nested_body(sandbox: RunningSandbox) -> None:
    url = f"{sandbox.url}/cgw/process/v1/orgs/demo/flows/flight-status/sessions"
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}", "Content-Type": "application/json"}
    answer = httpx.post(url, content=b"[" * 30_000 + b"]" * 30_000, headers=headers)
    assert answer.status_code == 400
    assert answer.json() == {"error": {"code": "INVALID_REQUEST", "message": "body is nested too deeply"}}


def test_expired_sessions_do_not_count_toward_max_sessions() -> None:
    config = sandbox_config(limits=Limits(session_ttl=0.5, max_sessions=2))
    with running_sandbox(config) as small:
        client_config = ClientConfig(small.url, "demo", DEFAULT_API_KEY, retry=RetryPolicy(max_attempts=1))
        with FlowClient(client_config) as client:
            first = client.start_session("flight-status")
            client.start_session("flight-status")
            with pytest.raises(ApiError):
                client.start_session("flight-status")
            deadline = time.monotonic() + 10
            while not _expired(client, first.session_id):  # the server's clock decides
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert client.start_session("flight-status").status == "awaiting_input"


def _expired(client: FlowClient, session_id: str) -> bool:
    try:
        return client.get_session(session_id).status == "expired"
    except ApiError as exc:
        return exc.status == 410


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--port", "99999"], "argument --port: expected a port from 0 to 65535, got '99999'"),
        (
            ["--api-key", ""],
            "argument --api-key: the API key cannot be empty: clients would be let in with no key",
        ),
        (["--max-sessions", "0"], "argument --max-sessions: expected a whole number of 1 or more, got '0'"),
        (["--max-sessions", "-1"], "argument --max-sessions: expected a whole number of 1 or more, got '-1'"),
        (
            ["--session-ttl", "0"],
            "argument --session-ttl: expected a duration above 0, such as 10m or 1h, got '0'",
        ),
    ],
    ids=["port", "empty key", "no sessions", "negative sessions", "sessions that never live"],
)
def test_serve_refuses_bad_options_in_one_line(args: list[str], said: str) -> None:
    result = subprocess.run([*FLOWTEST, "serve", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(f"flowtest serve: error: {said}")
    assert "Traceback" not in result.stderr
