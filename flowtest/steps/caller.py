"""``caller:`` (+ ``goal:``): a caller that finds its own way through the flow.

It answers each turn by the first of its ``rules`` whose ``when`` matches the turn just
received (else by ``otherwise``), or, with ``persona:`` + ``goal_text:``, by what an LLM
playing that caller says (flowtest/llm); until the session leaves awaiting_input and
awaiting_transfer, or ``max_turns`` is reached. The ``goal:`` steps after it are
ordinary steps. Each turn is a record of its own (``ConversationState.record_turn``),
titled with the rule that answered it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from flowtest.client import Message, TurnResult
from flowtest.contract import AWAITING_INPUT, AWAITING_TRANSFER
from flowtest.errors import FlowtestError, Location, SourceError
from flowtest.jsonpath import check_syntax
from flowtest.matchers import (
    BuildContext,
    Matcher,
    build,
    matches,
    regex_group_names,
    regex_matches,
    show,
    stored_names,
    warm,
    warmed,
)
from flowtest.scenario.model import PathCheck, Scenario, Step
from flowtest.steps.base import RawStep, StepKind, StepResult, at, checks_title, path_problems
from flowtest.steps.state import ConversationState
from flowtest.templating import Bindings, TemplateError, render, render_text
from flowtest.trace import Category, Failure, Role, message_line, offered
from flowtest.validation import describe_path

if TYPE_CHECKING:
    from flowtest.config import Settings
    from flowtest.llm.persona import BotTurn, Reply, Turn

DEFAULT_MAX_TURNS = 20
WAITING = (AWAITING_INPUT, AWAITING_TRANSFER)
CALLER_KEYS = frozenset({"facts", "rules", "otherwise", "max_turns", "persona", "goal_text"})
REPLIES = ("say", "press", "transfer", "end")
_LAST_TURNS = 3  # turns a max_turns failure shows
_NO_BINDINGS = Bindings({}, {})


# -- what a rule looks at --------------------------------------------------------------


class Condition(Protocol):
    def holds(self, turn: Sequence[Message], status: str | None, bindings: Bindings) -> bool: ...

    def describe(self, bindings: Bindings) -> str: ...


@dataclass(frozen=True, slots=True)
class TextCondition:
    """A text matcher: holds when any message of the turn has a text it matches."""

    matcher: Matcher

    def holds(self, turn: Sequence[Message], status: str | None, bindings: Bindings) -> bool:
        return self.first(turn, bindings) is not None

    def first(self, turn: Sequence[Message], bindings: Bindings) -> Message | None:
        matcher = self.matcher
        return next((m for m in turn if m.text is not None and matches(matcher, m.text, bindings)), None)

    def describe(self, bindings: Bindings) -> str:
        return self.matcher.describe(bindings)


@dataclass(frozen=True, slots=True)
class MessageCondition:
    """``message:`` checks: hold when any message of the turn passes them all."""

    checks: tuple[PathCheck, ...]

    def holds(self, turn: Sequence[Message], status: str | None, bindings: Bindings) -> bool:
        return any(path_problems(self.checks, m.raw, bindings) is None for m in turn)

    def describe(self, bindings: Bindings) -> str:
        return f"message {checks_title(self.checks, bindings)}"


@dataclass(frozen=True, slots=True)
class StatusCondition:
    """``status:``: holds when the session's status after the turn is one of these."""

    statuses: tuple[str, ...]

    def holds(self, turn: Sequence[Message], status: str | None, bindings: Bindings) -> bool:
        return status in self.statuses

    def describe(self, bindings: Bindings) -> str:
        return f"status {' or '.join(self.statuses)}"


# -- what the caller answers -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WrittenReply:
    """A reply as written: ``say``/``press`` a text, ``transfer`` a result (+ ``reason``), ``end``."""

    action: str  # one of REPLIES
    text: str = ""  # what to say, the button's title, or the transfer's result; may hold ${...}
    reason: str | None = None

    def describe(self) -> str:
        if self.action == "end":
            return "end"
        reason = f" (reason {show(self.reason)})" if self.reason is not None else ""
        return f"{self.action} {show(self.text)}{reason}"


