"""What a conversation keeps costs its size: at 10,000 conversations in flight, every byte counts.

The figures are the benchmark's (benchmarks/run.py --only scale); these pin the causes.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from pathlib import Path

from flowtest.client import AsyncFlowClient, ClientConfig, codec, protocol
from flowtest.redact import Redactor
from flowtest.runner import RunContext, run_case
from flowtest.sandbox import DEFAULT_API_KEY, running_sandbox
from flowtest.scenario.loader import ScenarioLoader
from flowtest.scenario.model import cases_of
from flowtest.trace import Outcome, Result
from tests.conftest import sandbox_config


def test_an_encoded_body_costs_its_length_not_the_encoders_buffer() -> None:
    # orjson's bytes keep the 4 KB buffer they were written in: 1000 bodies held 4 MB.
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        bodies = [codec.dumps({"text": f"message {n}"}) for n in range(1000)]
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert codec.loads(bodies[7]) == {"text": "message 7"}
    assert held < 200_000, f"1000 small bodies hold {held} bytes"


def _config(**changes: object) -> ClientConfig:
    return ClientConfig(base_url="http://api.test", org="demo", api_key="sk-test-key", **changes)  # type: ignore[arg-type]


def test_an_exchange_keeps_the_bytes_that_went_over_the_wire() -> None:
    config = _config()
    call = protocol.text_call(config, "demo", "s1", "hello")
    content = b'{"sessionId":"s1","status":"awaiting_input","messages":[{"type":"text","text":"Hi"}]}'
    response = protocol.RawResponse(200, content)
    exchange = protocol.exchange(config, call, 0.0, 0.1, 1, response, protocol.decode_json(response), None)
    assert exchange.request_body is call.content == b'{"text":"hello"}'
    assert exchange.response_body is content  # not a parsed copy: the report parses it when asked
    assert exchange.request_json == {"text": "hello"}
    assert exchange.response_json["messages"] == [{"type": "text", "text": "Hi"}]
    assert dict(exchange.request_headers)["Authorization"] == "***"


def test_a_secret_in_a_body_is_masked_in_the_bytes_kept() -> None:
    config = _config(redactor=Redactor(("hunter2-horse",), frozenset({"password"})))
    call = protocol.start_call(config, "demo", "f", {"password": "hunter2-horse", "user": "ada"}, None)
    content = b'{"sessionId":"s1","status":"awaiting_input","messages":[{"text":"pw hunter2-horse"}]}'
    response = protocol.RawResponse(201, content)
    exchange = protocol.exchange(config, call, 0.0, 0.1, 1, response, protocol.decode_json(response), None)
    assert exchange.request_json == {"variables": {"password": "***", "user": "ada"}}
    assert exchange.response_json["messages"] == [{"text": "pw ***"}]
    assert b"hunter2" not in (exchange.request_body or b"") + (exchange.response_body or b"")
    learned = exchange.redacted(Redactor(("ada",)))
    assert learned.request_json == {"variables": {"password": "***", "user": "***"}}


FLOW = """\
id: echo
start: greet
nodes:
  greet:
    say: Hello, say something.
    next: listen
  listen:
    ask: text
    next: answer
  answer:
    say: You said ${text}.
    next: listen
"""

SCRIPTED = """\
name: scripted
flow: echo
conversation:
  - bot: Hello, say something.
  - user: one
  - bot: {contains: one}
  - status: awaiting_input
"""

CALLER = """\
name: by rules
flow: echo
caller:
  rules:
    - when: {contains: say something}
      say: one
    - when: {contains: You said one}
      end: true
  max_turns: 3
goal:
  - status: terminated
"""


def test_a_passing_conversation_leaves_no_reference_cycles(tmp_path: Path) -> None:
    # The cyclic GC is off while conversations run (plugin.state.collector_paused): a cycle per
    # conversation kept every record and exchange of a 1000-conversation run to its end (+15 MB,
    # and a longer collector pass after). The caller's turn recorder on the state made one.
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "echo.flow.yaml").write_text(FLOW)
    loader = ScenarioLoader(tmp_path)
    cases = []
    for name, text in (("scripted", SCRIPTED), ("caller", CALLER)):
        (tmp_path / f"{name}.scenario.yaml").write_text(text)
        cases += [
            case
            for s in loader.load_file(tmp_path / f"{name}.scenario.yaml").scenarios
            for case in cases_of(s)
        ]

    async def run_all(client: AsyncFlowClient, times: int) -> list[Result]:
        return [await run_case(case, client, RunContext("r", "demo")) for _ in range(times) for case in cases]

    async def go(url: str) -> int:
        async with AsyncFlowClient(ClientConfig(url, "demo", DEFAULT_API_KEY)) as client:
            await run_all(client, 1)  # the pool's first connection, made once
            gc.collect()
            gc.disable()
            try:
                results = await run_all(client, 5)
                assert [result.outcome for result in results] == [Outcome.PASSED] * 10
                del results
                return gc.collect()
            finally:
                gc.enable()

    with running_sandbox(sandbox_config(flows_dir=tmp_path / "flows")) as sandbox:
        assert asyncio.run(go(sandbox.url)) == 0
