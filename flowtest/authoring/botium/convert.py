"""Turn a read BotiumScript suite into flowtest files, keeping Botium's meaning.

Botium's behaviour decides the translation: a bot text is compared as the matching
mode says (by default anywhere in the message, ignoring case, ``*`` a wildcard), bot
messages no step checks do not fail the convo, and typing indicators never reach a
convo. So every scenario says ``strict: false`` and ``ignore_messages: [typing]``, and
each text check carries the mode. What has no equivalent is kept as a comment where it
stood and listed in the summary; nothing becomes a step that cannot pass.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from flowtest.authoring.botium.script import CONDITIONAL, Convo, Hook, Script, Step
from flowtest.authoring.botium.script import Memory as Table
from flowtest.authoring.botium.texts import (
    VARIABLE,
    Memory,
    Mode,
    bot_matcher,
    template_text,
    user_text,
)
from flowtest.contract import TURN_FIELDS
from flowtest.errors import Location, SourceError
from flowtest.scenario.model import MAX_UTTERANCE_TESTS

_TEXT_ASSERTERS = {
    "TEXT_CONTAINS_ANY": ("any", "include"),
    "TEXT_CONTAINS_ALL": ("all", "include"),
    "TEXT_WILDCARD_ANY": ("any", "wildcard"),
    "TEXT_WILDCARD_ALL": ("all", "wildcard"),
    "TEXT_WILDCARDEXACT_ANY": ("any", "wildcardExact"),
    "TEXT_WILDCARDEXACT_ALL": ("all", "wildcardExact"),
    "TEXT_REGEXP_ANY": ("any", "regexp"),
    "TEXT_REGEXP_ALL": ("all", "regexp"),
    "TEXT_EQUALS": ("any", "equals"),
    "TEXT": ("any", "equals"),
}
_NOT_NEEDED = {
    "WAITFORBOT": "not needed: flowtest gets the bot's answer with each call",
    "SKIP_BOT_UNCONSUMED": "not needed: imported scenarios do not fail on unchecked bot messages",
}
# JSON_PATH over these reads what an NLU engine found, which the API does not carry.
_NLU_ROOTS = frozenset({"intent", "intents", "entities", "entity", "nlp", "nlu", "confidence"})
# Botium's message model (what ASSIGN_SCRIPTING_MEMORY and JSON_PATH read) against the
# API's message: the text is "text", a raw message's fields are the message's own.
_MESSAGE_PATHS = ((r"^\$\.messageText\b", "$.text"), (r"^\$\.sourceData\b", "$"))


@dataclass(frozen=True)
class Note:
    """Something kept as a comment: where it came from and why."""

    source: str  # "convos/order.convo.txt:7"
    text: str

    def __str__(self) -> str:
        return f"{self.source}: {self.text}"


@dataclass
class Written:
    """One output file: its text, and what it could not say in YAML."""

    path: Path
    text: str
    notes: list[Note] = field(default_factory=list)


@dataclass(frozen=True)
class PartialRef:
    """Where a partial convo was written, and the names its includers bind with ``with:``."""

    path: Path
    needs: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Options:
    """What one scenario document says besides its steps."""

    name: str
    table: Path | None = None
    table_variables: frozenset[str] = frozenset()
    utterances: str | None = None  # botium.json's expansion mode, when not "all"
    retries: int = 0
    all_failures: bool = False


@dataclass
class Context:
    """What converting the convos of one Botium file needs to know about the rest of the suite."""

    flow: str
    mode: Mode
    lists: Callable[[str], str | None]  # a Botium utterance name -> the flowtest list it became
    partials: Callable[[str], PartialRef | None]  # an included name -> that partial
    here: Path  # the output file's folder
    source: str  # the Botium file, as the summary names it
    memory_enabled: bool = True
    sizes: dict[str, int] = field(default_factory=dict)  # phrases per flowtest list name
    cyclic: dict[str, str] = field(default_factory=dict)  # included names that lead back here: how
    needs: frozenset[str] = frozenset()  # for a partial: the names its includers bind
    memory: Memory = field(default_factory=Memory)
    sent: dict[str, None] = field(default_factory=dict)  # lists user steps send from, in order
    notes: list[Note] = field(default_factory=list)
    problems: list[SourceError] = field(default_factory=list)

    def begin(self, bound: frozenset[str]) -> None:
        """A new convo: nothing captured, set or sent yet."""
        self.memory = Memory(self.memory_enabled, bound=bound | self.needs)
        self.sent = {}

    def note(self, line: int, text: str) -> str:
        self.notes.append(Note(f"{self.source}:{line}", text))
        return f"# botium (line {line}): {text}"

    def noter(self, line: int) -> Callable[[str], None]:
        def note(text: str) -> None:
            self.note(line, text)

        return note


def utterances_file(lists: list[tuple[str, tuple[str, ...]]], path: Path) -> Written:
    lines = ["# Utterance lists imported from Botium (flowtest import botium)."]
    for name, phrases in lists:
        lines.append(f"{flow_yaml(name)}:")
        lines.extend(f"  - {flow_yaml(template_text(phrase))}" for phrase in phrases or ("",))
    return Written(path, "\n".join(lines) + "\n")


def table_file(memory: Table, path: Path) -> Written:
    """A scripting memory file as a CSV table: an id column, then one column per variable."""
    variables = memory.variables
    rows = [["id", *(name.lstrip("$") for name in variables)]]
    rows.extend([case.name, *(case.values.get(name, "") for name in variables)] for case in memory.cases)
    return Written(path, "".join(",".join(_csv_cell(cell) for cell in row) + "\n" for row in rows))


def _csv_cell(text: str) -> str:
    if any(char in text for char in ',"\n\r') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


def convo_file(convos: list[tuple[Convo, Options]], path: Path, context: Context, header: str) -> Written:
    """One scenario file (or partial file) for the convos of one Botium file."""
    documents = [_document(convo, options, context) for convo, options in convos]
    return Written(path, header + "---\n".join(documents), context.notes)


def _document(convo: Convo, options: Options, context: Context) -> str:
    context.begin(frozenset(name.lstrip("$") for name in options.table_variables))
    lines = [] if convo.partial else [f"name: {flow_yaml(options.name)}", f"flow: {flow_yaml(context.flow)}"]
    if convo.description:
        lines.append(f"description: {flow_yaml(convo.description)}")
    if not convo.partial:
        lines.extend(_scenario_settings(options, context))
    body = list(_steps(convo, context))
    if not convo.partial:
        lines.extend(_utterances_setting(convo, options, context))
    lines.append("conversation:")
    if not any(not item.startswith("#") for item in body):
        body.append("{wait: 0}")  # a conversation needs one step; Botium's may hold only hooks
    lines.extend(f"  {item}" if item.startswith("#") else f"  - {item}" for item in body)
    return "\n".join(lines) + "\n"


def _scenario_settings(options: Options, context: Context) -> Iterator[str]:
    """What a scenario (not a partial) says before its steps: Botium's ways, botium.json's settings."""
    yield "strict: false  # Botium does not fail on bot messages no step checks"
    yield "ignore_messages: [typing]  # Botium's connectors drop typing indicators"
    if options.retries:
        yield f"retries: {options.retries}  # botium.json RETRY_CONVO_NUMRETRIES"
    if options.all_failures:
        yield "on_failure: continue  # botium.json SCRIPTING_ENABLE_MULTIPLE_ASSERT_ERRORS"
    if options.table is not None:
        yield f"examples: {flow_yaml(relative(options.table, context.here))}"


def _utterances_setting(convo: Convo, options: Options, context: Context) -> Iterator[str]:
    """``utterances:`` once the steps are read: how many tests the lists they send make."""
    tests = math.prod(context.sizes.get(name, 1) for name in context.sent)
    if tests > MAX_UTTERANCE_TESTS and options.utterances is None:
        note = context.note(
            convo.line, f"the utterances make {tests} tests, over flowtest's cap: first phrases only"
        )
        yield f"utterances: first  {note}"
    elif options.utterances and context.sent:
        yield f"utterances: {options.utterances}  # botium.json SCRIPTING_UTTEXPANSION_MODE"


def _steps(convo: Convo, context: Context) -> Iterator[str]:
    steps = list(convo.steps)
    index = 0
    while index < len(steps):
        group = _conditional_group(steps, index)
        if group:
            yield from _conditional(group, context)
            index += len(group)
            continue
        yield from _SECTIONS.get(steps[index].sender, _hooks)(steps[index], context)
        index += 1


def _conditional_group(steps: list[Step], index: int) -> list[Step]:
    """The conditional #bot steps of one group from ``index`` on; none when it is not one."""
    group = _group(steps[index]) if steps[index].sender == "bot" else None
    if group is None:
        return []
    end = index + 1
    while end < len(steps) and steps[end].sender == "bot" and _group(steps[end]) == group:
        end += 1
    return steps[index:end]


