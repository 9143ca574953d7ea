"""Read BotiumScript: convo, partial convo, utterances and scripting memory files, text and YAML/JSON.

The rules follow botium-core's compilers: a convo text file is a name line, an
optional description, then sections ``#me``, ``#bot``, ``#include``, ``#begin``,
``#end``; a section line whose first word names an asserter, logic hook or user
input is one of those (``NAME arg1|arg2``, ``!`` negates, ``?`` makes optional);
the other lines are the message text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowtest.authoring.botium.capabilities import Registry
from flowtest.errors import Location, SourceError
from flowtest.yamlsource import Document, load_documents, read_text

SENDERS = ("begin", "include", "me", "bot", "end")
ASSERTERS = frozenset(
    [
        "BUTTONS",
        "BUTTONS_COUNT",
        "BUTTONS_COUNT_REC",
        "MEDIA",
        "MEDIA_COUNT",
        "MEDIA_COUNT_REC",
        "CARDS",
        "CARDS_COUNT",
        "CARDS_COUNT_REC",
        "PAUSE_ASSERTER",
        "JSON_PATH",
        "JSON_PATH_COUNT",
        "RESPONSE_LENGTH",
        "FORMS",
        "ENTITIES",
        "ENTITY_VALUES",
        "ENTITY_CONTENT",
        "INTENT",
        "INTENT_UNIQUE",
        "INTENT_CONFIDENCE",
        "TEXT_CONTAINS_ANY",
        "TEXT_CONTAINS_ANY_IC",
        "TEXT_CONTAINS_ALL",
        "TEXT_CONTAINS_ALL_IC",
        "TEXT_WILDCARD_ANY",
        "TEXT_WILDCARD_ANY_IC",
        "TEXT_WILDCARD_ALL",
        "TEXT_WILDCARD_ALL_IC",
        "TEXT_WILDCARDEXACT_ANY",
        "TEXT_WILDCARDEXACT_ANY_IC",
        "TEXT_WILDCARDEXACT_ALL",
        "TEXT_WILDCARDEXACT_ALL_IC",
        "TEXT_REGEXP_ANY",
        "TEXT_REGEXP_ANY_IC",
        "TEXT_REGEXP_ALL",
        "TEXT_REGEXP_ALL_IC",
        "TEXT_EQUALS",
        "TEXT_EQUALS_IC",
        "TEXT",
        "TEXT_IC",
        "TEXT_WER",
        "BOT_CONSUMED",
        "BOT_UNCONSUMED_COUNT",
    ]
)
LOGIC_HOOKS = frozenset(
    [
        "PAUSE",
        "WAITFORBOT",
        "SET_SCRIPTING_MEMORY",
        "CLEAR_SCRIPTING_MEMORY",
        "ASSIGN_SCRIPTING_MEMORY",
        "UPDATE_CUSTOM",
        "SKIP_BOT_UNCONSUMED",
        "INCLUDE",
        "CONDITIONAL_STEP_TIME_BASED",
        "CONDITIONAL_STEP_BUSINESS_HOURS",
        "CONDITIONAL_STEP_CAPABILITY_VALUE_BASED",
        "CONDITIONAL_STEP_JSON_PATH_BASED",
        "CONVO_STEP_PARAMETERS",
        "ORDERED_LIST_TO_BUTTON",
    ]
)
USER_INPUTS = frozenset({"BUTTON", "MEDIA", "FORM"})
CONDITIONAL = "CONDITIONAL_STEP"  # Botium makes any logic hook named so a conditional step
OBJECT_KEYS = ("convos", "partialConvos", "utterances", "scriptingMemory")
_EOL = re.compile(r"\r\n|\r|\n")


class NotBotium(Exception):
    """A YAML/JSON file that holds no Botium script: skipped, with the reason."""


@dataclass(frozen=True)
class Hook:
    """An asserter, logic hook or user input of a step."""

    kind: str  # "asserter", "logic" or "input"
    name: str
    args: tuple[str, ...] = ()
    negated: bool = False
    optional: bool = False
    custom: bool = False  # registered in botium.json: its code is the project's own


@dataclass(frozen=True)
class Step:
    sender: str
    line: int
    channel: str | None = None
    text: str | None = None  # None: no message text (not the same as "")
    negated: bool = False
    optional: bool = False
    hooks: tuple[Hook, ...] = ()
    source_data: Any = None  # a message written as JSON


@dataclass(frozen=True)
class Convo:
    name: str
    path: Path
    line: int
    steps: tuple[Step, ...]
    description: str | None = None
    partial: bool = False


@dataclass(frozen=True)
class Utterances:
    name: str
    phrases: tuple[str, ...]
    path: Path


@dataclass(frozen=True)
class MemoryCase:
    name: str
    values: dict[str, str]  # "$var": value


@dataclass(frozen=True)
class Memory:
    path: Path
    cases: tuple[MemoryCase, ...]

    @property
    def variables(self) -> tuple[str, ...]:
        names: dict[str, None] = {}
        for case in self.cases:
            names.update(dict.fromkeys(case.values))
        return tuple(names)


@dataclass
class Script:
    """Everything read from one source tree."""

    convos: list[Convo] = field(default_factory=list)
    utterances: list[Utterances] = field(default_factory=list)
    memories: list[Memory] = field(default_factory=list)


TEXT_KINDS = {
    ".convo.txt": "convo",
    ".pconvo.txt": "pconvo",
    ".utterances.txt": "utterances",
    ".scriptingmemory.txt": "memory",
}
OBJECT_SUFFIXES = (".yaml", ".yml", ".json")


def source_kind(path: Path) -> str | None:
    name = path.name.lower()
    for suffix, kind in TEXT_KINDS.items():
        if name.endswith(suffix):
            return kind
    return "object" if name.endswith(OBJECT_SUFFIXES) else None


def read_file(path: Path, display: str, script: Script, registry: Registry | None = None) -> None:
    """Add what one file holds to ``script``; raises SourceError when it cannot be read,
    NotBotium when it is a YAML/JSON file of something else."""
    kind = source_kind(path)
    registry = registry or Registry()
    text = read_text(path, display).removeprefix("\ufeff")
    if kind in ("convo", "pconvo"):
        script.convos.append(_text_convo(_EOL.split(text), path, display, kind == "pconvo", registry))
    elif kind == "utterances":
        lines = _EOL.split(text)
        phrases = tuple(line.strip() for line in lines[1:] if line.strip())
        script.utterances.append(Utterances(lines[0].strip(), phrases, path))
    elif kind == "memory":
        cases = memory_cases(_EOL.split(text), lambda index: Location(display, index + 1, 1))
        script.memories.append(Memory(path, tuple(cases)))
    elif kind == "object":
        _object_file(_documents(text, path, display), path, display, script, registry)


def _documents(text: str, path: Path, display: str) -> list[Document]:
    """The documents of a Botium YAML/JSON file; NotBotium for any other such file."""
    named = any(
        f".{word}." in path.name.lower() for word in ("convo", "pconvo", "utterances", "scriptingmemory")
    )
    try:
        documents = load_documents(text, display)
    except SourceError as exc:
        if named:
            raise
        raise NotBotium(
            f"not read as Botium: {exc.location.line}:{exc.location.column}: {exc.detail}"
        ) from None
    if not any(
        isinstance(doc.data, dict) and any(key in doc.data for key in OBJECT_KEYS) for doc in documents
    ):
        if named:
            raise SourceError(Location(display, 1, 1), f"no {', '.join(OBJECT_KEYS)}: not a Botium file")
        raise NotBotium(f"not a Botium file (no {', '.join(OBJECT_KEYS)})")
    return documents


# -- text convos -------------------------------------------------------------------------


def _text_convo(lines: list[str], path: Path, display: str, partial: bool, registry: Registry) -> Convo:
    header: list[str] = []
    steps: list[Step] = []
    sender: str | None = None
    channel: str | None = None
    start = 0
    body: list[str] = []

    def close() -> None:
        if sender is not None:
            steps.append(parse_step(body, sender, start, display, channel, registry))
        else:
            header.extend(body)

    for number, line in enumerate(lines, 1):
        tag = line[1:].split(" ")[0] if line.startswith("#") else None
        if tag not in SENDERS:
            body.append(line)
            continue
        close()
        sender, _, rest = line[1:].strip().partition(" ")
        channel, start, body = rest.strip() or None, number, []
    close()
    if not steps:
        raise SourceError(
            Location(display, 1, 1),
            "no #me, #bot, #include, #begin or #end section: not a Botium convo (nothing imported)",
        )
    while header and not header[-1].strip():
        header.pop()
    name = header[0].strip() if header else path.name.split(".")[0]
    description = "\n".join(header[1:]).strip() or None
    return Convo(name, path, 1, tuple(steps), description, partial)


def parse_step(
    lines: list[Any],
    sender: str,
    line: int,
    display: str,
    channel: str | None = None,
    registry: Registry | None = None,
) -> Step:
    """One section's lines (text lines or, from YAML/JSON, objects) as a Step."""
    registry = registry or Registry()
    where = Location(display, line, 1)
    hooks: list[Hook] = []
    texts: list[str] = []
    text_allowed = True  # a #me line after a user input or logic hook is not text
    for raw in lines:
        if isinstance(raw, dict):
            hooks.append(_object_hook(raw, sender, where, registry))
            continue
        raw = str(raw)
        hook = _line_hook(raw, sender, registry)
        if hook is not None:
            hooks.append(hook)
            text_allowed = text_allowed and hook.kind == "asserter"
        elif sender != "me" or text_allowed:
            texts.append(raw)
        elif raw.strip():
            raise SourceError(where, f"#me: no text expected after a hook: '{raw}'")
    return _with_text(Step(sender, line, channel, hooks=tuple(hooks)), _text_lines(texts))


