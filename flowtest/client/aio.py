"""The asyncio client: the runner drives many conversations on one loop with it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import TracebackType
from typing import Any

import httpx
from aiolimiter import AsyncLimiter
from httpx_aiohttp import AiohttpTransport
from tenacity import AsyncRetrying

from flowtest.client import protocol
from flowtest.client.base import ClientBase, now
from flowtest.client.models import ClientConfig, EndResult, SessionInfo, TurnResult
from flowtest.client.protocol import Call, Recorder
from flowtest.client.retry import retry_arguments


def _pooled_client(connections: int) -> httpx.AsyncClient:
    """httpx's API over aiohttp's connection pool.

    Measured with benchmarks/run.py (1000 five-turn conversations at 50 ms, one loop):
    httpx's own pool 54 s and 7.7 ms CPU per request (encode/httpx#3215), a client per
    conversation 28 s and 950 MB, httpx over aiohttp 5.2 s and 0.7 ms per request.
    Same httpx requests and responses, so retries, redaction and records are unchanged.
    """
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(transport=AiohttpTransport(limits=limits))


class AsyncFlowClient(ClientBase):
    """Start Session, Send Message, Get Session, End Session over one connection pool."""

    def __init__(
        self,
        config: ClientConfig,
        recorder: Recorder | None = None,
        http: httpx.AsyncClient | None = None,
        connections: int = 100,
        rate_limit: float | None = None,
        limiter: AsyncLimiter | None = None,
    ) -> None:
        super().__init__(config, recorder)
        self._owns_http = http is None
        self._http = http if http is not None else _pooled_client(connections)
        # One limiter for every conversation sharing this client: a cap on the whole run.
        self._limiter = limiter or (AsyncLimiter(rate_limit, 1.0) if rate_limit else None)

    def with_options(self, recorder: Recorder | None = None, timeout: float | None = None) -> AsyncFlowClient:
        """A client sharing this one's connections, with its own recorder or timeout."""
        config = self.config if timeout is None else replace(self.config, timeout=timeout)
        return AsyncFlowClient(config, recorder or self.recorder, self._http, limiter=self._limiter)

    async def start_session(
        self,
        flow_id: str,
        variables: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        org: str | None = None,
    ) -> TurnResult:
        call = self._start(flow_id, variables, metadata, org)
        return protocol.parse_turn(self.config, call, await self._perform(call))

    async def send_text(self, session_id: str, text: str, org: str | None = None) -> TurnResult:
        call = protocol.text_call(self.config, self._org(org), session_id, text)
        return protocol.parse_turn(self.config, call, await self._perform(call))

    async def send_transfer(
        self, session_id: str, status: str, reason: str | None = None, org: str | None = None
    ) -> TurnResult:
        call = protocol.transfer_call(self.config, self._org(org), session_id, status, reason)
        return protocol.parse_turn(self.config, call, await self._perform(call))

    async def get_session(self, session_id: str, org: str | None = None) -> SessionInfo:
        call = protocol.get_call(self.config, self._org(org), session_id)
        return protocol.parse_session(self.config, call, await self._perform(call))

    async def end_session(self, session_id: str, org: str | None = None) -> EndResult:
        call = protocol.end_call(self.config, self._org(org), session_id)
        return protocol.parse_end(self.config, call, await self._perform(call))

    async def _perform(self, call: Call) -> Any:
        async for attempt in AsyncRetrying(**retry_arguments(self.config.retry, call.kind)):
            with attempt:
                return await self._once(call, attempt.retry_state.attempt_number)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _once(self, call: Call, attempt: int) -> Any:
        if self._limiter is not None:
            await self._limiter.acquire()
        started = now()
        try:
            response = await self._http.request(**self._request(call))
        except httpx.TransportError as exc:
            raise self._unanswered(call, started, attempt, exc) from None
        return self._finish(call, started, attempt, response)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncFlowClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
