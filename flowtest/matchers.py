"""Matchers: what a bot message's text or a variable's value must be.

A matcher is built once from the scenario (names already validated by the schema)
and checked at run time, rendering its ``${...}`` templates with the run's bindings.
``check`` returns None on a match, else the expectation that failed, in words.

A new matcher is one class with ``check`` and ``describe`` plus one entry in
``BUILDERS`` (its key in the YAML -> a function of the key's value, the whole
mapping and the ``BuildContext``), plus its key in the scenario schema.
"""

from __future__ import annotations

import importlib
import json
import math
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from itertools import combinations
from typing import Any, Protocol, cast

from flowtest.errors import FlowtestError
from flowtest.templating import Bindings, TemplateError, as_text, references, render, render_pattern

Render = Callable[[Any], Any]
# The stdlib's regex parser, to tell a pattern's structure (renamed re._parser in 3.11).
sre_parse: Any = importlib.import_module("re._parser" if sys.version_info >= (3, 11) else "sre_parse")
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
DEFAULT_FUZZY_THRESHOLD = 0.85


class TextMode(str, Enum):
    """How a text matcher compares: the ``text_match`` key and setting, or a matcher's own option."""

    EXACT = "exact"
    IGNORE_CASE = "ignore_case"
    LOOSE = "loose"


TEXT_MODES = tuple(mode.value for mode in TextMode)


@dataclass(frozen=True)
class BuildContext:
    """What building a matcher depends on besides its own YAML.

    ``text``: the matcher applies to a message's text (a ``bot`` step), so a plain
    scalar is a text and ``text_mode`` is the default comparison of text matchers.
    Elsewhere (variables, JSONPath checks) plain values keep their JSON types.
    """

    text: bool = False
    text_mode: TextMode = TextMode.EXACT


VALUES = BuildContext()


def show(value: Any) -> str:
    """A value as JSON, the way the designer wrote it."""
    return json.dumps(value, ensure_ascii=False)


class Matcher(Protocol):
    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None: ...

    def describe(self, bindings: Bindings) -> str: ...


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class DeepEquals:
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


# -- text ------------------------------------------------------------------------------


def loose_form(text: str) -> str:
    """Case-folded, NFKC, punctuation removed, whitespace runs collapsed and trimmed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_without_punctuation(folded).split())


def _without_punctuation(text: str) -> str:
    if text.isalnum():
        return text
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))


def _identity(text: str) -> str:
    return text


_FOLDS: dict[TextMode, Callable[[str], str]] = {
    TextMode.EXACT: _identity,
    TextMode.IGNORE_CASE: str.casefold,
    TextMode.LOOSE: loose_form,
}
_TEXT_OPS: dict[str, tuple[str, Callable[[str, str], bool]]] = {
    # op: (words before the expected text, passes(expected, actual))
    "is": ("", lambda expected, actual: actual == expected),
    "equals": ("equals ", lambda expected, actual: actual == expected),
    "contains": ("contains ", lambda expected, actual: expected in actual),
    "starts_with": ("starts with ", lambda expected, actual: actual.startswith(expected)),
    "ends_with": ("ends with ", lambda expected, actual: actual.endswith(expected)),
}
_MODE_WORDS = {TextMode.EXACT: "", TextMode.IGNORE_CASE: " (ignoring case)", TextMode.LOOSE: " (loose)"}


@dataclass(frozen=True, slots=True)
class Text:
    """A text compared whole or in part (``op``), exactly, ignoring case, or in loose form."""

    op: str
    text: Any  # a string, maybe with ${...}; "${x}" alone may render to any JSON value
    mode: TextMode = TextMode.EXACT

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        expected = render(self.text, bindings)
        if not isinstance(expected, str) and self.op in ("is", "equals"):
            return None if found and _json_equal(expected, actual) else self.describe(bindings)
        expected = as_text(expected)
        if not found or not isinstance(actual, str):
            return self.describe(bindings)
        passes = _TEXT_OPS[self.op][1]
        if passes(_FOLDS[self.mode](expected), _FOLDS[self.mode](actual)):
            return None
        return self.describe(bindings) + near_miss(
            lambda fold: passes(fold(expected), fold(actual)), self.mode
        )

    def describe(self, bindings: Bindings) -> str:
        return f"{_TEXT_OPS[self.op][0]}{show(render(self.text, bindings))}{_MODE_WORDS[self.mode]}"


@dataclass(frozen=True, slots=True)
class Regex:
    """A Python regex search; ``${NAME}`` inside the pattern is inserted literally (escaped)."""

    pattern: str
    mode: TextMode = TextMode.EXACT  # LOOSE is not offered: a pattern says what it tolerates

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        if not found or not isinstance(actual, str):
            return self.describe(bindings)
        pattern = render_pattern(self.pattern, bindings)
        if _search(pattern, actual, self.mode) is not None:
            return None
        case_only = self.mode is TextMode.EXACT and _search(pattern, actual, TextMode.IGNORE_CASE)
        return self.describe(bindings) + (_hint(["case"], TextMode.IGNORE_CASE) if case_only else "")

    def search(self, actual: str, bindings: Bindings) -> re.Match[str] | None:
        return _search(render_pattern(self.pattern, bindings), actual, self.mode)

    def describe(self, bindings: Bindings) -> str:
        return f"matches regex {show(render_pattern(self.pattern, bindings))}{_MODE_WORDS[self.mode]}"


REGEX_TIMEOUT = 1.0  # seconds one search may take; a real bot text takes microseconds


class PatternError(FlowtestError):
    """A scenario's regex that cannot run: invalid once templated, or too slow on the text."""