def _include_section(step: Step, context: Context) -> Iterator[str]:
    yield from (_include(name, step.line, context) for name in _section_includes(step))
    yield from _hooks(step, context)


# -- #me -----------------------------------------------------------------------------------


def _me(step: Step, context: Context) -> Iterator[str]:
    """What the user sends: text, a list's phrases, a button's payload, a structured message's text."""
    note = context.noter(step.line)
    inputs = [hook for hook in step.hooks if hook.kind == "input"]
    if step.source_data is not None:
        yield _step({"user": _structured_text(step.source_data, step.line, context)})
    elif inputs:
        yield from _inputs(inputs, step.line, context)
    elif step.text is not None:
        name = context.lists(step.text)
        if name is not None:
            context.sent[name] = None
            yield _step({"user": {"utterance": name}})
        else:
            first = step.text.split(" ")[0]
            if first != step.text and context.lists(first) is not None:
                note(f"{first} with arguments: utterance arguments have no equivalent")
            yield _step({"user": user_text(step.text, context.memory, note)})
    yield from _hooks(step, context)


def _structured_text(data: Any, line: int, context: Context) -> str:
    """A #me written as JSON (a postback): the API takes a text, so its text, else its payload."""
    if isinstance(data, dict):
        for key in ("text", "messageText", "payload", "title"):
            if isinstance(data.get(key), str):
                if set(data) - {key}:
                    context.note(line, f"#me sends a structured message: sent its {key} as the text")
                return user_text(data[key], context.memory, context.noter(line))
    context.note(line, "#me sends a structured message without a text: sent as JSON text")
    return template_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")))


