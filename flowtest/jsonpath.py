"""JSONPath evaluation with a fast path for the plain ``$.a.b`` paths that most checks use.

Checks read a path's result by one rule everywhere (variables, message, turn, save):
a path with a wildcard, slice, filter, union or recursive descent gives the list of
every value it finds, in order; any other path gives its one value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from flowtest.errors import FlowtestError

Finder = Callable[[Any], list[Any]]
_SIMPLE = re.compile(r"^\$((\.[A-Za-z_][A-Za-z0-9_-]*)*)$")
_MANY = frozenset({"Wildcard", "Slice", "Filter", "Descendants", "Union", "Where", "WhereNot", "SortedThis"})
_SHOWN = 300  # characters of a value shown when a path finds nothing


@dataclass(frozen=True)
class Found:
    """What a path gives a check: its value (a list for a many-valued path) and whether it found any."""

    value: Any
    found: bool


def query(expression: str, data: Any) -> Found:
    """The value the expression gives under the results rule (see the module's docstring)."""
    finder, many = _compiled(expression)
    values = finder(data)
    if many:
        return Found(values, bool(values))
    return Found(values[0], True) if values else Found(None, False)


_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(-?\d+)\]|\[['\"]([^'\"]*)['\"]\]")


def nothing_at(expression: str, data: Any) -> str:
    """What was there instead, for a path that found nothing: the nearest value above it."""
    text = _rooted(expression)
    steps = list(_STEP.finditer(text, 1))
    if sum(len(step.group(0)) for step in steps) != len(text) - 1:  # not a plain path of keys and indices
        return f"nothing (the whole value is {_short(data)})"
    value, reached = data, "$"
    for step in steps:
        below = _below(value, step)
        if below is _ABSENT:
            break
        value = below
        reached += step.group(0)
    return f"nothing ({reached} is {_short(value)})"


_ABSENT = object()  # not None: null is a value a path can reach


def _below(value: Any, step: re.Match[str]) -> Any:
    """The value one key or index down, or _ABSENT."""
    key, index, quoted = step.groups()
    if index is not None:
        position = int(index)
        found = isinstance(value, list) and -len(value) <= position < len(value)
        return value[position] if found else _ABSENT
    name = key if key is not None else quoted
    return value[name] if isinstance(value, dict) and name in value else _ABSENT


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _rooted(expression: str) -> str:
    """The expression as jsonpath-ng reads it: ``name.first`` is ``$.name.first``."""
    text = expression.strip()
    return text if text.startswith("$") else "$." + text


@cache
def _compiled(expression: str) -> tuple[Finder, bool]:
    text = _rooted(expression)
    if _SIMPLE.match(text) is not None:
        return compile_path(expression), False
    from jsonpath_ng.ext.parser import parse as parse_extended

    return compile_path(expression), _is_many(parse_extended(text))


def _is_many(node: Any) -> bool:
    kind = type(node).__name__
    if kind in _MANY:
        return True
    if kind == "Fields":
        return len(node.fields) != 1 or node.fields[0] == "*"
    if kind == "Index":
        return len(node.indices) != 1
    return any(_is_many(getattr(node, side)) for side in ("left", "right") if hasattr(node, side))


class JsonPathSyntaxError(FlowtestError, ValueError):
    """A JSONPath expression that does not parse; the message says where."""


@cache
def compile_path(expression: str) -> Finder:
    """A function returning every value the expression finds (an empty list for none)."""
    text = _rooted(expression)
    simple = _SIMPLE.match(text)
    if simple is not None:
        return _walker(tuple(part for part in simple.group(1).split(".") if part))
    # jsonpath-ng (and its parser generator) only for a path that is more than keys: the
    # response fields and most checks are plain, and a run need not import it.
    from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
    from jsonpath_ng.ext.parser import parse as parse_extended

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
