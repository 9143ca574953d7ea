"""The contract in code: URLs, request bodies, reading responses, mapping failures to errors.

Both the sync and the async client use these functions, so they behave the same.
"""

from __future__ import annotations

import errno
import json
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from flowtest.client import codec
from flowtest.client.models import (
    ClientConfig,
    EndResult,
    Exchange,
    Message,
    SessionInfo,
    TurnResult,
    shown_body,
)
from flowtest.contract import API_ROOT, EXTERNAL_ID, STATUSES
from flowtest.errors import ApiError, FlowtestError, ProtocolError, TransportError
from flowtest.jsonpath import compile_path

if TYPE_CHECKING:
    import httpx

LOST_START = "Start Session's answer was lost"  # how the warning below starts


def lost_start_warning(external_id: str) -> str:
    """What to say when Start Session's answer never came: the server may have opened a session."""
    return (
        f"{LOST_START}, so a session may be open on the server: look for metadata.{EXTERNAL_ID} {external_id}"
    )


OnExchange = Callable[[Exchange], None]


class CallKind(Enum):
    START = "start"
    SEND = "send"
    GET = "get"
    END = "end"

    @property
    def idempotent(self) -> bool:
        return self in (CallKind.GET, CallKind.END)


@dataclass(frozen=True, slots=True)
class Call:
    kind: CallKind
    method: str
    url: str
    body: Mapping[str, Any] | None
    content: bytes | None = None  # the body as sent: encoded once, kept by the exchange


def _call(kind: CallKind, method: str, url: str, body: Mapping[str, Any] | None = None) -> Call:
    return Call(kind, method, url, body, None if body is None else codec.dumps(body))


def _segment(value: str) -> str:
    return quote(value, safe="")


def start_call(
    config: ClientConfig,
    org: str,
    flow_id: str,
    variables: Mapping[str, Any] | None,
    metadata: Mapping[str, Any] | None,
) -> Call:
    body: dict[str, Any] = {}
    if variables:
        body["variables"] = dict(variables)
    if metadata:
        body["metadata"] = dict(metadata)
    url = f"{_root(config, org)}/flows/{_segment(flow_id)}/sessions"
    return _call(CallKind.START, "POST", url, body)


def text_call(config: ClientConfig, org: str, session_id: str, text: str) -> Call:
    return _call(CallKind.SEND, "POST", _messages_url(config, org, session_id), {"text": text})


def transfer_call(config: ClientConfig, org: str, session_id: str, status: str, reason: str | None) -> Call:
    result: dict[str, Any] = {"status": status}
    if reason is not None:
        result["failReason"] = reason
    url = _messages_url(config, org, session_id)
    return _call(CallKind.SEND, "POST", url, {"transferResult": result})


def get_call(config: ClientConfig, org: str, session_id: str) -> Call:
    return _call(CallKind.GET, "GET", _session_url(config, org, session_id))


def end_call(config: ClientConfig, org: str, session_id: str) -> Call:
    return _call(CallKind.END, "DELETE", _session_url(config, org, session_id))


def _root(config: ClientConfig, org: str) -> str:
    return f"{config.base_url.rstrip('/')}{API_ROOT}/{_segment(org)}"


def _session_url(config: ClientConfig, org: str, session_id: str) -> str:
    return f"{_root(config, org)}/sessions/{_segment(session_id)}"


def _messages_url(config: ClientConfig, org: str, session_id: str) -> str:
    return _session_url(config, org, session_id) + "/messages"


def request_headers(config: ClientConfig, call: Call) -> Mapping[str, str]:
    return config.headers[call.body is not None]


def encode_body(call: Call) -> bytes | None:
    """The body as JSON, as sent (encoded when the call was made)."""
    return call.content


# -- responses ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawResponse:
    """An HTTP answer as the protocol reads it, whichever HTTP library carried it."""

    status: int
    content: bytes
    retry_after: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class _Unread:
    """A body that is there but that flowtest does not read, and why."""

    why: str


_NOT_JSON = _Unread("is not JSON")
_TOO_DEEP = _Unread(f"is JSON nested deeper than {codec.MAX_DEPTH} levels, more than flowtest reads")


