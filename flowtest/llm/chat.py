"""The OpenAI-compatible chat-completions client that `judge` and `persona:` share.

One POST per question, over aiohttp (the runner's conversations are coroutines on one loop).
The openai SDK would bring httpx's async pool, which measured 7.7 ms of CPU a request here
(see flowtest/client/aio.py), and retries of its own; one request and its failures fit below.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from flowtest.durations import format_duration
from flowtest.errors import LLMAnswerError, LLMError, LLMRefused, LLMTimeout, LLMUnreachable
from flowtest.llm.answers import capped
from flowtest.llm.endpoint import Endpoint

if TYPE_CHECKING:
    import aiohttp

logger = logging.getLogger(__name__)

ChatMessages = Sequence[Mapping[str, str]]

SEED = 0  # with temperature 0: the same question gets the same answer, where the server allows it
MAX_TOKENS = 1024  # bounds a local model that rambles; reasoning models need room to think
ATTEMPTS = 3  # for 429, 502, 503, 504 and a connection closed without an answer; never a timeout
_RETRIED = frozenset({429, 502, 503, 504})
_RETRY_AFTER_CAP = 10.0
# Parameters that not every OpenAI-compatible server takes. When a server refuses one by name
# (400 or 422), it is left out from then on, so one client serves OpenAI, Ollama, llama.cpp, vLLM.
_OPTIONAL = ("seed", "response_format", "max_tokens", "temperature")


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None
    seconds: float


@dataclass(frozen=True)
class _Answer:
    status: int
    content: bytes
    retry_after: str | None


class ChatClient:
    """Chat completions at one endpoint; opened on first use inside the running loop."""

    def __init__(self, endpoint: Endpoint, connections: int = 16, backoff: float = 0.5) -> None:
        self.endpoint = endpoint
        self.redactor = endpoint.redactor
        self._connections = connections
        self._backoff = backoff
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._left_out: set[str] = set()

    async def complete(self, messages: ChatMessages, purpose: str, json_answer: bool = True) -> Completion:
        """The model's answer to ``messages``. ``purpose`` starts every failure: "the LLM judge"."""
        body = self._body(messages, json_answer)
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            answer = await self._send(body, purpose, attempt)
            seconds = time.perf_counter() - started
            self._log(purpose, answer, seconds, attempt)
            if answer is not None and 200 <= answer.status < 300:
                return self._completion(answer, purpose, seconds)
            if self._refused_a_parameter(answer, body):
                attempt -= 1  # a parameter the server does not take: not a failed attempt
                continue
            if attempt >= ATTEMPTS or not _retried(answer):
                raise self._failure(answer, purpose, attempt)
            await asyncio.sleep(self._delay(answer, attempt))

    def _log(self, purpose: str, answer: _Answer | None, seconds: float, attempt: int) -> None:
        logger.debug(
            "%s: %s answered %s in %s (attempt %d)",
            purpose,
            self.endpoint.shown_url,
            answer.status if answer else "nothing",
            format_duration(seconds),
            attempt,
        )

    def _refused_a_parameter(self, answer: _Answer | None, body: dict[str, Any]) -> bool:
        """A 400 or 422 naming a parameter of ours: it is left out, and the question asked again."""
        return answer is not None and answer.status in (400, 422) and self._leave_out(answer, body)

    def _body(self, messages: ChatMessages, json_answer: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.endpoint.model,
            "messages": [dict(message) for message in messages],
            "temperature": 0,
            "seed": SEED,
            "max_tokens": MAX_TOKENS,
            "stream": False,
        }
        if json_answer:
            body["response_format"] = {"type": "json_object"}
        for name in self._left_out:
            body.pop(name, None)
        return body

    async def _send(self, body: dict[str, Any], purpose: str, attempt: int) -> _Answer | None:
        """The answer, or None when the server closed the connection without one (retried)."""
        import aiohttp

        session, slots = self._open()
        async with slots:  # the timeout counts from here: waiting for a free slot is not the server's
            try:
                return await asyncio.wait_for(self._post(session, body), self.endpoint.timeout)
            except asyncio.TimeoutError:
                raise self._timeout(purpose) from None
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, ConnectionResetError):
                return None
            except aiohttp.ClientConnectorError as exc:
                raise self._unreachable(purpose, exc) from None
            except aiohttp.ClientError as exc:
                if isinstance(exc, aiohttp.ClientOSError) and isinstance(exc.__cause__, ConnectionResetError):
                    return None
                raise self._unreachable(purpose, exc) from None

    async def _post(self, session: aiohttp.ClientSession, body: dict[str, Any]) -> _Answer:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.endpoint.api_key:
            headers["Authorization"] = f"Bearer {self.endpoint.api_key}"
        async with session.post(
            self.endpoint.completions_url, data=orjson.dumps(body), headers=headers, allow_redirects=False
        ) as response:
            return _Answer(response.status, await response.read(), response.headers.get("Retry-After"))

    def _open(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        if self._session is None or self._slots is None:
            import aiohttp

            connector = aiohttp.TCPConnector(limit=self._connections)
            # No aiohttp timeout: wait_for bounds the whole request, a server that trickles bytes too.
            timeout = aiohttp.ClientTimeout(total=None)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
            self._slots = asyncio.Semaphore(self._connections)
        return self._session, self._slots

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- reading answers ---------------------------------------------------------------

    def _completion(self, answer: _Answer, purpose: str, seconds: float) -> Completion:
        try:
            data = orjson.loads(answer.content)
            choice = data["choices"][0]
            content = choice["message"]["content"]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            raise LLMAnswerError(
                self._said(
                    f"{purpose}: POST {self.endpoint.shown_url} answered {answer.status} with something "
                    f"that is not a chat completion (expected JSON with choices[0].message.content): "
                    f"{self._shown(answer.content)}. Check that judge_url is the server's "
                    "OpenAI-compatible base URL (it usually ends in /v1)"
                )
            ) from None
        text = _content_text(content)
        finish = choice.get("finish_reason") if isinstance(choice, dict) else None
        if not text.strip():
            cut = " (cut at the token limit)" if finish == "length" else ""
            raise LLMAnswerError(
                self._said(f"{purpose}: the model {self.endpoint.model} answered with no text{cut}")
            )
        return Completion(text, finish if isinstance(finish, str) else None, seconds)

    def _leave_out(self, answer: _Answer, body: dict[str, Any]) -> bool:
        said = answer.content.decode("utf-8", "replace").lower()
        refused = [name for name in _OPTIONAL if name in body and name in said]
        for name in refused:
            logger.debug("%s does not take %r; sending without it", self.endpoint.shown_url, name)
            self._left_out.add(name)
            body.pop(name)
        return bool(refused)

    def _delay(self, answer: _Answer | None, attempt: int) -> float:
        if answer is not None and answer.retry_after:
            try:
                return min(max(float(answer.retry_after), 0.0), _RETRY_AFTER_CAP)
            except ValueError:
                pass  # an HTTP date: the usual backoff
        return float(self._backoff * 2 ** (attempt - 1))

    # -- failures, each saying what to change ------------------------------------------

    def _said(self, message: str) -> str:
        return self.redactor.text(message)

    def _shown(self, content: bytes) -> str:
        return repr(capped(content.decode("utf-8", "replace"))) if content.strip() else "an empty body"

    def _timeout(self, purpose: str) -> LLMTimeout:
        return LLMTimeout(
            self._said(
                f"{purpose}: POST {self.endpoint.shown_url} did not answer within "
                f"{format_duration(self.endpoint.timeout)} (judge_timeout). A local model answers one "
                "request at a time: raise judge_timeout, or run fewer conversations at once"
            )
        )

    def _unreachable(self, purpose: str, exc: BaseException) -> LLMUnreachable:
        import aiohttp

        url = self.endpoint.shown_url
        if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, ConnectionRefusedError):
            reason = "connection refused. Is the server running (for a local Ollama: `ollama serve`)?"
        else:
            reason = f"{type(exc).__name__}: {exc}."
        return LLMUnreachable(self._said(f"{purpose}: POST {url} failed: {reason} Check judge_url"))

    def _failure(self, answer: _Answer | None, purpose: str, attempts: int) -> LLMError:
        url = self.endpoint.shown_url
        tries = f" ({attempts} attempts)" if attempts > 1 else ""
        if answer is None:
            return LLMUnreachable(
                self._said(
                    f"{purpose}: POST {url} failed: the server closed the connection without an "
                    f"answer{tries}. Its log says why"
                )
            )
        detail = _error_detail(answer.content)
        said = f": {capped(detail)}" if detail else ""
        message = f"{purpose}: POST {url} answered {answer.status}{said}{tries}. {self._hint(answer.status)}"
        return LLMRefused(self._said(message), answer.status)

    def _hint(self, status: int) -> str:
        variable = self.endpoint.key_variable
        if status in (401, 403):
            if variable:
                return f"Check the key in the environment variable {variable} (judge_api_key_env)"
            return "The server wants a key: name the environment variable that holds it in judge_api_key_env"
        if status == 404:
            return (
                f"Check judge_model ({self.endpoint.model}) and judge_url (an OpenAI-compatible "
                "base URL usually ends in /v1)"
            )
        if status == 429:
            return "Rate limited: run fewer conversations at once; answers already received are cached"
        if status >= 500:
            return "The server failed; its log says why"
        return f"Check judge_model ({self.endpoint.model}) and that the server speaks chat completions"


def _retried(answer: _Answer | None) -> bool:
    """A connection closed without an answer, or a status worth asking again (429, 502, 503, 504)."""
    return answer is None or answer.status in _RETRIED


def _content_text(content: Any) -> str:
    """The text of a message's content: a string, or (some servers) a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _error_detail(content: bytes) -> str:
    """What an error body says: OpenAI's {"error": {"message"}}, {"error": "..."}, {"detail"}, or the text."""
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        return content.decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return error if isinstance(error, str) else orjson.dumps(error).decode()
    return content.decode("utf-8", "replace").strip()