@dataclass(frozen=True, slots=True)
class Rule:
    number: int  # from 1, as the transcript and the dead-rule report count them
    when: Condition
    reply: WrittenReply
    location: Location
    written: str  # "when contains ...", whatever the run's values: for the report after the run
    stores: bool = False  # its `when` is a regex with named groups, stored as ${name}
    fixed: bool = False  # its `when` names no value of the run: ``written`` is what it says

    def describe(self, bindings: Bindings) -> str:
        if self.fixed:  # every turn it answers says so: worded once
            return f"rule {self.number}: {self.written}"
        return f"rule {self.number}: when {self.when.describe(bindings)}"


@dataclass(frozen=True, slots=True)
class CallerStep(Step):
    facts: tuple[tuple[str, Any], ...] = ()
    rules: tuple[Rule, ...] = ()
    otherwise: WrittenReply | None = None
    otherwise_location: Location | None = None
    max_turns: int = DEFAULT_MAX_TURNS
    persona: str | None = None  # with goal_text: an LLM plays the caller instead of the rules
    goal_text: str | None = None
    persona_location: Location | None = None
    warmed: tuple[Matcher, ...] = ()  # the rules' meaning matchers (similar, judge): warmed each turn
    # The run's MeaningServices: its LLM client plays a persona (one client per run, judge's too).
    services: Any = field(default=None, compare=False, repr=False)


class Action(NamedTuple):
    """A reply with its templates rendered: what the caller does now."""

    action: str
    text: str = ""
    reason: str | None = None


class Answer(NamedTuple):
    """Which rule answered a turn (None: otherwise, or the persona), with what, from which line."""

    rule: Rule | None
    action: Action
    why: str  # "rule 1: when contains ..." / "otherwise" / "persona"
    location: Location | None


class _Turn(NamedTuple):
    """A turn taken, as a max_turns failure shows it."""

    bot: tuple[Message, ...]
    why: str
    sent: str


# -- the kind ---------------------------------------------------------------------------


class CallerKind(StepKind[CallerStep]):
    name = "caller"
    keys = frozenset({"caller"})
    modifiers = frozenset({"goal"})  # the scenario keys beside it: its goal steps, built as steps
    model = CallerStep
    role = Role.CHECK

    def build(self, raw: RawStep, texts: BuildContext) -> CallerStep:
        data, document = raw.data, raw.document
        otherwise = data.get("otherwise")
        persona_at = (*raw.at, "persona")
        rules = tuple(_rule(raw, index, texts) for index in range(len(data.get("rules", []))))
        matchers = [rule.when.matcher for rule in rules if isinstance(rule.when, TextCondition)]
        # At its key's line ("caller:"), where a designer looks for it, not at its first inner key.
        common = {**raw.common(), "location": document.key_location(raw.at)}
        return CallerStep(
            **common,
            facts=tuple(data.get("facts", {}).items()),
            rules=rules,
            otherwise=_reply(otherwise) if otherwise is not None else None,
            otherwise_location=document.location((*raw.at, "otherwise")) if otherwise is not None else None,
            max_turns=data.get("max_turns", DEFAULT_MAX_TURNS),
            persona=data.get("persona"),
            goal_text=data.get("goal_text"),
            persona_location=document.location(persona_at) if "persona" in data else None,
            warmed=warmed(matchers),
            services=texts.services,
        )

    def problems(self, raw: RawStep) -> Iterator[SourceError]:
        """What the schema cannot check: the JSONPaths of ``message:`` conditions."""
        for index, rule in enumerate(raw.data.get("rules", [])):
            when = rule["when"]
            if isinstance(when, dict) and "message" in when:
                for path in when["message"]:
                    problem = check_syntax(path)
                    if problem is not None:
                        at = (*raw.at, "rules", index, "when", "message", path)
                        yield SourceError(raw.document.key_location(at), f"{describe_path(at)}: {problem}")

    def stores(self, raw: RawStep) -> Iterator[str]:
        """The names its replies and the goal steps may use: facts, and its regexes' named groups."""
        yield from raw.data.get("facts", {})
        for rule in raw.data.get("rules", []):
            when = rule["when"]
            if not (isinstance(when, dict) and ("message" in when or "status" in when)):
                yield from regex_group_names(when)

    async def run(self, step: CallerStep, state: ConversationState) -> StepResult:
        bindings = state.bindings
        # Facts are values like saved ones: the replies and the goal steps name them.
        state.saved.update({name: render(value, bindings) for name, value in step.facts})
        if step.persona is not None:
            return await _persona_turns(step, state)
        return await _rule_turns(step, state)

    def title(self, step: CallerStep, state: ConversationState) -> str:
        how = "persona" if step.persona is not None else _count(len(step.rules), "rule")
        return f"caller: {how}, max_turns {step.max_turns}"


