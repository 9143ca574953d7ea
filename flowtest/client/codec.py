"""JSON to and from bytes, as requests are sent and answers kept: orjson, json where it refuses."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """``value`` as compact JSON bytes, sized to their length.

    orjson's bytes keep the 4 KB buffer they were written in (100,000 small bodies held
    393 MB, their copies 7 MB): whatever is kept past the call is copied to its size.
    """
    try:
        return memoryview(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)).tobytes()
    except (orjson.JSONEncodeError, TypeError):  # an integer beyond 64 bits: json writes it
        return json.dumps(value).encode()


def loads(content: bytes) -> Any:
    """The value of a JSON text; ValueError when it is none."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        pass
    # What orjson refuses and json reads: NaN, integers beyond 64 bits, UTF-16.
    return json.loads(content)
