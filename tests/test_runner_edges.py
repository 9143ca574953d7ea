"""Runner edge cases a real server can't easily produce (MockTransport): flaky passes, failing teardown."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import httpx

from flowtest.client import AsyncFlowClient, ClientConfig, RetryPolicy
from flowtest.runner import RunContext, run_case
from flowtest.scenario.loader import ScenarioLoader
from flowtest.scenario.model import cases_of
from flowtest.trace import Outcome, Result


def _run(tmp_path: Path, text: str, handler: httpx.MockTransport) -> Result:
    (tmp_path / "s.scenario.yaml").write_text(text)
    loaded = ScenarioLoader(tmp_path).load_file(tmp_path / "s.scenario.yaml")
    case = cases_of(loaded.scenarios[0])[0]
    config = ClientConfig("http://api.test", "demo", "key", retry=RetryPolicy(max_attempts=1))

    async def go() -> Result:
        async with AsyncFlowClient(config, http=httpx.AsyncClient(transport=handler)) as client:
            return await run_case(case, client, RunContext("run1", "demo"))

    return asyncio.run(go())


def test_a_pass_on_retry_is_flaky_not_plain(tmp_path: Path) -> None:
    greetings = itertools.chain(["Hola"], itertools.repeat("Hi"))

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(200, json={"sessionId": "s", "status": "terminated"})
        body = {
            "sessionId": "s",
            "status": "completed",
            "messages": [{"type": "text", "text": next(greetings)}],
        }
        return httpx.Response(201, json=body)

    result = _run(
        tmp_path, "name: n\nflow: f\nretries: 2\nconversation:\n  - bot: Hi\n", httpx.MockTransport(answer)
    )
    assert [trace.outcome for trace in result.attempts] == [Outcome.FAILED, Outcome.PASSED]
    assert result.flaky
    assert [trace.attempt for trace in result.attempts] == [1, 2]


def test_a_failing_end_session_is_a_warning_not_the_outcome(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(500, json={"error": {"code": "INTERNAL", "message": "boom"}})
        body = {"sessionId": "s1", "status": "awaiting_input", "messages": [{"type": "text", "text": "Hi"}]}
        return httpx.Response(201, json=body)

    result = _run(tmp_path, "name: n\nflow: f\nconversation:\n  - bot: Hi\n", httpx.MockTransport(answer))
    assert result.final.outcome is Outcome.PASSED
    assert result.final.warnings == (
        "End Session failed, session s1 may still be open: DELETE "
        "http://api.test/cgw/process/v1/orgs/demo/sessions/s1 answered 500 INTERNAL: boom",
    )


def test_a_deep_variable_mismatch_counts_its_checks_not_its_lines(tmp_path: Path) -> None:
    # The differences of an equals on an object take lines of their own: 1 check failed, not 3.
    def answer(request: httpx.Request) -> httpx.Response:
        variables = {"deep": {"a": [1, 2, {"b": 3}]}, "name": "Ada"}
        body = {"sessionId": "s1", "status": "awaiting_input", "variables": variables, "messages": []}
        return httpx.Response(200 if request.method != "POST" else 201, json=body)

    scenario = (
        "name: n\nflow: f\nconversation:\n  - variables:\n"
        "      $.deep: {equals: {a: [1, 2, {b: 4}]}}\n      $.name: Ada\n"
    )
    result = _run(tmp_path, scenario, httpx.MockTransport(answer))
    failure = result.final.steps[1].failure
    assert failure is not None
    assert failure.message == "step 1 (s.scenario.yaml:4): 1 of 2 variable check(s) failed"
    assert failure.expected == (
        '$.deep: equals {"a": [1, 2, {"b": 4}]}\n'
        "  differences:\n"
        "    Value of value['a'][2]['b'] changed from 4 to 3."
    )
    assert failure.actual == '$.deep: {"a": [1, 2, {"b": 3}]}'