def persona_location(scenario: Scenario) -> Location | None:
    """Where the scenario asks for an LLM caller, for the check at collection; None when it does not."""
    first = scenario.steps[0] if scenario.steps else None
    return first.persona_location if isinstance(first, CallerStep) else None


def unavailable(settings: Settings, scenario: Scenario) -> SourceError | None:
    """What a scenario needs that these settings lack (persona: an LLM endpoint), as an error at
    collection naming the setting: never a silent pass, never a failure mid-run."""
    location = persona_location(scenario)
    if location is None:
        return None
    from flowtest.llm.endpoint import require_endpoint

    problem = require_endpoint(settings, "persona")
    return None if problem is None else SourceError(location, f"caller.persona: {problem}")


def caller_of(scenario: Scenario) -> CallerStep | None:
    first = scenario.steps[0] if scenario.steps else None
    return first if isinstance(first, CallerStep) else None


# -- building -------------------------------------------------------------------------


def _rule(raw: RawStep, index: int, texts: BuildContext) -> Rule:
    spec = raw.data["rules"][index]
    at = (*raw.at, "rules", index)
    when = spec["when"]
    condition: Condition
    stores = False
    if isinstance(when, dict) and "message" in when:
        condition = MessageCondition(RawStep(when, raw.document, (*at, "when"), None).path_checks("message"))
    elif isinstance(when, dict) and "status" in when:
        status = when["status"]
        condition = StatusCondition(tuple(status if isinstance(status, list) else [status]))
    else:
        matcher = build(when, texts)
        condition = TextCondition(matcher)
        stores = any(True for _ in stored_names(matcher))
    written, fixed = _written(condition, when)
    return Rule(index + 1, condition, _reply(spec), raw.document.location(at), written, stores, fixed)


def _written(condition: Condition, spec: Any) -> tuple[str, bool]:
    """The words of a ``when``, and whether they are the same whatever the run's values."""
    try:
        return f"when {condition.describe(_NO_BINDINGS)}", "${" not in json.dumps(spec)
    except (TemplateError, FlowtestError):  # it names a value of the run
        return f"when {json.dumps(spec, ensure_ascii=False)}", False


def _reply(spec: Mapping[str, Any]) -> WrittenReply:
    action = next(key for key in REPLIES if key in spec)
    if action == "end":
        return WrittenReply("end")
    text = spec[action]
    return WrittenReply(action, text if isinstance(text, str) else json.dumps(text), spec.get("reason"))


# -- the rule-driven caller -----------------------------------------------------------


async def _rule_turns(step: CallerStep, state: ConversationState) -> StepResult:
    taken: list[_Turn] = []
    while state.status in WAITING and not state.ended:
        bindings = state.bindings
        if step.warmed:  # similar and judge: embedded, or asked, before they check
            texts = [message.text for message in state.turn if message.text is not None]
            await warm(step.warmed, texts, bindings, state.redactor())
        if len(taken) >= step.max_turns:
            return StepResult(_out_of_turns(step, state, taken, bindings))
        answer = _choose(step, state, bindings)
        if answer is None:
            return StepResult(_unanswered(step, state, len(taken) + 1, bindings))
        failure = await _take_turn(step, state, answer, taken)
        if failure is not None:
            return StepResult(failure)
    return StepResult(note=_count(len(taken), "turn"))


def _choose(step: CallerStep, state: ConversationState, bindings: Bindings) -> Answer | None:
    """The first rule whose ``when`` holds (its regex groups stored), else otherwise, else None."""
    turn, status = state.turn, state.status
    for rule in step.rules:
        if rule.when.holds(turn, status, bindings):
            if rule.stores:
                _store_groups(rule, state, bindings)
                bindings = state.bindings  # the reply may name them
            return Answer(rule, _rendered(rule.reply, bindings), rule.describe(bindings), rule.location)
    if step.otherwise is None:
        return None
    return Answer(None, _rendered(step.otherwise, bindings), "otherwise", step.otherwise_location)


