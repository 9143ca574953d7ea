"""The Headless Flow Execution API client: sync and async, typed results, recorded exchanges."""

from __future__ import annotations

from flowtest.client.aio import AsyncFlowClient
from flowtest.client.models import (
    STATUSES,
    TERMINAL_STATUSES,
    ClientConfig,
    EndResult,
    Exchange,
    FieldPaths,
    Message,
    RetryPolicy,
    SessionInfo,
    TurnResult,
)
from flowtest.client.sync import FlowClient

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