def _inputs(inputs: list[Hook], line: int, context: Context) -> Iterator[str]:
    note = context.noter(line)
    for hook in inputs:
        if hook.name == "BUTTON" and hook.args:
            yield _step({"user": _button_text(hook, line, context)})
        elif hook.name in ("MEDIA", "FORM") and hook.args:
            # Still one turn, so the next #bot checks the answer to it, as in Botium.
            what = "its file name" if hook.name == "MEDIA" else "its values"
            text = os.path.basename(hook.args[0]) if hook.name == "MEDIA" else " ".join(hook.args[1:])
            yield context.note(line, f"{hook.name} {'|'.join(hook.args)}: the API takes a text: sent {what}")
            yield _step({"user": user_text(text or hook.args[0], context.memory, note)})
        else:
            what = "a custom user input (botium.json)" if hook.custom else "no equivalent"
            yield context.note(line, f"{hook.name} {'|'.join(hook.args)}: {what}; nothing sent")


def _button_text(hook: Hook, line: int, context: Context) -> str:
    """A button press sends its payload (Botium's ButtonInput does too), as text."""
    payload = hook.args[0]
    try:
        data = json.loads(payload)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return user_text(payload, context.memory, context.noter(line))
    title = hook.args[1] if len(hook.args) > 1 else None
    text = title or next(
        (data[k] for k in ("text", "title", "name", "payload") if isinstance(data.get(k), str)), None
    )
    if text is None:
        context.note(line, "BUTTON with a JSON payload: the API takes a text: sent the JSON")
        return template_text(payload)
    context.note(line, f"BUTTON with a JSON payload: the API takes a text: sent {text!r}")
    return user_text(text, context.memory, context.noter(line))


