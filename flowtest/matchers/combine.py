"""Matchers made of matchers: any of, all of, not."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flowtest.matchers.base import BuildContext, Described, Matcher, MatcherKind, Takes
from flowtest.matchers.patterns import GROUP, Regex
from flowtest.matchers.text import HINT
from flowtest.templating import Bindings


@dataclass(frozen=True, slots=True)
class AnyOf(Described):
    options: tuple[Matcher, ...]
    utterance: str | None = None  # the list {utterance: NAME} stood for, named in the words

    def parts(self) -> tuple[Matcher, ...]:
        return self.options

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        if any(option.check(actual, found, bindings) is None for option in self.options):
            return None
        # The first option that is a near miss gives its hint (case, spacing, punctuation).
        misses = (option.check(actual, found, bindings) or "" for option in self.options)
        hint = next((miss[miss.index(HINT) :] for miss in misses if HINT in miss), "")
        return self.describe(bindings) + hint

    def describe(self, bindings: Bindings) -> str:
        options = "any of: " + " | ".join(option.describe(bindings) for option in self.options)
        return options if self.utterance is None else f"a phrase of {self.utterance} ({options})"


@dataclass(frozen=True, slots=True)
class AllOf(Described):
    every: tuple[Matcher, ...]

    def parts(self) -> tuple[Matcher, ...]:
        return self.every

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        for part in self.every:
            mismatch = part.check(actual, found, bindings)
            if mismatch is not None:
                return mismatch  # the part that failed says most
        return None

    def describe(self, bindings: Bindings) -> str:
        return "all of: " + " & ".join(part.describe(bindings) for part in self.every)


@dataclass(frozen=True, slots=True)
class Not(Described):
    inner: Matcher

    def parts(self) -> tuple[Matcher, ...]:
        return (self.inner,)

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        return self.describe(bindings) if self.inner.check(actual, found, bindings) is None else None

    def describe(self, bindings: Bindings) -> str:
        return f"not {self.inner.describe(bindings)}"


@dataclass(frozen=True, slots=True)
class Includes(Described):
    """A list that has, for each matcher, an item matching it (in any order, among others)."""

    wanted: tuple[Matcher, ...]

    def parts(self) -> tuple[Matcher, ...]:
        return self.wanted

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        if not isinstance(actual, list):
            return self.describe(bindings)
        for matcher in self.wanted:
            if not any(matcher.check(item, True, bindings) is None for item in actual):
                return f"{self.describe(bindings)}: no item matches {matcher.describe(bindings)}"
        return None

    def describe(self, bindings: Bindings) -> str:
        return "a list that includes " + ", ".join(matcher.describe(bindings) for matcher in self.wanted)


def regex_matches(matcher: Matcher, actual: Any, bindings: Bindings) -> Iterator[re.Match[str]]:
    """The regex matches behind a passing matcher, for its named groups."""
    if isinstance(matcher, Regex) and isinstance(actual, str):
        found = matcher.search(actual, bindings)
        if found is not None:
            yield found
    elif isinstance(matcher, AllOf):
        for part in matcher.every:
            yield from regex_matches(part, actual, bindings)
    elif isinstance(matcher, AnyOf):
        passing = next((o for o in matcher.options if o.check(actual, True, bindings) is None), None)
        if passing is not None:
            yield from regex_matches(passing, actual, bindings)


def stored_names(matcher: Matcher) -> Iterator[str]:
    """The names a passing matcher would store (its regexes' named groups)."""
    if isinstance(matcher, Regex):
        yield from GROUP.findall(matcher.pattern)
    elif isinstance(matcher, AllOf):
        for part in matcher.every:
            yield from stored_names(part)
    elif isinstance(matcher, AnyOf):
        for option in matcher.options:
            yield from stored_names(option)


def _any_of(options: Any, spec: Mapping[str, Any], context: BuildContext) -> Matcher:
    from flowtest.matchers import build

    return AnyOf(tuple(build(option, context) for option in options), spec.get("utterance_list"))


def _all_of(parts: Any, spec: Mapping[str, Any], context: BuildContext) -> Matcher:
    from flowtest.matchers import build

    return AllOf(tuple(build(part, context) for part in parts))


def _not(inner: Any, spec: Mapping[str, Any], context: BuildContext) -> Matcher:
    from flowtest.matchers import build

    return Not(build(inner, context))


def _includes(wanted: Any, spec: Mapping[str, Any], context: BuildContext) -> Matcher:
    from flowtest.matchers import build

    return Includes(tuple(build(item, context) for item in wanted))


KINDS = (
    MatcherKind("any_of", _any_of, Takes.MATCHERS),
    MatcherKind("includes", _includes, Takes.MATCHERS),
    MatcherKind("all_of", _all_of, Takes.MATCHERS),
    MatcherKind("not", _not, Takes.MATCHER),
)
