"""Run one case (a scenario with one example row) against the API and return its trace.

Knows nothing of pytest. Every conversation is a coroutine on the caller's event loop,
so many can run at once; End Session runs for every session started, whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from flowtest.client import AsyncFlowClient, Exchange, Message, SessionInfo, TurnResult
from flowtest.durations import format_duration
from flowtest.errors import ApiError, FlowtestError, ProtocolError, TransportError
from flowtest.jsonpath import nothing_at, query
from flowtest.matchers import Equals, Matcher, Text, TextMode, regex_matches, show, stored_names
from flowtest.redact import Redactor
from flowtest.scenario import model
from flowtest.templating import Bindings, TemplateError, render, render_text
from flowtest.trace import (
    Category,
    Failure,
    Outcome,
    Result,
    StepRecord,
    Trace,
    message_line,
    redact_trace,
)

logger = logging.getLogger(__name__)

EXTERNAL_ID = "externalSessionId"  # the contract's metadata field for the caller's own id
_CHECK_CATEGORIES = {Category.CONVERSATION, Category.VARIABLE, Category.STATUS, Category.LATENCY}


@dataclass(frozen=True)
class RunContext:
    """What every conversation of one run shares."""

    run_id: str
    org: str
    env: Mapping[str, str] = field(repr=False, default_factory=dict)
    secret_keys: frozenset[str] = frozenset()


async def run_case(case: model.Case, client: AsyncFlowClient, context: RunContext) -> Result:
    """Run the conversation, again in a new session on failure up to ``retries`` times."""
    attempts: list[Trace] = []
    for attempt in range(1, case.scenario.retries + 2):
        trace = await Conversation(case, client, context, attempt).run()
        attempts.append(trace)
        if trace.outcome is Outcome.PASSED:
            break
    return Result(tuple(attempts))


@dataclass
class _StepResult:
    failure: Failure | None = None
    sent: str | None = None
    received: tuple[str, ...] = ()
    title: str | None = None
    skipped: bool = False
    messages: tuple[
        Mapping[str, Any], ...
    ] = ()  # the raw messages behind ``received``  # an optional step that matched nothing


class Conversation:
    """One attempt at one case: a session, its steps and their records."""

    def __init__(
        self, case: model.Case, client: AsyncFlowClient, context: RunContext, attempt: int = 1
    ) -> None:
        self.case, self.context, self.attempt = case, context, attempt
        self.scenario = case.scenario
        self.scenario_id = case.scenario_id
        self.org = self.scenario.org or context.org
        self.exchanges: list[Exchange] = []
        self.client = client.with_options(recorder=self.exchanges.append, timeout=self.scenario.timeout)
        self.records: list[StepRecord] = []
        self.warnings: list[str] = []
        self.session_id: str | None = None
        self.status: str | None = None
        self.turn: tuple[Message, ...] = ()
        self.response: Mapping[str, Any] = {}  # the latest turn's raw response, for turn: checks
        self.checked: set[int] = set()  # indices of the turn's messages already consumed
        self.saved: dict[str, Any] = {}
        self.unset: dict[str, str] = {}  # names a skipped optional step would have stored: why
        self.ended = False
        self.secret_values: set[str] = set()

    @property
    def bindings(self) -> Bindings:
        values = {
            **self.case.row,
            "run_id": self.context.run_id,
            "scenario_id": self.scenario_id,
            **self.saved,
        }
        return Bindings(values, self.context.env, self.unset)

    async def run(self) -> Trace:
        try:
            if await self._record("start", None, self._start, f"Start Session: {self.scenario.flow}"):
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
        learned = Redactor(tuple(self.secret_values), self.context.secret_keys)
        return redact_trace(self._raw_trace(), self.trace_redactor(), learned)

    def trace_redactor(self) -> Redactor:
        """The API key, secret variables and what the conversation learned of their values."""
        return self.client.config.effective_redactor.with_values(self.secret_values)

    def _raw_trace(self) -> Trace:
        return Trace(
            case_name=self.case.name,
            flow=self.scenario.flow,
            org=self.org,
            location=self.scenario.location,
            steps=tuple(self.records),
            session_id=self.session_id,
            attempt=self.attempt,
            warnings=tuple(self.warnings),
        )

    async def _steps(self) -> None:
        for step in self.scenario.steps:
            kind = step.kind if isinstance(step, model.BotStep) else _KINDS[type(step)]
            if not await self._record(kind, step, _HANDLERS[type(step)](self, step)):
                return
        if self.scenario.strict and self._unconsumed():
            last = self.scenario.steps[-1]
            await self._record("end of scenario", last, self._final_check, title="end of scenario")

    async def _record(
        self,
        kind: str,
        step: model.Step | None,
        action: Callable[[], Awaitable[_StepResult]] | Awaitable[_StepResult],
        title: str | None = None,
    ) -> bool:
        """Run one step, record it; False when the conversation must stop."""
        before, mark = self.status, len(self.exchanges)
        started, clock = time.time(), time.perf_counter()
        try:
            result = await (action() if callable(action) else action)
        except FlowtestError as exc:
            result = _StepResult(failure=_failure_from(exc, step))
        except TemplateError as exc:
            result = _StepResult(failure=Failure(Category.SCENARIO, _at(step, str(exc))))
        except Exception as exc:  # a bug of ours: no traceback (its locals hold the key), a short note
            logger.debug("internal error in %s", kind, exc_info=True)
            result = _StepResult(failure=Failure(Category.INTERNAL, _at(step, internal_error(exc))))
        outcome = Outcome.SKIPPED if result.skipped else _outcome(result.failure)
        self.records.append(
            StepRecord(
                kind=kind,
                title=result.title or title or kind,
                where=step.where if step else None,
                location=step.location if step else None,
                started_at=started,
                duration=time.perf_counter() - clock,
                status_before=before,
                status_after=self.status,
                outcome=outcome,
                failure=result.failure,
                sent=result.sent,
                received=result.received,
                messages=result.messages,
                exchanges=tuple(self.exchanges[mark:]),
                included_from=step.included_from if step else None,
            )
        )
        return outcome in (Outcome.PASSED, Outcome.SKIPPED)

    # -- the calls ----------------------------------------------------------------------

    async def _start(self) -> _StepResult:
        bindings = self.bindings
        self._learn_secrets(dict(self.case.row))  # an examples column named as a secret variable
        variables = render(dict(self.scenario.start_variables), bindings)
        metadata = render(dict(self.scenario.start_metadata), bindings)
        self._learn_secrets(variables)
        self._learn_secrets(metadata)
        # Our own id for the session, so that one whose answer is lost can still be found.
        metadata.setdefault(EXTERNAL_ID, f"flowtest-{self.context.run_id}-{uuid.uuid4().hex[:12]}")
        title = f"Start Session: {self.scenario.flow}"
        starting = asyncio.ensure_future(
            self.client.start_session(self.scenario.flow, variables, metadata, org=self.org)
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
        self.session_id = turn.session_id
        self._take_turn(turn)
        return _StepResult(received=_lines(turn), title=title, messages=_raw(turn))

    async def _started(self, starting: asyncio.Future[TurnResult], metadata: Mapping[str, Any]) -> None:
        """After a failed Start: the id if the answer names one, else a warning if one may exist."""
        try:
            self.session_id = (await starting).session_id
            return
        except ProtocolError as exc:
            self.session_id = exc.session_id
            lost = exc.session_id is None
        except TransportError as exc:
            lost = exc.request_sent
        except FlowtestError:
            lost = False
        if lost:
            self._warn(
                f"Start Session's answer was lost, so a session may be open on the server: "
                f"look for metadata.{EXTERNAL_ID} {metadata[EXTERNAL_ID]}"
            )

    async def _user(self, step: model.UserStep) -> _StepResult:
        written = step.text if step.utterance is None else self.case.phrases[step.utterance]
        text = str(render_text(written, self.bindings))
        title = f"user: {text}"
        call = lambda: self.client.send_text(self._session(), text, org=self.org)  # noqa: E731
        return await self._send(step, "awaiting_input", call, text, title, step.within, step.error)

    async def _transfer(self, step: model.TransferStep) -> _StepResult:
        reason = str(render_text(step.reason, self.bindings)) if step.reason is not None else None
        sent = step.result if reason is None else f"{step.result} ({reason})"
        title = f"transfer: {sent}"
        call = lambda: self.client.send_transfer(  # noqa: E731
            self._session(), step.result, reason, org=self.org
        )
        return await self._send(step, "awaiting_transfer", call, sent, title, step.within, step.error)

    async def _send(
        self,
        step: model.Step,
        needed: str,
        call: Callable[[], Awaitable[TurnResult]],
        sent: str,
        title: str,
        within: float | None,
        expected_error: model.ExpectedError | None,
    ) -> _StepResult:
        if expected_error is not None:
            return await self._expect_refusal(step, call, expected_error, sent, title)
        pending = self._unconsumed()
        if pending and self.scenario.strict:
            return _StepResult(self._unconsumed_failure(step, pending), title=title)
        if self.status != needed:
            kind = "user" if needed == "awaiting_input" else "transfer"
            message = _at(step, f"the session is {self.status}; a {kind} step needs {needed}")
            failure = Failure(Category.STATUS, message, needed, str(self.status))
            return _StepResult(failure, title=title)
        clock = time.perf_counter()
        turn = await call()
        elapsed = time.perf_counter() - clock
        self._take_turn(turn)
        result = _StepResult(sent=sent, received=_lines(turn), title=title, messages=_raw(turn))
        if within is not None and elapsed > within:
            message = _at(
                step, f"the answer took {format_duration(elapsed)}, over the {format_duration(within)} budget"
            )
            result.failure = Failure(
                Category.LATENCY, message, f"within {format_duration(within)}", format_duration(elapsed)
            )
        return result

    async def _expect_refusal(
        self,
        step: model.Step,
        call: Callable[[], Awaitable[TurnResult]],
        expected: model.ExpectedError,
        sent: str,
        title: str,
    ) -> _StepResult:
        wanted = f"{expected.status} {expected.code}" if expected.code else str(expected.status)
        try:
            turn = await call()
        except ApiError as exc:
            got = f"{exc.status} {exc.code}" if exc.code else str(exc.status)
            matches = exc.status == expected.status and (expected.code in (None, exc.code))
            if matches:
                return _StepResult(sent=sent, title=f"{title} (refused: {got})")
            message = _at(step, f"expected the API to refuse with {wanted}, it answered {got}")
            return _StepResult(Failure(Category.API, message, wanted, got), sent, title=title)
        self._take_turn(turn)
        message = _at(step, f"expected the API to refuse with {wanted}, it accepted the call")
        return _StepResult(
            Failure(Category.API, message, wanted, f"status {turn.status}"),
            sent,
            _lines(turn),
            title,
            messages=_raw(turn),
        )

    async def _bot(self, step: model.BotStep) -> _StepResult:
        bindings = self.bindings
        title = _bot_title(step, bindings)
        if len(step.matchers) > 1:  # bot: [A, B]: the next messages, in order
            for matcher in step.matchers:
                failure = self._take_message(step, matcher, bindings)
                if failure is not None:
                    return _StepResult(failure, title=title)
            return _StepResult(title=title)
        only = step.matchers[0] if step.matchers else None
        failure = self._take_message(step, only, bindings)
        if failure is _NO_MATCH:
            self._skipped(step, only)
            return _StepResult(title=f"{title} (skipped: no match)", skipped=True)
        return _StepResult(failure, title=title)

    def _skipped(self, step: model.BotStep, matcher: Matcher | None) -> None:
        """Remember what a skipped optional step would have stored, for a clear word when it is used."""
        names = [*(stored_names(matcher) if matcher is not None else ()), *(name for name, _ in step.saves)]
        for name in names:
            if name not in self.saved:
                self.unset[name] = (
                    f"${{{name}}} is not set: the optional step {step.where} at line "
                    f"{step.location.line} that stores it was skipped (no message matched it)"
                )

    def _take_message(
        self, step: model.BotStep, matcher: Matcher | None, bindings: Bindings
    ) -> Failure | None:
        """Consume the message the step matches (the next one, or with anywhere any unchecked one)."""
        pending = [index for index in range(len(self.turn)) if index not in self.checked]
        candidates = pending if step.anywhere else pending[:1]
        if not candidates and step.optional:
            return _NO_MATCH
        if not candidates:
            expected = _expected(step, matcher, bindings)
            message = _at(step, f"expected a bot message ({expected}), but the turn has no more messages")
            return Failure(Category.CONVERSATION, message, expected, _none_left(self.turn))
        misses = []
        for index in candidates:
            miss = self._mismatch(step, matcher, self.turn[index], bindings)
            if miss is None:
                self.checked.add(index)
                return self._keep(step, matcher, self.turn[index], bindings)
            misses.append((index, miss))
        if step.optional:
            return _NO_MATCH
        if step.anywhere:
            expected = _expected(step, matcher, bindings)
            message = _at(step, f"no unchecked bot message of the turn matches ({expected})")
            return Failure(
                Category.CONVERSATION, message, expected, _turn_text([self.turn[i] for i in pending])
            )
        index, miss = misses[0]
        message = _at(step, f"bot message {index + 1} of the turn {miss.why}")
        return Failure(Category.CONVERSATION, message, miss.expected, miss.actual)

    def _mismatch(
        self, step: model.BotStep, matcher: Matcher | None, message: Message, bindings: Bindings
    ) -> _Miss | None:
        """Why the message fails the step's checks, in words, or None when it passes."""
        if matcher is not None:
            if message.text is None:
                why = (
                    f"is a {message.type} message without text; a bot step checks text: "
                    f"check this one with a message: step, e.g. message: {{$.type: {message.type}}}"
                )
                return _Miss(matcher.describe(bindings), _json(message.raw), why)
            mismatch = matcher.check(message.text, True, bindings)
            if mismatch is not None:
                return _Miss(mismatch, show(message.text))
        problems = _path_problems(step.checks, message.raw, bindings)
        return _Miss(problems.expected, problems.actual) if problems is not None else None

    def _keep(
        self, step: model.BotStep, matcher: Matcher | None, message: Message, bindings: Bindings
    ) -> Failure | None:
        """Store what the step saves: named regex groups, and save: paths over the message."""
        if matcher is not None and message.text is not None:
            for found in regex_matches(matcher, message.text, bindings):
                self.saved.update({k: v for k, v in found.groupdict().items() if v is not None})
        for name, path in step.saves:
            result = query(path, message.raw)
            if not result.found:
                text = _at(step, f"save {name}: {path} found nothing in the message")
                return Failure(
                    Category.CONVERSATION, text, f"a value at {path}", nothing_at(path, message.raw)
                )
            self.saved[name] = result.value
        return None

    async def _turn(self, step: model.TurnStep) -> _StepResult:
        bindings = self.bindings
        title = "turn: " + ", ".join(_check_title(check, bindings) for check in step.checks)
        problems = _path_problems(step.checks, self.response, bindings)
        if problems is None:
            return _StepResult(title=title)
        message = _at(step, "the latest response does not match")
        return _StepResult(
            Failure(Category.CONVERSATION, message, problems.expected, problems.actual), title=title
        )

    async def _status(self, step: model.StatusStep) -> _StepResult:
        wanted = " or ".join(step.statuses)
        title = f"status: {wanted}"
        if self.status in step.statuses:
            return _StepResult(title=title)
        message = _at(step, f"the session is {self.status}, expected {wanted}")
        return _StepResult(Failure(Category.STATUS, message, wanted, str(self.status)), title=title)

    async def _variables(self, step: model.VariablesStep) -> _StepResult:
        bindings = self.bindings
        title = "variables: " + ", ".join(_check_title(check, bindings) for check in step.checks)
        session = await self._get_session()
        problems = _path_problems(step.checks, session.variables, bindings)
        if problems is None:
            return _StepResult(title=title)
        message = _at(step, f"{problems.failed} of {len(step.checks)} variable check(s) failed")
        return _StepResult(
            Failure(Category.VARIABLE, message, problems.expected, problems.actual), title=title
        )

    async def _save(self, step: model.SaveStep) -> _StepResult:
        title = "save: " + ", ".join(f"{name} = {path}" for name, path in step.targets)
        session = await self._get_session()
        for name, path in step.targets:
            found = query(path, session.variables)
            if not found.found:
                message = _at(step, f"save {name}: {path} found nothing in the session's variables")
                known = ", ".join(sorted(session.variables)) or "none"
                return _StepResult(
                    Failure(Category.VARIABLE, message, f"a value at {path}", f"variables: {known}"),
                    title=title,
                )
            self.saved[name] = found.value
        return _StepResult(title=title)

    async def _wait(self, step: model.WaitStep) -> _StepResult:
        await asyncio.sleep(step.seconds)
        return _StepResult(title=f"wait: {format_duration(step.seconds)}")

    async def _end(self, step: model.EndStep) -> _StepResult:
        await self.client.end_session(self._session(), org=self.org)
        self.ended, self.status, self.turn, self.checked = True, "terminated", (), set()
        return _StepResult(title="end: End Session")

    async def _final_check(self) -> _StepResult:
        last = self.scenario.steps[-1]
        return _StepResult(self._unconsumed_failure(last, self._unconsumed(), at_end=True))

    async def _teardown(self) -> None:
        if self.session_id is None or self.ended:
            return
        mark, started, clock = len(self.exchanges), time.time(), time.perf_counter()
        warning = None
        ending = asyncio.ensure_future(self.client.end_session(self.session_id, org=self.org))
        cancelled = False
        while not ending.done():
            # A second Ctrl-C (or a cancel) must not abandon End Session: finish it, then stop.
            try:
                await asyncio.shield(ending)
            except asyncio.CancelledError:
                cancelled = True
            except Exception:  # read from the finished call just below
                pass
        error: BaseException | None = (
            FlowtestError("the call was cancelled") if ending.cancelled() else ending.exception()
        )
        if error is None:
            self.ended = True
        elif not (isinstance(error, ApiError) and error.status == 404):
            warning = f"End Session failed, session {self.session_id} may still be open: {error}"
        if warning is not None:
            self._warn(warning)
        self.records.append(
            StepRecord(
                kind="teardown",
                title="End Session",
                where=None,
                location=None,
                started_at=started,
                duration=time.perf_counter() - clock,
                status_before=self.status,
                status_after="terminated" if self.ended else self.status,
                outcome=Outcome.PASSED,
                exchanges=tuple(self.exchanges[mark:]),
            )
        )
        if error is not None and not isinstance(error, FlowtestError):
            raise error
        if cancelled:
            raise asyncio.CancelledError

    def _warn(self, warning: str) -> None:
        logger.warning("%s", self.trace_redactor().text(warning))
        self.warnings.append(warning)

    # -- helpers ------------------------------------------------------------------------

    async def _get_session(self) -> SessionInfo:
        session = await self.client.get_session(self._session(), org=self.org)
        self.status = session.status
        self._learn_secrets(session.variables)
        return session

    def _learn_secrets(self, data: Any) -> None:
        """Values under a secret key, wherever they appear, are masked in the trace."""
        if isinstance(data, Mapping):
            for key, value in data.items():
                if key in self.context.secret_keys:
                    self.secret_values.update(_scalars(value))
                else:
                    self._learn_secrets(value)
        elif isinstance(data, list):
            for item in data:
                self._learn_secrets(item)

    def _session(self) -> str:
        if self.session_id is None:
            raise FlowtestError("no session was started")
        return self.session_id

    def _take_turn(self, turn: TurnResult) -> None:
        self.status, self.turn, self.checked = turn.status, turn.messages, set()
        self.response = turn.raw

    def _unconsumed(self) -> tuple[Message, ...]:
        return tuple(message for index, message in enumerate(self.turn) if index not in self.checked)

    def _unconsumed_failure(
        self, step: model.Step, pending: tuple[Message, ...], at_end: bool = False
    ) -> Failure:
        count = f"{len(pending)} bot message{'s' if len(pending) > 1 else ''}"
        when = "the scenario ended" if at_end else "this step"
        message = _at(
            step,
            f"{count} of the turn not checked before {when}: {_turn_text(pending)} "
            "(add bot or message steps for them, or set strict: false)",
        )
        return Failure(Category.CONVERSATION, message, "no unchecked bot messages", _turn_text(pending))

    def _interrupted(self) -> StepRecord:
        now = time.time()
        failure = Failure(Category.INTERRUPTED, "interrupted (Ctrl-C)")
        return StepRecord(
            "interrupted",
            "interrupted",
            None,
            None,
            now,
            0.0,
            self.status,
            self.status,
            Outcome.BROKEN,
            failure,
        )


