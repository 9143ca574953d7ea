"""The steps that check the session: ``status``, ``variables`` (Get Session), ``turn`` (the latest answer)."""

from __future__ import annotations

from dataclasses import dataclass

from flowtest.matchers import BuildContext
from flowtest.scenario.model import PathCheck, Step
from flowtest.steps.base import RawStep, StepKind, StepResult, at, checks_title, path_problems
from flowtest.steps.state import ConversationState
from flowtest.trace import Category, Failure, Role


@dataclass(frozen=True, slots=True)
class StatusStep(Step):
    statuses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VariablesStep(Step):
    checks: tuple[PathCheck, ...]


@dataclass(frozen=True, slots=True)
class TurnStep(Step):
    """JSONPath checks over the raw response of the latest Start Session / Send Message."""

    checks: tuple[PathCheck, ...]


class StatusKind(StepKind[StatusStep]):
    name = "status"
    keys = frozenset({"status"})
    modifiers = frozenset({"soft"})
    model = StatusStep
    role = Role.CHECK

    def build(self, raw: RawStep, texts: BuildContext) -> StatusStep:
        status = raw.data["status"]
        return StatusStep(**raw.common(), statuses=tuple(status if isinstance(status, list) else [status]))

    async def run(self, step: StatusStep, state: ConversationState) -> StepResult:
        if state.status in step.statuses:
            return StepResult()
        wanted = " or ".join(step.statuses)
        message = at(step, f"the session is {state.status}, expected {wanted}")
        return StepResult(Failure(Category.STATUS, message, wanted, str(state.status)))

    def title(self, step: StatusStep, state: ConversationState) -> str:
        return f"status: {' or '.join(step.statuses)}"

    def touches_session(self, step: StatusStep) -> bool:
        return False  # it reads the status the last answer gave


class VariablesKind(StepKind[VariablesStep]):
    name = "variables"
    keys = frozenset({"variables"})
    modifiers = frozenset({"soft"})
    model = VariablesStep
    role = Role.CHECK

    def build(self, raw: RawStep, texts: BuildContext) -> VariablesStep:
        return VariablesStep(**raw.common(), checks=raw.path_checks("variables"))

    async def run(self, step: VariablesStep, state: ConversationState) -> StepResult:
        session = await state.get_session()
        problems = path_problems(step.checks, session.variables, state.bindings)
        if problems is None:
            return StepResult()
        message = at(step, f"{problems.failed} of {len(step.checks)} variable check(s) failed")
        return StepResult(Failure(Category.VARIABLE, message, problems.expected, problems.actual))

    def title(self, step: VariablesStep, state: ConversationState) -> str:
        return "variables: " + checks_title(step.checks, state.bindings)


class TurnKind(StepKind[TurnStep]):
    name = "turn"
    keys = frozenset({"turn"})
    modifiers = frozenset({"soft"})
    model = TurnStep
    role = Role.CHECK

    def build(self, raw: RawStep, texts: BuildContext) -> TurnStep:
        return TurnStep(**raw.common(), checks=raw.path_checks("turn"))

    async def run(self, step: TurnStep, state: ConversationState) -> StepResult:
        problems = path_problems(step.checks, state.response, state.bindings)
        if problems is None:
            return StepResult()
        message = at(step, "the latest response does not match")
        return StepResult(Failure(Category.CONVERSATION, message, problems.expected, problems.actual))

    def title(self, step: TurnStep, state: ConversationState) -> str:
        return "turn: " + checks_title(step.checks, state.bindings)


KINDS = (StatusKind(), VariablesKind(), TurnKind())
