"""A conversation's trace as Locust requests, and the count of sessions that may still be open.

One sample per HTTP attempt, named by flow and step (``flight-status: turn 2 (user)``) so
Locust's table, percentiles and CSV show each turn on its own. A failed check is charged
to the request whose answer it checked, with the designer's one-line message; a retried
429 or 503 is a failure of its own. Plain Python: no Locust import, so pytest tests it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from flowtest.client import Exchange
from flowtest.client.protocol import LOST_START
from flowtest.trace import Category, Role, StepRecord, Trace

CHECK = "CHECK"  # the request type of a failure no request carried (a template error before Start Session)
# The API call of a step that is not a turn, by its method: a POST outside a turn starts the session.
_CALL_NAMES = {"POST": "Start Session", "GET": "Get Session", "DELETE": "End Session"}


@dataclass(frozen=True)
class Sample:
    """One request as Locust's ``events.request`` takes it."""

    request_type: str  # the HTTP method
    name: str
    response_time: float  # milliseconds
    response_length: int
    started_at: float
    error: str | None = None


def samples(trace: Trace, known_issue: bool = False) -> list[Sample]:
    """``known_issue``: the scenario is xfail, so its failed checks are expected, not failures
    (as pytest reports it xfailed); an End Session that failed still is one."""
    found: list[Sample] = []
    turn = 0
    for step in trace.steps:
        if step.failure is not None and step.failure.category is Category.INTERRUPTED:
            continue  # the run stopping is not a failure of the flow
        if step.role is Role.SEND:
            turn += 1
        name = f"{trace.flow}: {_step_name(step, turn)}"
        for index, exchange in enumerate(step.exchanges):
            last = index == len(step.exchanges) - 1
            error = (
                _final_error(step, exchange, trace, known_issue) if last else _retried_error(exchange, trace)
            )
            found.append(_sample(exchange, name, error))
        if step.failure is not None and not step.exchanges and not known_issue:
            _charge_check(found, trace, step)
    return found


def _step_name(step: StepRecord, turn: int) -> str:
    if step.role is Role.SEND:
        return f"turn {turn} ({step.kind})"
    return _CALL_NAMES.get(step.exchanges[0].method, step.kind) if step.exchanges else step.kind


def _sample(exchange: Exchange, name: str, error: str | None) -> Sample:
    """The answer's size as Locust shows it: its JSON body's bytes."""
    length = len(exchange.response_body) if exchange.response_body is not None else 0
    return Sample(exchange.method, name, exchange.duration * 1000, length, exchange.started_at, error)


def _final_error(step: StepRecord, exchange: Exchange, trace: Trace, known_issue: bool) -> str | None:
    if step.failure is not None:
        return None if known_issue else _check_message(step, trace)
    if _ends(exchange) and exchange.error and exchange.status != 404:
        return _one_line(exchange.error, trace)
    return None  # an answer the step accepted, an expected refusal included


def _retried_error(exchange: Exchange, trace: Trace) -> str | None:
    return f"{_one_line(exchange.error, trace)} (retried)" if exchange.error else None


def _charge_check(found: list[Sample], trace: Trace, step: StepRecord) -> None:
    """A check that failed on an earlier answer: that request fails with the check's message."""
    message = _check_message(step, trace)
    if found and found[-1].error is None:
        found[-1] = replace(found[-1], error=message)
    else:
        found.append(Sample(CHECK, f"{trace.flow}: {step.kind}", 0.0, 0, step.started_at, message))


def _check_message(step: StepRecord, trace: Trace) -> str:
    """The failure's own words: they lead with the step and its file:line (else the scenario's)."""
    if step.failure is not None and step.location is not None:
        return _one_line(step.failure.message, trace)
    text = step.failure.message if step.failure is not None else step.title
    where = step.location if step.location is not None else trace.location
    return f"{where}: {_one_line(text, trace)}"


def _one_line(text: str, trace: Trace) -> str:
    """Locust groups failures by their text: session ids would make each one unique."""
    if trace.session_id:
        text = text.replace(trace.session_id, "{sessionId}")
    return " ".join(text.split())


@dataclass
class SessionTally:
    """Sessions this process started and knows ended; the rest may still be open."""

    started: int = 0
    ended: int = 0
    unfinished: int = 0  # conversations still running when the run gave up waiting
    lost: int = 0  # Start Session answers lost: a session may be open, its id unknown
    in_flight: int = 0  # a worker's conversations under way when it last reported

    def add(self, trace: Trace) -> None:
        if trace.session_id is None:
            self.lost += any(warning.startswith(LOST_START) for warning in trace.warnings)
            return
        self.started += 1
        if any(_closes(step) for step in trace.steps):
            self.ended += 1

    @property
    def may_be_open(self) -> int:
        return self.started - self.ended + self.unfinished + self.lost + self.in_flight

    def as_dict(self) -> dict[str, int]:
        return {
            "started": self.started,
            "ended": self.ended,
            "unfinished": self.unfinished,
            "lost": self.lost,
        }

    def merge(self, data: dict[str, int]) -> None:
        """Add a worker's report (``as_dict`` with ``in_flight`` and ``final``)."""
        self.started += int(data.get("started", 0))
        self.ended += int(data.get("ended", 0))
        self.unfinished += int(data.get("unfinished", 0))
        self.lost += int(data.get("lost", 0))
        self.in_flight += int(data.get("in_flight", 0))

    def summary(self) -> str:
        lost = f" ({self.lost} Start Session answer(s) lost)" if self.lost else ""
        ended = f"{self.started} session(s) started, {self.ended} ended"
        return f"{ended}, {self.may_be_open} may still be open{lost}"


def workers_summary(reports: Mapping[str, Mapping[str, int]]) -> str:
    """The master's line: what the workers last reported, and which never reported their run's end
    (stopped, killed, lost: their sessions since that report are not counted, and may be open)."""
    total = SessionTally()
    for report in reports.values():
        total.merge(dict(report))
    unended = sum(1 for report in reports.values() if not report.get("final"))
    said = f"{total.summary()} (as {len(reports)} worker(s) last reported"
    if unended:
        said += (
            f"; {unended} did not report the end of its run, so more sessions may be open: "
            "see that worker's own output"
        )
    return said + ")"


def _closes(step: StepRecord) -> bool:
    """End Session answered, or the session was already gone (404)."""
    return any(
        _ends(exchange)
        and exchange.status is not None
        and (200 <= exchange.status < 300 or exchange.status == 404)
        for exchange in step.exchanges
    )


def _ends(exchange: Exchange) -> bool:
    return exchange.method == "DELETE"
