"""Durations as designers write them: ``250ms``, ``2s``, ``1.5s``, ``1m``, ``1h`` or bare seconds."""

from __future__ import annotations

import re

DURATION_PATTERN = r"^\s*(\d+(\.\d+)?|\.\d+)\s*(ms|s|m|h)?\s*$"
_DURATION = re.compile(DURATION_PATTERN)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: str | int | float) -> float:
    """Seconds for a duration; raises ValueError with a readable message."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 2s or 250ms, got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        return float(value)
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f"expected a duration such as 2s or 250ms, got {value!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(3)]


def format_duration(seconds: float) -> str:
    """Short human form: 850ms, 2.10s."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    return f"{seconds:.2f}s"