def _rendered(reply: WrittenReply, bindings: Bindings) -> Action:
    reason = str(render_text(reply.reason, bindings)) if reply.reason is not None else None
    text = reply.text if reply.action == "transfer" else str(render_text(reply.text, bindings))
    return Action(reply.action, text, reason)


def _store_groups(rule: Rule, state: ConversationState, bindings: Bindings) -> None:
    """A ``when`` regex's named groups, from the message it matched, as ``${name}``."""
    if not isinstance(rule.when, TextCondition):
        return
    message = rule.when.first(state.turn, bindings)
    if message is not None and message.text is not None:
        for found in regex_matches(rule.when.matcher, message.text, bindings):
            state.saved.update({k: v for k, v in found.groupdict().items() if v is not None})


async def _take_turn(
    step: CallerStep, state: ConversationState, answer: Answer, taken: list[_Turn]
) -> Failure | None:
    """Send the answer, record the turn; the failure when it cannot be sent."""
    bot, number = state.turn, len(taken) + 1
    if answer.action.action == "end":
        await state.client.end_session(state.session(), org=state.org)
        state.end()
        result = StepResult(note=answer.why)
        state.record_turn(step, "end", Role.CALL, result, "end: End Session", answer.location)
        taken.append(_Turn(bot, answer.why, "end"))
        return None
    sent = _wrong_status(step, state, answer, number) or await _send(step, state, answer, number)
    if isinstance(sent, Failure):
        return sent
    state.take_turn(sent.turn)
    result = StepResult.of_turn(sent.turn, sent.shown)
    result.note = answer.why
    state.record_turn(step, sent.kind, Role.SEND, result, sent.title, answer.location)
    taken.append(_Turn(bot, answer.why, f"{sent.kind}: {sent.shown}"))
    return None


class _Sent(NamedTuple):
    """A reply sent: the record's kind and title, what the transcript shows, the turn it brought."""

    kind: str
    title: str
    shown: str
    turn: TurnResult


def _wrong_status(step: CallerStep, state: ConversationState, answer: Answer, number: int) -> Failure | None:
    action = answer.action.action
    needed = AWAITING_TRANSFER if action == "transfer" else AWAITING_INPUT
    if state.status == needed:
        return None
    message = at(
        step,
        f"turn {number}: {answer.why} answers {action}, but the session is {state.status}; "
        f"{action} needs {needed}",
    )
    return Failure(Category.STATUS, message, needed, str(state.status))


async def _send(step: CallerStep, state: ConversationState, answer: Answer, number: int) -> _Sent | Failure:
    action, session, client = answer.action, state.session(), state.client
    if action.action == "transfer":
        shown = action.text if action.reason is None else f"{action.text} ({action.reason})"
        turn = await client.send_transfer(session, action.text, action.reason, org=state.org)
        return _Sent("transfer", f"transfer: {shown}", shown, turn)
    if action.action == "say":
        turn = await client.send_text(session, action.text, org=state.org)
        return _Sent("user", f"user: {action.text}", action.text, turn)
    pressed = _press(step, state, answer, number)
    if isinstance(pressed, Failure):
        return pressed
    title, payload = pressed
    turn = await client.send_text(session, payload, org=state.org)
    return _Sent("user", f"press: {title}", _pressed(title, payload), turn)


def _press(
    step: CallerStep, state: ConversationState, answer: Answer, number: int
) -> tuple[str, str] | Failure:
    """The button the reply names, as (title, what pressing it sends); a failure when none is offered."""
    wanted = " ".join(answer.action.text.split()).casefold()
    buttons = [button for message in state.turn for button in offered(message.raw)]
    for title, payload in buttons:
        if " ".join(title.split()).casefold() == wanted:
            return title, payload
    shown = ", ".join(show(title) for title, _ in buttons) or "none"
    wanted = show(answer.action.text)
    message = at(step, f"turn {number}: {answer.why} presses {wanted}, but the turn offers no such button")
    return Failure(
        Category.CONVERSATION, message, f"a button {show(answer.action.text)}", f"buttons: {shown}"
    )


