"""One exception hierarchy; every message is written for the person running the tests."""

from __future__ import annotations

from dataclasses import dataclass


class FlowtestError(Exception):
    """Base of every error flowtest raises on purpose. ``str()`` is the user-facing message."""


class ConfigError(FlowtestError):
    """Configuration is missing or wrong (an option, an environment variable, pyproject)."""


class SemanticModelError(ConfigError):
    """The sentence-embedding model of `similar` cannot be loaded: not installed, or the
    `similar_model` setting names something that is not a model flowtest can run."""


@dataclass(frozen=True, slots=True)
class Location:
    """Where something stands in a file: 1-based line and column."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


class SourceError(FlowtestError):
    """A file (scenario, partial, flow) is not valid YAML or breaks its format."""

    def __init__(self, location: Location, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.detail = message


class ApiError(FlowtestError):
    """The API answered with an error status."""

    def __init__(
        self,
        method: str,
        url: str,
        status: int,
        code: str | None,
        message: str | None,
        retry_after: float | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.code = code
        self.api_message = message
        self.retry_after = retry_after
        detail = f" {code}" if code else ""
        said = f": {message}" if message else ""
        super().__init__(f"{method} {url} answered {status}{detail}{said}")


# What kind of failure a TransportError is. The first three say the API cannot be reached
# at all (nothing else will get through either); the rest can be one call's bad luck.
UNREACHABLE_KINDS = frozenset({"refused", "dns", "unreachable"})
TRANSPORT_KINDS = (*sorted(UNREACHABLE_KINDS), "connect", "timeout", "cut", "reset", "other")


class TransportError(FlowtestError):
    """No HTTP answer at all: connection refused, timeout, TLS, DNS. ``kind``: see TRANSPORT_KINDS."""

    def __init__(
        self,
        method: str,
        url: str,
        reason: str,
        hint: str,
        request_sent: bool = True,
        kind: str = "other",
    ) -> None:
        self.method = method
        self.request_sent = request_sent
        self.url = url
        self.reason = reason
        self.hint = hint
        self.kind = kind
        super().__init__(f"{method} {url} failed: {reason}. {hint}")

    @property
    def unreachable(self) -> bool:
        """The API cannot be reached at all (refused, unknown host, no route), not one call's fault."""
        return self.kind in UNREACHABLE_KINDS


class ProtocolError(FlowtestError):
    """The API answered 2xx, but with a body flowtest cannot read (unknown status, missing field)."""

    def __init__(self, method: str, url: str, problem: str, session_id: str | None = None) -> None:
        self.method = method
        self.url = url
        # The session the answer names, when one can be read: it must still be ended.
        self.session_id = session_id
        self.problem = problem
        super().__init__(f"{method} {url}: {problem}")


class LLMError(FlowtestError):
    """The LLM endpoint of `judge` or `persona:` failed; the message says what to change (key masked)."""


class LLMUnreachable(LLMError):
    """No answer at all: connection refused, DNS, reset, the server hung up."""


class LLMTimeout(LLMError):
    """The endpoint did not answer within judge_timeout."""


class LLMRefused(LLMError):
    """The endpoint answered with a non-2xx status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class LLMAnswerError(LLMError):
    """The endpoint answered 2xx, but flowtest cannot read the answer (not a completion, not a verdict)."""


class ReportedFailure(Exception):
    """A scenario's failure as reports show it: the designer's words, the category, the full text."""

    def __init__(self, headline: str, category: str | None, details: str, broken: bool) -> None:
        super().__init__(f"[{category}] {headline}" if category else headline)
        self.headline = headline
        self.category = category
        self.details = details
        self.broken = broken
