"""Fixtures for flowtest's own tests: a real sandbox on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowtest.client import ClientConfig, Exchange, FlowClient
from flowtest.sandbox import DEFAULT_API_KEY, SandboxConfig, running_sandbox
from flowtest.sandbox.server import RunningSandbox

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "scenarios" / "flows"


def sandbox_config(**changes: object) -> SandboxConfig:
    base = SandboxConfig(flows_dir=FLOWS, orgs=("demo", "acme"), port=0)
    return SandboxConfig(**{**base.__dict__, **changes})  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(sandbox_config()) as running:
        yield running


@pytest.fixture
def exchanges() -> list[Exchange]:
    return []


@pytest.fixture
def client(sandbox: RunningSandbox, exchanges: list[Exchange]) -> Iterator[FlowClient]:
    config = ClientConfig(sandbox.url, "demo", DEFAULT_API_KEY)
    with FlowClient(config, recorder=exchanges.append) as flow_client:
        yield flow_client