# -- #bot ----------------------------------------------------------------------------------


@dataclass
class _BotCheck:
    """One #bot section as checks on one message."""

    matchers: list[Any] = field(default_factory=list)
    message: dict[str, Any] = field(default_factory=dict)
    turn: dict[str, Any] = field(default_factory=dict)
    save: dict[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)
    optional: bool = False

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.matchers:
            out["bot"] = self.matchers[0] if len(self.matchers) == 1 else {"all_of": self.matchers}
        if self.message or not self.matchers:
            # Botium's #bot with only hooks still waits for (and takes) one message.
            out["message"] = self.message or {"$.type": {"exists": True}}
        if self.save:
            out["save"] = self.save
        if self.optional:
            out["optional"] = True
        return out


def _bot(step: Step, context: Context) -> Iterator[str]:
    check = _bot_check(step, context)
    yield from check.comments
    yield _step(check.fields())
    if check.turn:
        yield _step({"turn": check.turn})
    yield from _hooks(step, context)


def _bot_check(step: Step, context: Context) -> _BotCheck:
    """A #bot section: its text and text asserters as ``bot``, rich asserters as ``message``."""
    check = _BotCheck(optional=_optional(step))
    if step.source_data is not None:
        check.message.update(_json_checks(step.source_data, "$", context.mode))
    elif step.text is not None:
        text = _text(step.text, context)
        check.matchers.append({"not": text} if step.negated else text)
    for hook in step.hooks:  # in order: a name saved is known to the asserters after it
        if hook.kind == "logic" and _is_save(hook):
            _save(hook, check, context)
        if hook.kind == "asserter":
            _asserter_check(hook, check, step.line, context)
    return check


def _optional(step: Step) -> bool:
    """A #bot that may be left out: ``?`` before its text or before one of its asserters."""
    return step.optional or any(hook.optional for hook in step.hooks if hook.kind == "asserter")


def _is_save(hook: Hook) -> bool:
    """ASSIGN_SCRIPTING_MEMORY NAME|JSONPATH on a #bot: a ``save`` beside the bot step."""
    return hook.name == "ASSIGN_SCRIPTING_MEMORY" and len(hook.args) == 2


def _save(hook: Hook, check: _BotCheck, context: Context) -> None:
    name = hook.args[0].lstrip("$")
    check.save[name] = message_path(hook.args[1])
    context.memory.captured.add(name)


def _asserter_check(hook: Hook, check: _BotCheck, line: int, context: Context) -> None:
    matcher = None if hook.custom else _text_asserter(hook, context)
    if matcher is not None:
        check.matchers.append({"not": matcher} if hook.negated else matcher)
        return
    if not hook.negated and not hook.custom:
        message, turn = _message_checks(hook, context), _json_path(hook)
        if message is not None:
            check.message.update(message)
            return
        if turn is not None:
            (check.turn if turn[0] == "turn" else check.message).update(turn[1])
            return
    check.comments.append(context.note(line, _unmapped(hook)))


def _text(text: str, context: Context) -> Any:
    name = context.lists(text)
    if name is not None:
        return context.mode.utterance(name)
    return bot_matcher(text, context.mode, context.memory)