@dataclass(frozen=True)
class _Miss:
    expected: str
    actual: str
    why: str = "does not match"


_NO_MATCH = Failure(Category.CONVERSATION, "no message matched an optional step")


def _scalars(value: Any) -> set[str]:
    if isinstance(value, Mapping):
        return {text for item in value.values() for text in _scalars(item)}
    if isinstance(value, list):
        return {text for item in value for text in _scalars(item)}
    return {str(value)} if value is not None and len(str(value)) >= 4 else set()


def internal_error(exc: BaseException) -> str:
    """What a user reads when flowtest itself failed: whose fault it is, never a traceback."""
    return (
        f"flowtest internal error ({type(exc).__name__}: {exc}); this is a bug in flowtest, "
        "not in the scenario or the flow: please report it"
    )


def _at(step: model.Step | None, message: str) -> str:
    return f"{step.where}: {message}" if step is not None else message


def _failure_from(exc: FlowtestError, step: model.Step | None) -> Failure:
    if isinstance(exc, TransportError):
        return Failure(Category.TRANSPORT, _at(step, str(exc)))
    if isinstance(exc, (ApiError, ProtocolError)):
        hint = _AUTH_HINTS.get(exc.status, "") if isinstance(exc, ApiError) else ""
        return Failure(Category.API, _at(step, f"unexpected API error: {exc}{hint}"))
    return Failure(Category.SCENARIO, _at(step, str(exc)))