def decode_json(response: RawResponse) -> Any:
    if not response.content:
        return None
    try:
        return codec.loads(response.content)
    except codec.TooDeep:
        return _TOO_DEEP
    except ValueError:
        return _NOT_JSON


def check_body(config: ClientConfig, call: Call, response: RawResponse, payload: Any) -> None:
    """A 2xx answer the call needs a JSON object from must have one; say what came instead."""
    if call.kind is CallKind.END or isinstance(payload, dict):
        return
    if isinstance(payload, _Unread):
        problem = (
            f"the answer ({response.status}) {payload.why}; it starts with {body_start(response.content)}"
        )
        # An unreadable Start answer may still name its session: teardown must end it.
        raise ProtocolError(call.method, call.url, problem, started_id(config, call, response.content))
    if not response.content:
        problem = f"the answer ({response.status}) has an empty body where a JSON object was expected"
    else:
        kind = "an array" if isinstance(payload, list) else f"a JSON {type(payload).__name__}"
        start = body_start(response.content)
        problem = f"the answer ({response.status}) is {kind}, not a JSON object: {start}"
    raise ProtocolError(call.method, call.url, problem)


def body_start(content: bytes, limit: int = 80) -> str:
    text = content[:limit].decode("utf-8", "replace")
    more = f" ... ({len(content)} bytes)" if len(content) > limit else ""
    return json.dumps(text, ensure_ascii=False) + more


# How much of an unreadable Start answer is searched for its session id: enough for any id
# written before a deep or huge part, and bounded, since the search walks it in Python.
SCAN_LIMIT = 1 << 20
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_SCALAR_AFTER_KEY = re.compile(rb'\s*:\s*("(?:[^"\\]|\\.)*"|-?[0-9]+)')
_TOP_LEVEL_NAME = re.compile(r"\$\.([A-Za-z_][A-Za-z0-9_-]*)")


def started_id(config: ClientConfig, call: Call, content: bytes) -> str | None:
    """The session id a Start answer names, read from its text: for an answer too deep or too
    large to parse. Only a top-level field (``$.name``) is looked for, in the first SCAN_LIMIT bytes."""
    if call.kind is not CallKind.START:
        return None
    name = _TOP_LEVEL_NAME.fullmatch(config.fields.session_id)
    return top_level_scalar(content[:SCAN_LIMIT], name.group(1)) if name else None


def top_level_scalar(content: bytes, name: str) -> str | None:
    """The string or integer under key ``name`` of the outermost JSON object in ``content``."""
    key = json.dumps(name).encode()
    depth = 0
    for token in _TOKEN.finditer(content):
        text = token.group()
        if text in (b"{", b"["):
            depth += 1
        elif text in (b"}", b"]"):
            depth -= 1
        elif depth == 1 and text == key:
            value = _SCALAR_AFTER_KEY.match(content, token.end())
            if value is not None:
                found = json.loads(value.group(1))
                return str(found) if found != "" else None
    return None


