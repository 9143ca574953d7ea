"""Matchers: what a bot message's text or a variable's value must be.

A matcher is built once from the scenario (names already validated by the schema)
and checked at run time, rendering its ``${...}`` templates with the run's bindings.
``check`` returns None on a match, else the expectation that failed, in words.

Every matcher key is one ``MatcherKind`` in ``MATCHERS``: its builder, what it takes
(the loader keeps texts as written from this), and the options beside it. A new
matcher is a class with ``check``, ``describe`` (and ``title`` where its step title
reads better shorter) plus its ``MatcherKind`` in one of this package's modules,
plus its key in the scenario schema (ARCHITECTURE.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, cast

from flowtest.matchers import combine, meaning, patterns, text, values
from flowtest.matchers.base import (
    TEXT_MODES,
    VALUES,
    BuildContext,
    Matcher,
    MatcherKind,
    Takes,
    TextMode,
    show,
)
from flowtest.matchers.combine import AllOf, AnyOf, Not, regex_matches, stored_names
from flowtest.matchers.patterns import (
    REGEX_TIMEOUT,
    PatternError,
    Regex,
    backtracking_risk,
    regex_group_names,
    templated_pattern_problem,
)
from flowtest.matchers.text import DEFAULT_FUZZY_THRESHOLD, Fuzzy, Text, loose_form, near_miss, text_mode
from flowtest.matchers.values import Compare, DeepEquals, Equals, Exists, Length, TypeIs
from flowtest.redact import Redactor
from flowtest.templating import Bindings

MATCHERS: dict[str, MatcherKind] = {
    kind.key: kind for module in (text, patterns, combine, values, meaning) for kind in module.KINDS
}
OPTIONS = frozenset(option for kind in MATCHERS.values() for option in kind.options)


def walk(matcher: Matcher) -> Iterator[Matcher]:
    """The matcher and every matcher it is made of."""
    yield matcher
    for part in matcher.parts():
        yield from walk(part)


def warmed(matchers: Iterable[Matcher]) -> tuple[Matcher, ...]:
    """The meaning matchers among these (however nested): they are warmed before checking."""
    found: list[Matcher] = []
    for matcher in matchers:  # a loop, not walk(): collection builds thousands of plain matchers
        if matcher.warms:
            found.append(matcher)
        parts = matcher.parts()
        if parts:
            found.extend(warmed(parts))
    return tuple(found)


async def warm(
    matchers: Sequence[Matcher], texts: Sequence[str], bindings: Bindings, secrets: Redactor
) -> None:
    """Embed, or ask the judge about, the texts these matchers are about to check."""
    for matcher in matchers:
        await cast(Any, matcher).warm(texts, bindings, secrets)


def matches(matcher: Matcher, actual: Any, bindings: Bindings) -> bool:
    """Whether ``matcher`` passes ``actual`` (found), without putting a failure into words where
    the matcher can say so cheaply (``passes``): a caller's rules try many texts that miss."""
    passes = getattr(matcher, "passes", None)
    if passes is not None:
        return bool(passes(actual, bindings))
    return matcher.check(actual, True, bindings) is None


def build(spec: Any, context: BuildContext = VALUES) -> Matcher:
    """A matcher from its (schema-valid) YAML form."""
    if not isinstance(spec, dict):
        if context.text and isinstance(spec, str):
            return Text("is", spec, context.text_mode)
        return Equals(spec)
    key = next(key for key in spec if key in MATCHERS)
    return MATCHERS[key].build(spec[key], spec, context)


__all__ = [
    "DEFAULT_FUZZY_THRESHOLD",
    "MATCHERS",
    "OPTIONS",
    "REGEX_TIMEOUT",
    "TEXT_MODES",
    "VALUES",
    "AllOf",
    "AnyOf",
    "BuildContext",
    "Compare",
    "DeepEquals",
    "Equals",
    "Exists",
    "Fuzzy",
    "Length",
    "Matcher",
    "MatcherKind",
    "Not",
    "PatternError",
    "Regex",
    "Takes",
    "Text",
    "TextMode",
    "TypeIs",
    "backtracking_risk",
    "build",
    "loose_form",
    "matches",
    "near_miss",
    "regex_group_names",
    "regex_matches",
    "show",
    "stored_names",
    "templated_pattern_problem",
    "text_mode",
    "walk",
    "warm",
    "warmed",
]
