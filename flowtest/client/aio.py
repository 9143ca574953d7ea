"""The asyncio client: the runner drives many conversations on one loop with it."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiolimiter import AsyncLimiter

from flowtest.client import protocol
from flowtest.client.base import ClientBase, now
from flowtest.client.models import ClientConfig, EndResult, SessionInfo, TurnResult
from flowtest.client.protocol import Call, OnExchange
from flowtest.client.retry import replay_first, retry_arguments, should_retry
from flowtest.errors import FlowtestError, ProtocolError, TransportError

if sys.version_info >= (3, 11):
    from asyncio import timeout as _deadline
else:  # pragma: no cover  (aiohttp depends on async-timeout before 3.11)
    from async_timeout import timeout as _deadline

if TYPE_CHECKING:
    import aiohttp
    import httpx


class _Sent:
    """Starts the call's deadline once its request goes out on a connection.

    aiohttp restarts its read timer on every chunk (an answer trickled a byte a second never
    times out), and its total timer counts the wait for a connection: see _Pool.timeout.
    """

    __slots__ = ("deadline", "seconds")

    def __init__(self, deadline: Any, seconds: float) -> None:
        self.deadline = deadline  # asyncio.timeout(None) (async_timeout's before 3.11)
        self.seconds = seconds

    def start(self) -> None:
        self.deadline.reschedule(asyncio.get_running_loop().time() + self.seconds)


# The call the running task is making: the connector starts its deadline. (aiohttp's trace
# hooks could, but they cost a fifth of the client's CPU per request, measured.)
_SENDING: contextvars.ContextVar[_Sent | None] = contextvars.ContextVar("flowtest_sending", default=None)


@functools.cache
def _connector_class() -> type[aiohttp.TCPConnector]:
    import aiohttp

    class Connector(aiohttp.TCPConnector):
        """aiohttp's connector: once a request has its connection, its call's deadline starts."""

        async def connect(
            self, req: aiohttp.ClientRequest, traces: list[Any], timeout: aiohttp.ClientTimeout
        ) -> aiohttp.connector.Connection:
            connection = await super().connect(req, traces, timeout)
            sent = _SENDING.get()
            if sent is not None:
                sent.start()
            return connection

    return Connector


class _Pool:
    """aiohttp's connection pool, opened on first use inside the running loop, shared by views.

    Measured with benchmarks/run.py (1000 five-turn conversations at 50 ms, one loop):
    httpx's own pool 54 s and 7.7 ms of CPU per request (encode/httpx#3215); a client per
    conversation 28 s and 950 MB; httpx over aiohttp (httpx-aiohttp) 5.2 s and 0.7 ms;
    aiohttp directly, below, 3.5 s. The protocol code around it is the sync client's,
    so retries, redaction and records are identical on both paths.
    """

    def __init__(self, connections: int) -> None:
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            import aiohttp  # here, not at import: collecting and validating never need it

            connector = _connector_class()(limit=self.connections, limit_per_host=self.connections)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
        return self._session

    def timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        """The per-request timeout: the connect, and each read of the answer.

        Not aiohttp's total: with thousands of conversations started at once, a request can
        wait its turn for the loop or a connection longer than the server takes to answer it,
        and counting that wait made 1 in 5 of 5,000 conversations time out. The total is
        counted from the moment the request has its connection instead (_Sent).
        """
        import aiohttp

        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)
            self._timeouts[seconds] = timeout
        return timeout

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _answer(
    config: ClientConfig, call: Call, status: int, headers: Mapping[str, str], chunks: AsyncIterator[bytes]
) -> protocol.RawResponse:
    """The answer, read as it arrives, up to the size cap."""
    body = protocol.Body(config, call, headers.get("Content-Length"))
    async for chunk in chunks:
        if not body.add(chunk):
            break
    return protocol.RawResponse(status, body.content(status), headers.get("Retry-After"))


def aiohttp_failure(config: ClientConfig, call: Call, exc: BaseException) -> TransportError:
    import aiohttp

    if isinstance(exc, aiohttp.ClientConnectorError):
        dns = isinstance(exc, getattr(aiohttp, "ClientConnectorDNSError", ()))
        kind = "dns" if dns else protocol.connect_kind(exc.os_error)
        return protocol.unanswered(config, call, kind, str(exc.os_error), sent=False)
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        connecting = isinstance(exc, getattr(aiohttp, "ConnectionTimeoutError", ()))
        return protocol.unanswered(config, call, "timeout", str(exc), sent=not connecting)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return protocol.unanswered(config, call, "cut", str(exc), sent=True)
    if isinstance(exc, (aiohttp.ServerDisconnectedError, ConnectionResetError)) or (
        isinstance(exc, aiohttp.ClientOSError) and isinstance(exc.__cause__ or exc, ConnectionResetError)
    ):
        return protocol.unanswered(config, call, "reset", str(exc), sent=True)
    return protocol.unanswered(config, call, "other", f"{type(exc).__name__}: {exc}", sent=True)


class AsyncFlowClient(ClientBase):
    """Start Session, Send Message, Get Session, End Session over one connection pool."""

    def __init__(
        self,
        config: ClientConfig,
        recorder: OnExchange | None = None,
        http: httpx.AsyncClient | None = None,
        connections: int = 100,
        rate_limit: float | None = None,
        limiter: AsyncLimiter | None = None,
        pool: _Pool | None = None,
    ) -> None:
        super().__init__(config, recorder)
        self._owns_pool = pool is None
        self._pool = pool if pool is not None else _Pool(connections)
        self._http = http  # an httpx client instead of aiohttp: custom transports, MockTransport in tests
        # One limiter for every conversation sharing this client: a cap on the whole run.
        self._limiter = limiter or (AsyncLimiter(rate_limit, 1.0) if rate_limit else None)

    def with_options(
        self, recorder: OnExchange | None = None, timeout: float | None = None
    ) -> AsyncFlowClient:
        """A client sharing this one's connections, with its own recorder or timeout."""
        config = self.config if timeout is None else replace(self.config, timeout=timeout)
        return AsyncFlowClient(
            config, recorder or self.recorder, self._http, limiter=self._limiter, pool=self._pool
        )

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
        clock = time.perf_counter()
        try:
            return await self._once(call, 1)
        except FlowtestError as exc:  # tenacity only once a retry may be needed, see retry_arguments
            if not should_retry(call.kind, exc):
                raise
            first = exc
        from tenacity import AsyncRetrying

        spent = time.perf_counter() - clock
        async for attempt in AsyncRetrying(**retry_arguments(self.config.retry, call.kind, spent)):
            with attempt:
                replay_first(attempt.retry_state.attempt_number, first)
                return await self._once(call, attempt.retry_state.attempt_number)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _once(self, call: Call, attempt: int) -> Any:
        if self._limiter is not None:
            await self._limiter.acquire()
        started = now()
        try:
            response = await self._send(call)
        except (TransportError, ProtocolError) as error:  # no answer, or one too large to read
            raise self._unanswered(call, started, attempt, error) from None
        return self._finish(call, started, attempt, response)

    async def _send(self, call: Call) -> protocol.RawResponse:
        if self._http is not None:
            return await self._send_httpx(call, self._http)
        import aiohttp

        try:
            async with _deadline(None) as deadline:
                sending = _SENDING.set(_Sent(deadline, self.config.timeout))
                try:
                    return await self._request_aiohttp(call)
                finally:
                    _SENDING.reset(sending)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise aiohttp_failure(self.config, call, exc) from None

    async def _request_aiohttp(self, call: Call) -> protocol.RawResponse:
        async with self._pool.session().request(
            call.method,
            call.url,
            data=protocol.encode_body(call),
            headers=protocol.request_headers(self.config, call),
            timeout=self._pool.timeout(self.config.timeout),
            allow_redirects=False,
        ) as response:
            length = response.content_length
            if (
                length is not None
                and length <= self.config.max_response_bytes
                and not response.headers.get("Content-Encoding")
            ):  # the usual answer: its size known and within the cap, read at once
                content = await response.read()
                return protocol.RawResponse(response.status, content, response.headers.get("Retry-After"))
            chunks = response.content.iter_any()
            return await _answer(self.config, call, response.status, response.headers, chunks)

    async def _send_httpx(self, call: Call, http: httpx.AsyncClient) -> protocol.RawResponse:
        import httpx  # only for a client given one: a run's requests go through aiohttp

        try:
            async with _deadline(self.config.timeout), http.stream(**self._request(call)) as response:
                chunks = response.aiter_bytes()
                return await _answer(self.config, call, response.status_code, response.headers, chunks)
        except httpx.TransportError as exc:
            raise protocol.httpx_failure(self.config, call, exc) from None
        except asyncio.TimeoutError:
            raise protocol.unanswered(self.config, call, "timeout", "", sent=True) from None

    async def aclose(self) -> None:
        if self._owns_pool:
            await self._pool.close()

    async def __aenter__(self) -> AsyncFlowClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
