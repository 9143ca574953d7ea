"""Matchers of a bot message's text: whole or in part, exactly, ignoring case, loosely, fuzzily.

A failed exact check that would pass under ``ignore_case`` or ``loose`` says which
difference it is (case, spacing, punctuation) and names the option.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain, combinations
from typing import Any

from flowtest.matchers.base import BuildContext, Described, Matcher, MatcherKind, Takes, TextMode, show
from flowtest.matchers.values import DeepEquals, json_equal
from flowtest.templating import Bindings, as_text, render

DEFAULT_FUZZY_THRESHOLD = 0.85
TEXT_OPTIONS = ("ignore_case", "loose")


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
_WHOLE = ("is", "equals")  # a "${x}" alone that renders to a number or a list: compared as JSON
MODE_WORDS = {TextMode.EXACT: "", TextMode.IGNORE_CASE: " (ignoring case)", TextMode.LOOSE: " (loose)"}


@dataclass(frozen=True, slots=True)
class Text(Described):
    """A text compared whole or in part (``op``), exactly, ignoring case, or in loose form."""

    op: str
    text: Any  # a string, maybe with ${...}; "${x}" alone may render to any JSON value
    mode: TextMode = TextMode.EXACT

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        if found and self.passes(actual, bindings):
            return None
        expected = render(self.text, bindings)
        if not found or not isinstance(actual, str) or (not isinstance(expected, str) and self.op in _WHOLE):
            return self.describe(bindings)
        expected, passes = as_text(expected), _TEXT_OPS[self.op][1]
        return self.describe(bindings) + near_miss(
            lambda fold: passes(fold(expected), fold(actual)), self.mode
        )

    def passes(self, actual: Any, bindings: Bindings) -> bool:
        """Whether it matches, without the words of a failure (a caller's rules try many texts)."""
        expected = render(self.text, bindings)
        if not isinstance(expected, str) and self.op in _WHOLE:
            return json_equal(expected, actual)
        if not isinstance(actual, str):
            return False
        fold = _FOLDS[self.mode]
        return _TEXT_OPS[self.op][1](fold(as_text(expected)), fold(actual))

    def describe(self, bindings: Bindings) -> str:
        return f"{_TEXT_OPS[self.op][0]}{show(render(self.text, bindings))}{MODE_WORDS[self.mode]}"

    def title(self, bindings: Bindings) -> str:
        # A plain expected text reads best without JSON quotes in a step title.
        plain = self.op == "is" and self.mode is TextMode.EXACT and isinstance(self.text, str)
        return self.text if plain else self.describe(bindings)


@dataclass(frozen=True, slots=True)
class Fuzzy(Described):
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
        return hint(["case"], TextMode.IGNORE_CASE)
    if mode is TextMode.LOOSE or not passes(loose_form):
        return ""
    return hint(_differences(passes, ignoring_case=mode is TextMode.IGNORE_CASE), TextMode.LOOSE)


_NFKC = "character forms (Unicode NFKC)"  # what is left when no named difference explains the miss
# (folds the check already applies, differences left to try): ignore_case has folded the case.
_AS_WRITTEN: tuple[tuple[Fold, ...], tuple[tuple[str, Fold], ...]] = ((), _DIFFERENCES)
_CASE_IGNORED = ((str.casefold,), tuple(each for each in _DIFFERENCES if each[0] != "case"))


def _differences(passes: Callable[[Fold], bool], ignoring_case: bool) -> list[str]:
    """The fewest kinds of difference (case, punctuation, spacing) that explain the miss."""
    given, candidates = _CASE_IGNORED if ignoring_case else _AS_WRITTEN
    for chosen in _fewest_first(candidates):
        if passes(_composed((*given, *(fold for _, fold in chosen)))):
            return [name for name, _ in chosen] or [_NFKC]
    return [_NFKC]


def _fewest_first(candidates: tuple[tuple[str, Fold], ...]) -> Iterator[tuple[tuple[str, Fold], ...]]:
    """Every combination of the candidates, the smaller first: none, each alone, each pair, ..."""
    return chain.from_iterable(combinations(candidates, size) for size in range(len(candidates) + 1))


def _composed(folds: tuple[Fold, ...]) -> Fold:
    def fold(text: str) -> str:
        text = unicodedata.normalize("NFKC", text)
        for each in folds:
            text = each(text)
        return text

    return fold


HINT = "\nhint: "


def hint(differences: list[str], mode: TextMode) -> str:
    kinds = (
        differences[0] if len(differences) == 1 else ", ".join(differences[:-1]) + " and " + differences[-1]
    )
    return (
        f"{HINT}the texts differ only in {kinds}; {mode.value}: true (or text_match: {mode.value}) accepts it"
    )


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


def _text(op: str) -> MatcherKind:
    return MatcherKind(
        op, lambda value, spec, context: Text(op, value, text_mode(spec, context)), Takes.TEXT, TEXT_OPTIONS
    )


def _fuzzy(value: Any, spec: Mapping[str, Any], context: BuildContext) -> Matcher:
    return Fuzzy(value, float(spec.get("threshold", DEFAULT_FUZZY_THRESHOLD)))


KINDS = (
    MatcherKind("equals", _equals, Takes.TEXT_OR_VALUE, (*TEXT_OPTIONS, "ignore_order")),
    *(_text(op) for op in ("contains", "starts_with", "ends_with")),
    MatcherKind("fuzzy", _fuzzy, Takes.TEXT, ("threshold",)),
)