def _text_asserter(hook: Hook, context: Context) -> Any:
    ignore_case = hook.name.endswith("_IC")
    base = hook.name.removesuffix("_IC")
    if base not in _TEXT_ASSERTERS or not hook.args:
        return None
    combine, mode = _TEXT_ASSERTERS[base]
    items = [
        bot_matcher(arg, Mode.of(mode + ("IgnoreCase" if ignore_case else "")), context.memory)
        for arg in hook.args
    ]
    if len(items) == 1:
        return items[0]
    return {"any_of" if combine == "any" else "all_of": items}


def _message_checks(hook: Hook, context: Context) -> dict[str, Any] | None:
    """BUTTONS and BUTTONS_COUNT as JSONPath checks on the message's buttons."""
    if hook.name == "BUTTONS":
        if not hook.args:
            return {"$.buttons": {"length": {"gte": 1}}}
        # Botium finds each expected button among those offered, compared as texts are.
        titles = [bot_matcher(arg, context.mode, Memory(enabled=False)) for arg in hook.args]
        return {"$.buttons[*].title": {"includes": titles}}
    if hook.name == "BUTTONS_COUNT" and len(hook.args) == 1 and hook.args[0].isdigit():
        # Each button found: a message without buttons has 0 of them, as Botium counts it.
        return {"$.buttons[*]": {"length": int(hook.args[0])}}
    return None


def _json_path(hook: Hook) -> tuple[str, dict[str, Any]] | None:
    """JSON_PATH reads the bot's raw answer: the whole turn for its fields, else the message."""
    if hook.name != "JSON_PATH" or not hook.args or not hook.args[0].startswith("$"):
        return None
    path = message_path(hook.args[0])
    if _nlu_path(hook):
        return None
    root = _root(path)
    where = "turn" if root in TURN_FIELDS else "message"
    if len(hook.args) == 1:
        return where, {path: {"exists": True}}
    return where, {path: template_text(hook.args[1])}


def _root(path: str) -> str | None:
    found = re.match(r"^\$\.?\[?['\"]?(\w+)", path)
    return found.group(1) if found else None


def _nlu_path(hook: Hook) -> bool:
    return bool(hook.args) and _root(message_path(hook.args[0])) in _NLU_ROOTS


def message_path(path: str) -> str:
    """A JSONPath over Botium's message as one over the API's message."""
    for pattern, replacement in _MESSAGE_PATHS:
        path = re.sub(pattern, replacement, path)
    return path


def _json_checks(value: Any, path: str, mode: Mode) -> dict[str, Any]:
    """A #bot written as JSON: Botium checks each field it names (lists to their length)."""
    if isinstance(value, dict):
        if not value:
            return {path: {"type": "object"}}
        checks: dict[str, Any] = {}
        for key, item in value.items():
            simple = re.fullmatch(r"[A-Za-z_]\w*", key) is not None
            checks.update(
                _json_checks(item, f"{path}.{key}" if simple else f"{path}[{json.dumps(key)}]", mode)
            )
        return checks
    if isinstance(value, list):
        checks = {path: {"length": len(value)}}
        for index, item in enumerate(value):
            checks.update(_json_checks(item, f"{path}[{index}]", mode))
        return checks
    if value is None:
        return {path: {"exists": True}}
    if isinstance(value, str):
        return {path: bot_matcher(value, mode, Memory(enabled=False)) if value else {"type": "string"}}
    return {path: value}


def _unmapped(hook: Hook) -> str:
    args = " " + "|".join(hook.args) if hook.args else ""
    what = f"{'!' if hook.negated else ''}{hook.name}{args}"
    if hook.custom:
        kind = {"asserter": "asserter", "logic": "logic hook", "input": "user input"}[hook.kind]
        return f"{what}: a custom {kind} (botium.json): its code is not imported"
    if hook.name.startswith(("INTENT", "ENTIT")) or (hook.name == "JSON_PATH" and _nlu_path(hook)):
        return f"{what}: no equivalent (the API returns messages, not NLU results)"
    return f"{what}: no equivalent in flowtest"