_AUTH_HINTS = {
    401: " (check FLOWTEST_API_KEY)",
    403: " (the API key opens another organization: check FLOWTEST_ORG or the scenario's org)",
}


def _outcome(failure: Failure | None) -> Outcome:
    if failure is None:
        return Outcome.PASSED
    return Outcome.FAILED if failure.category in _CHECK_CATEGORIES else Outcome.BROKEN


def _none_left(turn: Sequence[Message]) -> str:
    """What a step found when the turn's messages were all taken by earlier steps."""
    if not turn:
        return "(none: the turn had no messages)"
    return f"(none: the turn had {len(turn)} message(s), all checked by earlier steps)"


def _turn_text(messages: Sequence[Message]) -> str:
    if not messages:
        return "(no messages)"
    return ", ".join(
        show(m.text) if m.text is not None else message_line(m.type, m.text, m.raw) for m in messages
    )


def _lines(turn: TurnResult) -> tuple[str, ...]:
    """The turn's messages as the transcript shows them, text-less ones too."""
    return tuple(message_line(m.type, m.text, m.raw) for m in turn.messages)


def _raw(turn: TurnResult) -> tuple[Mapping[str, Any], ...]:
    return tuple(m.raw for m in turn.messages)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class _Problems(NamedTuple):
    """The checks that fail over some data: their expected and actual lines, and how many failed
    (not the number of lines: a deep mismatch lists its differences on lines of their own)."""

    expected: str
    actual: str
    failed: int


