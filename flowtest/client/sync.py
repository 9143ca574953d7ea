"""The blocking client, for scripts and the CLI."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from types import TracebackType
from typing import Any

import httpx
from tenacity import Retrying

from flowtest.client import protocol
from flowtest.client.base import ClientBase, now
from flowtest.client.deadline import BoundedTransport, bounded
from flowtest.client.models import ClientConfig, EndResult, SessionInfo, TurnResult
from flowtest.client.protocol import Call, OnExchange
from flowtest.client.retry import replay_first, retry_arguments, should_retry
from flowtest.errors import FlowtestError, ProtocolError


class FlowClient(ClientBase):
    """Start Session, Send Message, Get Session, End Session over one connection pool."""

    def __init__(
        self,
        config: ClientConfig,
        recorder: OnExchange | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        super().__init__(config, recorder)
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(transport=BoundedTransport())

    def with_options(self, recorder: OnExchange | None = None, timeout: float | None = None) -> FlowClient:
        """A client sharing this one's connections, with its own recorder or timeout."""
        config = self.config if timeout is None else replace(self.config, timeout=timeout)
        return FlowClient(config, recorder or self.recorder, self._http)

    def start_session(
        self,
        flow_id: str,
        variables: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        org: str | None = None,
    ) -> TurnResult:
        call = self._start(flow_id, variables, metadata, org)
        return protocol.parse_turn(self.config, call, self._perform(call))

    def send_text(self, session_id: str, text: str, org: str | None = None) -> TurnResult:
        call = protocol.text_call(self.config, self._org(org), session_id, text)
        return protocol.parse_turn(self.config, call, self._perform(call))

    def send_transfer(
        self, session_id: str, status: str, reason: str | None = None, org: str | None = None
    ) -> TurnResult:
        call = protocol.transfer_call(self.config, self._org(org), session_id, status, reason)
        return protocol.parse_turn(self.config, call, self._perform(call))

    def get_session(self, session_id: str, org: str | None = None) -> SessionInfo:
        call = protocol.get_call(self.config, self._org(org), session_id)
        return protocol.parse_session(self.config, call, self._perform(call))

    def end_session(self, session_id: str, org: str | None = None) -> EndResult:
        call = protocol.end_call(self.config, self._org(org), session_id)
        return protocol.parse_end(self.config, call, self._perform(call))

    def _perform(self, call: Call) -> Any:
        clock = time.perf_counter()
        try:
            return self._once(call, 1)
        except FlowtestError as exc:  # tenacity only once a retry may be needed, see retry_arguments
            if not should_retry(call.kind, exc):
                raise
            first = exc
        spent = time.perf_counter() - clock
        for attempt in Retrying(**retry_arguments(self.config.retry, call.kind, spent)):
            with attempt:
                replay_first(attempt.retry_state.attempt_number, first)
                return self._once(call, attempt.retry_state.attempt_number)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _once(self, call: Call, attempt: int) -> Any:
        started = now()
        try:
            with bounded(self.config.timeout):
                response = self._read(call)
        except httpx.TransportError as exc:
            error: FlowtestError = protocol.httpx_failure(self.config, call, exc)
            raise self._unanswered(call, started, attempt, error) from None
        except ProtocolError as error:  # an answer too large to read
            raise self._unanswered(call, started, attempt, error) from None
        return self._finish(call, started, attempt, response)

    def _read(self, call: Call) -> protocol.RawResponse:
        with self._http.stream(**self._request(call)) as response:
            body = protocol.Body(self.config, call, response.headers.get("Content-Length"))
            for chunk in response.iter_bytes():
                if not body.add(chunk):
                    break
            content = body.content(response.status_code)
            return protocol.RawResponse(response.status_code, content, response.headers.get("Retry-After"))

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> FlowClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
