"""Turn a read BotiumScript suite into flowtest files, keeping Botium's meaning.

Botium's defaults decide the translation: bot texts match case-insensitively and
anywhere in the message (``wildcardIgnoreCase``: ``*`` is a wildcard), and bot
messages no step checks do not fail the convo. So every scenario says
``text_match: ignore_case`` and ``strict: false``, and a bot text is ``contains``.
What has no equivalent is kept as a comment where it stood and listed in the summary.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from flowtest.authoring.botium.script import Convo, Hook, Memory, Script, Step
from flowtest.scenario.model import MAX_UTTERANCE_TESTS
from flowtest.scenario.utterances import NAME as LIST_NAME

_VARIABLE = re.compile(r"\$([A-Za-z]\w+)(\((?:[^)\\]|\\.)*\))?")
# Botium's scripting memory functions: values computed at run time.
_FUNCTIONS = frozenset(
    [
        "now",
        "date",
        "time",
        "timestamp",
        "tomorrow",
        "yesterday",
        "date_add",
        "date_subtract",
        "year",
        "month",
        "day_of_month",
        "day_of_week",
        "random",
        "uniqid",
        "projectname",
        "testsessionname",
        "testcasename",
        "env",
        "cap",
        "msg",
    ]
)
_TEXT_ASSERTERS = {
    "TEXT_CONTAINS_ANY": ("any", "contains"),
    "TEXT_CONTAINS_ALL": ("all", "contains"),
    "TEXT_WILDCARD_ANY": ("any", "wildcard"),
    "TEXT_WILDCARD_ALL": ("all", "wildcard"),
    "TEXT_WILDCARDEXACT_ANY": ("any", "exact_wildcard"),
    "TEXT_WILDCARDEXACT_ALL": ("all", "exact_wildcard"),
    "TEXT_REGEXP_ANY": ("any", "regex"),
    "TEXT_REGEXP_ALL": ("all", "regex"),
    "TEXT_EQUALS": ("any", "equals"),
    "TEXT": ("any", "equals"),
}
_NOT_NEEDED = {
    "WAITFORBOT": "not needed: flowtest gets the bot's answer with each call",
    "SKIP_BOT_UNCONSUMED": "not needed: imported scenarios do not fail on unchecked bot messages",
}


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


@dataclass
class _Context:
    """What converting one convo needs to know about the rest of the suite."""

    flow: str
    lists: dict[str, str]  # Botium utterance name -> flowtest list name
    partials: dict[str, Path]  # partial convo name -> output path
    here: Path  # the output file's folder
    table_variables: frozenset[str] = frozenset()  # "$var" names bound by this scenario's table
    sizes: dict[str, int] = field(default_factory=dict)  # phrases per flowtest list name
    sent: dict[str, None] = field(default_factory=dict)  # lists user steps send from, in order
    captured: set[str] = field(default_factory=set)
    notes: list[Note] = field(default_factory=list)
    source: str = ""

    def note(self, line: int, text: str) -> str:
        self.notes.append(Note(f"{self.source}:{line}", text))
        return f"# botium (line {line}): {text}"


def list_names(script: Script) -> dict[str, str]:
    """Botium utterance names as flowtest list names (the same, unless a character is not allowed)."""
    names: dict[str, str] = {}
    for utterances in script.utterances:
        name = (
            utterances.name
            if LIST_NAME.match(utterances.name)
            else re.sub(r"[^A-Za-z0-9_.-]", "_", utterances.name)
        )
        names[utterances.name] = name.lstrip(".-") or "UTTERANCE"
    return names


def utterances_file(script: Script, names: dict[str, str], path: Path) -> Written:
    lines = ["# Utterance lists imported from Botium (flowtest import botium)."]
    for utterances in script.utterances:
        lines.append(f"{_flow(names[utterances.name])}:")
        lines.extend(f"  - {_flow(_literal_template(phrase))}" for phrase in utterances.phrases or ("",))
    return Written(path, "\n".join(lines) + "\n")


def table_file(memory: Memory, path: Path) -> Written:
    """A scripting memory file as a CSV table: an id column, then one column per variable."""
    variables = memory.variables
    rows = [["id", *(name.lstrip("$") for name in variables)]]
    rows.extend([case.name, *(case.values.get(name, "") for name in variables)] for case in memory.cases)
    return Written(path, "".join(",".join(_csv_cell(cell) for cell in row) + "\n" for row in rows))


def _csv_cell(text: str) -> str:
    if any(char in text for char in ',"\n\r') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


Table = tuple[Path, frozenset[str]]  # a table file and the "$var" names it binds


def convo_file(convos: list[Convo], path: Path, context: _Context, tables: dict[int, Table]) -> Written:
    """One scenario file (or partial file) for the convos of one Botium file."""
    documents = []
    for convo in convos:
        table = tables.get(id(convo))
        context.captured, context.sent = set(), {}
        context.table_variables = table[1] if table else frozenset()
        documents.append(_document(convo, context, table[0] if table else None))
    header = f"# Imported from Botium: {context.source} (flowtest import botium).\n"
    return Written(path, header + "---\n".join(documents), context.notes)


def _document(convo: Convo, context: _Context, table: Path | None) -> str:
    lines: list[str] = []
    if not convo.partial:
        lines.append(f"name: {_flow(convo.name)}")
        lines.append(f"flow: {_flow(context.flow)}")
    if convo.description:
        lines.append(f"description: {_flow(convo.description)}")
    if not convo.partial:
        lines.append("text_match: ignore_case  # Botium compares texts case-insensitively")
        lines.append("strict: false  # Botium does not fail on bot messages no step checks")
        if table is not None:
            lines.append(f"examples: {_flow(_relative(table, context.here))}")
    body = list(_steps(convo, context))
    tests = math.prod(context.sizes.get(name, 1) for name in context.sent)
    if not convo.partial and tests > MAX_UTTERANCE_TESTS:
        note = context.note(
            convo.line, f"the utterances make {tests} tests, over flowtest's cap: first phrases only"
        )
        lines.append(f"utterances: first  {note}")
    lines.append("conversation:")
    if not any(not item.startswith("#") for item in body):
        body.append("{wait: 0}")  # a conversation needs one step; Botium's may hold only hooks
    lines.extend(f"  {item}" if item.startswith("#") else f"  - {item}" for item in body)
    return "\n".join(lines) + "\n"


def _steps(convo: Convo, context: _Context) -> Iterator[str]:
    for step in convo.steps:
        if step.sender == "me":
            yield from _me(step, context)
        elif step.sender == "bot":
            yield from _bot(step, context)
        elif step.sender == "include":
            names = [step.channel] if step.channel else [n.strip() for n in (step.text or "").splitlines()]
            yield from (_include(name, step.line, context) for name in names if name)
            yield from _hooks(step, context)
        else:  # begin / end
            yield from _hooks(step, context)


def _me(step: Step, context: _Context) -> Iterator[str]:
    inputs = [hook for hook in step.hooks if hook.kind == "input"]
    if step.source_data is not None:
        yield context.note(step.line, f"#me sends a structured message ({_flow(step.source_data)}); not sent")
    elif inputs:
        for hook in inputs:
            if hook.name == "BUTTON" and hook.args:
                # The API takes text: a button's payload (else its title) is what the user "types".
                note = context.note(
                    step.line, f"BUTTON {'|'.join(hook.args)}: sent as the text {hook.args[0]!r}"
                )
                yield note
                yield _step({"user": _user_text(hook.args[0], step.line, context)})
            else:
                yield context.note(step.line, f"{hook.name} {'|'.join(hook.args)}: no equivalent; not sent")
    elif step.text is not None:
        name = context.lists.get(step.text.strip())
        if name is not None:
            context.sent[name] = None
            yield _step({"user": {"utterance": name}})
        else:
            first = step.text.split(" ")[0]
            if first in context.lists and first != step.text:
                yield context.note(
                    step.line, f"{first} with arguments: utterance arguments have no equivalent"
                )
            yield _step({"user": _user_text(step.text, step.line, context)})
    yield from _hooks(step, context)


def _user_text(text: str, line: int, context: _Context) -> str:
    """``$var`` becomes ``${var}`` when a table or an earlier bot message sets it."""

    def replace(match: re.Match[str]) -> str:
        name, call = match.group(1), match.group(2)
        if name == "env" and call:
            return "${env." + call[1:-1].strip() + "}"
        if call is None and (f"${name}" in context.table_variables or name in context.captured):
            return "${" + name + "}"
        reason = "a Botium function" if name in _FUNCTIONS else "set by no table or earlier bot message"
        context.note(line, f"${name}{call or ''}: {reason}; sent as written")
        return match.group(0)

    return _VARIABLE.sub(replace, text.replace("${", "$${"))


def _bot(step: Step, context: _Context) -> Iterator[str]:
    """A #bot section: one message; its text and text asserters as ``bot``, rich asserters as ``message``."""
    matchers: list[Any] = []
    message: dict[str, Any] = {}
    turn: dict[str, Any] = {}
    comments: list[str] = []
    if step.source_data is not None:
        comments.append(
            context.note(step.line, f"#bot expects a structured message ({_flow(step.source_data)})")
        )
    elif step.text is not None:
        text = _text_matcher(step.text, context)
        matchers.append({"not": text} if step.negated else text)
    for hook in step.hooks:
        if hook.kind != "asserter":
            continue
        matcher, checks, turn_checks = _asserter(hook, context), _message_checks(hook), _turn_checks(hook)
        if matcher is not None:
            matchers.append({"not": matcher} if hook.negated else matcher)
        elif checks is not None and not hook.negated:
            message.update(checks)
        elif turn_checks is not None and not hook.negated:
            turn.update(turn_checks)
        else:
            comments.append(context.note(step.line, _unmapped(hook)))
    yield from comments
    fields: dict[str, Any] = {}
    if matchers:
        fields["bot"] = matchers[0] if len(matchers) == 1 else {"all_of": matchers}
    if message or not matchers:
        # Botium's #bot with only hooks still waits for (and takes) one message.
        fields["message"] = message or {"$.type": {"exists": True}}
    if step.optional or any(hook.optional for hook in step.hooks if hook.kind == "asserter"):
        fields["optional"] = True
    if step.source_data is None:
        yield _step(fields)
    if turn:
        yield _step({"turn": turn})
    yield from _hooks(step, context)


