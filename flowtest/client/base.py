"""What the sync and async clients share: configuration, call building, recording."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from flowtest.client import protocol
from flowtest.client.models import ClientConfig
from flowtest.client.protocol import Call, OnExchange, RawResponse
from flowtest.errors import FlowtestError

logger = logging.getLogger(__name__)


class ClientBase:
    def __init__(self, config: ClientConfig, recorder: OnExchange | None = None) -> None:
        self.config = config
        self.recorder = recorder

    def _org(self, org: str | None) -> str:
        return org or self.config.org

    def _start(
        self,
        flow_id: str,
        variables: Mapping[str, Any] | None,
        metadata: Mapping[str, Any] | None,
        org: str | None,
    ) -> Call:
        return protocol.start_call(self.config, self._org(org), flow_id, variables, metadata)

    def _request(self, call: Call) -> dict[str, Any]:
        """Keyword arguments of httpx's request() for this call, the same for both clients."""
        import httpx  # the async client's requests go through aiohttp: a run need not import httpx

        return {
            "method": call.method,
            "url": call.url,
            "content": protocol.encode_body(call),
            "headers": protocol.request_headers(self.config, call),
            "timeout": httpx.Timeout(self.config.timeout),
        }

    def _unanswered(
        self, call: Call, started: tuple[float, float], attempt: int, error: FlowtestError
    ) -> FlowtestError:
        """A call with no HTTP answer: recorded, and returned for the caller to raise."""
        self._record(call, started, attempt, None, None, error)
        return error

    def _record(
        self,
        call: Call,
        started: tuple[float, float],
        attempt: int,
        response: RawResponse | None,
        payload: Any,
        error: FlowtestError | None,
    ) -> None:
        wall, perf = started
        duration = time.perf_counter() - perf
        record = protocol.exchange(self.config, call, wall, duration, attempt, response, payload, error)
        logger.debug("%s %s -> %s in %.3fs", record.method, record.url, record.status, duration)
        if self.recorder is not None:
            self.recorder(record)

    def _finish(self, call: Call, started: tuple[float, float], attempt: int, response: RawResponse) -> Any:
        payload = protocol.decode_json(response)
        try:
            protocol.check_response(call, response, payload)
            protocol.check_body(self.config, call, response, payload)
        except FlowtestError as exc:
            self._record(call, started, attempt, response, payload, exc)
            raise
        self._record(call, started, attempt, response, payload, None)
        return payload


def now() -> tuple[float, float]:
    """Wall time for reports, monotonic time for durations."""
    return time.time(), time.perf_counter()
