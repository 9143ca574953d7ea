"""What a step kind is: its YAML keys, its model, how it is built, run and titled, its role.

One ``StepKind`` per key family lives in this package (send, bot, checks, calls); the
loader builds a step by looking its keys up in ``flowtest.steps.KINDS``, the runner
runs it through its kind, the validator reads the kind's ``needs``. Reporters see only
the records' roles. ARCHITECTURE.md has the recipe for a new kind.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NamedTuple, TypeVar

from flowtest.client import Message, TurnResult
from flowtest.durations import parse_duration
from flowtest.errors import (
    ApiError,
    FlowtestError,
    LLMError,
    LLMTimeout,
    LLMUnreachable,
    Location,
    ProtocolError,
    SourceError,
    TransportError,
)
from flowtest.jsonpath import nothing_at, query
from flowtest.matchers import BuildContext, build, show
from flowtest.scenario.model import ExpectedError, PathCheck, Step
from flowtest.templating import Bindings
from flowtest.trace import Category, Failure, Role, message_line, step_label
from flowtest.yamlsource import Document, JsonPath

if TYPE_CHECKING:
    from flowtest.steps.state import ConversationState

S = TypeVar("S", bound=Step)


@dataclass(frozen=True)
class RawStep:
    """A step's YAML with the document it came from, before it becomes a Step."""

    data: dict[str, Any]
    document: Document
    at: JsonPath
    included_from: Location | None
    kind: StepKind[Any] | None = None  # who builds it when its keys do not say: a scenario key's kind

    def common(self) -> dict[str, Any]:
        """What every Step holds: where it stands, as a designer counts and as a file line."""
        return {
            "where": step_where(self.at),
            "location": self.document.location(self.at),
            "included_from": self.included_from,
        }

    def path_checks(self, key: str) -> tuple[PathCheck, ...]:
        """The JSONPATH: MATCHER pairs under ``key``; values keep their JSON types."""
        return tuple(
            PathCheck(path, build(spec), self.document.key_location((*self.at, key, path)))
            for path, spec in self.data.get(key, {}).items()
        )

    def duration(self, key: str) -> float | None:
        return parse_duration(self.data[key]) if key in self.data else None

    def expected_error(self) -> ExpectedError | None:
        error = self.data.get("error")
        return ExpectedError(error["status"], error.get("code")) if error else None


@dataclass
class StepResult:
    """What running a step gave: its failure, if any, and what the transcript shows of it."""

    failure: Failure | None = None
    sent: str | None = None  # what the caller sent (a user text, a transfer result)
    received: tuple[str, ...] = ()  # the bot messages that came back, as lines
    messages: tuple[Mapping[str, Any], ...] = ()  # the same messages, raw
    note: str | None = None  # after the title: "refused: 409", "skipped: no match"
    skipped: bool = False  # an optional step that matched nothing
    title: str | None = None  # the step's title when running it worked it out (else its kind's title())

    @classmethod
    def of_turn(cls, turn: TurnResult, sent: str | None = None, failure: Failure | None = None) -> StepResult:
        lines = tuple(message_line(m.type, m.text, m.raw) for m in turn.messages)
        return cls(failure, sent, lines, tuple(m.raw for m in turn.messages))


class StepKind(Generic[S]):
    """One kind of step. Subclasses set the class attributes and implement build, run, title."""

    name: ClassVar[str]  # the record's kind, e.g. "user"
    keys: ClassVar[frozenset[str]]  # the action keys that make a step of this kind
    modifiers: ClassVar[frozenset[str]] = frozenset()  # keys allowed beside them
    model: ClassVar[type[Step]]
    role: ClassVar[Role]
    needs: ClassVar[str | None] = None  # the session status it needs, e.g. awaiting_input
    ends_session: ClassVar[bool] = False  # after it, only steps that do not touch the session

    def build(self, raw: RawStep, texts: BuildContext) -> S:
        raise NotImplementedError

    async def run(self, step: S, state: ConversationState) -> StepResult:
        raise NotImplementedError

    def title(self, step: S, state: ConversationState) -> str:
        """How the transcript names the step once it ran: "user: I'd like to check my flight"."""
        raise NotImplementedError

    @property
    def names(self) -> tuple[str, ...]:
        """Every record kind its steps write (the bot kind writes bot and message records)."""
        return (self.name,)

    def name_of(self, step: S) -> str:
        """The record's kind for this step (a family may name its steps apart: bot, message)."""
        return self.name

    def touches_session(self, step: S) -> bool:
        """Whether it needs a live session (after ``end``, only steps that do not may follow)."""
        return True

    # What the loader asks of a scenario key's kind (caller:) before building it.

    def problems(self, raw: RawStep) -> Iterator[SourceError]:
        """What is wrong in the step's YAML that the schema cannot say (a JSONPath's syntax)."""
        return iter(())

    def stores(self, raw: RawStep) -> Iterator[str]:
        """The ``${names}`` the step gives later steps, so that the loader knows them."""
        return iter(())


