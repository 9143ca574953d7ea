"""The steps that speak for the caller: ``user`` (a text) and ``transfer`` (a transfer's result)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from flowtest.client import TurnResult
from flowtest.contract import AWAITING_INPUT, AWAITING_TRANSFER
from flowtest.durations import format_duration
from flowtest.errors import ApiError
from flowtest.matchers import BuildContext
from flowtest.scenario.model import ExpectedError, Step
from flowtest.steps.base import RawStep, StepKind, StepResult, at
from flowtest.steps.state import ConversationState
from flowtest.templating import Bindings, render_text
from flowtest.trace import Category, Failure, Role

_MODIFIERS = frozenset({"within", "error"})


@dataclass(frozen=True, slots=True)
class UserStep(Step):
    text: str
    within: float | None = None
    error: ExpectedError | None = None
    utterance: str | None = None  # sends the case's phrase of this list instead of ``text``


@dataclass(frozen=True, slots=True)
class TransferStep(Step):
    result: str
    reason: str | None = None
    within: float | None = None
    error: ExpectedError | None = None


Call = Callable[[], Awaitable[TurnResult]]
SendStep = TypeVar("SendStep", UserStep, TransferStep)


class _Send(StepKind[SendStep]):
    """What both sends share: the strict check, the status they need, the budget, a refusal."""

    role = Role.SEND
    modifiers = _MODIFIERS

    def touches_session(self, step: SendStep) -> bool:
        return step.error is None  # a refusal is expected whatever the session's state

    async def send(self, step: SendStep, state: ConversationState, call: Call, sent: str) -> StepResult:
        if step.error is not None:
            return await _expect_refusal(step, state, call, step.error, sent)
        pending = state.unconsumed()
        if pending and state.scenario.strict:
            return StepResult(state.unconsumed_failure(step, pending))
        if state.status != self.needs:
            message = at(step, f"the session is {state.status}; a {self.name} step needs {self.needs}")
            return StepResult(Failure(Category.STATUS, message, str(self.needs), str(state.status)))
        clock = time.perf_counter()
        turn = await call()
        elapsed = time.perf_counter() - clock
        state.take_turn(turn)
        result = StepResult.of_turn(turn, sent)
        result.title = f"{self.name}: {sent}"  # title() would render the text a second time
        if step.within is not None and elapsed > step.within:
            budget, took = format_duration(step.within), format_duration(elapsed)
            message = at(step, f"the answer took {took}, over the {budget} budget")
            result.failure = Failure(Category.LATENCY, message, f"within {budget}", took)
        return result


async def _expect_refusal(
    step: Step, state: ConversationState, call: Call, expected: ExpectedError, sent: str
) -> StepResult:
    wanted = f"{expected.status} {expected.code}" if expected.code else str(expected.status)
    try:
        turn = await call()
    except ApiError as exc:
        got = f"{exc.status} {exc.code}" if exc.code else str(exc.status)
        if exc.status == expected.status and (expected.code in (None, exc.code)):
            return StepResult(sent=sent, note=f"refused: {got}")
        message = at(step, f"expected the API to refuse with {wanted}, it answered {got}")
        return StepResult(Failure(Category.API, message, wanted, got), sent)
    state.take_turn(turn)
    message = at(step, f"expected the API to refuse with {wanted}, it accepted the call")
    return StepResult.of_turn(turn, sent, Failure(Category.API, message, wanted, f"status {turn.status}"))


class UserKind(_Send[UserStep]):
    name = "user"
    keys = frozenset({"user"})
    model = UserStep
    needs = AWAITING_INPUT

    def build(self, raw: RawStep, texts: BuildContext) -> UserStep:
        user = raw.data["user"]
        within, error = raw.duration("within"), raw.expected_error()
        if isinstance(user, dict):
            return UserStep(**raw.common(), text="", utterance=user["utterance"], within=within, error=error)
        return UserStep(
            **raw.common(), text=user if isinstance(user, str) else str(user), within=within, error=error
        )

    def text(self, step: UserStep, state: ConversationState, bindings: Bindings) -> str:
        written = step.text if step.utterance is None else state.case.phrases[step.utterance]
        return str(render_text(written, bindings))

    async def run(self, step: UserStep, state: ConversationState) -> StepResult:
        text = self.text(step, state, state.bindings)
        session = state.session
        return await self.send(
            step, state, lambda: state.client.send_text(session(), text, org=state.org), text
        )

    def title(self, step: UserStep, state: ConversationState) -> str:
        return f"user: {self.text(step, state, state.bindings)}"


class TransferKind(_Send[TransferStep]):
    name = "transfer"
    keys = frozenset({"transfer"})
    modifiers = _MODIFIERS | {"reason"}
    model = TransferStep
    needs = AWAITING_TRANSFER

    def build(self, raw: RawStep, texts: BuildContext) -> TransferStep:
        data = raw.data
        return TransferStep(
            **raw.common(),
            result=data["transfer"],
            reason=data.get("reason"),
            within=raw.duration("within"),
            error=raw.expected_error(),
        )

    def sent(self, step: TransferStep, bindings: Bindings) -> tuple[str | None, str]:
        reason = str(render_text(step.reason, bindings)) if step.reason is not None else None
        return reason, step.result if reason is None else f"{step.result} ({reason})"

    async def run(self, step: TransferStep, state: ConversationState) -> StepResult:
        reason, sent = self.sent(step, state.bindings)

        def call() -> Awaitable[TurnResult]:
            return state.client.send_transfer(state.session(), step.result, reason, org=state.org)

        return await self.send(step, state, call, sent)

    def title(self, step: TransferStep, state: ConversationState) -> str:
        return f"transfer: {self.sent(step, state.bindings)[1]}"


KINDS = (UserKind(), TransferKind())