def _group(step: Step) -> tuple[str | None] | None:
    """The conditional group of a #bot step (Botium: the second argument of its CONDITIONAL_STEP hook)."""
    for hook in step.hooks:
        if hook.kind == "logic" and hook.name.startswith(CONDITIONAL):
            return (hook.args[1] if len(hook.args) > 1 else None,)
    return None


def _conditional(group: list[Step], context: Context) -> Iterator[str]:
    """Consecutive conditional #bot steps of one group: Botium checks the one message against the
    step whose condition holds; flowtest, not evaluating the condition, against any of them."""
    checks = [_bot_check(step, context) for step in group]
    yield context.note(
        group[0].line,
        f"conditional steps ({_conditions(group)}): the message may match any of them "
        "(conditions not evaluated)",
    )
    for check in checks:
        yield from check.comments
    yield _step(_any_of(checks))
    for step in group:
        yield from _hooks(step, context)


def _conditions(group: list[Step]) -> str:
    return "; ".join(
        f"{hook.name} {'|'.join(hook.args)}"
        for step in group
        for hook in step.hooks
        if hook.name.startswith(CONDITIONAL)
    )


def _any_of(checks: list[_BotCheck]) -> dict[str, Any]:
    """One bot step for the checks of a conditional group: the texts of any of them, else any message."""
    fields: dict[str, Any] = {}
    if all(check.matchers for check in checks):
        alternatives = [check.fields()["bot"] for check in checks]
        fields["bot"] = alternatives[0] if len(alternatives) == 1 else {"any_of": alternatives}
    else:
        fields["message"] = {"$.type": {"exists": True}}
    if all(check.optional for check in checks):
        fields["optional"] = True
    return fields


# -- logic hooks and includes ------------------------------------------------------------------


def _hooks(step: Step, context: Context) -> Iterator[str]:
    for hook in step.hooks:
        if hook.kind == "input" or (hook.kind == "asserter" and step.sender == "bot"):
            continue  # converted with the step
        if hook.name.startswith(CONDITIONAL) and step.sender == "bot":
            continue  # converted with its group
        if _is_save(hook) and step.sender == "bot":
            continue  # a save: beside the bot step
        yield _hook(hook, step, context)


# How each section of a convo becomes steps (#begin and #end hold only hooks).
_SECTIONS: dict[str, Callable[[Step, Context], Iterator[str]]] = {
    "me": _me,
    "bot": _bot,
    "include": _include_section,
}


def _hook(hook: Hook, step: Step, context: Context) -> str:
    """A hook its section does not convert itself: a step, a comment, or a note of no equivalent."""
    convert = _LOGIC_HOOKS.get(hook.name)
    converted = None if convert is None else convert(hook, step.line, context)
    if converted is None:
        return context.note(step.line, _unmapped(hook) + f" (in #{step.sender})")
    return converted


def _pause(hook: Hook, line: int, context: Context) -> str | None:
    if not (hook.args and hook.args[0].isdigit()):
        return None
    return _step({"wait": f"{int(hook.args[0])}ms"})


def _include_hook(hook: Hook, line: int, context: Context) -> str | None:
    return _include(hook.args[0], line, context) if hook.args else None


def _set_memory(hook: Hook, line: int, context: Context) -> str | None:
    if len(hook.args) < 2 or not context.memory_enabled:
        return None
    name, value = hook.args[0].lstrip("$"), hook.args[1]
    if VARIABLE.search(value):
        context.note(line, f"SET_SCRIPTING_MEMORY {name}: its value {value!r} is set as written")
    context.memory.set_value(name, value)
    return f"# botium (line {line}): SET_SCRIPTING_MEMORY {name}|{value}: ${name} is {value!r} now"


def _clear_memory(hook: Hook, line: int, context: Context) -> str | None:
    if not (hook.args and context.memory_enabled):
        return None
    name = hook.args[0].lstrip("$")
    context.memory.clear(name)
    return f"# botium (line {line}): CLEAR_SCRIPTING_MEMORY {name}: ${name} is text from here"