def _message_checks(hook: Hook) -> dict[str, Any] | None:
    """BUTTONS and BUTTONS_COUNT as JSONPath checks on the message (the button titles)."""
    if hook.name == "BUTTONS":
        titles = [arg.replace("${", "$${") for arg in hook.args]
        if not titles:
            return {"$.buttons": {"length": {"gte": 1}}}
        return {"$.buttons[*].title": {"equals": titles, "ignore_order": True}}
    if hook.name == "BUTTONS_COUNT" and len(hook.args) == 1 and hook.args[0].isdigit():
        return {"$.buttons": {"length": int(hook.args[0])}}
    return None


def _turn_checks(hook: Hook) -> dict[str, Any] | None:
    """JSON_PATH reads Botium's sourceData, the whole answer: flowtest's ``turn`` step."""
    if hook.name != "JSON_PATH" or not hook.args or not hook.args[0].startswith("$"):
        return None
    if len(hook.args) == 1:
        return {hook.args[0]: {"exists": True}}
    return {hook.args[0]: hook.args[1].replace("${", "$${")}


def _text_matcher(text: str, context: _Context) -> Any:
    name = context.lists.get(text.strip())
    if name is not None:
        return {"utterance": name}
    return _wildcard(text, context, anchored=False)


def _wildcard(text: str, context: _Context, anchored: bool) -> Any:
    """Botium's wildcard text: ``*`` is anything, ``$var`` a word it captures (or a value it knows)."""
    escaped = text.replace("${", "$${")
    if "*" not in text and not _VARIABLE.search(text) and not anchored:
        return {"contains": escaped}
    pattern, literal, cursor, plain = "", "", 0, True
    for match in re.finditer(r"\*|" + _VARIABLE.pattern, escaped):
        pattern += _regex_literal(escaped[cursor : match.start()])
        literal += escaped[cursor : match.start()]
        cursor = match.end()
        name = match.group(1)
        if match.group(0) == "*":
            pattern, plain = pattern + ".*", False
        elif f"${name}" in context.table_variables or name in context.captured:
            pattern += "${" + name + "}"  # inserted literally (regex-escaped) at run time
            literal += "${" + name + "}" + (match.group(2) or "")
            pattern += _regex_literal(match.group(2) or "")
        elif name in _FUNCTIONS:
            pattern, plain = pattern + r"\S+", False
        else:
            pattern, plain = pattern + f"(?P<{name}>\\S+)", False
            context.captured.add(name)
    pattern += _regex_literal(escaped[cursor:])
    if plain and not anchored:
        # Only known values: the text stays a ``contains``, its variables templates.
        return {"contains": literal + escaped[cursor:]}
    return {"regex": f"^{pattern}$" if anchored else pattern}


