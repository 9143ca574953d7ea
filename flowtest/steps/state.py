"""What a step may read and change while one conversation runs: the session and its latest turn."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from flowtest.client import AsyncFlowClient, Message, SessionInfo, TurnResult
from flowtest.contract import TERMINATED
from flowtest.errors import FlowtestError, Location
from flowtest.redact import Redactor
from flowtest.scenario.model import Case, Step
from flowtest.steps.base import StepResult, at, turn_text
from flowtest.templating import Bindings
from flowtest.trace import Category, Failure, Role
from flowtest.yamlsource import iter_paths


@dataclass(frozen=True)
class RunContext:
    """What every conversation of one run shares."""

    run_id: str
    org: str
    env: Mapping[str, str] = field(repr=False, default_factory=dict)
    secret_keys: frozenset[str] = frozenset()
    concurrency: int = 1  # conversations at once: the runs of a repeated case share it


class TurnRecorder(Protocol):
    """How a step that takes several turns (the caller) records each as a record of its own."""

    def __call__(
        self,
        step: Step,
        kind: str,
        role: Role,
        result: StepResult,
        title: str,
        location: Location | None = None,
    ) -> None: ...


def unrecorded(
    step: Step, kind: str, role: Role, result: StepResult, title: str, location: Location | None = None
) -> None:
    """Outside a runner nobody keeps records."""


class ConversationState:
    """The session a conversation started, its status and latest turn, and what steps saved."""

    def __init__(self, case: Case, client: AsyncFlowClient, context: RunContext, org: str) -> None:
        self.case, self.client, self.context, self.org = case, client, context, org
        self.scenario = case.scenario
        self.scenario_id = case.scenario_id  # a regex over the name: once, not per bindings read
        self.session_id: str | None = None
        self.status: str | None = None
        self.turn: tuple[Message, ...] = ()
        self.response: Mapping[str, Any] = {}  # the latest turn's raw response, for turn: checks
        self.checked: set[int] = set()  # indices of the turn's messages already consumed
        self.saved: dict[str, Any] = {}
        self.unset: dict[str, str] = {}  # names a skipped optional step would have stored: why
        self.ended = False
        self.secret_values: set[str] = set()
        self.uuid = str(uuid.uuid4())  # ${uuid}: a new id per conversation attempt
        # The runner's: a record per turn, timed from the step's start or the turn before.
        self.record_turn: TurnRecorder = unrecorded

    @property
    def bindings(self) -> Bindings:
        values = {
            **self.case.row,
            "run_id": self.context.run_id,
            "scenario_id": self.scenario_id,
            "uuid": self.uuid,
            **self.saved,
        }
        return Bindings(values, self.context.env, self.unset)

    def redactor(self) -> Redactor:
        """The API key, secret variables and the values of them learned so far."""
        return self.client.config.effective_redactor.with_values(self.secret_values)

    def session(self) -> str:
        if self.session_id is None:
            raise FlowtestError("no session was started")
        return self.session_id

    def take_turn(self, turn: TurnResult) -> None:
        self.status, self.turn, self.response = turn.status, turn.messages, turn.raw
        ignored = self.scenario.ignore_messages
        # Messages of an ignored type (typing) count as checked: no step takes them, none is left over.
        self.checked = {i for i, m in enumerate(turn.messages) if m.type in ignored} if ignored else set()

    def end(self) -> None:
        """The session was ended on purpose (the ``end`` step): no turn is left to check."""
        self.ended, self.status, self.turn, self.checked = True, TERMINATED, (), set()

    async def get_session(self) -> SessionInfo:
        session = await self.client.get_session(self.session(), org=self.org)
        self.status = session.status
        self.learn_secrets(session.variables)
        return session

    def learn_secrets(self, data: Any) -> None:
        """Values under a secret key, wherever they appear, are masked in the trace."""
        keys = self.context.secret_keys
        if keys:
            for at, value in iter_paths(data):
                if at and at[-1] in keys:
                    self.secret_values.update(_scalars(value))

    def unconsumed(self) -> tuple[Message, ...]:
        return tuple(message for index, message in enumerate(self.turn) if index not in self.checked)

    def unconsumed_failure(self, step: Step, pending: tuple[Message, ...], at_end: bool = False) -> Failure:
        count = f"{len(pending)} bot message{'s' if len(pending) > 1 else ''}"
        when = "the scenario ended" if at_end else "this step"
        message = at(
            step,
            f"{count} of the turn not checked before {when}: {turn_text(pending)} "
            "(add bot or message steps for them, or set strict: false)",
        )
        return Failure(Category.CONVERSATION, message, "no unchecked bot messages", turn_text(pending))


def _scalars(value: Any) -> set[str]:
    """The texts of every scalar in ``value`` long enough to mask without masking common words."""
    leaves = (leaf for _, leaf in iter_paths(value) if not isinstance(leaf, (Mapping, list)))
    return {str(leaf) for leaf in leaves if leaf is not None and len(str(leaf)) >= 4}