def size_text(count: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{count} bytes"


class Body:
    """An answer's body as it arrives, chunk by chunk, kept only up to the configured cap."""

    def __init__(self, config: ClientConfig, call: Call, declared: str | None) -> None:
        self.config = config
        self.call = call
        self.limit = config.max_response_bytes
        self.declared = int(declared) if declared is not None and declared.isdigit() else None
        self._chunks: list[bytes] = []
        self.size = 0
        # Announced too large: read only what may name the session, then refuse it.
        self._stop = min(self.limit, SCAN_LIMIT) if self.too_large else self.limit

    @property
    def too_large(self) -> bool:
        return (self.declared is not None and self.declared > self.limit) or self.size > self.limit

    def add(self, chunk: bytes) -> bool:
        """Keep ``chunk``; False once enough is read (the rest is over the cap)."""
        self._chunks.append(chunk)
        self.size += len(chunk)
        return self.size <= self._stop

    def content(self, status: int) -> bytes:
        """The whole body; a ProtocolError naming the cap and its setting when it is over it."""
        content = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        if not self.too_large:
            return content
        size = self.declared if self.declared is not None else self.size
        over = f"of {size_text(size)}" if self.declared is not None else "of more than that"
        problem = (
            f"the answer ({status}) is larger than {size_text(self.limit)}, the most flowtest reads "
            f"(an answer {over}); if the API's answers are this large, raise max_response_bytes "
            "in [tool.flowtest] or FLOWTEST_MAX_RESPONSE_BYTES"
        )
        call = self.call
        raise ProtocolError(call.method, call.url, problem, started_id(self.config, call, content))


def check_response(call: Call, response: RawResponse, payload: Any) -> None:
    """Raise ApiError for any non-2xx answer."""
    if response.ok:
        return
    code, message = _error_fields(payload)
    if message is None and (payload is None or isinstance(payload, _Unread)) and response.content:
        message = response.content[:200].decode("utf-8", "replace").strip() or None
    raise ApiError(call.method, call.url, response.status, code, message, _retry_after(response.retry_after))


def _error_fields(payload: Any) -> tuple[str | None, str | None]:
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (str(code) if code is not None else None, str(message) if message is not None else None)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare for APIs; fall back to our own backoff


def unanswered(config: ClientConfig, call: Call, kind: str, detail: str, sent: bool) -> TransportError:
    """The error for a call that got no HTTP answer; ``kind``: one of errors.TRANSPORT_KINDS."""
    check_url = f"Is the service running at {config.base_url}? Check the base URL."
    cannot_connect = (f"cannot connect ({detail})", check_url)
    reason, hint = {
        "refused": ("connection refused", check_url),
        "dns": cannot_connect,
        "unreachable": cannot_connect,
        "connect": cannot_connect,
        "timeout": (
            f"no answer within {config.timeout:g}s",
            "Check the service, or raise the timeout (--flowtest-timeout, or timeout: in the scenario).",
        ),
        "cut": (
            f"the answer was cut off before its end ({detail})",
            "The server or a proxy in between closed the connection mid-answer; check its logs.",
        ),
        "reset": (
            f"the server closed the connection without a complete answer ({detail})",
            "The server or a proxy in between dropped the connection; check its logs.",
        ),
    }.get(kind, (detail, "Check the base URL and the network."))
    return TransportError(call.method, call.url, reason, hint, request_sent=sent, kind=kind)


_UNREACHABLE_ERRNOS = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN})


def connect_kind(exc: BaseException | None, depth: int = 0) -> str:
    """Why a connection could not be made, from the OS error anywhere in the chain: refused,
    dns (the host name does not resolve), unreachable (no route), else connect."""
    if exc is None or depth > 10:
        return "connect"
    named = _os_error_kind(exc)
    if named is not None:
        return named
    for inner in [*getattr(exc, "exceptions", ()), getattr(exc, "os_error", None)]:
        found = connect_kind(inner, depth + 1)
        if found != "connect":
            return found
    if "refused" in str(exc).lower():  # wrapped without its errno
        return "refused"
    return connect_kind(exc.__cause__ or exc.__context__, depth + 1)


def _os_error_kind(exc: BaseException) -> str | None:
    """The kind an OS error says by its type or errno, else None."""
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, socket.gaierror):
        return "dns"
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS:
        return "unreachable"
    return None


def httpx_failure(config: ClientConfig, call: Call, exc: httpx.TransportError) -> TransportError:
    import httpx

    unsent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    if isinstance(exc, httpx.ConnectError):
        return unanswered(config, call, connect_kind(exc), str(exc), sent=False)
    if isinstance(exc, httpx.ConnectTimeout) and connect_kind(exc) == "refused":
        return unanswered(config, call, "refused", str(exc), sent=False)
    if isinstance(exc, httpx.TimeoutException):
        return unanswered(config, call, "timeout", str(exc), sent=not unsent)
    if isinstance(exc, httpx.RemoteProtocolError):
        return unanswered(config, call, "reset", str(exc), sent=True)
    return unanswered(config, call, "other", f"{type(exc).__name__}: {exc}", sent=not unsent)