def _search(pattern: str, text: str, mode: TextMode) -> re.Match[str] | None:
    """``re.search`` with its cost bounded: the ``regex`` engine stops after REGEX_TIMEOUT
    (``re`` cannot be stopped, nor interrupted by Ctrl-C), and releases the GIL meanwhile."""
    import regex  # by the first regex check, not by runs that have none

    flags = regex.IGNORECASE if mode is not TextMode.EXACT else 0
    try:
        found = regex.search(pattern, text, flags, timeout=REGEX_TIMEOUT, concurrent=True)
    except regex.error as exc:
        raise PatternError(f"regex {show(pattern)} is not a valid regex once templated: {exc}") from None
    except TimeoutError:
        raise PatternError(
            f"regex {show(pattern)} was stopped after {REGEX_TIMEOUT:g}s on a {len(text):,}-character "
            "text: it backtracks catastrophically (as (a|aa)+ can); rewrite it"
        ) from None
    return cast("re.Match[str] | None", found)


def templated_pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is no regex once its ``${...}`` are empty texts (``[${x}]``), or None."""
    names = list(references(pattern))
    if not names:
        return None
    values = {name.partition(".")[0]: "" for name in names}
    env = {name.partition(".")[2]: "" for name in names if name.startswith("env.")}
    try:
        re.compile(render_pattern(pattern, Bindings(values, env)))
    except TemplateError:
        return None  # a dotted name: its value cannot be guessed
    except re.error as exc:
        empty = ", ".join(f"${{{name}}}" for name in dict.fromkeys(names))
        return f"is not a valid regex when {empty} is empty: {exc}"
    return None


def backtracking_risk(pattern: str) -> str | None:
    """Why ``pattern`` may take exponential time (an unbounded repeat inside another), or None."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return None  # the schema reports invalid patterns
    return _nested_repeat(parsed, outer=None)


def _nested_repeat(items: Any, outer: str | None) -> str | None:
    for op, value in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT"):
            _, high, body = value
            unbounded = high == sre_parse.MAXREPEAT
            if unbounded and outer is not None:
                return "an unbounded repeat inside another, such as (a+)+, can take exponential time"
            found = _nested_repeat(body, "repeat" if unbounded else outer)
        elif name == "SUBPATTERN":
            found = _nested_repeat(value[-1], outer)
        elif name == "BRANCH":
            found = next((f for b in value[1] if (f := _nested_repeat(b, outer)) is not None), None)
        else:
            found = None
        if found is not None:
            return found
    return None


@dataclass(frozen=True, slots=True)
class Fuzzy:
    """Similarity of the loose forms: 1 - Levenshtein distance / length of the longer one."""

    text: str
    threshold: float = DEFAULT_FUZZY_THRESHOLD

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        if not found or not isinstance(actual, str):
            return self.describe(bindings)
        from rapidfuzz.distance import Levenshtein

        expected = loose_form(as_text(render(self.text, bindings)))
        score = Levenshtein.normalized_similarity(expected, loose_form(actual))
        if score >= self.threshold:
            return None
        # Rounded down, so that a score shown as 0.85 never fails a 0.85 threshold.
        return f"{self.describe(bindings)}, score {math.floor(score * 100) / 100:.2f}"

    def describe(self, bindings: Bindings) -> str:
        return f"fuzzy {show(render(self.text, bindings))} (similarity at least {self.threshold:g})"


