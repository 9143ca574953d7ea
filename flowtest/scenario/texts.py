"""Texts are sent as written: a plain scalar in a text position keeps the text the designer typed.

YAML reads ``012345`` as the number 5349 (octal), ``12:30`` as 750 (base 60), ``3.10``
as 3.1 and ``true`` as a boolean. Where the scenario format wants a text (``user``,
``reason``, a plain-scalar ``bot``, the text of a text matcher), the source text that
``yamlsource`` kept for such scalars replaces the value, before the schema sees it.
Variable matchers keep their JSON types.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowtest.matchers import MATCHERS, Takes
from flowtest.yamlsource import Document, JsonPath

_VALUE_CHECKS = frozenset({"variables", "message", "turn"})  # JSONPATH: MATCHER over JSON values
_STEP_LISTS = frozenset({"conversation", "goal"})
_REPLY_TEXTS = frozenset({"say", "press", "reason"})


def as_written(document: Document) -> Document:
    """The document with every text position holding its source text (changed in place)."""
    for at, text in document.written.items():
        if is_text_position(at):
            _set(document.data, at, text)
    return document


def is_text_position(at: JsonPath) -> bool:
    if at[:1] == ("caller",):
        return _in_caller(at[1:])
    return len(at) >= 3 and at[0] in _STEP_LISTS and isinstance(at[1], int) and _in_step(at[2], at[3:])


def _in_step(key: str | int, rest: JsonPath) -> bool:
    """Whether ``rest`` under a step's ``key`` is a text."""
    if key in ("user", "reason"):
        return not rest
    if key == "bot":
        return _in_matcher(rest[1:] if rest and isinstance(rest[0], int) else rest, text=True)
    if key in _VALUE_CHECKS:
        return len(rest) >= 1 and _in_matcher(rest[1:], text=False)
    return False


def _in_caller(at: JsonPath) -> bool:
    """A fact's value, a reply's text (say, press, reason) and a rule's text matcher are texts."""
    if len(at) == 2 and at[0] == "facts":
        return True
    if at[:1] == ("otherwise",):
        return len(at) == 2 and at[1] in _REPLY_TEXTS
    if len(at) < 3 or at[0] != "rules" or not isinstance(at[1], int):
        return False
    return _in_when(at[3:]) if at[2] == "when" else at[2] in _REPLY_TEXTS and len(at) == 3


def _in_when(rest: JsonPath) -> bool:
    """A ``when``: a text matcher, or ``message:`` checks over JSON values."""
    if rest[:1] == ("message",):
        return len(rest) >= 2 and _in_matcher(rest[2:], text=False)
    return _in_matcher(rest, text=True)


def _in_matcher(rest: JsonPath, text: bool) -> bool:
    """Whether ``rest``, a path inside a matcher, is a text (``text``: the matcher checks a text)."""
    if not rest:
        return text
    head = rest[0]
    kind = MATCHERS.get(head) if isinstance(head, str) else None
    if kind is None:
        return False
    return _TEXT_INSIDE[kind.takes](rest[1:], text)


def _the_text(tail: JsonPath, text: bool) -> bool:
    return not tail


def _a_text_when_checking_text(tail: JsonPath, text: bool) -> bool:
    return text and not tail


def _a_text_or_each_text(tail: JsonPath, text: bool) -> bool:
    return not tail or (len(tail) == 1 and isinstance(tail[0], int))


def _in_each_matcher(tail: JsonPath, text: bool) -> bool:
    return bool(tail) and isinstance(tail[0], int) and _in_matcher(tail[1:], text)


def _no_text(tail: JsonPath, text: bool) -> bool:
    return False


# What each kind of matcher takes, and where below its key a text stands (``tail``: the path
# after the key). Values, and matchers of values (length), hold no text. Every Takes has its
# line: a new one must say where its texts are, or `contains: 012` would become the number 10.
_TEXT_INSIDE: dict[Takes, Callable[[JsonPath, bool], bool]] = {
    Takes.TEXT: _the_text,
    Takes.TEXT_OR_VALUE: _a_text_when_checking_text,
    Takes.TEXTS: _a_text_or_each_text,
    Takes.MATCHERS: _in_each_matcher,
    Takes.MATCHER: _in_matcher,
    Takes.VALUE: _no_text,
    Takes.VALUE_MATCHER: _no_text,
}


def _set(data: Any, at: JsonPath, value: str) -> None:
    for part in at[:-1]:
        data = data[part]
    data[at[-1]] = value
