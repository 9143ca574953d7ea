"""JSON to and from bytes, as requests are sent and answers kept: orjson, json where it refuses."""

from __future__ import annotations

import json
from typing import Any

import orjson

# The deepest nesting flowtest reads: what orjson writes back (answers go into reports).
# Deeper JSON breaks every encoder down the line (orjson refuses it, json recurses).
MAX_DEPTH = 254


class TooDeep(ValueError):
    """A JSON text nested deeper than flowtest reads."""

    def __init__(self) -> None:
        super().__init__(f"JSON nested deeper than {MAX_DEPTH} levels")


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
    """The value of a JSON text; ValueError when it is none, TooDeep when it nests too deep."""
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError:
        value = _loads_with_json(content)
    if content.count(b"[") + content.count(b"{") > MAX_DEPTH:  # else it cannot nest that deep
        _check_depth(value)
    return value


def _loads_with_json(content: bytes) -> Any:
    # What orjson refuses and json reads: NaN, integers beyond 64 bits, UTF-16.
    try:
        return json.loads(content)
    except RecursionError:
        raise TooDeep from None


def _check_depth(value: Any) -> None:
    """TooDeep when orjson cannot write ``value`` back for its depth (C speed, unlike a walk)."""
    try:
        orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError as exc:
        if "recursion" in str(exc).lower():
            raise TooDeep from None
    except TypeError:
        pass  # an integer beyond 64 bits: not a matter of depth
