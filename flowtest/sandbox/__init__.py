"""The embedded sandbox: a local server that speaks the Headless Flow Execution API contract.

The package itself stays import-light: reading flow files (``flowtest validate``) or
naming the development key does not import the server (uvicorn, starlette).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Documented development key: the sandbox is for local use and binds to loopback by default.
DEFAULT_API_KEY = "flowtest-sandbox-key"
DEFAULT_PORT = 8765
# Sandbox-only, outside the contract's paths: what a run's sessions took (flowtest.coverage).
COVERAGE_PATH = "/_sandbox/coverage"

if TYPE_CHECKING:
    from flowtest.sandbox.server import SandboxConfig, running_sandbox


def __getattr__(name: str) -> Any:
    if name in ("SandboxConfig", "running_sandbox"):
        from flowtest.sandbox import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["COVERAGE_PATH", "DEFAULT_API_KEY", "DEFAULT_PORT", "SandboxConfig", "running_sandbox"]
