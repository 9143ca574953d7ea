"""Edge cases a real server can't easily produce: other field names, unknown statuses (MockTransport)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from flowtest.client import ClientConfig, FieldPaths, FlowClient, RetryPolicy
from flowtest.errors import ApiError, ProtocolError

RENAMED = FieldPaths(
    session_id="$.data.id",
    status="$.data.state",
    messages="$.data.output",
    message_text="content.body",
    variables="$.context.vars",
)


def _client(answer: dict[str, Any], fields: FieldPaths | None = None) -> FlowClient:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=answer))
    config = ClientConfig("http://api.test", "acme", "key", fields=fields or FieldPaths())
    return FlowClient(config, http=httpx.Client(transport=transport))


def test_a_deployment_with_other_field_names_needs_only_configuration() -> None:
    answer = {
        "data": {
            "id": "s-1",
            "state": "awaiting_input",
            "output": [{"content": {"body": "Hello"}}],
        },
        "context": {"vars": {"a": 1}},
        "traceId": "t-9",
    }
    client = _client(answer, RENAMED)
    turn = client.start_session("flow")
    assert (turn.session_id, turn.status, turn.texts) == ("s-1", "awaiting_input", ("Hello",))
    assert turn.raw["traceId"] == "t-9"  # unknown fields are kept
    assert client.get_session("s-1").variables == {"a": 1}


def test_unknown_status_is_an_error_naming_value_and_url() -> None:
    client = _client({"sessionId": "s-1", "status": "paused", "messages": []})
    with pytest.raises(ProtocolError) as caught:
        client.send_text("s-1", "hi")
    assert str(caught.value) == (
        "POST http://api.test/cgw/process/v1/orgs/acme/sessions/s-1/messages: unknown session status "
        "'paused' (known: awaiting_input, awaiting_transfer, completed, terminated, expired, error)"
    )


def test_missing_field_says_which_setting_to_change() -> None:
    client = _client({"id": "s-1", "status": "completed", "messages": []})
    with pytest.raises(ProtocolError, match=r"no value at \$\.sessionId \(set fields\.session_id"):
        client.start_session("flow")


def test_non_json_error_body_is_shown_in_the_message() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(502, text="<html>Bad gateway</html>"))
    config = ClientConfig("http://api.test", "acme", "key", retry=RetryPolicy(max_attempts=1))
    client = FlowClient(config, http=httpx.Client(transport=transport))
    with pytest.raises(ApiError) as caught:
        client.get_session("s-1")
    assert str(caught.value) == (
        "GET http://api.test/cgw/process/v1/orgs/acme/sessions/s-1 answered 502: <html>Bad gateway</html>"
    )


def test_request_bodies_follow_the_contract() -> None:
    seen: list[tuple[str, str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, request.url.raw_path.decode(), body))
        return httpx.Response(200, json={"sessionId": "s 1", "status": "awaiting_input", "messages": []})

    config = ClientConfig("http://api.test/", "my org", "key")
    client = FlowClient(config, http=httpx.Client(transport=httpx.MockTransport(handler)))
    client.send_transfer("s 1", "failed", "busy")
    client.start_session("f", {"v": 1}, {"channel": "api"})
    assert seen == [
        (
            "POST",
            "/cgw/process/v1/orgs/my%20org/sessions/s%201/messages",
            {"transferResult": {"status": "failed", "failReason": "busy"}},
        ),
        (
            "POST",
            "/cgw/process/v1/orgs/my%20org/flows/f/sessions",
            {"variables": {"v": 1}, "metadata": {"channel": "api"}},
        ),
    ]
