"""The ``regex`` matcher, with its cost bounded, and the checks ``validate`` runs on patterns."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from flowtest.errors import FlowtestError
from flowtest.matchers.base import BuildContext, Described, Matcher, MatcherKind, Takes, TextMode, show
from flowtest.matchers.text import MODE_WORDS, hint, text_mode
from flowtest.templating import Bindings, TemplateError, references, render_pattern
from flowtest.yamlsource import iter_paths

# The stdlib's regex parser, to tell a pattern's structure (renamed re._parser in 3.11).
sre_parse: Any = importlib.import_module("re._parser" if sys.version_info >= (3, 11) else "sre_parse")
REGEX_TIMEOUT = 1.0  # seconds one search may take; a real bot text takes microseconds


class PatternError(FlowtestError):
    """A scenario's regex that cannot run: invalid once templated, or too slow on the text."""


@dataclass(frozen=True, slots=True)
class Regex(Described):
    """A Python regex search; ``${NAME}`` inside the pattern is inserted literally (escaped)."""

    pattern: str
    mode: TextMode = TextMode.EXACT  # LOOSE is not offered: a pattern says what it tolerates

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        if not found or not isinstance(actual, str):
            return self.describe(bindings)
        pattern = render_pattern(self.pattern, bindings)
        if search(pattern, actual, self.mode) is not None:
            return None
        case_only = self.mode is TextMode.EXACT and search(pattern, actual, TextMode.IGNORE_CASE)
        return self.describe(bindings) + (hint(["case"], TextMode.IGNORE_CASE) if case_only else "")

    def passes(self, actual: Any, bindings: Bindings) -> bool:
        return isinstance(actual, str) and self.search(actual, bindings) is not None

    def search(self, actual: str, bindings: Bindings) -> re.Match[str] | None:
        return search(render_pattern(self.pattern, bindings), actual, self.mode)

    def describe(self, bindings: Bindings) -> str:
        return f"matches regex {_quoted(render_pattern(self.pattern, bindings))}{MODE_WORDS[self.mode]}"


def _quoted(pattern: str) -> str:
    """A pattern as the designer wrote it, in quotes: JSON's escapes would double every backslash
    (INC\\d+); JSON only when the pattern holds a quote or a line break of its own."""
    return f'"{pattern}"' if not any(c in pattern for c in '"\n\r') else show(pattern)


def search(pattern: str, text: str, mode: TextMode) -> re.Match[str] | None:
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
        found = _repeat_in(str(op), value, outer)
        if found is not None:
            return found
    return None


def _repeat_in(name: str, value: Any, outer: str | None) -> str | None:
    if name in ("MAX_REPEAT", "MIN_REPEAT"):
        _, high, body = value
        unbounded = high == sre_parse.MAXREPEAT
        if unbounded and outer is not None:
            return "an unbounded repeat inside another, such as (a+)+, can take exponential time"
        return _nested_repeat(body, "repeat" if unbounded else outer)
    if name == "SUBPATTERN":
        return _nested_repeat(value[-1], outer)
    if name == "BRANCH":
        return next((f for b in value[1] if (f := _nested_repeat(b, outer)) is not None), None)
    return None


GROUP = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")


def regex_group_names(spec: Any) -> Iterator[str]:
    """Named groups of every regex in a bot step's matchers (as written): they become ${NAME}s."""
    for at, value in iter_paths(spec):
        if at and at[-1] == "regex" and isinstance(value, str):
            yield from GROUP.findall(value)


def _regex(value: Any, spec: Mapping[str, Any], context: BuildContext) -> Matcher:
    mode = text_mode(spec, context)
    return Regex(value, TextMode.IGNORE_CASE if mode is TextMode.LOOSE else mode)


KINDS = (
    MatcherKind("regex", _regex, Takes.TEXT, ("ignore_case",)),
)  # loose: a pattern says what it tolerates
