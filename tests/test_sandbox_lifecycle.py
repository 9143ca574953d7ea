"""Sandbox behaviour over time and at its edges: expiry, purge, broken flows, the serve command."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flowtest.client import ClientConfig, FlowClient
from flowtest.errors import ApiError
from flowtest.sandbox import DEFAULT_API_KEY, running_sandbox
from flowtest.sandbox.app import Limits
from flowtest.sandbox.flows import FlowFilesError, load_flows
from tests.conftest import ROOT, sandbox_config


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_expired_session_answers_410_then_is_purged() -> None:
    clock = FakeClock()
    config = sandbox_config(limits=Limits(session_ttl=60))
    with (
        running_sandbox(config, clock=clock) as sandbox,
        FlowClient(ClientConfig(sandbox.url, "demo", DEFAULT_API_KEY)) as client,
    ):
        turn = client.start_session("flight-status")
        clock.now += 61
        with pytest.raises(ApiError) as caught:
            client.send_text(turn.session_id, "flight")
        assert (caught.value.status, caught.value.code) == (410, "SESSION_EXPIRED")
        assert client.get_session(turn.session_id).status == "expired"
        clock.now += 61  # past the grace period: the next request purges it
        with pytest.raises(ApiError) as gone:
            client.get_session(turn.session_id)
        assert gone.value.code == "SESSION_NOT_FOUND"
        assert sandbox.open_sessions == 0


def test_broken_flow_files_are_reported_with_their_lines_all_in_one_pass(tmp_path: Path) -> None:
    (tmp_path / "bad.flow.yaml").write_text(
        "id: bad\nstart: greet\nnodes:\n  greet:\n    sya: hi\n    next: ask\n"
        "  ask:\n    ask: answer\n    next: nowhere\n"
    )
    (tmp_path / "typo.flow.yaml").write_text("id: typo\nstart: greet\nnodes:\n  greet:\n    next: gret\n")
    (tmp_path / "syntax.flow.yaml").write_text("id: [oops\n")
    with pytest.raises(FlowFilesError) as caught:
        load_flows(tmp_path)
    assert [str(e) for e in caught.value.errors] == [
        f"{tmp_path}/bad.flow.yaml:5:5: nodes.greet: unknown key 'sya', did you mean 'say'?",
        f"{tmp_path}/bad.flow.yaml:9:11: nodes.ask.next: no node named 'nowhere'",
        f"{tmp_path}/syntax.flow.yaml:2:1: invalid YAML: did not find expected ',' or ']' "
        "(while parsing a flow sequence opened at line 1)",
        f"{tmp_path}/typo.flow.yaml:5:11: nodes.greet.next: no node named 'gret', did you mean 'greet'?",
    ]


def test_example_flows_load() -> None:
    flows = load_flows(Path(__file__).resolve().parent.parent / "scenarios" / "flows")
    assert {"flight-status", "order-tracking", "store-hours"} <= set(flows)


def _serve(*args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "flowtest.cli", "serve", "--port", "0", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.signals
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_its_url_serves_and_stops_cleanly(stop: signal.Signals) -> None:
    flows = str(Path(__file__).resolve().parent.parent / "scenarios" / "flows")
    process = _serve("--flows", flows, "--org", "acme")
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.match(r"flowtest sandbox listening on (http://127\.0\.0\.1:\d+) \(org acme; ", line)
        assert match, line
        with FlowClient(ClientConfig(match.group(1), "acme", DEFAULT_API_KEY)) as client:
            assert client.start_session("store-hours").status == "completed"
        process.send_signal(stop)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()


def test_serve_starts_beside_a_broken_flow_whose_start_session_answers_its_problems(tmp_path: Path) -> None:
    (tmp_path / "x.flow.yaml").write_text("id: x\nstart: a\nnodes:\n  a: {next: b}\n")
    (tmp_path / "ok.flow.yaml").write_text("id: ok\nstart: a\nnodes:\n  a: {say: hi}\n")
    process = _serve("--flows", str(tmp_path))
    try:
        assert process.stdout is not None and process.stderr is not None
        url = re.search(r"(http://\S+)", process.stdout.readline())
        assert url is not None
        assert [process.stderr.readline() for _ in range(2)] == [
            f"{tmp_path}/x.flow.yaml:4:13: nodes.a.next: no node named 'b'\n",
            "flowtest: 1 flow(s) cannot run (x): Start Session answers with the problems above\n",
        ]
        with FlowClient(ClientConfig(url.group(1), "demo", DEFAULT_API_KEY)) as client:
            assert client.start_session("ok").status == "completed"
            with pytest.raises(ApiError) as caught:
                client.start_session("x")
        assert (caught.value.status, caught.value.code) == (500, "INTERNAL")
        assert caught.value.api_message == (
            "the flow 'x' cannot run; its file has problems:\n"
            f"{tmp_path}/x.flow.yaml:4:13: nodes.a.next: no node named 'b'"
        )
    finally:
        process.kill()
        process.communicate()


def test_serve_fault_options_reach_the_server() -> None:
    import httpx

    process = _serve(
        "--rate-limit", "1/s", "--latency", "200ms", "--flows", str(ROOT / "scenarios" / "flows")
    )
    try:
        assert process.stdout is not None
        url = re.search(r"(http://\S+)", process.stdout.readline())
        assert url is not None
        headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        first = httpx.get(f"{url.group(1)}/cgw/process/v1/orgs/demo/sessions/x", headers=headers)
        second = httpx.get(f"{url.group(1)}/cgw/process/v1/orgs/demo/sessions/x", headers=headers)
        assert first.status_code == 404 and first.elapsed.total_seconds() >= 0.2  # --latency
        assert second.status_code == 429 and second.headers["Retry-After"] == "1"  # --rate-limit
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)


def test_a_client_that_gives_up_mid_latency_is_no_traceback_in_the_server_log() -> None:
    import httpx

    process = _serve("--latency", "1s", "--flows", str(ROOT / "scenarios" / "flows"))
    try:
        assert process.stdout is not None
        url = re.search(r"(http://\S+)", process.stdout.readline())
        assert url is not None
        root = f"{url.group(1)}/cgw/process/v1/orgs/demo"
        headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        with pytest.raises(httpx.ReadTimeout):  # gone before the server reads the body
            httpx.post(f"{root}/flows/store-hours/sessions", json={}, headers=headers, timeout=0.2)
        # Sent later, answered later: by then the first request has been handled.
        assert httpx.get(f"{root}/sessions/x", headers=headers).status_code == 404
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    assert "Traceback" not in err and "Exception in ASGI application" not in err, err
