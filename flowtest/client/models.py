"""What the client is configured with and what it returns: frozen values only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from flowtest import __version__
from flowtest.client import codec
from flowtest.contract import STATUSES, TERMINAL_STATUSES  # noqa: F401  (re-exported)
from flowtest.errors import ConfigError
from flowtest.redact import Redactor, masked_url, url_secrets


@dataclass(frozen=True)
class FieldPaths:
    """Where a response keeps each field; a deployment that names them otherwise reconfigures these."""

    session_id: str = "$.sessionId"
    status: str = "$.status"
    messages: str = "$.messages"
    message_text: str = "text"
    variables: str = "$.variables"
    metadata: str = "$.metadata"
    transfer: str = "$.transfer"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff; Retry-After wins when the server sends it."""

    max_attempts: int = 4
    initial_backoff: float = 0.2
    max_backoff: float = 5.0
    max_total_wait: float = 30.0


DEFAULT_MAX_RESPONSE_BYTES = 16 << 20


def base_url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as the API's base URL, in words that do not repeat its secrets."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        return (
            f"{masked_url(url)} holds a user name or password: flowtest sends the API key "
            "(FLOWTEST_API_KEY) in a header instead; remove them from the URL"
        )
    return None


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    org: str
    api_key: str | None = field(default=None, repr=False)
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    timeout: float = 30.0
    fields: FieldPaths = FieldPaths()
    retry: RetryPolicy = RetryPolicy()
    redactor: Redactor = Redactor()
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES  # a larger answer fails, unread

    def __post_init__(self) -> None:
        problem = base_url_problem(self.base_url)
        if problem is not None:
            raise ConfigError(f"the base URL {problem}")

    @cached_property
    def auth_headers(self) -> Mapping[str, str]:
        if not self.api_key:
            return {}
        value = f"{self.auth_scheme} {self.api_key}" if self.auth_scheme else self.api_key
        return {self.auth_header: value}

    @cached_property
    def headers(self) -> tuple[Mapping[str, str], Mapping[str, str]]:
        """The request headers without and with a JSON body: built once, shared, never changed."""
        plain = {"Accept": "application/json", "User-Agent": f"flowtest/{__version__}"}
        with_body = {**plain, "Content-Type": "application/json"}
        return (
            MappingProxyType({**plain, **self.auth_headers}),
            MappingProxyType({**with_body, **self.auth_headers}),
        )

    @cached_property
    def recorded_headers(self) -> tuple[Mapping[str, str], Mapping[str, str]]:
        """``headers`` as exchanges record them, the key masked."""
        redactor = self.effective_redactor
        return (
            MappingProxyType(redactor.headers(self.headers[0])),
            MappingProxyType(redactor.headers(self.headers[1])),
        )

    @cached_property
    def effective_redactor(self) -> Redactor:
        """The configured redactor plus this client's auth header and key (computed once)."""
        extra = Redactor(
            self.redactor.secret_values,
            self.redactor.secret_keys,
            self.redactor.secret_headers | {self.auth_header.lower()},
        )
        return extra.with_values([self.api_key, *url_secrets(self.base_url)])


@dataclass(frozen=True, slots=True)
class Message:
    type: str
    text: str | None
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class TurnResult:
    """What Start Session or Send Message returned: one turn of the conversation."""

    session_id: str
    status: str
    messages: tuple[Message, ...]
    transfer: Mapping[str, Any] | None
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(m.text for m in self.messages if m.text is not None)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What Get Session returned."""

    session_id: str
    status: str
    metadata: Mapping[str, Any]
    variables: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class EndResult:
    session_id: str
    status: str
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Exchange:
    """One HTTP attempt as the reports show it: secrets already redacted.

    The bodies are the JSON bytes that went over the wire (re-encoded only where a secret
    was masked), parsed when a report asks: with thousands of conversations in flight,
    parsed bodies were the largest part of their traces.
    """

    method: str
    url: str
    request_headers: Mapping[str, str]
    request_body: bytes | None  # JSON; None for a call without a body
    status: int | None
    response_body: bytes | None  # JSON; None when the answer had no JSON body (or no answer)
    started_at: float
    duration: float
    attempt: int = 1
    error: str | None = None
    error_kind: str | None = None  # a call with no HTTP answer: its errors.TRANSPORT_KINDS kind

    @property
    def request_json(self) -> Any:
        return None if self.request_body is None else codec.loads(self.request_body)

    @property
    def response_json(self) -> Any:
        return None if self.response_body is None else codec.loads(self.response_body)

    def redacted(self, redactor: Redactor) -> Exchange:
        """The same exchange with ``redactor``'s secrets masked too."""
        return replace(
            self,
            url=redactor.text(self.url),
            request_body=shown_body(redactor, self.request_json, self.request_body),
            response_body=shown_body(redactor, self.response_json, self.response_body),
            error=redactor.text(self.error) if self.error else None,
        )


def shown_body(redactor: Redactor, value: Any, content: bytes | None) -> bytes | None:
    """The JSON of ``value`` as a report shows it: ``content`` as it went over the wire, unless
    ``redactor`` masks a secret in it."""
    if content is None:
        return None
    shown = redactor.value(value)
    return content if shown is value else codec.dumps(shown)
