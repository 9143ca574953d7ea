"""Matchers: what a bot message's text or a variable's value must be.

A matcher is built once from the scenario (names already validated by the schema)
and checked at run time, rendering its ``${...}`` templates with the run's bindings.
``check`` returns None on a match, else the expectation that failed, in words.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from deepdiff import DeepDiff

from flowtest.templating import Bindings, render

Render = Callable[[Any], Any]
_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    ),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def show(value: Any) -> str:
    """A value as JSON, the way the designer wrote it."""
    return json.dumps(value, ensure_ascii=False)


class Matcher(Protocol):
    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None: ...

    def describe(self, bindings: Bindings) -> str: ...


@dataclass(frozen=True)
class Equals:
    """A plain value: equal, JSON types included (1 is not true, "1" is not 1)."""

    expected: Any

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        expected = render(self.expected, bindings)
        if found and _json_equal(expected, actual):
            return None
        return self.describe(bindings)

    def describe(self, bindings: Bindings) -> str:
        return show(render(self.expected, bindings))


@dataclass(frozen=True)
class DeepEquals:
    expected: Any
    ignore_order: bool = False

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        expected = render(self.expected, bindings)
        if not found:
            return self.describe(bindings)
        diff = DeepDiff(expected, actual, ignore_order=self.ignore_order, ignore_numeric_type_changes=True)
        if not diff:
            return None
        details = str(diff.pretty()).replace("root", "value")
        return f"{self.describe(bindings)}\n  differences:\n    " + details.replace("\n", "\n    ")

    def describe(self, bindings: Bindings) -> str:
        order = " (in any order)" if self.ignore_order else ""
        return f"equals {show(render(self.expected, bindings))}{order}"


@dataclass(frozen=True)
class Contains:
    text: str

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        needle = str(render(self.text, bindings))
        ok = found and isinstance(actual, str) and needle in actual
        return None if ok else self.describe(bindings)

    def describe(self, bindings: Bindings) -> str:
        return f"contains {show(render(self.text, bindings))}"


@dataclass(frozen=True)
class Regex:
    pattern: str

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        pattern = str(render(self.pattern, bindings))
        ok = found and isinstance(actual, str) and re.search(pattern, actual) is not None
        return None if ok else self.describe(bindings)

    def describe(self, bindings: Bindings) -> str:
        return f"matches regex {show(render(self.pattern, bindings))}"


@dataclass(frozen=True)
class AnyOf:
    options: tuple[Matcher, ...]

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        if any(option.check(actual, found, bindings) is None for option in self.options):
            return None
        return self.describe(bindings)

    def describe(self, bindings: Bindings) -> str:
        return "any of: " + " | ".join(option.describe(bindings) for option in self.options)


@dataclass(frozen=True)
class Not:
    inner: Matcher

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        return self.describe(bindings) if self.inner.check(actual, found, bindings) is None else None

    def describe(self, bindings: Bindings) -> str:
        return f"not {self.inner.describe(bindings)}"


_COMPARISONS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "gt": (">", lambda a, b: a > b),
    "gte": (">=", lambda a, b: a >= b),
    "lt": ("<", lambda a, b: a < b),
    "lte": ("<=", lambda a, b: a <= b),
}


@dataclass(frozen=True)
class Compare:
    operator: str
    bound: float

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        number = _JSON_TYPES["number"](actual)
        if found and number and _COMPARISONS[self.operator][1](actual, self.bound):
            return None
        return self.describe(bindings)

    def describe(self, bindings: Bindings) -> str:
        return f"{_COMPARISONS[self.operator][0]} {show(self.bound)}"


@dataclass(frozen=True)
class TypeIs:
    json_type: str

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        return None if found and _JSON_TYPES[self.json_type](actual) else self.describe(bindings)

    def describe(self, bindings: Bindings) -> str:
        return f"of type {self.json_type}"


@dataclass(frozen=True)
class Exists:
    expected: bool

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        return None if found == self.expected else self.describe(bindings)

    def describe(self, bindings: Bindings) -> str:
        return "exists" if self.expected else "does not exist"


@dataclass(frozen=True)
class Length:
    inner: Matcher

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        sized = found and isinstance(actual, (str, list, dict))
        if sized and self.inner.check(len(actual), True, bindings) is None:
            return None
        return self.describe(bindings)

    def describe(self, bindings: Bindings) -> str:
        return f"length {self.inner.describe(bindings)}"


def build(spec: Any) -> Matcher:
    """A matcher from its (schema-valid) YAML form."""
    if not isinstance(spec, dict):
        return Equals(spec)
    if "equals" in spec:
        return DeepEquals(spec["equals"], bool(spec.get("ignore_order", False)))
    key, value = next(iter(spec.items()))
    if key in _COMPARISONS:
        return Compare(key, float(value) if isinstance(value, float) else value)
    return _BUILDERS[key](value)


_BUILDERS: dict[str, Callable[[Any], Matcher]] = {
    "contains": Contains,
    "regex": Regex,
    "any_of": lambda options: AnyOf(tuple(build(option) for option in options)),
    "not": lambda inner: Not(build(inner)),
    "type": TypeIs,
    "exists": Exists,
    "length": lambda inner: Length(build(inner)),
}


def _json_equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return expected == actual
    if type(expected) is not type(actual):
        return False
    if isinstance(expected, list):
        return len(expected) == len(actual) and all(map(_json_equal, expected, actual))
    if isinstance(expected, dict):
        return expected.keys() == actual.keys() and all(
            _json_equal(v, actual[k]) for k, v in expected.items()
        )
    return bool(expected == actual)
