"""Contract conformance: the sandbox's answers checked against the OpenAPI contract by schemathesis.

schemathesis generates requests from the contract (valid and invalid) and checks each
answer's status code, content type, headers and body schema against what the contract
documents, so the sandbox cannot drift from the file the client is built on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case

from flowtest.sandbox import DEFAULT_API_KEY
from flowtest.sandbox.server import RunningSandbox

CONTRACT = Path(__file__).resolve().parent.parent / "flowtest" / "openapi.yaml"
AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
SESSIONS = "/cgw/process/v1/orgs/{orgId}/sessions/{sessionId}"
MESSAGES = SESSIONS + "/messages"
START = "/cgw/process/v1/orgs/{orgId}/flows/{flowId}/sessions"


CONTRACT_SCHEMA = schemathesis.openapi.from_path(str(CONTRACT))


@pytest.fixture(scope="module")
def contract() -> Any:
    return CONTRACT_SCHEMA


@CONTRACT_SCHEMA.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_get_documented_answers(case: Case, sandbox: RunningSandbox) -> None:
    case.call_and_validate(base_url=sandbox.url, headers=AUTH)


def _call(contract: Any, sandbox: RunningSandbox, path: str, method: str, **parts: Any) -> Any:
    case = contract[path][method].Case(**parts)
    return case.call_and_validate(base_url=sandbox.url, headers=AUTH)


def test_a_whole_conversation_conforms(contract: Any, sandbox: RunningSandbox) -> None:
    started = _call(
        contract,
        sandbox,
        START,
        "POST",
        path_parameters={"orgId": "demo", "flowId": "flight-status"},
        body={"variables": {"customerName": "Ada"}, "metadata": {"channel": "api"}},
    )
    assert started.status_code == 201
    ids = {"orgId": "demo", "sessionId": started.json()["sessionId"]}
    turns = [
        {"text": "agent please"},
        {"transferResult": {"status": "failed", "failReason": "busy"}},
    ]
    for body in turns:
        assert _call(contract, sandbox, MESSAGES, "POST", path_parameters=ids, body=body).status_code == 200
    refused = _call(contract, sandbox, MESSAGES, "POST", path_parameters=ids, body={"text": "hi"})
    assert refused.status_code == 409
    assert _call(contract, sandbox, SESSIONS, "GET", path_parameters=ids).json()["status"] == "completed"
    assert _call(contract, sandbox, SESSIONS, "DELETE", path_parameters=ids).status_code == 200
    assert _call(contract, sandbox, SESSIONS, "GET", path_parameters=ids).status_code == 404
