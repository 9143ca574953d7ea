"""Matchers of JSON values: equality (deep too), comparisons, types, existence, length."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flowtest.matchers.base import BuildContext, Described, Matcher, MatcherKind, Takes, show
from flowtest.templating import Bindings, render

JSON_TYPES: dict[str, Callable[[Any], bool]] = {
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


@dataclass(frozen=True, slots=True)
class Equals(Described):
    """A plain value: equal, JSON types included (1 is not true, "1" is not 1)."""

    expected: Any

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        expected = render(self.expected, bindings)
        if found and json_equal(expected, actual):
            return None
        return self.describe(bindings) + (_type_hint(expected, actual) if found else "")

    def describe(self, bindings: Bindings) -> str:
        return show(render(self.expected, bindings))

    def title(self, bindings: Bindings) -> str:
        return f"== {self.describe(bindings)}"


def _type_hint(expected: Any, actual: Any) -> str:
    """The same value in another JSON type: "4711" against 4711, a quoted true."""
    if isinstance(expected, str) and not isinstance(actual, str) and expected == show(actual):
        return f" (the value is {show(actual)}, not the text {show(expected)}: write it without quotes)"
    if isinstance(actual, str) and not isinstance(expected, str) and show(expected) == actual:
        return f" (the value is the text {show(actual)}: write it in quotes)"
    return ""


@dataclass(frozen=True, slots=True)
class DeepEquals(Described):
    expected: Any
    ignore_order: bool = False

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        expected = render(self.expected, bindings)
        if not found:
            return self.describe(bindings)
        from deepdiff import DeepDiff  # imported by the first equals: check that runs, not by every run

        diff = DeepDiff(expected, actual, ignore_order=self.ignore_order, ignore_numeric_type_changes=True)
        if not diff:
            return None
        details = str(diff.pretty()).replace("root", "value")
        return f"{self.describe(bindings)}\n  differences:\n    " + details.replace("\n", "\n    ")

    def describe(self, bindings: Bindings) -> str:
        order = " (in any order)" if self.ignore_order else ""
        return f"equals {show(render(self.expected, bindings))}{order}"


_COMPARISONS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "gt": (">", lambda a, b: a > b),
    "gte": (">=", lambda a, b: a >= b),
    "lt": ("<", lambda a, b: a < b),
    "lte": ("<=", lambda a, b: a <= b),
}


@dataclass(frozen=True, slots=True)
class Compare(Described):
    operator: str
    bound: float

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        number = JSON_TYPES["number"](actual)
        if found and number and _COMPARISONS[self.operator][1](actual, self.bound):
            return None
        return self.describe(bindings)

    def describe(self, bindings: Bindings) -> str:
        return f"{_COMPARISONS[self.operator][0]} {show(self.bound)}"


@dataclass(frozen=True, slots=True)
class TypeIs(Described):
    json_type: str

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        return None if found and JSON_TYPES[self.json_type](actual) else self.describe(bindings)

    def describe(self, bindings: Bindings) -> str:
        return f"of type {self.json_type}"


@dataclass(frozen=True, slots=True)
class Exists(Described):
    expected: bool

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        return None if found == self.expected else self.describe(bindings)

    def describe(self, bindings: Bindings) -> str:
        return "exists" if self.expected else "does not exist"


@dataclass(frozen=True, slots=True)
class Length(Described):
    inner: Matcher

    def parts(self) -> tuple[Matcher, ...]:
        return (self.inner,)

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        # A many-valued JSONPath that finds nothing gives [] (not found), whose length is 0.
        sized = isinstance(actual, (str, list, dict)) and (found or actual == [])
        if sized and self.inner.check(len(actual), True, bindings) is None:
            return None
        return self.describe(bindings)

    def describe(self, bindings: Bindings) -> str:
        return f"length {self.inner.describe(bindings)}"


def json_equal(expected: Any, actual: Any) -> bool:
    """Equal as JSON: true is not 1 (Python says it is), 1 is 1.0, lists in order, objects by key."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return expected == actual
    if type(expected) is not type(actual):
        return False
    if isinstance(expected, list):
        return _lists_equal(expected, actual)
    if isinstance(expected, dict):
        return _objects_equal(expected, actual)
    return bool(expected == actual)


def _lists_equal(expected: list[Any], actual: list[Any]) -> bool:
    return len(expected) == len(actual) and all(map(json_equal, expected, actual))


def _objects_equal(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    return expected.keys() == actual.keys() and all(json_equal(v, actual[k]) for k, v in expected.items())


def _compare(operator: str) -> MatcherKind:
    return MatcherKind(operator, lambda value, spec, context: Compare(operator, value), Takes.VALUE)


def _length(inner: Any, spec: Mapping[str, Any], context: BuildContext) -> Matcher:
    from flowtest.matchers import build  # the inner matcher may be any kind

    return Length(build(inner))


KINDS = (
    *(_compare(operator) for operator in _COMPARISONS),
    MatcherKind("type", lambda value, spec, context: TypeIs(value), Takes.VALUE),
    MatcherKind("exists", lambda value, spec, context: Exists(value), Takes.VALUE),
    MatcherKind("length", _length, Takes.VALUE_MATCHER),
)