Fold = Callable[[str], str]
_DIFFERENCES: tuple[tuple[str, Fold], ...] = (
    ("case", str.casefold),
    ("punctuation", _without_punctuation),  # before spacing: removing "-" from "a - b" leaves two spaces
    ("spacing", lambda text: " ".join(text.split())),
)


def near_miss(passes: Callable[[Fold], bool], mode: TextMode) -> str:
    """A hint naming the option, when a failed text check passes under a looser mode."""
    if mode is TextMode.EXACT and passes(str.casefold):
        return _hint(["case"], TextMode.IGNORE_CASE)
    if mode is TextMode.LOOSE or not passes(loose_form):
        return ""
    return _hint(_differences(passes, ignoring_case=mode is TextMode.IGNORE_CASE), TextMode.LOOSE)


def _differences(passes: Callable[[Fold], bool], ignoring_case: bool) -> list[str]:
    """The fewest kinds of difference (case, punctuation, spacing) that explain the miss."""
    candidates = [each for each in _DIFFERENCES if not (ignoring_case and each[0] == "case")]
    given: tuple[Fold, ...] = (str.casefold,) if ignoring_case else ()
    for size in range(len(candidates) + 1):
        for chosen in combinations(candidates, size):
            if passes(_composed((*given, *(fold for _, fold in chosen)))):
                return [name for name, _ in chosen] or ["character forms (Unicode NFKC)"]
    return ["character forms (Unicode NFKC)"]


def _composed(folds: tuple[Fold, ...]) -> Fold:
    def fold(text: str) -> str:
        text = unicodedata.normalize("NFKC", text)
        for each in folds:
            text = each(text)
        return text

    return fold


_HINT = "\nhint: "


def _hint(differences: list[str], mode: TextMode) -> str:
    kinds = (
        differences[0] if len(differences) == 1 else ", ".join(differences[:-1]) + " and " + differences[-1]
    )
    return (
        f"{_HINT}the texts differ only in {kinds}; "
        f"{mode.value}: true (or text_match: {mode.value}) accepts it"
    )


# -- combinations ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnyOf:
    options: tuple[Matcher, ...]
    utterance: str | None = None  # the list {utterance: NAME} stood for, named in the words

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        if any(option.check(actual, found, bindings) is None for option in self.options):
            return None
        # The first option that is a near miss gives its hint (case, spacing, punctuation).
        misses = (option.check(actual, found, bindings) or "" for option in self.options)
        hint = next((miss[miss.index(_HINT) :] for miss in misses if _HINT in miss), "")
        return self.describe(bindings) + hint

    def describe(self, bindings: Bindings) -> str:
        options = "any of: " + " | ".join(option.describe(bindings) for option in self.options)
        return options if self.utterance is None else f"a phrase of {self.utterance} ({options})"


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Matcher, ...]

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        for part in self.parts:
            mismatch = part.check(actual, found, bindings)
            if mismatch is not None:
                return mismatch  # the part that failed says most
        return None

    def describe(self, bindings: Bindings) -> str:
        return "all of: " + " & ".join(part.describe(bindings) for part in self.parts)


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class TypeIs:
    json_type: str

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        return None if found and _JSON_TYPES[self.json_type](actual) else self.describe(bindings)

    def describe(self, bindings: Bindings) -> str:
        return f"of type {self.json_type}"


@dataclass(frozen=True, slots=True)
class Exists:
    expected: bool

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        return None if found == self.expected else self.describe(bindings)

    def describe(self, bindings: Bindings) -> str:
        return "exists" if self.expected else "does not exist"


@dataclass(frozen=True, slots=True)
class Length:
    inner: Matcher

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        # A many-valued JSONPath that finds nothing gives [] (not found), whose length is 0.
        sized = isinstance(actual, (str, list, dict)) and (found or actual == [])
        if sized and self.inner.check(len(actual), True, bindings) is None:
            return None
        return self.describe(bindings)

    def describe(self, bindings: Bindings) -> str:
        return f"length {self.inner.describe(bindings)}"


# -- building --------------------------------------------------------------------------