def _path_problems(checks: tuple[model.PathCheck, ...], data: Any, bindings: Bindings) -> _Problems | None:
    """The checks that fail over ``data``, or None when all pass."""
    expected, actual = [], []
    for check in checks:
        found = query(check.path, data)
        mismatch = check.matcher.check(found.value, found.found, bindings)
        if mismatch is not None:
            expected.append(f"{check.path}: {mismatch}")
            shown = show(found.value) if found.found or isinstance(found.value, list) else ""
            actual.append(f"{check.path}: {shown or nothing_at(check.path, data)}")
    return _Problems("\n".join(expected), "\n".join(actual), len(expected)) if expected else None


def _expected(step: model.BotStep, matcher: Matcher | None, bindings: Bindings) -> str:
    parts = [matcher.describe(bindings)] if matcher is not None else []
    parts.extend(f"{check.path}: {check.matcher.describe(bindings)}" for check in step.checks)
    return ", ".join(parts)


def _bot_title(step: model.BotStep, bindings: Bindings) -> str:
    parts = [_short(m, bindings) for m in step.matchers]
    parts.extend(_check_title(check, bindings) for check in step.checks)
    flags = [flag for flag in ("optional", "anywhere") if getattr(step, flag)]
    return f"{step.kind}: " + ", ".join(parts) + (f" ({', '.join(flags)})" if flags else "")


