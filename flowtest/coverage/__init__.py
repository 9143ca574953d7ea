"""What no scenario reaches: exact coverage of sandbox flows, and the observed inventory of a
deployment without flow graphs. See docs/coverage.md; the consumer is ``FlowCoverage``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowtest.coverage.consumer import CoverageVerdict, FlowCoverage


def __getattr__(name: str) -> Any:
    if name in ("FlowCoverage", "CoverageVerdict"):
        from flowtest.coverage import consumer

        return getattr(consumer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CoverageVerdict", "FlowCoverage"]
