"""What every matcher is: the protocol, how it is built, and what its YAML key takes."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from flowtest.templating import Bindings


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
    services: Any = None  # the run's MeaningServices, for similar and judge (default: made on use)


VALUES = BuildContext()


def show(value: Any) -> str:
    """A value as JSON, the way the designer wrote it."""
    return json.dumps(value, ensure_ascii=False)


class Matcher(Protocol):
    """``check`` returns None on a match, else the expectation that failed, in words."""

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None: ...

    def describe(self, bindings: Bindings) -> str: ...

    def title(self, bindings: Bindings) -> str: ...

    def parts(self) -> tuple[Matcher, ...]: ...

    @property
    def warms(self) -> bool: ...


class Described:
    """A matcher whose step title is its description (most are), made of no other matchers."""

    __slots__ = ()
    # Whether the matcher needs ``warm(texts, bindings, secrets)`` awaited before ``check``
    # (an embedding, an LLM's answer): see matchers/meaning.py.
    warms = False

    def describe(self, bindings: Bindings) -> str:
        raise NotImplementedError

    def title(self, bindings: Bindings) -> str:
        return self.describe(bindings)

    def parts(self) -> tuple[Matcher, ...]:
        """The matchers it is made of (any_of's options, not's inner one...)."""
        return ()


class Takes(Enum):
    """What a matcher's key takes in the YAML: the loader keeps texts as written from this."""

    TEXT = "a text"
    TEXTS = "a text or a list of texts"
    TEXT_OR_VALUE = "a text in a bot step, a JSON value elsewhere"
    VALUE = "a JSON value"
    MATCHER = "a matcher"
    MATCHERS = "a list of matchers"
    VALUE_MATCHER = "a matcher of a number or value"


Builder = Callable[[Any, Mapping[str, Any], BuildContext], Matcher]


@dataclass(frozen=True)
class MatcherKind:
    """One matcher key: how its YAML becomes a matcher, what it takes, the options beside it."""

    key: str
    build: Builder
    takes: Takes
    options: tuple[str, ...] = ()
