"""What a run produced: one record per step. The plugin, failure text and reports read only this."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, NoReturn

from flowtest.client import Exchange
from flowtest.errors import Location
from flowtest.redact import Redactor


class Outcome(str, Enum):
    PASSED = "passed"
    FAILED = "failed"  # the flow did not behave as the scenario says
    BROKEN = "broken"  # the run could not check: API error, transport error, broken scenario
    SKIPPED = "skipped"


class Role(str, Enum):
    """What a step is in the conversation: reporters show a record by its role, never its kind."""

    SEND = "send"  # the caller says something: a user text, a transfer result
    CALL = "call"  # an API call or a pause that checks nothing: save, wait, end
    CHECK = "check"  # a check of what the bot did: bot, message, status, variables, turn
    LIFECYCLE = "lifecycle"  # Start Session, teardown, the end of the scenario, an interruption


def unknown_role(role: NoReturn) -> NoReturn:
    """The end of an exhaustive match on roles: mypy proves it is never reached."""
    raise ValueError(f"unknown role {role!r}")


LIFECYCLE_KINDS = frozenset({"start", "teardown", "end of scenario", "interrupted"})
_GIVEN_BY_POST_INIT: Any = None


def role_of(kind: str) -> Role:
    """The role of a record's kind: a step kind's own, or the runner's lifecycle."""
    if kind in LIFECYCLE_KINDS:
        return Role.LIFECYCLE
    from flowtest.steps import role_of_kind  # the step table sits above the trace

    return role_of_kind(kind)


class Category(str, Enum):
    """Why a step failed; Allure's categories sort failures by these."""

    CONVERSATION = "conversation mismatch"
    VARIABLE = "variable mismatch"
    STATUS = "status mismatch"
    LATENCY = "latency budget"
    API = "API error"
    TRANSPORT = "transport error"
    SCENARIO = "broken scenario file"
    INTERRUPTED = "interrupted"
    INTERNAL = "flowtest internal error"


@dataclass(frozen=True, slots=True)
class Failure:
    category: Category
    message: str  # one paragraph a designer reads first
    expected: str | None = None
    actual: str | None = None


@dataclass(frozen=True, slots=True)
class StepRecord:
    kind: str  # the step kind (user, bot, ...) or the lifecycle's (start, teardown, ...)
    title: str  # as a designer reads it: "user: I'd like to check my flight status"
    where: str | None
    location: Location | None
    started_at: float
    duration: float
    status_before: str | None
    status_after: str | None
    outcome: Outcome
    failure: Failure | None = None
    sent: str | None = None  # user text or transfer result, for the transcript
    received: tuple[str, ...] = ()  # bot messages that arrived with this step's call, as lines
    messages: tuple[Mapping[str, Any], ...] = ()  # the same messages, raw (buttons, cards...)
    exchanges: tuple[Exchange, ...] = ()
    included_from: Location | None = None  # the include: line, for a step from a partial
    note: str | None = None  # what the title ends with: "refused: 409", "rule 2: when contains ..."
    # The runner gives it; a record made without one gets its kind's role.
    role: Role = _GIVEN_BY_POST_INIT

    def __post_init__(self) -> None:
        if self.role is None:
            object.__setattr__(self, "role", role_of(self.kind))


def step_label(where: str | None, location: Location | None, included_from: Location | None = None) -> str:
    """A step as a designer finds it: "step 8 (checkout.scenario.yaml:20)", counted from 1 in its
    file, with the file and line (and, for a partial's step, where it was included)."""
    if where is None or location is None:
        return where or ""
    place = f"{location.path}:{location.line}"
    if included_from is not None:
        place += f", included at {included_from.path}:{included_from.line}"
    return f"{where} ({place})"


