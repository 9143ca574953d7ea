"""Run one case (a scenario with one example row) against the API and return its trace.

Knows nothing of pytest. Every conversation is a coroutine on the caller's event loop,
so many can run at once; End Session runs for every session started, whatever happens.
The steps themselves are the step kinds' (flowtest/steps/): the runner starts the
session, runs each step through its kind and records it, retries, and tears down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple

from flowtest.client import AsyncFlowClient, Exchange, TurnResult
from flowtest.client.protocol import lost_start_warning
from flowtest.contract import EXTERNAL_ID, TERMINATED
from flowtest.errors import (
    ApiError,
    FlowtestError,
    Location,
    ProtocolError,
    TransportError,
)
from flowtest.redact import Redactor
from flowtest.scenario import model
from flowtest.steps import kind_of
from flowtest.steps.base import StepResult, at, failure_from
from flowtest.steps.state import ConversationState, RunContext, unrecorded
from flowtest.templating import render
from flowtest.trace import Category, Failure, Outcome, Result, Role, StepRecord, Trace, redact_trace

logger = logging.getLogger(__name__)

_CHECK_CATEGORIES = {Category.CONVERSATION, Category.VARIABLE, Category.STATUS, Category.LATENCY}
Title = Callable[[], str]

__all__ = ["Conversation", "RunContext", "internal_error", "run_case"]


async def run_case(case: model.Case, client: AsyncFlowClient, context: RunContext) -> Result:
    """Run the conversation (``repeat`` times, each in a new session, as many at once as the run
    allows), each run again in a new session on failure up to ``retries`` times."""
    scenario = case.scenario
    if scenario.repeat <= 1:
        return await _attempts(case, client, context)
    slots = asyncio.Semaphore(max(1, min(context.concurrency, scenario.repeat)))

    async def one_run() -> Result:
        async with slots:
            return await _attempts(case, client, context)

    # Every run ends its session before this returns, also when cancelled (gather waits for them).
    done = await asyncio.gather(*(one_run() for _ in range(scenario.repeat)), return_exceptions=True)
    error = next((item for item in done if isinstance(item, BaseException)), None)
    if error is not None:
        raise error
    runs = tuple(item for item in done if isinstance(item, Result))
    return Result.of_runs(runs, scenario.pass_rate)


async def _attempts(case: model.Case, client: AsyncFlowClient, context: RunContext) -> Result:
    """One run: the conversation, again in a new session on failure up to ``retries`` times."""
    attempts: list[Trace] = []
    for attempt in range(1, case.scenario.retries + 2):
        trace = await Conversation(case, client, context, attempt).run()
        attempts.append(trace)
        if trace.outcome is Outcome.PASSED:
            break
    return Result(tuple(attempts))


class _Mark(NamedTuple):
    """Where a record starts: the status before it, the exchanges so far, its clocks."""

    status: str | None
    exchanges: int
    started: float
    clock: float


class Conversation:
    """One attempt at one case: a session, its steps and their records."""

    def __init__(
        self, case: model.Case, client: AsyncFlowClient, context: RunContext, attempt: int = 1
    ) -> None:
        self.case, self.context, self.attempt = case, context, attempt
        self.scenario = case.scenario
        self.exchanges: list[Exchange] = []
        recording = client.with_options(recorder=self.exchanges.append, timeout=self.scenario.timeout)
        self.state = ConversationState(case, recording, context, self.scenario.org or context.org)
        self.records: list[StepRecord] = []
        self.warnings: list[str] = []
        self._mark = self._now()

    @property
    def session_id(self) -> str | None:
        return self.state.session_id

    @property
    def ended(self) -> bool:
        return self.state.ended

    async def run(self) -> Trace:
        try:
            title = f"Start Session: {self.scenario.flow}"
            if await self._record("start", Role.LIFECYCLE, None, self._start(), title):
                await self._steps()
        except asyncio.CancelledError:
            self.records.append(self._interrupted())
            raise
        finally:
            await self._teardown()
        return self.trace()

    def trace(self) -> Trace:
        # Exchanges were masked for the key and secret names when recorded; values learned
        # since (secret variables' values) still need masking there.
        learned = Redactor(tuple(self.state.secret_values), self.context.secret_keys)
        return redact_trace(self._raw_trace(), self.trace_redactor(), learned)

    def trace_redactor(self) -> Redactor:
        """The API key, secret variables and what the conversation learned of their values."""
        return self.state.redactor()

    def _raw_trace(self) -> Trace:
        return Trace(
            case_name=self.case.name,
            flow=self.scenario.flow,
            org=self.state.org,
            location=self.scenario.location,
            steps=tuple(self.records),
            session_id=self.state.session_id,
            attempt=self.attempt,
            warnings=tuple(self.warnings),
            row=self.case.row_location,
        )

    async def _steps(self) -> None:
        state = self.state
        # Taken back after: the state holding this bound method is a reference cycle, and the
        # cyclic GC is off while conversations run (see plugin.state.collector_paused).
        state.record_turn = self._record_turn
        try:
            for step in self.scenario.steps:
                kind = kind_of(step)
                title = _titled(kind.title, step, state)
                if not await self._record(kind.name_of(step), kind.role, step, kind.run(step, state), title):
                    return
        finally:
            state.record_turn = unrecorded
        if self.scenario.strict and state.unconsumed():
            last = self.scenario.steps[-1]
            final = StepResult(state.unconsumed_failure(last, state.unconsumed(), at_end=True))
            await self._record("end of scenario", Role.LIFECYCLE, last, _done(final), "end of scenario")

    async def _record(
        self,
        kind: str,
        role: Role,
        step: model.Step | None,
        action: Awaitable[StepResult],
        title: Title | str,
    ) -> bool:
        """Run one step, record it; False when the conversation must stop."""
        self._mark = self._now()
        try:
            result = await action
        except FlowtestError as exc:  # a template that cannot be bound too: the scenario's word
            result = StepResult(failure=failure_from(exc, step))
        except Exception as exc:  # a bug of ours: no traceback (its locals hold the key), a short note
            logger.debug("internal error in %s", kind, exc_info=True)
            result = StepResult(failure=Failure(Category.INTERNAL, at(step, internal_error(exc))))
        outcome = self._append(kind, role, step, result, title)
        if outcome is Outcome.FAILED and step is not None and step.soft:
            return True  # a soft check: recorded, and the conversation goes on
        return outcome in (Outcome.PASSED, Outcome.SKIPPED)

    def _record_turn(
        self,
        step: model.Step,
        kind: str,
        role: Role,
        result: StepResult,
        title: str,
        location: Location | None = None,
    ) -> None:
        """A turn a step took (the caller's): a record of its own, timed from the last one."""
        self._append(kind, role, step, result, title, location)
        self._mark = self._now()

    def _now(self) -> _Mark:
        return _Mark(self.state.status, len(self.exchanges), time.time(), time.perf_counter())

    def _append(
        self,
        kind: str,
        role: Role,
        step: model.Step | None,
        result: StepResult,
        title: Title | str,
        location: Location | None = None,
    ) -> Outcome:
        mark = self._mark
        outcome = Outcome.SKIPPED if result.skipped else _outcome(result.failure)
        shown = result.title or _title(title, kind)
        self.records.append(
            StepRecord(
                kind=kind,
                title=shown if result.note is None else f"{shown} ({result.note})",
                where=step.where if step else None,
                location=location or (step.location if step else None),
                started_at=mark.started,
                duration=time.perf_counter() - mark.clock,
                status_before=mark.status,
                status_after=self.state.status,
                outcome=outcome,
                failure=result.failure,
                sent=result.sent,
                received=result.received,
                messages=result.messages,
                exchanges=tuple(self.exchanges[mark.exchanges :]),
                included_from=step.included_from if step else None,
                note=result.note,
                role=role,
            )
        )
        return outcome

    # -- the session's start and end -----------------------------------------------------

    async def _start(self) -> StepResult:
        state = self.state
        bindings = state.bindings
        state.learn_secrets(dict(self.case.row))  # an examples column named as a secret variable
        variables = render(dict(self.scenario.start_variables), bindings)
        metadata = render(dict(self.scenario.start_metadata), bindings)
        state.learn_secrets(variables)
        state.learn_secrets(metadata)
        # Our own id for the session, so that one whose answer is lost can still be found.
        metadata.setdefault(EXTERNAL_ID, f"flowtest-{self.context.run_id}-{state.uuid[-12:]}")
        starting = asyncio.ensure_future(
            state.client.start_session(self.scenario.flow, variables, metadata, org=state.org)
        )
        try:
            turn = await asyncio.shield(starting)
        except asyncio.CancelledError:
            # Cancelled mid-call: the server may have created the session. Learn its id,
            # so that teardown ends it, then stop as asked.
            with contextlib.suppress(FlowtestError):
                await self._started(starting, metadata)
            raise
        except FlowtestError:
            await self._started(starting, metadata)
            raise
        state.session_id = turn.session_id
        state.take_turn(turn)
        return StepResult.of_turn(turn)

    async def _started(self, starting: asyncio.Future[TurnResult], metadata: Mapping[str, Any]) -> None:
        """After a failed Start: the id if the answer names one, else a warning if one may exist."""
        try:
            self.state.session_id = (await starting).session_id
            return
        except ProtocolError as exc:
            self.state.session_id = exc.session_id
            lost = exc.session_id is None
        except TransportError as exc:
            lost = exc.request_sent
        except FlowtestError:
            lost = False
        if lost:
            self._warn(lost_start_warning(metadata[EXTERNAL_ID]))

    async def _teardown(self) -> None:
        state = self.state
        if state.session_id is None or state.ended:
            return
        mark, started, clock = len(self.exchanges), time.time(), time.perf_counter()
        ending = asyncio.ensure_future(state.client.end_session(state.session_id, org=state.org))
        cancelled = await _finish(ending)
        error: BaseException | None = (
            FlowtestError("the call was cancelled") if ending.cancelled() else ending.exception()
        )
        if error is None:
            state.ended = True
        elif not (isinstance(error, ApiError) and error.status == 404):
            self._warn(f"End Session failed, session {state.session_id} may still be open: {error}")
        self.records.append(
            StepRecord(
                kind="teardown",
                title="End Session",
                where=None,
                location=None,
                started_at=started,
                duration=time.perf_counter() - clock,
                status_before=state.status,
                status_after=TERMINATED if state.ended else state.status,
                outcome=Outcome.PASSED,
                exchanges=tuple(self.exchanges[mark:]),
                role=Role.LIFECYCLE,
            )
        )
        if error is not None and not isinstance(error, FlowtestError):
            raise error
        if cancelled:
            raise asyncio.CancelledError

    def _warn(self, warning: str) -> None:
        logger.warning("%s", self.trace_redactor().text(warning))
        self.warnings.append(warning)

    def _interrupted(self) -> StepRecord:
        status = self.state.status
        failure = Failure(Category.INTERRUPTED, "interrupted (Ctrl-C)")
        return StepRecord(
            "interrupted",
            "interrupted",
            None,
            None,
            time.time(),
            0.0,
            status,
            status,
            Outcome.BROKEN,
            failure,
            role=Role.LIFECYCLE,
        )


async def _finish(ending: asyncio.Future[Any]) -> bool:
    """Wait for End Session to finish; True when a cancel (a second Ctrl-C) came meanwhile:
    it must not abandon the call, so it is raised once the call is done."""
    cancelled = False
    while not ending.done():
        try:
            await asyncio.shield(ending)
        except asyncio.CancelledError:
            cancelled = True
        except Exception:  # read from the finished call by the caller
            pass
    return cancelled


async def _done(result: StepResult) -> StepResult:
    return result


def _titled(
    title: Callable[[Any, ConversationState], str], step: model.Step, state: ConversationState
) -> Title:
    return lambda: title(step, state)


def _title(title: Title | str, kind: str) -> str:
    """The step's title; its kind when the title cannot be rendered (the step's failure says why)."""
    if isinstance(title, str):
        return title
    try:
        return title()
    except (FlowtestError, KeyError):
        return kind


def internal_error(exc: BaseException) -> str:
    """What a user reads when flowtest itself failed: whose fault it is, never a traceback."""
    return (
        f"flowtest internal error ({type(exc).__name__}: {exc}); this is a bug in flowtest, "
        "not in the scenario or the flow: please report it"
    )


def _outcome(failure: Failure | None) -> Outcome:
    if failure is None:
        return Outcome.PASSED
    return Outcome.FAILED if failure.category in _CHECK_CATEGORIES else Outcome.BROKEN
