"""The embedded sandbox: a local server that speaks the Headless Flow Execution API contract."""

from __future__ import annotations

from flowtest.sandbox.server import DEFAULT_API_KEY, SandboxConfig, running_sandbox

__all__ = ["DEFAULT_API_KEY", "SandboxConfig", "running_sandbox"]