def status_shown(step: StepRecord) -> bool:
    """Whether a transcript notes the status this step left: when it changed, but not for the
    teardown's End Session (every session ends so; the designer's ``end`` step still shows it)."""
    if step.status_after == step.status_before or not step.status_after:
        return False
    return not (step.role is Role.LIFECYCLE and step.status_before is not None and not step.received)


@dataclass(frozen=True, slots=True)
class Trace:
    case_name: str
    flow: str
    org: str
    location: Location
    steps: tuple[StepRecord, ...]
    session_id: str | None
    attempt: int = 1
    warnings: tuple[str, ...] = field(default=())
    row: Location | None = None  # the example row the case ran with, where it is written

    @property
    def failed_step(self) -> StepRecord | None:
        return next((s for s in self.steps if s.outcome in (Outcome.FAILED, Outcome.BROKEN)), None)

    @property
    def failed_steps(self) -> tuple[StepRecord, ...]:
        """Every step that failed: one, unless soft checks let the conversation go on."""
        return tuple(s for s in self.steps if s.outcome in (Outcome.FAILED, Outcome.BROKEN))

    @property
    def outcome(self) -> Outcome:
        failed = self.failed_step
        return Outcome.PASSED if failed is None else failed.outcome

    @property
    def duration(self) -> float:
        return sum(step.duration for step in self.steps)


@dataclass(frozen=True, slots=True)
class Result:
    """Every attempt of one run of a case: the last decides, earlier failures make it flaky.

    With ``repeat: N`` (``runs``), each run is a Result of its own and the case passes when
    at least ``pass_rate`` of them pass; ``attempts`` is then the run a report shows first:
    the first that did not pass, else the last.
    """

    attempts: tuple[Trace, ...]
    runs: tuple[Result, ...] = ()
    pass_rate: float = 1.0

    @classmethod
    def of_runs(cls, runs: tuple[Result, ...], pass_rate: float) -> Result:
        shown = next((run for run in runs if run.final.outcome is not Outcome.PASSED), runs[-1])
        return cls(shown.attempts, runs, pass_rate)

    @property
    def final(self) -> Trace:
        return self.attempts[-1]

    @property
    def flaky(self) -> bool:
        return not self.runs and len(self.attempts) > 1 and self.final.outcome is Outcome.PASSED

    @property
    def passed_runs(self) -> int:
        return sum(1 for run in self.runs if run.final.outcome is Outcome.PASSED)

    @property
    def needed_runs(self) -> int:
        """How many runs must pass: the pass_rate's share of them, rounded up."""
        return math.ceil(self.pass_rate * len(self.runs) - 1e-9)

    @property
    def outcome(self) -> Outcome:
        """What the case comes to: the final attempt's, or with runs, whether enough passed."""
        if not self.runs or self.passed_runs < self.needed_runs:
            return self.final.outcome
        return Outcome.PASSED

    @property
    def rate(self) -> str:
        """``3 of 5 runs passed (60%, pass_rate 0.8)``."""
        share = self.passed_runs / len(self.runs) if self.runs else 1.0
        return (
            f"{self.passed_runs} of {len(self.runs)} runs passed ({share:.0%}, pass_rate {self.pass_rate:g})"
        )

    def traces(self) -> Iterator[Trace]:
        """Every trace: each attempt of each run."""
        for run in self.runs or (self,):
            yield from run.attempts


_BUTTON_LISTS = ("buttons", "quickReplies", "quick_replies", "options")
_LABELS = ("title", "label", "text")


def message_line(kind: str, text: str | None, raw: Mapping[str, Any]) -> str:
    """A bot message as a person sees it in a chat: its text, a card, its buttons as [Label].

    A plain text message is its text alone; a message of another type without
    anything to read shows its type and fields, e.g. ``[handoff] {"queue": "billing"}``.
    """
    if kind == "typing":
        return "[typing…]"
    parts = [text] if text is not None else []
    title, subtitle = raw.get("title"), raw.get("subtitle")
    if isinstance(title, str):
        parts.append(f"[card: {title}" + (f" — {subtitle}]" if isinstance(subtitle, str) else "]"))
    buttons = " ".join(f"[{label}]" for label in button_labels(raw))
    if buttons:
        parts.append(buttons)
    if parts:
        return "  ".join(parts)
    rest = {key: value for key, value in raw.items() if key != "type"}
    return f"[{kind}]" + (f" {json.dumps(rest, ensure_ascii=False)}" if rest else "")


