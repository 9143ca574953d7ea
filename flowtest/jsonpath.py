"""JSONPath evaluation with a fast path for the plain ``$.a.b`` paths that most checks use."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext.parser import parse as parse_extended

Finder = Callable[[Any], list[Any]]
_SIMPLE = re.compile(r"^\$((\.[A-Za-z_][A-Za-z0-9_-]*)*)$")


class JsonPathSyntaxError(ValueError):
    """A JSONPath expression that does not parse; the message says where."""


@cache
def compile_path(expression: str) -> Finder:
    """A function returning every value the expression finds (an empty list for none)."""
    text = expression.strip()
    if not text.startswith("$"):
        text = "$." + text
    simple = _SIMPLE.match(text)
    if simple is not None:
        return _walker(tuple(part for part in simple.group(1).split(".") if part))
    try:
        parsed = parse_extended(text)
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:
        raise JsonPathSyntaxError(f"invalid JSONPath '{expression}': {exc}") from None
    return lambda data: [match.value for match in parsed.find(data)]


def _walker(keys: tuple[str, ...]) -> Finder:
    def find(data: Any) -> list[Any]:
        for key in keys:
            if not isinstance(data, dict) or key not in data:
                return []
            data = data[key]
        return [data]

    return find


def check_syntax(expression: str) -> str | None:
    """None when the expression parses, else the reason."""
    try:
        compile_path(expression)
    except JsonPathSyntaxError as exc:
        return str(exc)
    return None