def _text_lines(texts: list[str]) -> list[str]:
    """The lines up to the last that holds text; with none, all but the last empty line."""
    last = max((index for index, text in enumerate(texts) if text.strip()), default=None)
    return texts[:-1] if last is None else texts[: last + 1]


def _with_text(step: Step, text_lines: list[str]) -> Step:
    """The text lines as the step's text, each line trimmed (a trailing space is not meant),
    or as a structured message when they are JSON."""
    if not text_lines:
        return step
    first, optional, negated = _flags(text_lines[0])
    content = "\n".join(line.strip() for line in [first, *text_lines[1:]]).strip()
    if content[:1] in ("{", "[") and _is_json(content):
        return Step(**{**step.__dict__, "source_data": json.loads(content), "optional": optional})
    return Step(**{**step.__dict__, "text": content, "optional": optional, "negated": negated})


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _flags(text: str) -> tuple[str, bool, bool]:
    """``?`` optional, ``!`` negated; ``??`` and ``!!`` escape a literal first character."""
    optional = negated = False
    if text.startswith("?"):
        optional = not text.startswith("??")
        text = text[1:]
    if text.startswith("!"):
        negated = not text.startswith("!!")
        text = text[1:]
    return text, optional, negated


def _line_hook(raw: str, sender: str, registry: Registry) -> Hook | None:
    logic, optional, negated = _flags(raw.rstrip())
    name, _, rest = logic.partition(" ")
    return _hook(name, split_args(rest), sender, registry, negated, optional)