def button_labels(raw: Mapping[str, Any]) -> list[str]:
    found = buttons(raw)
    return found[1] if found is not None else []


def buttons(raw: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """The JSONPath that reads a message's button labels, and the labels; None without buttons."""
    for key in _BUTTON_LISTS:
        items = raw.get(key)
        if isinstance(items, list) and items:
            first = items[0]
            field_name = next((f for f in _LABELS if isinstance(first, Mapping) and f in first), None)
            path = f"$.{key}[*].{field_name}" if field_name else f"$.{key}[*]"
            return path, [_label(item) for item in items]
    return None


def offered(raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A message's buttons as (title, what pressing it sends: its payload, else its title)."""
    for key in _BUTTON_LISTS:
        items = raw.get(key)
        if isinstance(items, list) and items:
            return [(_label(item), _payload(item)) for item in items]
    return []


def _payload(item: Any) -> str:
    payload = item.get("payload") if isinstance(item, Mapping) else None
    if isinstance(payload, str):
        return payload
    return _label(item) if payload is None else json.dumps(payload, ensure_ascii=False)


def _label(item: Any) -> str:
    if isinstance(item, Mapping):
        label = next((item[key] for key in _LABELS if isinstance(item.get(key), str)), None)
        return label if label is not None else json.dumps(item, ensure_ascii=False)
    return str(item)


def redact_trace(trace: Trace, redactor: Redactor, exchanges: Redactor | None = None) -> Trace:
    """The same trace with every secret value masked in every text and exchange.

    ``exchanges``: the redactor for the exchanges when they need less than the rest
    (they were masked when recorded); by default ``redactor``.
    """
    if not redactor.secret_values and not redactor.secret_keys:
        return trace
    steps = tuple(_redact_step(step, redactor, exchanges or redactor) for step in trace.steps)
    warnings = tuple(redactor.text(text) for text in trace.warnings)
    return replace(trace, steps=steps, warnings=warnings)


def _mentions(step: StepRecord, redactor: Redactor) -> bool:
    failure = step.failure
    texts = [step.title, step.sent or "", step.note or "", *step.received]
    if failure is not None:
        texts += [failure.message, failure.expected or "", failure.actual or ""]
    joined = "\n".join(texts)
    if any(secret in joined for secret in redactor.secret_values):
        return True
    return any(redactor.touches(message) for message in step.messages)  # buttons' payloads


def _maybe(text: Callable[[str], str], value: str | None) -> str | None:
    return text(value) if value is not None else None


def _redact_step(step: StepRecord, redactor: Redactor, exchange_redactor: Redactor) -> StepRecord:
    if not exchange_redactor.secret_values and not _mentions(step, redactor):
        return step  # the usual case: one scan of the texts instead of copying the record
    text, maybe = redactor.text, functools.partial(_maybe, redactor.text)
    failure = step.failure
    if failure is not None:
        failure = replace(
            failure,
            message=text(failure.message),
            expected=maybe(failure.expected),
            actual=maybe(failure.actual),
        )
    exchanges = step.exchanges
    if exchange_redactor.secret_values:
        exchanges = tuple(exchange.redacted(exchange_redactor) for exchange in step.exchanges)
    return replace(
        step,
        title=text(step.title),
        sent=maybe(step.sent),
        note=maybe(step.note),
        received=tuple(text(message) for message in step.received),
        messages=tuple(redactor.value(message) for message in step.messages),
        failure=failure,
        exchanges=exchanges,
    )