@functools.cache  # "step 4": one string for every scenario, worked out once
def step_where(at: JsonPath) -> str:
    """A step's place as a designer counts it: ("conversation", 7) is "step 8", ("goal", 0) "goal step 1",
    a scenario key's step (("caller",)) its key."""
    if len(at) < 2 or not isinstance(at[-1], int):
        return ".".join(str(part) for part in at)
    section, index = at[-2], at[-1]
    number = f"step {int(index) + 1}"
    return number if section == "conversation" else f"{section} {number}"


def at(step: Step | None, message: str) -> str:
    """A failure's text, led by the step as a designer finds it: "step 8 (x.scenario.yaml:20): ..."."""
    if step is None:
        return message
    return f"{step_label(step.where, step.location, step.included_from)}: {message}"


def failure_from(exc: FlowtestError, step: Step | None) -> Failure:
    """The failure of a step (``None``: Start Session) that raised ``exc``, in a designer's words."""
    if isinstance(exc, (TransportError, LLMUnreachable, LLMTimeout)):
        return Failure(Category.TRANSPORT, at(step, str(exc)))
    if isinstance(exc, LLMError):
        return Failure(Category.API, at(step, str(exc)))
    if isinstance(exc, ApiError) and step is None and exc.status == 404:  # Start Session: the flow id
        return Failure(Category.API, f"no such flow: {exc} (check the scenario's flow:)")
    if isinstance(exc, (ApiError, ProtocolError)):
        hint = _AUTH_HINTS.get(exc.status, "") if isinstance(exc, ApiError) else ""
        return Failure(Category.API, at(step, f"unexpected API error: {exc}{hint}"))
    return Failure(Category.SCENARIO, at(step, str(exc)))


_AUTH_HINTS = {
    401: " (check FLOWTEST_API_KEY)",
    403: " (the API key opens another organization: check FLOWTEST_ORG or the scenario's org)",
}


class Problems(NamedTuple):
    """The checks that fail over some data: their expected and actual lines, and how many failed
    (not the number of lines: a deep mismatch lists its differences on lines of their own)."""

    expected: str
    actual: str
    failed: int


def path_problems(checks: tuple[PathCheck, ...], data: Any, bindings: Bindings) -> Problems | None:
    """The checks that fail over ``data``, or None when all pass."""
    expected, actual = [], []
    for check in checks:
        found = query(check.path, data)
        mismatch = check.matcher.check(found.value, found.found, bindings)
        if mismatch is not None:
            expected.append(f"{check.path}: {mismatch}")
            shown = show(found.value) if found.found or isinstance(found.value, list) else ""
            actual.append(f"{check.path}: {shown or nothing_at(check.path, data)}")
    return Problems("\n".join(expected), "\n".join(actual), len(expected)) if expected else None


def checks_title(checks: Sequence[PathCheck], bindings: Bindings) -> str:
    return ", ".join(f"{check.path} {check.matcher.title(bindings)}" for check in checks)


def turn_text(messages: Sequence[Message]) -> str:
    """Messages as a failure quotes them: texts as JSON, the others as the transcript shows them."""
    if not messages:
        return "(no messages)"
    return ", ".join(
        show(m.text) if m.text is not None else message_line(m.type, m.text, m.raw) for m in messages
    )


__all__ = [
    "ExpectedError",
    "PathCheck",
    "Problems",
    "RawStep",
    "Step",
    "StepKind",
    "StepResult",
    "at",
    "checks_title",
    "path_problems",
    "turn_text",
]
