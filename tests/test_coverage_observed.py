"""The observed inventory against a server that is not the sandbox (no flow graph to read)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowtest.client import AsyncFlowClient, ClientConfig
from flowtest.coverage import FlowCoverage
from flowtest.coverage.fetch import SandboxSource
from flowtest.runner import RunContext, run_case
from flowtest.scenario.loader import ScenarioLoader
from flowtest.scenario.model import cases_of
from tests.faultserver import FaultServer, Reply, fault_server, turn

KEY = "deployment-key-123"
MENU = {
    "type": "quick_replies",
    "text": "Pick one",
    "buttons": [{"title": "Billing", "payload": "billing"}, {"title": "Tech", "payload": "tech"}],
}


def _start(session_id: str, _body: dict[str, Any]) -> Reply:
    number = 123456 if session_id == "ses_1" else 654321
    hello = {"type": "text", "text": f"Hello! Ticket {number} opened 2026-01-0{session_id[-1]}."}
    return Reply(201, turn(session_id, messages=[hello, MENU]))


def _send(session_id: str, body: dict[str, Any]) -> Reply:
    if body.get("text") == "billing":
        answer = turn(session_id, "awaiting_transfer", [{"type": "text", "text": "Connecting you."}])
        return Reply(200, {**answer, "transfer": {"destination": "billing-queue"}})
    if "transferResult" in body:
        return Reply(200, turn(session_id, "completed", [{"type": "text", "text": "Bye."}]))
    return Reply(400, {"error": {"code": "INVALID_REQUEST", "message": "say billing or tech"}})


@pytest.fixture
def deployment() -> Iterator[FaultServer]:
    variables = {
        "sessionId": "s",
        "status": "completed",
        "variables": {"topic": "billing", "customer": "Ada"},
    }
    with fault_server(FaultServer(start=_start, send=_send, get=Reply(200, variables))) as server:
        yield server


PRESSES = """\
name: Billing is put through
flow: support
conversation:
  - bot: {regex: "^Hello"}
  - message: {$.type: quick_replies}
  - user: billing
  - bot: Connecting you.
  - transfer: success
  - bot: Bye.
  - variables: {$.topic: billing}
"""
REFUSED = """\
name: Nonsense is refused
flow: support
conversation:
  - bot: {regex: "^Hello"}
  - message: {$.type: quick_replies}
  - user: what?
    error: {status: 400, code: INVALID_REQUEST}
"""


def test_what_conversations_saw_of_a_deployment(tmp_path: Path, deployment: FaultServer) -> None:
    for name, text in (("presses", PRESSES), ("refused", REFUSED)):
        (tmp_path / f"{name}.scenario.yaml").write_text(text)
    loader = ScenarioLoader(tmp_path)
    cases = [
        cases_of(loader.load_file(tmp_path / f"{n}.scenario.yaml").scenarios[0])[0]
        for n in ("presses", "refused")
    ]

    async def run() -> list[Any]:
        async with AsyncFlowClient(ClientConfig(deployment.url, "demo", KEY)) as client:
            return [await run_case(case, client, RunContext("obs1", "demo")) for case in cases]

    coverage = FlowCoverage(minimum=80, expected_flows=("support", "billing"), root=tmp_path)
    for case, result in zip(cases, asyncio.run(run()), strict=True):
        assert result.final.outcome.value == "passed", result.final.failed_step
        coverage.conversation(case, result)
    coverage.merge(json.loads(json.dumps(coverage.finish(SandboxSource(deployment.url, KEY, "obs1")))))
    lines: list[str] = []
    verdict = coverage.report(tmp_path / "reports", lines.append)

    assert lines == [
        "flowtest observed: 1 flow(s) (no flow graph: what the conversations saw)",
        "support: 2 conversation(s) started, 4 distinct bot prompt(s)",
        "  statuses reached: awaiting_input (2), awaiting_transfer (1), completed (1)",
        "  transfer results sent: success (1)",
        "  transfer destinations: billing-queue (1)",
        "  buttons offered: Billing (2), Tech (2)",
        "  variables set: $.customer (1), $.topic (1)",
        "  API errors exercised: 400 INVALID_REQUEST (1)",
        "  buttons offered, never pressed: Tech",
        "  variables set, never asserted: $.customer",
        "flows never started (settings: flows): billing",
        "flowtest: --flowtest-coverage-min=80% needs the flow graphs of a flowtest sandbox; the API of this "
        "run has none (see the observed inventory above)",
    ]
    assert not verdict.passed
    observed = json.loads((tmp_path / "reports" / "observed.json").read_text())
    support = observed["flows"]["support"]
    assert support["prompts"] == {
        "Bye.": 1,
        "Connecting you.": 1,
        "Hello! Ticket <number> opened <date>.": 2,
        "Pick one": 2,
    }
    assert (support["buttons_pressed"], support["never_pressed"]) == ({"Billing": 1}, ["Tech"])
    assert support["variables_asserted"] == {"$.topic": 1}
    assert observed["never_started"] == ["billing"]
    assert not (tmp_path / "reports" / "coverage.json").exists()
    assert deployment.open_sessions == []