def build(spec: Any, context: BuildContext = VALUES) -> Matcher:
    """A matcher from its (schema-valid) YAML form."""
    if not isinstance(spec, dict):
        return Text("is", spec, context.text_mode) if context.text and isinstance(spec, str) else Equals(spec)
    key = next(key for key in spec if key in BUILDERS)
    return BUILDERS[key](spec[key], spec, context)


def text_mode(spec: Mapping[str, Any], context: BuildContext) -> TextMode:
    """The matcher's own ignore_case / loose option, else the context's default."""
    if "loose" in spec or "ignore_case" in spec:
        if spec.get("loose"):
            return TextMode.LOOSE
        return TextMode.IGNORE_CASE if spec.get("ignore_case") else TextMode.EXACT
    return context.text_mode


def _equals(value: Any, spec: Mapping[str, Any], context: BuildContext) -> Matcher:
    if isinstance(value, str) and not spec.get("ignore_order"):
        return Text("equals", value, text_mode(spec, context))
    return DeepEquals(value, bool(spec.get("ignore_order", False)))


def _text(op: str) -> Callable[[Any, Mapping[str, Any], BuildContext], Matcher]:
    return lambda value, spec, context: Text(op, value, text_mode(spec, context))


def _regex(value: Any, spec: Mapping[str, Any], context: BuildContext) -> Matcher:
    mode = text_mode(spec, context)
    return Regex(value, TextMode.IGNORE_CASE if mode is TextMode.LOOSE else mode)


def _fuzzy(value: Any, spec: Mapping[str, Any], context: BuildContext) -> Matcher:
    return Fuzzy(value, float(spec.get("threshold", DEFAULT_FUZZY_THRESHOLD)))


def _compare(operator: str) -> Callable[[Any, Mapping[str, Any], BuildContext], Matcher]:
    return lambda value, spec, context: Compare(operator, value)


Builder = Callable[[Any, Mapping[str, Any], BuildContext], Matcher]
BUILDERS: dict[str, Builder] = {
    "equals": _equals,
    "contains": _text("contains"),
    "starts_with": _text("starts_with"),
    "ends_with": _text("ends_with"),
    "regex": _regex,
    "fuzzy": _fuzzy,
    "any_of": lambda options, spec, context: AnyOf(
        tuple(build(option, context) for option in options), spec.get("utterance_list")
    ),
    "all_of": lambda parts, spec, context: AllOf(tuple(build(part, context) for part in parts)),
    "not": lambda inner, spec, context: Not(build(inner, context)),
    **{operator: _compare(operator) for operator in _COMPARISONS},
    "type": lambda value, spec, context: TypeIs(value),
    "exists": lambda value, spec, context: Exists(value),
    "length": lambda inner, spec, context: Length(build(inner, VALUES)),
}


def regex_matches(matcher: Matcher, actual: Any, bindings: Bindings) -> Iterator[re.Match[str]]:
    """The regex matches behind a passing matcher, for its named groups."""
    if isinstance(matcher, Regex) and isinstance(actual, str):
        found = matcher.search(actual, bindings)
        if found is not None:
            yield found
    elif isinstance(matcher, AllOf):
        for part in matcher.parts:
            yield from regex_matches(part, actual, bindings)
    elif isinstance(matcher, AnyOf):
        passing = next((o for o in matcher.options if o.check(actual, True, bindings) is None), None)
        if passing is not None:
            yield from regex_matches(passing, actual, bindings)


_GROUP = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")


def stored_names(matcher: Matcher) -> Iterator[str]:
    """The names a passing matcher would store (its regexes' named groups)."""
    if isinstance(matcher, Regex):
        yield from _GROUP.findall(matcher.pattern)
    elif isinstance(matcher, AllOf):
        for part in matcher.parts:
            yield from stored_names(part)
    elif isinstance(matcher, AnyOf):
        for option in matcher.options:
            yield from stored_names(option)


def regex_group_names(spec: Any) -> Iterator[str]:
    """Named groups of every regex in a bot step's matchers: they become ${NAME}s."""
    if isinstance(spec, str):
        return
    if isinstance(spec, list):
        for item in spec:
            yield from regex_group_names(item)
    elif isinstance(spec, dict):
        for key, value in spec.items():
            if key == "regex" and isinstance(value, str):
                yield from _GROUP.findall(value)
            else:
                yield from regex_group_names(value)


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
