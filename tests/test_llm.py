"""The LLM client of `judge` and `persona:`, against a rule-answering OpenAI-compatible server on loopback."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from flowtest.config import Settings, resolve
from flowtest.errors import ConfigError, LLMAnswerError, LLMRefused, LLMTimeout, LLMUnreachable
from flowtest.llm.answers import json_object
from flowtest.llm.cache import AnswerCache
from flowtest.llm.endpoint import Endpoint, require_endpoint
from flowtest.llm.judge import Verdict, read_verdict
from flowtest.llm.persona import BotMessage, BotTurn, End, Press, Say, Transfer, persona_messages
from flowtest.llm.service import LLM
from flowtest.redact import Redactor
from tests.llmserver import Fault, JudgeRule, LLMServer, PersonaRule, llm_server

KEY = "sk-test-Zq81vKx0-secret"
KEY_VARIABLE = "FLOWTEST_TEST_LLM_KEY"
T = TypeVar("T")

RULES = [
    JudgeRule("ticket", "ticket number", True, "it asks for the ticket number"),
    JudgeRule("ticket", "booking reference", False, "it asks for a booking reference, not a ticket"),
    JudgeRule("apolog", "sorry", True, says="Yes. because it says sorry"),
]


@pytest.fixture
def server() -> Iterator[LLMServer]:
    with llm_server(LLMServer(judge_rules=list(RULES))) as running:
        yield running


def endpoint(server: LLMServer, timeout: float = 5.0, key: str | None = KEY) -> Endpoint:
    return Endpoint(server.url, "test-model", key, KEY_VARIABLE if key else None, timeout)


def run(server: LLMServer, cache: Path | None, use: Callable[[LLM], Awaitable[T]], **options: Any) -> T:
    """One run of flowtest as far as the LLM goes: opened, used on a loop, closed."""

    async def main() -> T:
        llm = LLM(endpoint(server, **options), cache)
        llm.chat._backoff = 0.01  # retries in these tests need not wait the production backoff
        try:
            return await use(llm)
        finally:
            await llm.aclose()

    return asyncio.run(main())


def judged(server: LLMServer, cache: Path | None, criterion: str, text: str, **options: Any) -> Verdict:
    return run(server, cache, lambda llm: llm.judge(criterion, text), **options)


def failure(server: LLMServer, fault: Fault | None = None, **options: Any) -> str:
    if fault is not None:
        server.faults.append(fault)
    with pytest.raises((LLMAnswerError, LLMRefused, LLMTimeout, LLMUnreachable)) as raised:
        judged(server, None, "asks for the ticket", "What is your ticket number?", **options)
    return str(raised.value).replace(server.url, "URL")


# -- verdicts -----------------------------------------------------------------------------


def test_a_verdict_and_its_reason_come_from_the_model(server: LLMServer) -> None:
    yes = judged(server, None, "asks for the ticket", "What is your ticket number?")
    no = judged(server, None, "asks for the ticket", "What is your booking reference?")
    assert (yes.passed, yes.reason) == (True, "it asks for the ticket number")
    assert (no.passed, no.reason) == (False, "it asks for a booking reference, not a ticket")
    assert server.count("judge") == 2


def test_the_request_is_deterministic_and_asks_for_json(server: LLMServer) -> None:
    judged(server, None, "asks for the ticket", "What is your ticket number?")
    body = server.calls[0].body
    assert (body["model"], body["temperature"], body["seed"]) == ("test-model", 0, 0)
    assert body["response_format"] == {"type": "json_object"}
    assert server.calls[0].headers["Authorization"] == f"Bearer {KEY}"
    question = body["messages"][-1]["content"]
    assert "<criterion>\nasks for the ticket\n</criterion>" in question
    assert "<reply>\nWhat is your ticket number?\n</reply>" in question


def test_a_prose_answer_that_starts_with_yes_or_no_is_read(server: LLMServer) -> None:
    verdict = judged(server, None, "apologises", "We are sorry for the wait")
    assert (verdict.passed, verdict.reason) == (True, "because it says sorry")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"verdict": "no", "reason": "it never asks"}', (False, "it never asks")),
        ('```json\n{"verdict": "YES", "reason": "asks"}\n```', (True, "asks")),
        ('<think>The user wants {"a": 1}...</think>\n{"passed": true, "explanation": "ok"}', (True, "ok")),
        ('Here is my verdict: {"answer": "no", "why": "off topic"} Hope it helps.', (False, "off topic")),
        ("**No** - it never mentions a refund.", (False, "it never mentions a refund.")),
        ("yes", (True, "")),
    ],
)
def test_what_a_verdict_can_look_like(answer: str, expected: tuple[bool, str]) -> None:
    verdict = read_verdict(answer)
    assert verdict is not None
    assert (verdict.passed, verdict.reason) == expected


@pytest.mark.parametrize(
    "answer", ["Maybe.", '{"verdict": "perhaps"}', "", "I cannot judge this", "yesterday"]
)
def test_what_is_not_a_verdict(answer: str) -> None:
    assert read_verdict(answer) is None


def test_an_unreadable_answer_is_asked_once_more_then_fails_showing_it_capped(server: LLMServer) -> None:
    nonsense = "The weather is fine today. " * 30
    server.faults.append(Fault(says=nonsense, times=2))
    message = failure(server)
    shown = ("The weather is fine today. " * 12).strip()[:299] + "…"
    assert message == (
        f"the LLM judge (test-model) answered neither a JSON verdict nor a yes or no, twice: {shown!r}"
    )
    assert server.count() == 2
    assert "could not be read" in server.calls[1].body["messages"][-1]["content"]


def test_a_second_chance_that_answers_is_the_verdict(server: LLMServer) -> None:
    server.faults.append(Fault(says="Let me think about it."))
    verdict = judged(server, None, "asks for the ticket", "What is your ticket number?")
    assert (verdict.passed, server.count()) == (True, 2)


# -- the cache ----------------------------------------------------------------------------


def test_a_rerun_of_the_same_question_reads_the_cache_and_makes_no_call(
    server: LLMServer, tmp_path: Path
) -> None:
    cache = tmp_path / ".flowtest" / "cache" / "llm"
    first = judged(server, cache, "asks for the ticket", "What is your ticket number?")
    again = judged(server, cache, "asks for the ticket", "What is your ticket number?")
    assert (first, first.cached, again.cached) == (again, False, True)
    assert server.count() == 1
    files = list(cache.rglob("*.json"))
    assert [f.parent.parent.name for f in files] == ["judge"]
    judged(server, cache, "asks for the ticket", "What is your ticket number? ")  # another text
    assert server.count() == 2


def test_the_model_and_the_criterion_are_part_of_the_question(server: LLMServer, tmp_path: Path) -> None:
    judged(server, tmp_path, "asks for the ticket", "What is your ticket number?")
    judged(server, tmp_path, "asks for the ticket number", "What is your ticket number?")

    async def other_model(llm: LLM) -> Verdict:
        llm.chat.endpoint = Endpoint(server.url, "other-model", KEY, KEY_VARIABLE)
        return await llm.judge("asks for the ticket", "What is your ticket number?")

    run(server, tmp_path, other_model)
    assert server.count() == 3


def test_refresh_asks_again_and_overwrites_what_an_earlier_run_stored(
    server: LLMServer, tmp_path: Path
) -> None:
    judged(server, tmp_path, "asks for the ticket", "What is your ticket number?")
    server.judge_rules.insert(0, JudgeRule("ticket", "ticket", False, "the bot changed its mind"))

    async def refreshing(llm: LLM) -> list[Verdict]:
        llm.cache.refresh = True
        return [await llm.judge("asks for the ticket", "What is your ticket number?") for _ in range(2)]

    fresh, same_run = run(server, tmp_path, refreshing)
    assert (fresh.passed, fresh.reason, fresh.cached) == (False, "the bot changed its mind", False)
    assert same_run.cached  # within the run, an answer received is reused
    later = judged(server, tmp_path, "asks for the ticket", "What is your ticket number?")
    assert (later.reason, later.cached, server.count()) == ("the bot changed its mind", True, 2)


def test_refresh_comes_from_the_settings(server: LLMServer, tmp_path: Path) -> None:
    settings = Settings(judge_url=server.url, judge_model="m", judge_cache=tmp_path, judge_refresh=True)
    assert LLM.from_settings(settings).cache.refresh
    assert not LLM.from_settings(settings, refresh=False).cache.refresh


def test_the_same_question_asked_at_once_by_many_conversations_makes_one_call(server: LLMServer) -> None:
    async def many(llm: LLM) -> list[Verdict]:
        ask = [llm.judge("asks for the ticket", "What is your ticket number?") for _ in range(20)]
        return await asyncio.gather(*ask)

    verdicts = run(server, None, many)
    assert {v.passed for v in verdicts} == {True}
    assert (server.count(), sum(not v.cached for v in verdicts)) == (1, 1)


def test_a_conversation_cancelled_while_it_asks_leaves_the_others_to_ask_again(server: LLMServer) -> None:
    server.faults.append(Fault(delay=30))

    async def cancelled_first(llm: LLM) -> Verdict:
        first = asyncio.create_task(llm.judge("asks for the ticket", "What is your ticket number?"))
        while server.count() == 0:  # the first call reached the server: the second waits for it
            await asyncio.sleep(0.01)
        second = asyncio.create_task(llm.judge("asks for the ticket", "What is your ticket number?"))
        await asyncio.sleep(0)
        first.cancel()
        return await second

    verdict = run(server, None, cancelled_first)
    assert (verdict.passed, verdict.cached, server.count()) == (True, False, 2)


def test_a_failed_question_is_not_cached(server: LLMServer, tmp_path: Path) -> None:
    failure(server, Fault(status=500))
    assert list(tmp_path.rglob("*")) == []
    judged(server, tmp_path, "asks for the ticket", "What is your ticket number?")
    assert server.count() == 2


def test_a_cache_file_edited_by_hand_is_ignored_and_rewritten(
    server: LLMServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    judged(server, tmp_path, "asks for the ticket", "What is your ticket number?")
    (stored,) = tmp_path.rglob("*.json")
    stored.write_text('{"answer": {"passed": "sure"}}')
    verdict = judged(server, tmp_path, "asks for the ticket", "What is your ticket number?")
    assert (verdict.passed, verdict.cached, server.count()) == (True, False, 2)
    assert f"ignoring an LLM cache file that holds no usable answer: {stored}" in caplog.text
    stored.write_text("{half a file")
    assert judged(server, tmp_path, "asks for the ticket", "What is your ticket number?").passed
    assert server.count() == 3


def test_the_conversations_secret_values_are_masked_in_the_cache_file(
    server: LLMServer, tmp_path: Path
) -> None:
    card = "4111111111111111"
    secrets = Redactor().with_values([card])
    verdict = run(
        server, tmp_path, lambda llm: llm.judge("asks for the ticket", f"ticket number {card}", secrets)
    )
    assert verdict.passed
    (stored,) = tmp_path.rglob("*.json")
    assert card not in stored.read_text() and "ticket number ***" in stored.read_text()
    again = run(server, tmp_path, lambda llm: llm.judge("asks for the ticket", f"ticket number {card}"))
    assert (again.cached, server.count()) == (True, 1)  # the key is made of the text as it was


def test_a_run_that_asks_nothing_writes_nothing(tmp_path: Path) -> None:
    LLM(Endpoint("http://127.0.0.1:9/v1", "m"), tmp_path / "cache")
    assert list(tmp_path.iterdir()) == []


def test_concurrent_writers_never_leave_half_a_file_for_a_reader(tmp_path: Path) -> None:
    # As pytest-xdist workers and concurrent conversations do: the same answer written at once.
    cache = AnswerCache(tmp_path, Redactor())
    answers = [{"passed": True, "reason": "x" * 20_000 + str(n)} for n in range(8)]
    stop = threading.Event()
    broken: list[str] = []

    def write(answer: dict[str, Any]) -> None:
        for _ in range(30):
            cache._write("judge", "ab" * 32, {"question": {}, "answer": answer})

    def read() -> None:
        while not stop.is_set():
            path = cache.path("judge", "ab" * 32)
            if path is not None and path.exists() and cache._read("judge", "ab" * 32, bool) is None:
                broken.append("a reader saw a partial file")

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(answer,)) for answer in answers]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    reader.join()
    assert broken == []
    assert [p.name for p in (tmp_path / "judge" / "ab").iterdir()] == ["ab" * 32 + ".json"]  # no temp files


# -- failures, with the key masked everywhere ---------------------------------------------


def test_an_endpoint_that_is_not_running_says_so(server: LLMServer) -> None:
    closed = Endpoint("http://127.0.0.1:9/v1", "test-model")
    with pytest.raises(LLMUnreachable) as raised:
        asyncio.run(_judge_once(closed))
    assert str(raised.value) == (
        "the LLM judge: POST http://127.0.0.1:9/v1/chat/completions failed: connection refused. "
        "Is the server running (for a local Ollama: `ollama serve`)? Check judge_url"
    )


async def _judge_once(at: Endpoint) -> Verdict:
    llm = LLM(at, None)
    try:
        return await llm.judge("c", "t")
    finally:
        await llm.aclose()


def test_a_slow_endpoint_is_a_failure_within_the_timeout(server: LLMServer) -> None:
    started = time.perf_counter()
    message = failure(server, Fault(delay=30), timeout=0.3)
    assert time.perf_counter() - started < 5  # bounded by judge_timeout, not by the server's 30 s
    assert message == (
        "the LLM judge: POST URL/chat/completions did not answer within 300ms (judge_timeout). "
        "A local model answers one request at a time: raise judge_timeout, or run fewer "
        "conversations at once"
    )
    assert server.count() == 1  # a timeout is not retried


def test_a_server_error_is_a_failure_naming_the_status(server: LLMServer) -> None:
    assert failure(server, Fault(status=500)) == (
        "the LLM judge: POST URL/chat/completions answered 500: the test server failed with 500. "
        "The server failed; its log says why"
    )
    assert server.count() == 1


def test_busy_answers_are_retried_a_bounded_number_of_times(server: LLMServer) -> None:
    server.faults.append(Fault(status=503, times=2, retry_after="0"))
    assert judged(server, None, "asks for the ticket", "What is your ticket number?").passed
    assert server.count() == 3
    message = failure(server, Fault(status=429, times=None))
    assert message == (
        "the LLM judge: POST URL/chat/completions answered 429: the test server failed with 429 "
        "(3 attempts). Rate limited: run fewer conversations at once; answers already received are cached"
    )
    assert server.count() == 6


def test_a_connection_closed_without_an_answer(server: LLMServer) -> None:
    assert failure(server, Fault(disconnect=True, times=None)) == (
        "the LLM judge: POST URL/chat/completions failed: the server closed the connection without "
        "an answer (3 attempts). Its log says why"
    )


def test_an_answer_that_is_not_a_completion(server: LLMServer) -> None:
    assert failure(server, Fault(body=b"<html><body>Welcome to nginx!</body></html>")) == (
        "the LLM judge: POST URL/chat/completions answered 200 with something that is not a chat "
        "completion (expected JSON with choices[0].message.content): "
        "'<html><body>Welcome to nginx!</body></html>'. Check that judge_url is the server's "
        "OpenAI-compatible base URL (it usually ends in /v1)"
    )


def test_a_wrong_model_name_points_at_judge_model(server: LLMServer) -> None:
    body = b'{"error": {"message": "model \\"llama9\\" not found, try pulling it first"}}'
    assert failure(server, Fault(status=404, body=body)) == (
        'the LLM judge: POST URL/chat/completions answered 404: model "llama9" not found, try pulling '
        "it first. Check judge_model (test-model) and judge_url (an OpenAI-compatible base URL usually "
        "ends in /v1)"
    )


def test_a_parameter_the_server_does_not_take_is_left_out_from_then_on(server: LLMServer) -> None:
    server.refused_parameters = ("seed",)

    async def twice(llm: LLM) -> list[Verdict]:
        return [await llm.judge("asks for the ticket", text) for text in ("ticket number", "ticket number?")]

    assert [v.passed for v in run(server, None, twice)] == [True, True]
    assert ["seed" in call.body for call in server.calls] == [True, False, False]


def test_the_key_appears_in_no_failure_log_or_cache_file(
    server: LLMServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.flowtest]\njudge_url = "{server.url}"\njudge_model = "test-model"\n'
        f'judge_api_key_env = "{KEY_VARIABLE}"\njudge_timeout = "300ms"\n'
    )
    from flowtest.config import read_pyproject

    settings = resolve({}, {KEY_VARIABLE: KEY}, read_pyproject(tmp_path), tmp_path)
    assert settings.judge_api_key == KEY and KEY not in repr(settings)
    messages = []
    faults = [
        Fault(status=401, echo_key=True),
        Fault(status=200, echo_key=True),  # an error body where a completion should be
        Fault(says=f"Yes, and your key is {KEY}"),  # a reason that repeats it (reaches the cache)
        Fault(says=f"I see {KEY}", times=2),
        Fault(delay=30),
        Fault(disconnect=True, times=3),
    ]

    async def judge(text: str) -> str:
        llm = LLM.from_settings(settings)
        llm.chat._backoff = 0.01
        try:
            return (await llm.judge("asks", text)).reason
        except (LLMAnswerError, LLMRefused, LLMTimeout, LLMUnreachable) as exc:
            return str(exc)
        finally:
            await llm.aclose()

    for n, fault in enumerate(faults):
        server.faults.append(fault)
        messages.append(asyncio.run(judge(f"text {n} {KEY}")))
    assert server.calls[0].headers["Authorization"] == f"Bearer {KEY}"  # it was sent, and masked after
    assert messages[0].endswith(
        "answered 401: Incorrect API key provided: Bearer ***. Check the key in "
        f"the environment variable {KEY_VARIABLE} (judge_api_key_env)"
    )
    written = "".join(p.read_text() for p in settings.judge_cache.rglob("*") if p.is_file())
    assert written and "***" in written
    assert [KEY in text for text in (*messages, caplog.text, written)] == [False] * (len(faults) + 2)


# -- the caller (persona) -----------------------------------------------------------------

MENU = BotTurn((BotMessage("Hello! What can I help you with?"), BotMessage("Pick one", ("Billing", "Tech"))))
TICKET = BotTurn((BotMessage("What is your ticket number?"),))
HANDOFF = BotTurn((BotMessage("Connecting you to an agent"),), status="awaiting_transfer")
DONE = BotTurn((BotMessage("Your bill is paid. Goodbye!"),), status="completed")
CALLER_RULES = [
    PersonaRule("Pick one", {"press": "billing"}),
    PersonaRule("ticket number", {"say": "INC0060245"}),
    PersonaRule("agent", {"transfer": "success", "reason": "agent free"}),
    PersonaRule("Goodbye", {"end": "my bill is paid"}),
]


@pytest.fixture
def caller_server() -> Iterator[LLMServer]:
    with llm_server(LLMServer(persona_rules=list(CALLER_RULES))) as running:
        yield running


def next_reply(server: LLMServer, cache: Path | None, transcript: list[Any]) -> Any:
    return run(
        server, cache, lambda llm: llm.next_reply("Ann, a patient customer", "pay my bill", transcript)
    )


def test_the_caller_says_presses_transfers_and_ends(caller_server: LLMServer) -> None:
    transcript: list[Any] = [MENU]
    assert next_reply(caller_server, None, transcript) == Press("Billing")  # the title as offered
    transcript += [Press("Billing"), TICKET]
    assert next_reply(caller_server, None, transcript) == Say("INC0060245")
    transcript += [Say("INC0060245"), HANDOFF]
    assert next_reply(caller_server, None, transcript) == Transfer("success", "agent free")
    transcript += [Transfer("success", "agent free"), DONE]
    assert next_reply(caller_server, None, transcript) == End("my bill is paid")


def test_the_prompt_is_the_conversation_with_the_callers_replies_as_its_own_json() -> None:
    messages = persona_messages("Ann", "pay my bill", [MENU, Press("Billing"), TICKET, HANDOFF])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert "Who you are: Ann\nYour goal: pay my bill\n" in messages[0]["content"]
    assert '{"transfer": "success", "failed", "hangup"' in messages[0]["content"]
    assert messages[1]["content"] == (
        "Bot: Hello! What can I help you with?\nBot: Pick one\nButtons: [Billing] [Tech]\n"
        "Status: awaiting_input"
    )
    assert messages[2]["content"] == '{"press":"Billing"}'
    assert messages[3]["content"] == (  # two bot turns in a row: one message, the roles alternate
        "Bot: What is your ticket number?\nStatus: awaiting_input\n\n"
        "Bot: Connecting you to an agent\nStatus: awaiting_transfer"
    )


def test_a_rerun_of_the_same_conversation_makes_no_call(caller_server: LLMServer, tmp_path: Path) -> None:
    transcript: list[Any] = [MENU, Press("Billing"), TICKET]
    assert next_reply(caller_server, tmp_path, transcript) == Say("INC0060245")
    caller_server.persona_rules.insert(0, PersonaRule("ticket number", {"say": "changed"}))
    assert next_reply(caller_server, tmp_path, transcript) == Say("INC0060245")
    assert caller_server.count() == 1
    assert [p.parent.parent.name for p in tmp_path.rglob("*.json")] == ["persona"]
    # Another state of the conversation (here an earlier reply) is another question.
    assert next_reply(caller_server, tmp_path, [MENU, Say("billing"), TICKET]) == Say("changed")
    assert caller_server.count() == 2


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ('{"press": "Refunds"}', "it pressed 'Refunds', but the bot offered only: Billing, Tech"),
        ('{"say": "hi", "end": true}', "it must hold exactly one of say, press, transfer, end"),
        (
            '{"transfer": "success"}',
            "it answered a transfer, but the session is awaiting_input, not awaiting_transfer",
        ),
        ('{"say": ""}', "say must be a text"),
        ("I would press Billing", "it is not a JSON object"),
    ],
)
def test_a_reply_that_does_not_fit_is_asked_once_more_then_fails(
    caller_server: LLMServer, answer: str, problem: str
) -> None:
    caller_server.faults.append(Fault(says=answer, times=2))
    with pytest.raises(LLMAnswerError) as raised:
        next_reply(caller_server, None, [MENU])
    assert str(raised.value) == (
        f"the LLM caller (persona) (test-model) answered {answer!r}, which is not one reply: {problem}"
    )
    assert caller_server.calls[1].body["messages"][-1]["content"] == (
        f"That answer could not be used: {problem}. Answer again with ONE JSON object only."
    )


def test_a_transfer_result_outside_the_contract_is_refused(caller_server: LLMServer) -> None:
    caller_server.faults.append(Fault(says='{"transfer": "busy"}', times=2))
    with pytest.raises(LLMAnswerError, match="transfer must be one of success, failed, hangup, not 'busy'"):
        next_reply(caller_server, None, [HANDOFF])


# -- settings -----------------------------------------------------------------------------


def test_the_settings_resolve_from_the_command_line_environment_and_pyproject(tmp_path: Path) -> None:
    pyproject = {"judge_url": "http://localhost:11434/v1", "judge_model": "llama3.2", "judge_timeout": "2m"}
    env = {"FLOWTEST_JUDGE_MODEL": "qwen2.5:7b", "FLOWTEST_JUDGE_REFRESH": "1"}
    settings = resolve({"judge_timeout": "90s"}, env, pyproject, tmp_path)
    assert (settings.judge_url, settings.judge_model) == ("http://localhost:11434/v1", "qwen2.5:7b")
    assert (settings.judge_timeout, settings.judge_refresh, settings.judge_api_key) == (90.0, True, None)
    assert settings.judge_cache == tmp_path / ".flowtest" / "cache" / "llm"
    assert not resolve({}, {}, {}, tmp_path).judge_refresh


def test_a_key_given_where_its_variable_name_belongs_is_refused_without_showing_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        resolve({}, {}, {"judge_api_key_env": KEY}, tmp_path)
    assert str(raised.value) == (
        "[tool.flowtest] judge_api_key_env: expected the NAME of an environment variable that holds the "
        "key, such as OPENAI_API_KEY (the value given is not shown: it may be the key itself)"
    )
    with pytest.raises(ConfigError, match="must not hold the judge's key; name the environment variable"):
        resolve({}, {}, {"judge_api_key": KEY}, tmp_path)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {},
            "`judge` needs an OpenAI-compatible LLM endpoint: set judge_url (for a local Ollama: "
            "http://localhost:11434/v1) and judge_model, in [tool.flowtest], as FLOWTEST_JUDGE_URL or "
            "with --flowtest-judge-url (see docs/llm.md)",
        ),
        (
            {"judge_url": "http://localhost:11434/v1"},
            "`judge` needs a model: set judge_model to a model name that http://localhost:11434/v1 "
            "serves (for Ollama, one `ollama list` shows), in [tool.flowtest], as FLOWTEST_JUDGE_MODEL "
            "or with --flowtest-judge-model",
        ),
        (
            {
                "judge_url": "https://api.openai.com/v1",
                "judge_model": "gpt-4o-mini",
                "judge_api_key_env": "OAI",
            },
            "judge_api_key_env names OAI, which is not set in the environment: export OAI=<your key>, "
            "or remove judge_api_key_env for a server without a key",
        ),
    ],
)
def test_without_an_endpoint_the_error_names_the_setting(
    tmp_path: Path, values: dict[str, str], message: str
) -> None:
    problem = require_endpoint(resolve({}, {}, values, tmp_path))
    assert str(problem) == message
    with pytest.raises(ConfigError) as raised:
        LLM.from_settings(resolve({}, {}, values, tmp_path))
    assert str(raised.value) == message


def test_a_configured_endpoint_needs_nothing_more(tmp_path: Path) -> None:
    values = {
        "judge_url": "https://api.openai.com/v1",
        "judge_model": "gpt-4o-mini",
        "judge_api_key_env": "OAI",
    }
    assert require_endpoint(resolve({}, {"OAI": KEY}, values, tmp_path)) is None
    with pytest.raises(ConfigError, match="judge_url: expected an http"):
        resolve({}, {}, {"judge_url": "localhost:11434"}, tmp_path)


def test_the_json_in_an_answer_is_found_past_prose_and_stray_braces() -> None:
    assert json_object('I think {not json} so: {"say": "hi"}') == {"say": "hi"}
    assert json_object("{" * 10_000) is None  # a bounded search, however the model rambles


def test_the_collection_check_imports_no_client() -> None:
    # The plugin calls require_endpoint while collecting: it must not pay for aiohttp or the client.
    code = (
        "import sys, flowtest.llm, flowtest.llm.endpoint;"
        "print([m for m in ('aiohttp', 'flowtest.llm.chat', 'flowtest.llm.cache') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
