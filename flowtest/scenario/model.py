"""A scenario as the runner sees it: frozen values built from a validated YAML document."""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flowtest.errors import Location
from flowtest.matchers import Matcher, TextMode


@dataclass(frozen=True, slots=True)
class Step:
    """What every step holds; each kind's own fields are in its module under flowtest/steps/."""

    where: str  # "step 4", as a designer counts in the file
    location: Location
    included_from: Location | None = field(default=None, kw_only=True)
    soft: bool = field(default=False, kw_only=True)  # a failed check is recorded and the run goes on


@dataclass(frozen=True, slots=True)
class ExpectedError:
    status: int
    code: str | None


@dataclass(frozen=True, slots=True)
class PathCheck:
    """A JSONPath and what its result must match (variables, message and turn checks)."""

    path: str
    matcher: Matcher
    location: Location


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    name: str | None = None
    type: str = "link"


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    flow: str
    path: str
    location: Location
    steps: tuple[Step, ...]
    flow_location: Location | None = None
    org: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    links: tuple[Link, ...] = ()
    start_variables: Mapping[str, Any] = field(default_factory=dict)
    start_metadata: Mapping[str, Any] = field(default_factory=dict)
    examples: tuple[Mapping[str, Any], ...] = ()
    example_locations: tuple[Location, ...] = ()  # where each row is written (a table file's line)
    # The lists that user steps send from, in order of first use; how to pick their phrases.
    utterances: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    utterance_mode: str = "all"
    strict: bool = True
    on_failure: str = "stop"  # continue: every check step is soft
    ignore_messages: frozenset[str] = frozenset()  # message types no step consumes (typing)
    text_match: TextMode = TextMode.EXACT
    retries: int = 0
    repeat: int = 1  # runs, each in a new session; the case passes when pass_rate of them pass
    pass_rate: float = 1.0
    weight: int = 1  # flowtest load: relative share of iterations; 0 keeps it out of load runs
    timeout: float | None = None
    skip: str | None = None
    xfail: str | None = None


@dataclass(frozen=True, slots=True)
class Case:
    """One scenario with one example row and one phrase per utterance list bound: what one test runs."""

    scenario: Scenario
    row: Mapping[str, Any] = field(default_factory=dict)
    row_id: str | None = None
    phrases: Mapping[str, str] = field(default_factory=dict)
    row_location: Location | None = None

    @property
    def name(self) -> str:
        return self.scenario.name if self.row_id is None else f"{self.scenario.name}[{self.row_id}]"

    @property  # the runner reads it once per conversation: a cache here would cost every case a dict
    def scenario_id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.scenario.name.lower()).strip("-")
        return slug if self.row_id is None else f"{slug}-{self.row_id}"


MAX_UTTERANCE_TESTS = 64


def cases_of(scenario: Scenario, seed: int = 0) -> list[Case]:
    """One case per example row and, under ``utterances: all``, per combination of phrases."""
    places = scenario.example_locations or (None,) * len(scenario.examples)
    rows: list[tuple[Mapping[str, Any], str | None, Location | None]] = [
        (row, str(row.get("id", index)), place)
        for index, (row, place) in enumerate(zip(scenario.examples, places, strict=True))
    ] or [({}, None, None)]
    choices = _phrase_choices(scenario, seed)
    cases = []
    for row, row_id, place in rows:
        for suffix, phrases in choices:
            parts = [part for part in (row_id, suffix) if part]
            cases.append(Case(scenario, row, "-".join(parts) if parts else None, phrases, place))
    return cases


PhraseChoice = tuple[str | None, dict[str, str]]  # (the case id's suffix, the phrase of each list)


def _phrase_choices(scenario: Scenario, seed: int) -> list[PhraseChoice]:
    if not scenario.utterances:
        return [(None, {})]
    choose = _PHRASE_MODES.get(scenario.utterance_mode, _every_combination)
    return choose(scenario, seed)


def _first_phrases(scenario: Scenario, seed: int) -> list[PhraseChoice]:
    return [(None, {name: phrases[0] for name, phrases in scenario.utterances.items()})]


def _random_phrases(scenario: Scenario, seed: int) -> list[PhraseChoice]:
    # One generator per scenario and list: the same seed picks the same phrase
    # whatever else is collected (-k, xdist workers, other files).
    return [
        (
            None,
            {
                name: random.Random(f"{seed}:{scenario.path}:{scenario.name}:{name}").choice(phrases)
                for name, phrases in scenario.utterances.items()
            },
        )
    ]


def _every_combination(scenario: Scenario, seed: int) -> list[PhraseChoice]:
    lists = scenario.utterances
    numbered = [
        [(f"{name}-{number}", phrase) for number, phrase in enumerate(phrases, 1)]
        for name, phrases in lists.items()
    ]
    names = list(lists)
    return [
        (
            "-".join(label for label, _ in combination),
            dict(zip(names, (p for _, p in combination), strict=True)),
        )
        for combination in itertools.product(*numbered)
    ]


# utterances: first / random / all (the default).
_PHRASE_MODES: dict[str, Callable[[Scenario, int], list[PhraseChoice]]] = {
    "first": _first_phrases,
    "random": _random_phrases,
    "all": _every_combination,
}
