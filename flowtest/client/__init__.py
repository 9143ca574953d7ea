"""The Headless Flow Execution API client: sync and async, typed results, recorded exchanges."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowtest.client.models import (
    ClientConfig,
    EndResult,
    Exchange,
    FieldPaths,
    Message,
    RetryPolicy,
    SessionInfo,
    TurnResult,
)
from flowtest.contract import STATUSES, TERMINAL_STATUSES

if TYPE_CHECKING:
    from flowtest.client.aio import AsyncFlowClient
    from flowtest.client.sync import FlowClient


def __getattr__(name: str) -> Any:
    # The clients pull in aiohttp and httpx; the settings only need the models. Importing
    # them on first use keeps a pytest start without scenarios from paying for them.
    if name == "AsyncFlowClient":
        from flowtest.client.aio import AsyncFlowClient

        return AsyncFlowClient
    if name == "FlowClient":
        from flowtest.client.sync import FlowClient

        return FlowClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "STATUSES",
    "TERMINAL_STATUSES",
    "AsyncFlowClient",
    "ClientConfig",
    "EndResult",
    "Exchange",
    "FieldPaths",
    "FlowClient",
    "Message",
    "RetryPolicy",
    "SessionInfo",
    "TurnResult",
]
