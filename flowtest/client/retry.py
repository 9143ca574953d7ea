"""When and how long to retry, with tenacity: one policy for both clients."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowtest.client.models import RetryPolicy
from flowtest.client.protocol import CallKind
from flowtest.errors import ApiError, TransportError

if TYPE_CHECKING:
    from tenacity import RetryCallState

# A 502/504 or a timeout may come after the server acted: only safe to repeat an idempotent call.
_ANY_CALL = frozenset({429, 503})
_IDEMPOTENT_ONLY = frozenset({502, 504})


def should_retry(kind: CallKind, exc: BaseException) -> bool:
    if isinstance(exc, ApiError):
        return exc.status in _ANY_CALL or (kind.idempotent and exc.status in _IDEMPOTENT_ONLY)
    if isinstance(exc, TransportError):
        return kind.idempotent or not exc.request_sent
    return False


class _WaitRetryAfter:
    """Retry-After when the server gives one, else random exponential backoff."""

    def __init__(self, policy: RetryPolicy) -> None:
        from tenacity import wait_random_exponential

        self.policy = policy
        self.backoff = wait_random_exponential(multiplier=policy.initial_backoff, max=policy.max_backoff)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, ApiError) and exc.retry_after is not None:
            return min(exc.retry_after, self.policy.max_total_wait)
        return float(self.backoff(state))


def retry_arguments(policy: RetryPolicy, kind: CallKind, spent: float = 0.0) -> dict[str, Any]:
    """Keyword arguments for tenacity's Retrying / AsyncRetrying.

    The clients make the first attempt themselves and start tenacity only after a
    failure worth retrying: tenacity's per-call state is a reference cycle that only
    Python's full GC frees, and with thousands of conversations in flight those full
    collections cost the run more than its requests (3000 conversations: 18 s of CPU
    with the cycles, 9-11 s without). ``spent`` is that first attempt's time, already
    gone from the total wait; the first attempt is replayed (see ``replay_first``).
    """
    # tenacity is imported once a call failed in a way worth retrying: most runs never need it.
    from tenacity import retry_if_exception, stop_after_attempt, stop_before_delay

    return {
        "retry": retry_if_exception(lambda exc: should_retry(kind, exc)),
        "wait": _WaitRetryAfter(policy),
        "stop": stop_after_attempt(policy.max_attempts)
        | stop_before_delay(max(0.0, policy.max_total_wait - spent)),
        "reraise": True,
    }


def replay_first(number: int, first: BaseException) -> None:
    """Attempt 1 already happened: raise its error again, for tenacity to decide what follows."""
    if number == 1:
        raise first
