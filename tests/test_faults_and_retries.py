"""Retries against a sandbox that injects faults: 503s (--error-rate) and 429s (--rate-limit)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from flowtest.client import ClientConfig, Exchange, FlowClient, RetryPolicy
from flowtest.errors import ApiError
from flowtest.sandbox import DEFAULT_API_KEY, running_sandbox
from flowtest.sandbox.app import Faults, Limits
from flowtest.sandbox.server import RunningSandbox
from tests.conftest import sandbox_config


@pytest.fixture
def flaky_sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(sandbox_config(faults=Faults(error_rate=0.3, seed=7))) as running:
        yield running


def test_503s_are_retried_until_the_conversation_goes_through(
    flaky_sandbox: RunningSandbox,
) -> None:
    records: list[Exchange] = []
    policy = RetryPolicy(max_attempts=8, initial_backoff=0.001, max_backoff=0.01)
    config = ClientConfig(flaky_sandbox.url, "demo", DEFAULT_API_KEY, retry=policy)
    with FlowClient(config, recorder=records.append) as client:
        for _ in range(10):
            turn = client.start_session("flight-status")
            turn = client.send_text(turn.session_id, "flight")
            client.get_session(turn.session_id)
            client.end_session(turn.session_id)
    retried = [r for r in records if r.status == 503]
    assert retried, "the seeded fault rate should have produced 503s"
    assert max(r.attempt for r in records) > 1
    assert flaky_sandbox.open_sessions == 0


def test_503_gives_up_after_the_attempt_budget(flaky_sandbox: RunningSandbox) -> None:
    records: list[Exchange] = []
    policy = RetryPolicy(max_attempts=2, initial_backoff=0.001, max_backoff=0.001)
    config = ClientConfig(flaky_sandbox.url, "demo", DEFAULT_API_KEY, retry=policy)
    with FlowClient(config, recorder=records.append) as client:
        errors = []
        for _ in range(40):
            try:
                client.end_session("ses_none")
            except ApiError as exc:
                errors.append(exc.status)
    assert 503 in errors  # two 503s in a row happen at a 30% rate over 40 tries
    assert all(r.attempt <= 2 for r in records)


def test_429_waits_for_retry_after() -> None:
    config = sandbox_config(faults=Faults(rate_limit=2.0))
    records: list[Exchange] = []
    with running_sandbox(config) as limited:
        client_config = ClientConfig(limited.url, "demo", DEFAULT_API_KEY)
        with FlowClient(client_config, recorder=records.append) as client:
            turn = client.start_session("store-hours")
            client.get_session(turn.session_id)
            client.end_session(turn.session_id)  # the third call in the same second is limited
    throttled = [r for r in records if r.status == 429]
    assert throttled
    assert throttled[0].response_json == {"error": {"code": "RATE_LIMITED", "message": "rate limit exceeded"}}
    after = records[records.index(throttled[0]) + 1]
    assert after.status == 200 and after.attempt == 2
    assert after.started_at - throttled[0].started_at >= 1.0  # Retry-After: 1 was honoured


def test_only_calls_the_server_cannot_have_processed_are_retried() -> None:
    from flowtest.client.protocol import CallKind
    from flowtest.client.retry import should_retry
    from flowtest.errors import TransportError

    bad_gateway = ApiError("POST", "u", 502, None, None)
    assert not should_retry(CallKind.SEND, bad_gateway)
    assert not should_retry(CallKind.START, bad_gateway)
    assert should_retry(CallKind.GET, bad_gateway)
    assert should_retry(CallKind.SEND, ApiError("POST", "u", 503, None, None))
    assert should_retry(CallKind.SEND, TransportError("POST", "u", "refused", "", request_sent=False))
    assert not should_retry(CallKind.SEND, TransportError("POST", "u", "timeout", "", request_sent=True))
    assert should_retry(CallKind.END, TransportError("DELETE", "u", "timeout", "", request_sent=True))


def test_live_sessions_are_bounded() -> None:
    with running_sandbox(sandbox_config(limits=Limits(max_sessions=2))) as small:
        policy = RetryPolicy(max_attempts=1)
        with FlowClient(ClientConfig(small.url, "demo", DEFAULT_API_KEY, retry=policy)) as client:
            first = client.start_session("flight-status")
            client.start_session("flight-status")
            with pytest.raises(ApiError) as caught:
                client.start_session("flight-status")
            assert (caught.value.status, caught.value.code) == (429, "RATE_LIMITED")
            client.end_session(first.session_id)
            client.start_session("flight-status")


def test_client_side_rate_cap_spreads_requests(sandbox: RunningSandbox) -> None:
    import asyncio

    from flowtest.client import AsyncFlowClient

    records: list[Exchange] = []

    async def burst() -> None:
        config = ClientConfig(sandbox.url, "demo", DEFAULT_API_KEY, retry=RetryPolicy(max_attempts=1))
        async with AsyncFlowClient(config, recorder=records.append, rate_limit=10) as client:
            shared = client.with_options()  # conversations share the cap through with_options

            async def one() -> None:
                with contextlib.suppress(ApiError):
                    await shared.get_session("ses_none")

            await asyncio.gather(*(one() for _ in range(20)))

    asyncio.run(burst())
    starts = sorted(record.started_at for record in records)
    assert len(starts) == 20
    assert starts[-1] - starts[0] >= 0.9  # 10 per second: the second ten wait about a second
