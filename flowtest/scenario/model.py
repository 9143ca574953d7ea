"""A scenario as the runner sees it: frozen values built from a validated YAML document."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowtest.errors import Location
from flowtest.matchers import Matcher, TextMode


@dataclass(frozen=True)
class Step:
    where: str  # "conversation[3]", as a designer counts in the file
    location: Location
    included_from: Location | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class ExpectedError:
    status: int
    code: str | None


@dataclass(frozen=True)
class UserStep(Step):
    text: str
    within: float | None = None
    error: ExpectedError | None = None


@dataclass(frozen=True)
class TransferStep(Step):
    result: str
    reason: str | None = None
    within: float | None = None
    error: ExpectedError | None = None


@dataclass(frozen=True)
class BotStep(Step):
    matchers: tuple[Matcher, ...]


@dataclass(frozen=True)
class StatusStep(Step):
    statuses: tuple[str, ...]


@dataclass(frozen=True)
class VariableCheck:
    path: str
    matcher: Matcher
    location: Location


@dataclass(frozen=True)
class VariablesStep(Step):
    checks: tuple[VariableCheck, ...]


@dataclass(frozen=True)
class SaveStep(Step):
    targets: tuple[tuple[str, str], ...]  # (name, JSONPath)


@dataclass(frozen=True)
class WaitStep(Step):
    seconds: float


@dataclass(frozen=True)
class EndStep(Step):
    pass


@dataclass(frozen=True)
class Link:
    url: str
    name: str | None = None
    type: str = "link"


@dataclass(frozen=True)
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
    strict: bool = True
    text_match: TextMode = TextMode.EXACT
    retries: int = 0
    timeout: float | None = None
    skip: str | None = None
    xfail: str | None = None


@dataclass(frozen=True)
class Case:
    """One scenario with one example row bound: what one test runs."""

    scenario: Scenario
    row: Mapping[str, Any] = field(default_factory=dict)
    row_id: str | None = None

    @property
    def name(self) -> str:
        return self.scenario.name if self.row_id is None else f"{self.scenario.name}[{self.row_id}]"

    @property
    def scenario_id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.scenario.name.lower()).strip("-")
        return slug if self.row_id is None else f"{slug}-{self.row_id}"


def cases_of(scenario: Scenario) -> list[Case]:
    if not scenario.examples:
        return [Case(scenario)]
    return [Case(scenario, row, str(row.get("id", index))) for index, row in enumerate(scenario.examples)]