def _field(config: ClientConfig, call: Call, payload: Any, path: str, setting: str) -> Any:
    found = compile_path(path)(payload)
    if not found:
        problem = f"the response has no value at {path} (set fields.{setting} if this API names it otherwise)"
        raise ProtocolError(call.method, call.url, problem)
    return found[0]


def _status(config: ClientConfig, call: Call, payload: Any) -> str:
    status = _field(config, call, payload, config.fields.status, "status")
    if status not in STATUSES:
        known = ", ".join(STATUSES)
        raise ProtocolError(call.method, call.url, f"unknown session status {status!r} (known: {known})")
    return str(status)


def _session_id(config: ClientConfig, call: Call, payload: Any) -> str:
    value = _field(config, call, payload, config.fields.session_id, "session_id")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        problem = f"the session id at {config.fields.session_id} is {json.dumps(value)}, not an id"
        raise ProtocolError(call.method, call.url, problem)
    return str(value)


def parse_turn(config: ClientConfig, call: Call, payload: Any) -> TurnResult:
    session_id = _session_id(config, call, payload)
    try:
        messages = _field(config, call, payload, config.fields.messages, "messages")
        if not isinstance(messages, list):
            raise ProtocolError(call.method, call.url, f"{config.fields.messages} is not a list")
        status = _status(config, call, payload)
    except ProtocolError as exc:
        # The id was readable: whoever started this session can still end it.
        raise ProtocolError(call.method, call.url, exc.problem, session_id) from None
    text_of = compile_path(config.fields.message_text)
    parsed = tuple(_message(item, text_of) for item in messages)
    transfer = compile_path(config.fields.transfer)(payload)
    transfer_value = transfer[0] if transfer and isinstance(transfer[0], dict) else None
    return TurnResult(session_id, status, parsed, transfer_value, payload)


def _message(item: Any, text_of: Callable[[Any], list[Any]]) -> Message:
    if item is None:  # kept, like every message, but it has no text: not the word "None"
        return Message("null", None, {"value": None})
    if not isinstance(item, dict):
        return Message("text", str(item), {"value": item})
    found = text_of(item)
    text = str(found[0]) if found and found[0] is not None else None
    return Message(str(item.get("type", "text")), text, item)


def parse_session(config: ClientConfig, call: Call, payload: Any) -> SessionInfo:
    session_id = _session_id(config, call, payload)
    variables = _field(config, call, payload, config.fields.variables, "variables")
    if not isinstance(variables, dict):
        raise ProtocolError(call.method, call.url, f"{config.fields.variables} is not an object")
    metadata = compile_path(config.fields.metadata)(payload)
    meta = metadata[0] if metadata and isinstance(metadata[0], dict) else {}
    return SessionInfo(session_id, _status(config, call, payload), meta, variables, payload)


def parse_end(config: ClientConfig, call: Call, payload: Any) -> EndResult:
    readable = isinstance(payload, dict)
    found_id = compile_path(config.fields.session_id)(payload) if readable else []
    found_status = compile_path(config.fields.status)(payload) if readable else []
    session_id = str(found_id[0]) if found_id else ""
    status = str(found_status[0]) if found_status else "terminated"
    return EndResult(session_id, status, payload if isinstance(payload, dict) else {})


def exchange(
    config: ClientConfig,
    call: Call,
    started_at: float,
    duration: float,
    attempt: int,
    response: RawResponse | None,
    payload: Any,
    error: FlowtestError | None,
) -> Exchange:
    redactor = config.effective_redactor
    response_body = None
    if response is not None and payload is not None and not isinstance(payload, _Unread):
        response_body = shown_body(redactor, payload, response.content)
    return Exchange(
        method=call.method,
        url=redactor.text(call.url),
        request_headers=config.recorded_headers[call.body is not None],
        request_body=shown_body(redactor, call.body, call.content),
        status=response.status if response is not None else None,
        response_body=response_body,
        started_at=started_at,
        duration=duration,
        attempt=attempt,
        error=redactor.text(str(error)) if error is not None else None,
        error_kind=error.kind if isinstance(error, TransportError) else None,
    )
