"""The client against the sandbox over loopback: every endpoint and every error of the contract."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace

import httpx
import pytest

from flowtest.client import AsyncFlowClient, ClientConfig, Exchange, FlowClient
from flowtest.errors import ApiError, TransportError
from flowtest.sandbox import DEFAULT_API_KEY
from flowtest.sandbox.server import RunningSandbox


def test_flight_status_conversation_with_failed_transfer(client: FlowClient) -> None:
    turn = client.start_session("flight-status", {"customerName": "Ada"}, {"externalSessionId": "x1"})
    assert (turn.status, turn.texts) == ("awaiting_input", ("Hi Ada, how can I help?",))
    turn = client.send_text(turn.session_id, "I'd like to check my flight status")
    assert turn.texts == ("Sure. What is your flight number?",)
    turn = client.send_text(turn.session_id, "ba 117")
    assert turn.texts[0].startswith("Flight BA117 is delayed")
    turn = client.send_text(turn.session_id, "yes please")
    assert turn.status == "awaiting_transfer"
    assert turn.transfer == {
        "destination": "flight-desk",
        "data": {"flight": "BA117", "customer": "Ada"},
    }
    turn = client.send_transfer(turn.session_id, "failed", "no agents available")
    assert turn.status == "completed"
    assert turn.texts == ("I'm sorry, no agent could take your call (no agents available).", "Goodbye.")
    session = client.get_session(turn.session_id)
    assert session.variables["failReason"] == "no agents available"
    assert session.variables["attempts"] == 1
    assert session.metadata == {"channel": "api", "externalSessionId": "x1"}
    ended = client.end_session(turn.session_id)
    assert (ended.session_id, ended.status) == (turn.session_id, "terminated")


def test_successful_transfer_takes_the_success_exit(client: FlowClient) -> None:
    turn = client.start_session("flight-status")
    turn = client.send_text(turn.session_id, "get me a human")
    assert turn.status == "awaiting_transfer"
    turn = client.send_transfer(turn.session_id, "success")
    assert (turn.status, turn.texts) == ("completed", ("You're connected. Goodbye.",))
    assert "failReason" not in client.get_session(turn.session_id).variables
    client.end_session(turn.session_id)


def test_order_tracking_sets_nested_variables(client: FlowClient) -> None:
    turn = client.start_session("order-tracking")
    assert turn.texts == ("Welcome to order tracking.", "Please type your order number.")
    turn = client.send_text(turn.session_id, "12-34-56")
    variables = client.get_session(turn.session_id).variables
    assert variables["order"]["id"] == "123456"
    assert variables["order"]["carrier"] == {"name": "ParcelCo", "tracking": "PC-123456-X"}
    client.end_session(turn.session_id)


def test_fail_node_puts_the_session_in_error(client: FlowClient) -> None:
    turn = client.start_session("order-tracking")
    turn = client.send_text(turn.session_id, "900000")
    assert turn.status == "error"
    with pytest.raises(ApiError) as caught:
        client.send_text(turn.session_id, "hello?")
    assert (caught.value.status, caught.value.code) == (409, "SESSION_NOT_ACTIVE")
    client.end_session(turn.session_id)


def test_flow_without_interaction_completes_at_start(client: FlowClient) -> None:
    turn = client.start_session("store-hours")
    assert turn.status == "completed"
    assert len(turn.messages) == 2
    assert client.get_session(turn.session_id).variables["hours"] == {
        "open": "09:00",
        "close": "18:00",
    }
    client.end_session(turn.session_id)


def test_async_client_runs_the_same_calls(sandbox: RunningSandbox) -> None:
    records: list[Exchange] = []

    async def converse() -> tuple[str, str]:
        config = ClientConfig(sandbox.url, "demo", DEFAULT_API_KEY)
        async with AsyncFlowClient(config, recorder=records.append) as aclient:
            turn = await aclient.start_session("flight-status")
            turn = await aclient.send_text(turn.session_id, "flight status")
            session = await aclient.get_session(turn.session_id)
            ended = await aclient.end_session(turn.session_id)
            return session.variables["request"], ended.status

    assert asyncio.run(converse()) == ("flight status", "terminated")
    assert [(r.method, r.status) for r in records] == [
        ("POST", 201),
        ("POST", 200),
        ("GET", 200),
        ("DELETE", 200),
    ]


# -- errors -------------------------------------------------------------------------


def _api_error(call: object) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()  # type: ignore[operator]
    return caught.value


@pytest.mark.parametrize(("key", "message"), [(None, "missing API key"), ("wrong-key", "unknown API key")])
def test_401_without_or_with_an_unknown_key(sandbox: RunningSandbox, key: str | None, message: str) -> None:
    with FlowClient(ClientConfig(sandbox.url, "demo", key)) as anonymous:
        error = _api_error(lambda: anonymous.start_session("flight-status"))
    assert (error.status, error.code, error.api_message) == (401, "UNAUTHORIZED", message)


def test_403_for_another_org(client: FlowClient) -> None:
    error = _api_error(lambda: client.start_session("flight-status", org="globex"))
    assert (error.status, error.code) == (403, "FORBIDDEN")
    assert "/orgs/globex/flows/flight-status/sessions" in error.url


def test_404_for_unknown_flow_and_session(client: FlowClient) -> None:
    error = _api_error(lambda: client.start_session("no-such-flow"))
    assert (error.status, error.code) == (404, "FLOW_NOT_FOUND")
    error = _api_error(lambda: client.get_session("ses_missing"))
    assert (error.status, error.code) == (404, "SESSION_NOT_FOUND")
    assert error.url.endswith("/orgs/demo/sessions/ses_missing")
    assert str(error) == (
        f"GET {error.url} answered 404 SESSION_NOT_FOUND: no session 'ses_missing' in 'demo'"
    )


def test_400_for_the_wrong_field_in_each_state(client: FlowClient) -> None:
    turn = client.start_session("flight-status")
    error = _api_error(lambda: client.send_transfer(turn.session_id, "success"))
    assert (error.status, error.code) == (400, "INVALID_REQUEST")
    turn = client.send_text(turn.session_id, "agent")
    assert turn.status == "awaiting_transfer"
    error = _api_error(lambda: client.send_text(turn.session_id, "hello"))
    assert (error.status, error.code) == (400, "INVALID_REQUEST")
    error = _api_error(lambda: client.send_text(turn.session_id, "x" * 4097))
    assert "longer than 4096" in (error.api_message or "")
    client.end_session(turn.session_id)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"[1, 2]", "body must be a JSON object"),
        (
            b'{"text": "a", "transferResult": {"status": "success"}}',
            "give exactly one of text or transferResult",
        ),
        (b"{}", "give exactly one of text or transferResult"),
        (
            b'{"transferResult": {"status": "maybe"}}',
            "transferResult.status must be success, failed or hangup",
        ),
    ],
)
def test_400_for_malformed_bodies(
    client: FlowClient, sandbox: RunningSandbox, body: bytes, message: str
) -> None:
    turn = client.start_session("flight-status")
    url = f"{sandbox.url}/cgw/process/v1/orgs/demo/sessions/{turn.session_id}/messages"
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}", "Content-Type": "application/json"}
    response = httpx.post(url, content=body, headers=headers)
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "INVALID_REQUEST", "message": message}}
    client.end_session(turn.session_id)


def test_body_size_is_bounded(client: FlowClient, sandbox: RunningSandbox) -> None:
    url = f"{sandbox.url}/cgw/process/v1/orgs/demo/flows/flight-status/sessions"
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    body = json.dumps({"variables": {"blob": "x" * 70_000}})
    response = httpx.post(url, content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "body larger than 65536 bytes"


def test_end_session_on_a_finished_session_cleans_it_up(client: FlowClient) -> None:
    turn = client.start_session("store-hours")
    assert client.end_session(turn.session_id).status == "terminated"
    error = _api_error(lambda: client.get_session(turn.session_id))
    assert error.code == "SESSION_NOT_FOUND"
    error = _api_error(lambda: client.end_session(turn.session_id))
    assert error.status == 404


def test_transport_error_names_the_url_and_what_to_check() -> None:
    config = ClientConfig("http://127.0.0.1:9", "demo", DEFAULT_API_KEY)
    dead = FlowClient(replace(config, retry=replace(config.retry, max_attempts=1)))
    with dead, pytest.raises(TransportError) as caught:
        dead.start_session("flight-status")
    assert str(caught.value) == (
        "POST http://127.0.0.1:9/cgw/process/v1/orgs/demo/flows/flight-status/sessions failed: "
        "connection refused. Is the service running at http://127.0.0.1:9? Check the base URL."
    )


def test_api_key_never_recorded_logged_or_in_errors(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cret-key-do-not-leak"
    records: list[Exchange] = []
    caplog.set_level(logging.DEBUG)
    with FlowClient(ClientConfig(sandbox.url, "demo", secret), recorder=records.append) as wrong:
        error = _api_error(lambda: wrong.start_session("flight-status"))
    with FlowClient(ClientConfig(sandbox.url, "demo", DEFAULT_API_KEY), recorder=records.append) as right:
        turn = right.start_session("flight-status", {"echo": DEFAULT_API_KEY})
        right.end_session(turn.session_id)
    everything = repr(records) + str(error) + caplog.text
    assert records and all(r.request_headers["Authorization"] == "***" for r in records)
    assert secret not in everything
    assert DEFAULT_API_KEY not in everything
