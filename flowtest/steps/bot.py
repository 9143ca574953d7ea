"""The steps that check the bot's messages: ``bot`` (their text) and ``message`` (the raw objects).

Both consume the next message of the turn (``anywhere``: any unchecked one), may be
``optional``, and may ``save`` values from the message they matched.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from flowtest.client import Message
from flowtest.jsonpath import nothing_at, query
from flowtest.matchers import (
    BuildContext,
    Matcher,
    TextMode,
    build,
    regex_matches,
    show,
    stored_names,
    text_mode,
    warm,
    warmed,
)
from flowtest.matchers.text import TEXT_OPTIONS
from flowtest.scenario.model import PathCheck, Step
from flowtest.steps.base import RawStep, StepKind, StepResult, at, checks_title, path_problems, turn_text
from flowtest.steps.state import ConversationState
from flowtest.templating import Bindings
from flowtest.trace import Category, Failure, Role, step_label


@dataclass(frozen=True, slots=True)
class BotStep(Step):
    """``bot`` and/or ``message``: consumes the next message(s) of the turn.

    ``matchers`` check texts, one message each (empty for a ``message:`` step);
    ``checks`` run over the raw message; ``saves`` store values from it.
    """

    matchers: tuple[Matcher, ...]
    checks: tuple[PathCheck, ...] = ()
    saves: tuple[tuple[str, str], ...] = ()  # (name, JSONPath over the message)
    optional: bool = False
    anywhere: bool = False
    warmed: tuple[Matcher, ...] = ()  # its meaning matchers (similar, judge), warmed before checking

    @property
    def kind(self) -> str:
        return "bot" if self.matchers else "message"


@dataclass(frozen=True)
class _Miss:
    expected: str
    actual: str
    why: str = "does not match"


class _NoMatch(Exception):
    """An optional step found no message it matches: it passes, skipped."""


class BotKind(StepKind[BotStep]):
    name = "bot"
    keys = frozenset({"bot", "message"})
    modifiers = frozenset({"save", "optional", "anywhere", "soft", *TEXT_OPTIONS, "text_match"})
    model = BotStep
    role = Role.CHECK

    @property
    def names(self) -> tuple[str, ...]:
        return ("bot", "message")

    def name_of(self, step: BotStep) -> str:
        return step.kind

    def build(self, raw: RawStep, texts: BuildContext) -> BotStep:
        data = raw.data
        specs = data.get("bot")
        if len(data) > 1:
            texts = _step_texts(data, texts)
        if "bot" not in data:  # a message: step
            matchers: tuple[Matcher, ...] = ()
        elif isinstance(specs, list):
            matchers = tuple(build(spec, texts) for spec in specs)
        else:
            matchers = (build(specs, texts),)
        if len(data) == 1 and matchers:  # a plain bot step, by far the most common: nothing else to read
            return BotStep(**raw.common(), matchers=matchers, warmed=warmed(matchers))
        return BotStep(
            **raw.common(),
            matchers=matchers,
            checks=raw.path_checks("message") if "message" in data else (),
            saves=tuple(data["save"].items()) if "save" in data else (),
            optional=data.get("optional", False),
            anywhere=data.get("anywhere", False),
            warmed=warmed(matchers),
        )

    async def run(self, step: BotStep, state: ConversationState) -> StepResult:
        bindings = state.bindings
        matchers: Sequence[Matcher | None] = step.matchers or (None,)  # bot: [A, B]: the next ones, in order
        if step.warmed:
            await warm(step.warmed, _candidate_texts(step, state), bindings, state.redactor())
        try:
            for matcher in matchers:
                failure = _take_message(step, matcher, state, bindings)
                if failure is not None:
                    if step.soft:
                        _pass_over(step, state)
                    return StepResult(failure)
        except _NoMatch:
            _remember_unset(step, matchers[0], state)
            return StepResult(note="skipped: no match", skipped=True)
        return StepResult()

    def title(self, step: BotStep, state: ConversationState) -> str:
        bindings = state.bindings
        parts = [matcher.title(bindings) for matcher in step.matchers]
        if step.checks:
            parts.append(checks_title(step.checks, bindings))
        flags = [flag for flag in ("optional", "anywhere") if getattr(step, flag)]
        return f"{step.kind}: " + ", ".join(parts) + (f" ({', '.join(flags)})" if flags else "")


def _candidate_texts(step: BotStep, state: ConversationState) -> list[str]:
    """The texts the step's matchers will check: the next message's (each next one's, for a list)
    or, with anywhere, every unchecked one's."""
    pending = [state.turn[i] for i in range(len(state.turn)) if i not in state.checked]
    taken = pending if step.anywhere else pending[: len(step.matchers)]
    return [message.text for message in taken if message.text is not None]


def _step_texts(data: dict[str, object], texts: BuildContext) -> BuildContext:
    """The text options beside bot (ignore_case, loose, text_match): its text matchers' default."""
    if "text_match" in data:
        return BuildContext(text=True, text_mode=TextMode(data["text_match"]))
    return BuildContext(text=True, text_mode=text_mode(data, texts))


def _pass_over(step: BotStep, state: ConversationState) -> None:
    """A soft check that failed still takes the message it checked, so the next steps stay in step
    with the turn (``anywhere`` had none of its own)."""
    pending = [index for index in range(len(state.turn)) if index not in state.checked]
    if pending and not step.anywhere:
        state.checked.add(pending[0])


def _take_message(
    step: BotStep, matcher: Matcher | None, state: ConversationState, bindings: Bindings
) -> Failure | None:
    """Consume the message the step matches (the next one, or with anywhere any unchecked one)."""
    pending = [index for index in range(len(state.turn)) if index not in state.checked]
    candidates = pending if step.anywhere else pending[:1]
    if not candidates:
        return _nothing_left(step, matcher, state, bindings)
    misses = []
    for index in candidates:
        miss = _mismatch(step, matcher, state.turn[index], bindings)
        if miss is None:
            state.checked.add(index)
            return _keep(step, matcher, state.turn[index], state, bindings)
        misses.append((index, miss))
    if step.optional:
        raise _NoMatch
    if step.anywhere:
        expected = _expected(step, matcher, bindings)
        message = at(step, f"no unchecked bot message of the turn matches ({expected})")
        pending_text = turn_text([state.turn[i] for i in pending])
        return Failure(Category.CONVERSATION, message, expected, pending_text)
    index, miss = misses[0]
    message = at(step, f"bot message {index + 1} of the turn {miss.why}")
    return Failure(Category.CONVERSATION, message, miss.expected, miss.actual)


def _nothing_left(
    step: BotStep, matcher: Matcher | None, state: ConversationState, bindings: Bindings
) -> Failure:
    if step.optional:
        raise _NoMatch
    expected = _expected(step, matcher, bindings)
    message = at(step, f"expected a bot message ({expected}), but the turn has no more messages")
    return Failure(Category.CONVERSATION, message, expected, _none_left(state.turn))


def _mismatch(step: BotStep, matcher: Matcher | None, message: Message, bindings: Bindings) -> _Miss | None:
    """Why the message fails the step's checks, in words, or None when it passes."""
    if matcher is not None:
        if message.text is None:
            why = (
                f"is a {message.type} message without text; a bot step checks text: "
                f"check this one with a message: step, e.g. message: {{$.type: {message.type}}}"
            )
            return _Miss(matcher.describe(bindings), json.dumps(message.raw, ensure_ascii=False), why)
        mismatch = matcher.check(message.text, True, bindings)
        if mismatch is not None:
            return _Miss(mismatch, show(message.text))
    problems = path_problems(step.checks, message.raw, bindings)
    return _Miss(problems.expected, problems.actual) if problems is not None else None


def _keep(
    step: BotStep, matcher: Matcher | None, message: Message, state: ConversationState, bindings: Bindings
) -> Failure | None:
    """Store what the step saves: named regex groups, and save: paths over the message."""
    if matcher is not None and message.text is not None:
        for found in regex_matches(matcher, message.text, bindings):
            _store_groups(step, found.groupdict(), state)
    for name, path in step.saves:
        result = query(path, message.raw)
        if not result.found:
            text = at(step, f"save {name}: {path} found nothing in the message")
            return Failure(Category.CONVERSATION, text, f"a value at {path}", nothing_at(path, message.raw))
        state.saved[name] = result.value
    return None


def _store_groups(step: BotStep, groups: dict[str, str | None], state: ConversationState) -> None:
    """Named groups are saved; an optional one that took no part in the match is set to nothing,
    and a later ${name} says so."""
    for name, value in groups.items():
        if value is not None:
            state.saved[name] = value
            state.unset.pop(name, None)
        else:
            state.saved.pop(name, None)
            state.unset[name] = (
                f"${{{name}}} is set to nothing: the group (?P<{name}>...) of the regex at "
                f"{step_label(step.where, step.location)} took no part in the match"
            )


def _remember_unset(step: BotStep, matcher: Matcher | None, state: ConversationState) -> None:
    """What a skipped optional step would have stored, for a clear word when it is used."""
    names = [*(stored_names(matcher) if matcher is not None else ()), *(name for name, _ in step.saves)]
    for name in names:
        if name not in state.saved:
            state.unset[name] = (
                f"${{{name}}} is not set: the optional {step_label(step.where, step.location)} "
                "that stores it was skipped (no message matched it)"
            )


def _expected(step: BotStep, matcher: Matcher | None, bindings: Bindings) -> str:
    parts = [matcher.describe(bindings)] if matcher is not None else []
    parts.extend(f"{check.path}: {check.matcher.describe(bindings)}" for check in step.checks)
    return ", ".join(parts)


def _none_left(turn: Sequence[Message]) -> str:
    """What a step found when the turn's messages were all taken by earlier steps."""
    if not turn:
        return "(none: the turn had no messages)"
    return f"(none: the turn had {len(turn)} message(s), all checked by earlier steps)"


KINDS = (BotKind(),)