def _pressed(title: str, payload: str) -> str:
    return f"[{title}]" if payload == title else f"[{title}] {payload}"


# -- the LLM caller (persona:) ---------------------------------------------------------


async def _persona_turns(step: CallerStep, state: ConversationState) -> StepResult:
    from flowtest.matchers.meaning import MeaningServices, default_services

    services = step.services if isinstance(step.services, MeaningServices) else default_services()
    llm = services.llm()  # the run's one client, judge's too; closed with the run
    bindings = state.bindings
    persona = str(render_text(step.persona or "", bindings))
    goal_text = str(render_text(step.goal_text or "", bindings))
    secrets = state.redactor()
    transcript: list[Turn] = []
    taken: list[_Turn] = []
    while state.status in WAITING and not state.ended:
        if len(taken) >= step.max_turns:
            return StepResult(_out_of_turns(step, state, taken, state.bindings))
        transcript.append(_bot_turn(state))
        reply = await llm.next_reply(persona, goal_text, transcript, secrets)
        transcript.append(reply)
        failure = await _take_turn(step, state, _persona_answer(step, reply), taken)
        if failure is not None:
            return StepResult(failure)
    return StepResult(note=_count(len(taken), "turn"))


def _bot_turn(state: ConversationState) -> BotTurn:
    from flowtest.llm.persona import BotMessage, BotTurn

    messages = tuple(
        BotMessage(
            m.text if m.text is not None else message_line(m.type, m.text, m.raw),
            tuple(title for title, _ in offered(m.raw)),
        )
        for m in state.turn
        if m.type != "typing"
    )
    return BotTurn(messages, str(state.status))


def _persona_answer(step: CallerStep, reply: Reply) -> Answer:
    from flowtest.llm.persona import End, Press, Say

    if isinstance(reply, Say):
        action = Action("say", reply.text)
    elif isinstance(reply, Press):
        action = Action("press", reply.button)
    elif isinstance(reply, End):
        action = Action("end")
    else:
        action = Action("transfer", reply.result, reply.reason)
    return Answer(None, action, "persona", step.persona_location)


# -- failures ---------------------------------------------------------------------------


def _unanswered(step: CallerStep, state: ConversationState, number: int, bindings: Bindings) -> Failure:
    message = at(step, f"turn {number}: no rule matches and there is no otherwise")
    expected = "\n".join(rule.describe(bindings) for rule in step.rules) or "(no rules)"
    return Failure(Category.CONVERSATION, message, expected, _now(state))


def _out_of_turns(
    step: CallerStep, state: ConversationState, taken: list[_Turn], bindings: Bindings
) -> Failure:
    status = state.status
    message = at(
        step, f"max_turns reached: {_count(len(taken), 'turn')} answered and the session is still {status}"
    )
    expected = f"the session leaves {' and '.join(WAITING)} within max_turns: {step.max_turns}"
    first = max(0, len(taken) - _LAST_TURNS)
    lines = [f"the last {_count(len(taken) - first, 'turn')}:"] if taken else []
    for number, turn in enumerate(taken[first:], first + 1):
        lines.append(f"  {number}. bot: {_bot_line(turn.bot)}")
        lines.append(f"     {turn.why} -> {turn.sent}")
    lines.append(f"now: {_now(state)}")
    if step.persona is None:
        lines.append("rules tried on it:")
        lines.extend(f"  {line}" for line in _tried(step, state, bindings))
    return Failure(Category.CONVERSATION, message, expected, "\n".join(lines))


def _tried(step: CallerStep, state: ConversationState, bindings: Bindings) -> Iterator[str]:
    for rule in step.rules:
        held = rule.when.holds(state.turn, state.status, bindings)
        yield f"{rule.describe(bindings)}: {'matches' if held else 'no match'}"
        if held:
            return
    if step.otherwise is not None:
        yield f"otherwise: {step.otherwise.describe()}"


def _now(state: ConversationState) -> str:
    return f"bot: {_bot_line(state.turn)} (status {state.status})"


def _bot_line(turn: Sequence[Message]) -> str:
    lines = [message_line(m.type, m.text, m.raw) for m in turn if m.type != "typing"]
    return " | ".join(lines) if lines else "(no messages)"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


KINDS = (CallerKind(),)