def _hook(
    name: str, args: tuple[str, ...], sender: str, registry: Registry, negated: bool, optional: bool
) -> Hook | None:
    """What Botium reads a line starting with ``name`` as: an asserter, user input or logic hook."""
    if sender != "me" and (name in ASSERTERS or name in registry.asserters):
        return Hook("asserter", name, args, negated, optional, custom=name not in ASSERTERS)
    if sender == "me" and (name in USER_INPUTS or name in registry.user_inputs):
        return Hook("input", name, args, custom=name not in USER_INPUTS)
    if name in LOGIC_HOOKS or name in registry.logic_hooks or name.startswith(CONDITIONAL):
        return Hook("logic", name, args, custom=name not in LOGIC_HOOKS)
    return None


def split_args(text: str) -> tuple[str, ...]:
    """``a|b\\|c`` is ("a", "b|c")."""
    if not text:
        return ()
    return tuple(part.replace("\0", "|").strip() for part in text.replace("\\|", "\0").split("|"))


def _object_hook(raw: dict[str, Any], sender: str, where: Location, registry: Registry) -> Hook:
    for key, kind, builtin in (
        ("asserter", "asserter", ASSERTERS),
        ("logichook", "logic", LOGIC_HOOKS),
        ("logicHook", "logic", LOGIC_HOOKS),
        ("userinput", "input", USER_INPUTS),
        ("userInput", "input", USER_INPUTS),
    ):
        if key in raw:
            name = str(raw[key])
            negated, optional = bool(raw.get("not")), bool(raw.get("optional"))
            return Hook(kind, name, _args(raw.get("args")), negated, optional, custom=name not in builtin)
    name, content = next(iter(raw.items()))
    name, optional, negated = str(name), False, False
    for prefix, flag in (("?", "optional"), ("OPTIONAL_", "optional"), ("!", "negated"), ("NOT_", "negated")):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            optional, negated = optional or flag == "optional", negated or flag == "negated"
    hook = _hook(name, _args(content), sender, registry, negated, optional)
    if hook is None:
        raise SourceError(where, f"#{sender}: line not recognized: {json.dumps(raw)}")
    return hook