def _short(matcher: Matcher, bindings: Bindings) -> str:
    # A plain expected text reads best without JSON quotes in a step title.
    if (
        isinstance(matcher, Text)
        and matcher.op == "is"
        and matcher.mode is TextMode.EXACT
        and isinstance(matcher.text, str)
    ):
        return matcher.text
    return matcher.describe(bindings)


def _check_title(check: model.PathCheck, bindings: Bindings) -> str:
    description = check.matcher.describe(bindings)
    if isinstance(check.matcher, Equals):
        return f"{check.path} == {description}"
    return f"{check.path} {description}"


_KINDS: dict[type[model.Step], str] = {
    model.UserStep: "user",
    model.TransferStep: "transfer",
    model.BotStep: "bot",
    model.StatusStep: "status",
    model.VariablesStep: "variables",
    model.SaveStep: "save",
    model.TurnStep: "turn",
    model.WaitStep: "wait",
    model.EndStep: "end",
}
_HANDLERS: dict[type[model.Step], Callable[[Conversation, Any], Awaitable[_StepResult]]] = {
    model.UserStep: Conversation._user,
    model.TransferStep: Conversation._transfer,
    model.BotStep: Conversation._bot,
    model.StatusStep: Conversation._status,
    model.VariablesStep: Conversation._variables,
    model.SaveStep: Conversation._save,
    model.TurnStep: Conversation._turn,
    model.WaitStep: Conversation._wait,
    model.EndStep: Conversation._end,
}
