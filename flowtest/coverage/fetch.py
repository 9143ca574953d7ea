"""Ask a sandbox (embedded, or ``flowtest serve`` in another process) what a run's sessions took."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from flowtest.errors import FlowtestError
from flowtest.sandbox import COVERAGE_PATH

if TYPE_CHECKING:
    from flowtest.sandbox.app import SandboxApi

_TIMEOUT = 30.0
_PROBE_TIMEOUT = 3.0  # at the start of a run: a server that is slow to say is taken for no sandbox


class Source(Protocol):
    """Where a run asks what its sessions took."""

    def fetch(self) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class LocalSandbox:
    """The embedded sandbox, in this process: its answer without HTTP or JSON."""

    api: SandboxApi = field(repr=False)
    run_id: str

    def fetch(self) -> dict[str, Any] | None:
        return self.api.taken_paths(run_prefix(self.run_id))


def run_prefix(run_id: str) -> str:
    """The start of the metadata.externalSessionId flowtest gives each session of a run."""
    return f"flowtest-{run_id}-"


@dataclass(frozen=True)
class SandboxSource:
    """Where the run's sessions ran: the sandbox's URL, its API key, the run's id."""

    url: str
    api_key: str | None = field(repr=False)
    run_id: str
    timeout: float = _TIMEOUT

    @property
    def prefix(self) -> str:
        return run_prefix(self.run_id)

    def fetch(self) -> dict[str, Any] | None:
        """The sandbox's answer, or None where the server is no flowtest sandbox (a real deployment).

        One plain GET with the standard library: httpx's import and default client (its TLS
        context, for an http URL too) cost more than the rest of coverage at 1000 conversations."""
        import urllib.error
        import urllib.parse
        import urllib.request

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        query = urllib.parse.urlencode({"prefix": self.prefix})
        request = urllib.request.Request(f"{self.url.rstrip('/')}{COVERAGE_PATH}?{query}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # the run's own base URL
                content = answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 405):
                return None
            raise FlowtestError(f"coverage: the sandbox at {self.url} answered {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            why = getattr(exc, "reason", exc)
            raise FlowtestError(f"coverage: cannot ask the sandbox at {self.url} what ran: {why}") from None
        try:
            body = json.loads(content)
        except ValueError:
            return None
        return body if isinstance(body, dict) and "sessions" in body else None


def serves_coverage(url: str, api_key: str | None) -> bool:
    """Whether the API at ``url`` is a flowtest sandbox recording what sessions take: its flow
    graphs then say more than an observed inventory, which a run need not count. Anything else,
    or no answer in time, is no (the inventory is counted)."""
    try:
        return SandboxSource(url, api_key, "probe", _PROBE_TIMEOUT).fetch() is not None
    except FlowtestError:
        return False