def _args(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    return split_args(str(value)) if isinstance(value, str) and "|" in value else (str(value),)


# -- scripting memory ------------------------------------------------------------------


def memory_cases(lines: list[Any], where: Callable[[int], Location] | None = None) -> list[MemoryCase]:
    """Rows of ``|$var1|$var2`` tables, by test case (or transposed: ``$var|case1|case2``).

    ``where`` locates the line at an index of ``lines`` (for the error a nameless column is).
    """
    numbered = [(index, str(line)) for index, line in enumerate(lines) if str(line).strip()]
    outer = _drawn(text for _, text in numbered)
    rows = [[cell.strip() for cell in _inner(text, outer).split("|")] for _, text in numbered]
    if len(rows) < 2:
        return []
    by_variable = rows[1][0].startswith("$")
    if "" in rows[0][1:]:
        index, text = numbered[0]
        location = (where or (lambda i: Location("", i + 1, 1)))(index)
        raise _empty_header(location, text, rows[0].index("", 1) + 1, outer, by_variable)
    return _cases_by_variable(rows) if by_variable else _cases_by_row(rows)


def _cases_by_variable(rows: list[list[str]]) -> list[MemoryCase]:
    """One row per variable, one column per case."""
    return [
        MemoryCase(name, {row[0]: _cell(row, column) for row in rows[1:]})
        for column, name in enumerate(rows[0][1:], 1)
    ]


def _cases_by_row(rows: list[list[str]]) -> list[MemoryCase]:
    """One row per case, one column per variable."""
    return [
        MemoryCase(row[0], {name: _cell(row, column) for column, name in enumerate(rows[0][1:], 1)})
        for row in rows[1:]
    ]


def _drawn(texts: Iterable[str]) -> bool:
    """A table drawn with outer pipes on every line (``|header|$a|$b|``, as Markdown does):
    Botium would read an empty case name on each row; the drawing is what was meant."""
    stripped = [text.strip() for text in texts]
    return bool(stripped) and all(
        text.startswith("|") and text.endswith("|") and len(text) > 1 for text in stripped
    )


def _inner(text: str, outer: bool) -> str:
    return text.strip()[1:-1] if outer else text


def _cell(row: list[str], index: int) -> str:
    return row[index] if index < len(row) else ""


def _empty_header(
    location: Location, text: str, position: int, outer: bool, by_variable: bool
) -> SourceError:
    """The error for a header cell (``position``, from 1) that names nothing, at its ``|``."""
    column = _cell_column(text, position - 1 + int(outer))
    what = "test case" if by_variable else "variable"
    return SourceError(
        Location(location.path, location.line, location.column + column),
        f"scripting memory: column {position} of the header is empty: it names a {what}",
    )


def _cell_column(text: str, cell: int) -> int:
    """The 0-based offset of the ``|`` that opens a cell (an empty cell has nothing else to point at)."""
    offset = -1
    for _ in range(cell):
        offset = text.index("|", offset + 1)
    return offset


# -- YAML and JSON -------------------------------------------------------------------------


def _object_file(
    documents: list[Document], path: Path, display: str, script: Script, registry: Registry
) -> None:
    if len(documents) != 1 or not isinstance(documents[0].data, dict):
        raise SourceError(Location(display, 1, 1), "a Botium YAML/JSON file is one mapping")
    document = documents[0]
    data = document.data
    for key, partial in (("convos", False), ("partialConvos", True)):
        for index, raw in enumerate(data.get(key) or []):
            script.convos.append(_object_convo(document, (key, index), raw, path, display, partial, registry))
    script.utterances.extend(_object_utterances(data.get("utterances") or {}, document, path))
    memory = data.get("scriptingMemory") or []
    if memory:
        script.memories.append(Memory(path, tuple(_object_memory(memory, document))))


def _object_utterances(lists: dict[Any, Any], document: Document, path: Path) -> list[Utterances]:
    found = []
    for name, phrases in lists.items():
        if not isinstance(phrases, list):
            raise SourceError(document.location(("utterances", name)), f"utterances.{name}: expected a list")
        found.append(Utterances(str(name), tuple(str(p) for p in phrases), path))
    return found


def _object_memory(memory: list[Any], document: Document) -> list[MemoryCase]:
    """``scriptingMemory``: a table's lines, or Botium's objects (``header.name`` and ``values``)."""
    if all(isinstance(line, str) for line in memory):
        return memory_cases(memory, lambda index: document.location(("scriptingMemory", index)))
    return [
        MemoryCase(
            str(item.get("header", {}).get("name", index)), {k: str(v) for k, v in item["values"].items()}
        )
        for index, item in enumerate(memory)
        if isinstance(item, dict) and isinstance(item.get("values"), dict)
    ]


def _object_convo(
    document: Document,
    at: tuple[str, int],
    raw: Any,
    path: Path,
    display: str,
    partial: bool,
    registry: Registry,
) -> Convo:
    where = document.location(at)
    if not isinstance(raw, dict) or not isinstance(raw.get("steps"), list):
        raise SourceError(where, f"{at[0]}[{at[1]}]: a convo has a name and a list of steps")
    steps = []
    for index, step in enumerate(raw["steps"]):
        location = document.location((*at, "steps", index))
        if not isinstance(step, dict) or len(step) != 1 or next(iter(step)) not in SENDERS:
            raise SourceError(location, f"a step is one of {', '.join(SENDERS)} with its lines")
        sender, lines = next(iter(step.items()))
        lines = lines if isinstance(lines, list) else [lines]
        steps.append(parse_step(lines, sender, location.line, display, registry=registry))
    name = str(raw.get("name") or f"{path.name.split('.')[0]} {at[1] + 1}")
    return Convo(name, path, where.line, tuple(steps), raw.get("description"), partial)
