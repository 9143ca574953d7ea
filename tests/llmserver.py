"""An OpenAI-compatible chat-completions server on loopback that answers from rules.

It reads flowtest's two prompts the way a model would read them: a judge question
(criterion and reply in their tags) is answered by the first ``JudgeRule`` whose words
are in both; a persona turn (the bot's last turn) by the first ``PersonaRule`` whose
words are in it. It counts every call (``calls``), so a test can prove that a cached
answer asked nothing, and misbehaves on request (``faults``): slow, an error status, a
body that is not a completion, a model that writes nonsense, a connection closed
without an answer, an error that repeats the key it was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_CRITERION = re.compile(r"<criterion>\n(.*?)\n</criterion>", re.S)
_REPLY = re.compile(r"<reply>\n(.*?)\n</reply>", re.S)


@dataclass(frozen=True)
class JudgeRule:
    criterion: str  # words of the criterion (any case)
    text: str  # words of the judged reply (any case)
    passed: bool = True
    reason: str = "it does"
    says: str | None = None  # the model's whole answer instead of the JSON verdict


@dataclass(frozen=True)
class PersonaRule:
    bot: str  # words of the bot's last turn, as the prompt shows it
    reply: dict[str, Any] | str  # the JSON reply, or the model's whole answer


@dataclass
class Fault:
    """How the next ``times`` calls (None: every call) are answered instead of by the rules."""

    times: int | None = 1
    delay: float = 0.0  # before the answer below (or the rules' answer)
    status: int = 200
    body: bytes | None = None  # sent as is: not a completion
    says: str | None = None  # the model's whole answer, in a proper completion
    disconnect: bool = False  # close the connection without an answer
    echo_key: bool = False  # an error body that repeats the Authorization header
    retry_after: str | None = None


@dataclass(frozen=True)
class Call:
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def kind(self) -> str:
        system = self.body["messages"][0]["content"]
        return "judge" if "judge" in system else "persona"


@dataclass
class LLMServer:
    judge_rules: list[JudgeRule] = field(default_factory=list)
    persona_rules: list[PersonaRule] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    refused_parameters: tuple[str, ...] = ()  # answered 400 naming the parameter, as some servers do
    calls: list[Call] = field(default_factory=list)
    url: str = ""  # the base URL, ending in /v1
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, kind: str | None = None) -> int:
        with self.lock:
            return sum(1 for call in self.calls if kind is None or call.kind == kind)

    def _fault(self) -> Fault | None:
        with self.lock:
            if not self.faults:
                return None
            fault = self.faults[0]
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.pop(0)
            return fault

    def answer_text(self, body: dict[str, Any]) -> str:
        # The question is the last message from the "user" (after a retry, the one before the retry).
        asked = [m["content"] for m in body["messages"] if m["role"] == "user"]
        if "judge" in body["messages"][0]["content"]:
            return self._judged(next(text for text in reversed(asked) if "<criterion>" in text))
        return self._persona(next(text for text in reversed(asked) if "Status:" in text))

    def _judged(self, question: str) -> str:
        criterion = _found(_CRITERION, question).lower()
        text = _found(_REPLY, question).lower()
        for rule in self.judge_rules:
            if rule.criterion.lower() in criterion and rule.text.lower() in text:
                verdict = {"verdict": "yes" if rule.passed else "no", "reason": rule.reason}
                return rule.says if rule.says is not None else json.dumps(verdict)
        return json.dumps({"verdict": "no", "reason": "no rule matched"})

    def _persona(self, turn: str) -> str:
        for rule in self.persona_rules:
            if rule.bot.lower() in turn.lower():
                return rule.reply if isinstance(rule.reply, str) else json.dumps(rule.reply)
        return json.dumps({"end": "no rule for this turn"})


def _found(pattern: re.Pattern[str], text: str) -> str:
    match = pattern.search(text)
    return match.group(1) if match else ""


def completion(content: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
    }


class _App:
    def __init__(self, server: LLMServer, stopping: asyncio.Event) -> None:
        self.server = server
        self.stopping = stopping

    async def calls(self, request: web.Request) -> web.Response:
        return web.json_response({"calls": self.server.count()})

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        with self.server.lock:
            self.server.calls.append(Call(body, dict(request.headers)))
        refused = [name for name in self.server.refused_parameters if name in body]
        if refused:
            message = f"Unsupported parameter: '{refused[0]}' is not supported with this model."
            return web.json_response({"error": {"message": message}}, status=400)
        fault = self.server._fault()
        if fault is not None and fault.delay:
            with contextlib.suppress(asyncio.TimeoutError):  # a stopping server does not wait
                await asyncio.wait_for(self.stopping.wait(), fault.delay)
        if fault is not None and fault.disconnect:
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        return self._answer(fault, body, request)

    def _answer(self, fault: Fault | None, body: dict[str, Any], request: web.Request) -> web.Response:
        headers = {"Retry-After": fault.retry_after} if fault is not None and fault.retry_after else None
        if fault is not None and fault.echo_key:
            message = f"Incorrect API key provided: {request.headers.get('Authorization', '')}"
            return web.json_response({"error": {"message": message}}, status=fault.status, headers=headers)
        if fault is not None and fault.body is not None:
            return web.Response(body=fault.body, status=fault.status, headers=headers)
        if fault is not None and fault.status >= 300:
            error = {"error": {"message": f"the test server failed with {fault.status}"}}
            return web.json_response(error, status=fault.status, headers=headers)
        content = (
            fault.says if fault is not None and fault.says is not None else self.server.answer_text(body)
        )
        return web.json_response(completion(content, body.get("model", "")), status=200)


@contextmanager
def llm_server(server: LLMServer | None = None) -> Iterator[LLMServer]:
    """The server on a free loopback port, in a thread of its own, until the block ends."""
    server = server or LLMServer()
    loop = asyncio.new_event_loop()
    stopping = asyncio.Event()
    app = web.Application()
    handlers = _App(server, stopping)
    app.router.add_post("/v1/chat/completions", handlers.completions)
    app.router.add_get("/v1/calls", handlers.calls)  # for a server in another process
    runner = web.AppRunner(app, access_log=None)
    thread = threading.Thread(target=loop.run_forever, name="llm-test-server", daemon=True)
    thread.start()

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return int(runner.addresses[0][1])

    port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    server.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield server
    finally:

        async def stop() -> None:
            stopping.set()
            await runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def main() -> None:
    """``python -m tests.llmserver``: serve until stdin closes, the base URL on the first line."""
    import sys

    rules = [JudgeRule("", "", True, "every reply meets every criterion here")]
    with llm_server(LLMServer(judge_rules=rules)) as server:
        print(server.url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
