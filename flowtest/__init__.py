"""flowtest: declarative tests for conversational flows behind a Headless Flow Execution API."""

from __future__ import annotations

import functools

DISTRIBUTION = "pytest-flowtest"  # the name on PyPI; the import package and the command are flowtest


@functools.cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


def __getattr__(name: str) -> str:
    # Looked up on first use: reading the installed metadata costs every pytest start ~20 ms,
    # and the plugin imports this package in suites that never ask for the version.
    if name == "__version__":
        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DISTRIBUTION", "__version__"]
