"""What Locust is told about a conversation: one request per HTTP attempt, failures charged where they belong.

Real conversations against the sandbox, through the runner; no Locust here (it monkeypatches at import).
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

from flowtest.client import AsyncFlowClient, ClientConfig
from flowtest.load.samples import CHECK, Sample, SessionTally, samples
from flowtest.runner import RunContext, run_case
from flowtest.sandbox import DEFAULT_API_KEY, running_sandbox
from flowtest.sandbox.app import Faults
from flowtest.sandbox.server import RunningSandbox
from flowtest.scenario.loader import ScenarioLoader
from flowtest.scenario.model import cases_of
from flowtest.trace import Trace
from tests.conftest import sandbox_config

PASSING = """\
name: Transfer fails
flow: flight-status
start: {variables: {customerName: Ada}}
conversation:
  - bot: Hi Ada, how can I help?
  - user: flight status please
  - bot: {regex: "(?i)flight number"}
  - user: ba 117
  - bot: {contains: delayed}
  - user: yes please
  - bot: Let me put you through to an agent.
  - variables: {$.flightNumber: BA117}
  - transfer: failed
  - bot: {contains: sorry}
  - bot: Goodbye.
"""


def _trace(tmp_path: Path, sandbox: RunningSandbox, text: str) -> Trace:
    path = tmp_path / "s.scenario.yaml"
    path.write_text(textwrap.dedent(text))
    loaded = ScenarioLoader(tmp_path).load_file(path)
    assert not loaded.broken, loaded.broken
    case = cases_of(loaded.scenarios[0])[0]

    async def go() -> Trace:
        async with AsyncFlowClient(ClientConfig(sandbox.url, "demo", DEFAULT_API_KEY)) as client:
            return (await run_case(case, client, RunContext("run1", "demo"))).final

    return asyncio.run(go())


def _row(sample: Sample) -> tuple[str, str, str | None]:
    return sample.request_type, sample.name, sample.error


def test_each_call_is_a_request_named_by_flow_and_step(tmp_path: Path, sandbox: RunningSandbox) -> None:
    trace = _trace(tmp_path, sandbox, PASSING)
    found = samples(trace)
    assert [_row(s) for s in found] == [
        ("POST", "flight-status: Start Session", None),
        ("POST", "flight-status: turn 1 (user)", None),
        ("POST", "flight-status: turn 2 (user)", None),
        ("POST", "flight-status: turn 3 (user)", None),
        ("GET", "flight-status: Get Session", None),
        ("POST", "flight-status: turn 4 (transfer)", None),
        ("DELETE", "flight-status: End Session", None),
    ]
    exchanges = [e for step in trace.steps for e in step.exchanges]
    assert [s.response_time for s in found] == [e.duration * 1000 for e in exchanges]
    assert all(s.response_length > 0 for s in found)
    tally = SessionTally()
    tally.add(trace)
    assert (tally.started, tally.ended, tally.may_be_open) == (1, 1, 0)


def test_a_failed_check_fails_the_request_it_checked_with_the_designers_message(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    trace = _trace(
        tmp_path,
        sandbox,
        """\
        name: Wrong greeting
        flow: flight-status
        conversation:
          - bot: {contains: Hi}
          - user: flight status please
          - bot: {contains: departure gate}
        """,
    )
    found = samples(trace)
    assert [_row(s) for s in found] == [
        ("POST", "flight-status: Start Session", None),
        (
            "POST",
            "flight-status: turn 1 (user)",
            "step 3 (s.scenario.yaml:6): bot message 1 of the turn does not match",
        ),
        ("DELETE", "flight-status: End Session", None),
    ]


def test_api_errors_name_no_session_id_so_locust_groups_them(tmp_path: Path, sandbox: RunningSandbox) -> None:
    trace = _trace(
        tmp_path,
        sandbox,
        """\
        name: Ends twice
        flow: flight-status
        conversation:
          - bot: {contains: Hi}
          - end: true
          - end: true
        """,
    )
    failed = [s for s in samples(trace) if s.error]
    assert [s.name for s in failed] == ["flight-status: End Session"]
    assert trace.session_id is not None and trace.session_id not in str(failed[0].error)
    assert "DELETE http://" in str(failed[0].error)
    assert str(failed[0].error).endswith(
        "/sessions/{sessionId} answered 404 SESSION_NOT_FOUND: no session '{sessionId}' in 'demo'"
    )


def test_an_expected_refusal_is_a_success(tmp_path: Path, sandbox: RunningSandbox) -> None:
    trace = _trace(
        tmp_path,
        sandbox,
        """\
        name: Refused after the end
        flow: flight-status
        conversation:
          - bot: {contains: Hi}
          - end: true
          - user: anyone there?
            error: {status: 404}
        """,
    )
    assert trace.failed_step is None, trace.failed_step
    assert [s.error for s in samples(trace)] == [None, None, None]


def test_a_failure_before_any_request_is_a_check_entry(tmp_path: Path, sandbox: RunningSandbox) -> None:
    trace = _trace(
        tmp_path,
        sandbox,
        """\
        name: Missing variable
        flow: flight-status
        start: {variables: {customerName: "${env.FLOWTEST_NOT_SET_ANYWHERE}"}}
        conversation:
          - bot: {contains: Hi}
        """,
    )
    [only] = samples(trace)
    assert (only.request_type, only.name) == (CHECK, "flight-status: start")
    assert only.error == (
        "s.scenario.yaml:1:1: environment variable FLOWTEST_NOT_SET_ANYWHERE is not set "
        "(used as ${env.FLOWTEST_NOT_SET_ANYWHERE})"
    )
    tally = SessionTally()
    tally.add(trace)
    assert tally.started == 0


def test_a_429_retried_after_retry_after_is_a_failure_of_its_own(tmp_path: Path) -> None:
    with running_sandbox(sandbox_config(faults=Faults(rate_limit=2.0))) as limited:
        trace = _trace(tmp_path, limited, PASSING)
    assert trace.failed_step is None, trace.failed_step
    found = samples(trace)
    retried = [s for s in found if s.error]
    assert retried, "the sandbox capped at 2 requests/s must refuse some of 7 quick requests"
    assert all(s.error and "answered 429" in s.error and s.error.endswith("(retried)") for s in retried)
    assert len(found) - len(retried) == 7