def _regex_literal(text: str) -> str:
    return re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", text).replace(r"\$\$\{", "$${")


def _asserter(hook: Hook, context: _Context) -> Any:
    ignore_case = hook.name.endswith("_IC")
    base = hook.name.removesuffix("_IC")
    if base not in _TEXT_ASSERTERS or not hook.args:
        return None
    combine, kind = _TEXT_ASSERTERS[base]
    items = [_one_text(kind, arg, context) for arg in hook.args]
    if not ignore_case:
        items = [{**item, "ignore_case": False} for item in items]
    if len(items) == 1:
        return items[0]
    return {"any_of" if combine == "any" else "all_of": items}


def _one_text(kind: str, text: str, context: _Context) -> Any:
    escaped = text.replace("${", "$${")
    if kind == "contains":
        return {"contains": escaped}
    if kind == "regex":
        return {"regex": escaped}
    if kind == "equals":
        return {"equals": escaped}
    return _wildcard(text, context, anchored=kind == "exact_wildcard")


def _unmapped(hook: Hook) -> str:
    args = " " + "|".join(hook.args) if hook.args else ""
    what = f"{'!' if hook.negated else ''}{hook.name}{args}"
    if hook.name.startswith(("INTENT", "ENTIT")):
        return f"{what}: no equivalent (the API returns messages, not NLU results)"
    return f"{what}: no equivalent in flowtest"


def _hooks(step: Step, context: _Context) -> Iterator[str]:
    for hook in step.hooks:
        if hook.kind == "asserter" and step.sender == "bot":
            continue  # converted with the bot step
        if hook.kind == "input":
            continue
        if hook.name == "PAUSE" and hook.args and hook.args[0].isdigit():
            yield _step({"wait": f"{int(hook.args[0])}ms"})
        elif hook.name == "INCLUDE" and hook.args:
            yield _include(hook.args[0], step.line, context)
        elif hook.name in _NOT_NEEDED:
            yield f"# botium (line {step.line}): {hook.name}: {_NOT_NEEDED[hook.name]}"
        else:
            yield context.note(step.line, _unmapped(hook) + f" (in #{step.sender})")


def _include(name: str, line: int, context: _Context) -> str:
    target = context.partials.get(name)
    if target is None:
        return context.note(line, f"#include {name}: no partial convo of that name")
    return _step({"include": _relative(target, context.here)})


def _relative(target: Path, here: Path) -> str:
    return Path(os.path.relpath(target, here)).as_posix()


def _step(step: dict[str, Any]) -> str:
    """A step as the text after "- ": one key a line."""
    return "\n    ".join(f"{key}: {_flow(value)}" for key, value in step.items())


def _flow(value: Any) -> str:
    """A value as one line of flow-style YAML (JSON, which YAML reads too, when a text has line breaks)."""
    if "\n" in json.dumps(value):
        return json.dumps(value, ensure_ascii=False)
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=2**31)
    return text.removesuffix("\n...\n").strip()


def _literal_template(text: str) -> str:
    return text.replace("${", "$${")