def _not_needed(hook: Hook, line: int, context: Context) -> str | None:
    return f"# botium (line {line}): {hook.name}: {_NOT_NEEDED[hook.name]}"


# The logic hooks flowtest has an equivalent for; each gives None when its arguments do not fit.
_LOGIC_HOOKS: dict[str, Callable[[Hook, int, Context], str | None]] = {
    "PAUSE": _pause,
    "INCLUDE": _include_hook,
    "SET_SCRIPTING_MEMORY": _set_memory,
    "CLEAR_SCRIPTING_MEMORY": _clear_memory,
    **dict.fromkeys(_NOT_NEEDED, _not_needed),
}


def _include(name: str, line: int, context: Context) -> str:
    if name in context.cyclic:
        return _left_out(f"#include {name}: {context.cyclic[name]}; Botium refuses it too", line, context)
    target = context.partials(name)
    if target is None:
        return _left_out(f"#include {name}: no partial convo of that name in the suite", line, context)
    step: dict[str, Any] = {"include": relative(target.path, context.here)}
    bindings = {}
    for needed in sorted(target.needs):
        if needed in context.memory.values:
            bindings[needed] = context.memory.values[needed]
        elif needed in context.needs:
            bindings[needed] = "${" + needed + "}"  # bound again where this partial is included
        elif not context.memory.known(needed):
            bindings[needed] = "$" + needed  # Botium sends a variable that holds nothing as its name
    if bindings:
        step["with"] = bindings
    return _step(step)


def _left_out(why: str, line: int, context: Context) -> str:
    """What is wrong in the Botium source: one line of the command's errors, a comment in the file."""
    context.problems.append(SourceError(Location(context.source, line, 1), f"{why}: left out"))
    return f"# botium (line {line}): {why}: left out"


def relative(target: Path, here: Path) -> str:
    return Path(os.path.relpath(target, here)).as_posix()


def used_names(convo: Convo) -> set[str]:
    """The ``$var`` names a convo's own steps use (texts and hook arguments)."""
    return {match.group(1) for step in convo.steps for match in VARIABLE.finditer(_texts(step))}


def set_names(convo: Convo) -> set[str]:
    """The names a convo sets with SET_SCRIPTING_MEMORY."""
    return {
        hook.args[0].lstrip("$")
        for step in convo.steps
        for hook in step.hooks
        if hook.name == "SET_SCRIPTING_MEMORY" and hook.args
    }


def included_names(convo: Convo) -> list[tuple[str, int]]:
    """The partial convos a convo includes, with the line of each include."""
    names: list[tuple[str, int]] = []
    for step in convo.steps:
        if step.sender == "include":
            names.extend((name, step.line) for name in _section_includes(step))
        names.extend((hook.args[0], step.line) for hook in step.hooks if hook.name == "INCLUDE" and hook.args)
    return names


def _section_includes(step: Step) -> list[str]:
    """The names an #include section includes: the one on its line, else one a line."""
    lines = [step.channel] if step.channel else (step.text or "").splitlines()
    return [name.strip() for name in lines if name.strip()]


def _texts(step: Step) -> str:
    text = step.text or ""
    if step.source_data is not None:
        text = json.dumps(step.source_data)
    return " ".join([text, *(arg for hook in step.hooks for arg in hook.args)])


def _step(step: Mapping[str, Any]) -> str:
    """A step as the text after "- ": one key a line."""
    return "\n    ".join(f"{key}: {flow_yaml(value)}" for key, value in step.items())


def flow_yaml(value: Any) -> str:
    """A value as one line of flow-style YAML (JSON, which YAML reads too, when a text has line breaks)."""
    if "\n" in json.dumps(value):
        return json.dumps(value, ensure_ascii=False)
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=2**31)
    return text.removesuffix("\n...\n").strip()


__all__ = ["Context", "Note", "Options", "PartialRef", "Script", "Written", "convo_file", "table_file"]
