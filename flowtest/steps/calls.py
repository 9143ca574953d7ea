"""The steps that call the API or pause without checking: ``save``, ``wait``, ``end``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from flowtest.durations import format_duration, parse_duration
from flowtest.jsonpath import query
from flowtest.matchers import BuildContext
from flowtest.scenario.model import Step
from flowtest.steps.base import RawStep, StepKind, StepResult, at
from flowtest.steps.state import ConversationState
from flowtest.trace import Category, Failure, Role


@dataclass(frozen=True, slots=True)
class SaveStep(Step):
    targets: tuple[tuple[str, str], ...]  # (name, JSONPath)


@dataclass(frozen=True, slots=True)
class WaitStep(Step):
    seconds: float


@dataclass(frozen=True, slots=True)
class EndStep(Step):
    pass


class SaveKind(StepKind[SaveStep]):
    name = "save"
    keys = frozenset({"save"})
    model = SaveStep
    role = Role.CALL

    def build(self, raw: RawStep, texts: BuildContext) -> SaveStep:
        return SaveStep(**raw.common(), targets=tuple(raw.data["save"].items()))

    async def run(self, step: SaveStep, state: ConversationState) -> StepResult:
        session = await state.get_session()
        for name, path in step.targets:
            found = query(path, session.variables)
            if not found.found:
                message = at(step, f"save {name}: {path} found nothing in the session's variables")
                known = ", ".join(sorted(session.variables)) or "none"
                return StepResult(
                    Failure(Category.VARIABLE, message, f"a value at {path}", f"variables: {known}")
                )
            state.saved[name] = found.value
        return StepResult()

    def title(self, step: SaveStep, state: ConversationState) -> str:
        return "save: " + ", ".join(f"{name} = {path}" for name, path in step.targets)


class WaitKind(StepKind[WaitStep]):
    name = "wait"
    keys = frozenset({"wait"})
    model = WaitStep
    role = Role.CALL

    def build(self, raw: RawStep, texts: BuildContext) -> WaitStep:
        return WaitStep(**raw.common(), seconds=parse_duration(raw.data["wait"]))

    async def run(self, step: WaitStep, state: ConversationState) -> StepResult:
        await asyncio.sleep(step.seconds)
        return StepResult()

    def title(self, step: WaitStep, state: ConversationState) -> str:
        return f"wait: {format_duration(step.seconds)}"

    def touches_session(self, step: WaitStep) -> bool:
        return False


class EndKind(StepKind[EndStep]):
    name = "end"
    keys = frozenset({"end"})
    model = EndStep
    role = Role.CALL
    ends_session = True

    def build(self, raw: RawStep, texts: BuildContext) -> EndStep:
        return EndStep(**raw.common())

    async def run(self, step: EndStep, state: ConversationState) -> StepResult:
        await state.client.end_session(state.session(), org=state.org)
        state.end()
        return StepResult()

    def title(self, step: EndStep, state: ConversationState) -> str:
        return "end: End Session"


KINDS = (SaveKind(), WaitKind(), EndKind())
