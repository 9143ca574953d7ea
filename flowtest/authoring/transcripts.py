"""``flowtest import transcripts``: production conversation logs as scenarios.

A log is one JSON object a line (``{"conversation": ID, "role": "user" | "bot", "text":
TEXT}``, with ``"type"`` and ``"buttons"`` on bot lines and ``"transfer"`` on user lines),
a CSV file with the same columns, or scenarios as ``flowtest record`` writes them. Each
distinct conversation becomes one scenario, its bot texts normalised as ``record``
normalises them (ids, numbers, dates and times as regexes), so that two conversations
that differ only in those are one scenario. Every mistake in a log is one
``path:line:column: message`` line, and costs only the conversation it is in.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowtest.authoring.names import free_name, taken_names
from flowtest.authoring.record import dump, escape_template, message_checks, text_matcher
from flowtest.contract import TRANSFER_RESULTS
from flowtest.errors import Location, SourceError
from flowtest.validation import describe_path
from flowtest.yamlsource import Document, load_documents, read_text

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

COLUMNS = ("conversation", "role", "text", "type", "buttons", "transfer")
ROLES = ("user", "bot")
IGNORED_TYPES = frozenset({"typing"})  # indicators, not messages: the scenarios step over them
_SCENARIO_SUFFIXES = (".yaml", ".yml")
_STEP_KEYS = frozenset({"user", "transfer", "bot", "message", "status", "variables", "end", "wait"})
_RECORDED_KEYS = _STEP_KEYS | {"reason", "within"}  # a step's keys besides its action


@dataclass(frozen=True)
class Line:
    """One message of a log: who said it, where it stood."""

    location: Location
    role: str
    text: str | None = None
    kind: str | None = None  # a bot message's type, when not plain text
    buttons: tuple[Any, ...] = ()
    transfer: str | None = None


@dataclass
class Conversation:
    key: str  # the conversation id
    source: str  # the log file, as shown
    lines: list[Line] = field(default_factory=list)
    steps: list[dict[str, Any]] | None = None  # already scenario steps (a recorded scenario)
    start: dict[str, Any] | None = None
    broken: bool = False

    @property
    def name(self) -> str:
        """A recorded scenario keeps its name; a logged conversation is named by its id."""
        return self.key if self.steps is not None else f"Conversation {self.key}"


@dataclass(frozen=True)
class Planned:
    path: Path
    name: str
    text: str
    seen: tuple[str, ...]  # the conversation ids it stands for


@dataclass
class Read:
    conversations: list[Conversation] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)


def read_logs(paths: Sequence[Path], display: Any = str) -> Read:
    """Every conversation of every log, in order; a broken line drops its conversation only."""
    result = Read()
    for path in paths:
        shown = display(path)
        try:
            text = read_text(path, shown).removeprefix("\ufeff")
        except SourceError as exc:
            result.errors.append(exc)
            continue
        if path.name.lower().endswith(_SCENARIO_SUFFIXES):
            _scenarios(text, shown, result)
            continue
        conversations: dict[str, Conversation] = {}
        reader = _csv_rows(text, shown) if path.suffix.lower() == ".csv" else _json_rows(text, shown)
        for row in reader:
            if isinstance(row, SourceError):
                result.errors.append(row)
                continue
            key, line_or_error = row
            conversation = conversations.setdefault(key, Conversation(key, shown))
            if isinstance(line_or_error, SourceError):
                result.errors.append(line_or_error)
                conversation.broken = True
            else:
                conversation.lines.append(line_or_error)
        result.conversations.extend(c for c in conversations.values() if not c.broken)
    return result


Row = tuple[str, Line | SourceError] | SourceError


def _json_rows(text: str, shown: str) -> Iterator[Row]:
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except ValueError as exc:
            column = getattr(exc, "colno", 1)
            yield SourceError(
                Location(shown, number, column), f"not a JSON object: {exc.args[0].split(':')[0]}"
            )
            continue
        if not isinstance(data, dict):
            yield SourceError(Location(shown, number, 1), "expected one JSON object a line")
            continue
        yield from _row(data, functools.partial(_json_location, shown, number, raw))


def _json_location(shown: str, number: int, raw: str, key: str | None) -> Location:
    """Where a field of a JSON line stands (its key), or the line's start."""
    found = raw.find(json.dumps(key)) if key is not None else -1
    return Location(shown, number, found + 1 if found >= 0 else 1)


def _csv_rows(text: str, shown: str) -> Iterator[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [cell.strip().lower() for cell in next(reader)]
    except StopIteration:
        return
    except csv.Error as exc:
        yield SourceError(Location(shown, 1, 1), f"not CSV: {exc}")
        return
    problem = _header_problem(header, shown)
    if problem is not None:
        yield problem
        return
    for record in _csv_records(reader, shown):
        if isinstance(record, SourceError):
            yield record
        else:
            yield from _csv_row(header, *record, shown)


def _header_problem(header: list[str], shown: str) -> SourceError | None:
    unknown = [name for name in header if name not in COLUMNS]
    missing = [name for name in ("conversation", "role") if name not in header]
    if unknown:
        what, column = f"unknown column '{unknown[0]}'", _csv_column(header, header.index(unknown[0]))
    elif missing:
        what, column = f"no '{missing[0]}' column", 1
    else:
        return None
    return SourceError(Location(shown, 1, column), f"{what}; the columns are {', '.join(COLUMNS)}")


def _csv_records(reader: CsvReader, shown: str) -> Iterator[tuple[int, list[str]] | SourceError]:
    """Each record with the line it starts on (a quoted cell may span lines); a broken one ends the file."""
    end = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield SourceError(Location(shown, reader.line_num, 1), f"not CSV: {exc}")
            return
        start, end = end + 1, reader.line_num
        yield start, cells


def _csv_row(header: list[str], number: int, cells: list[str], shown: str) -> Iterator[Row]:
    if not any(cell.strip() for cell in cells):
        return
    data: dict[str, Any] = {
        name: cells[i] for i, name in enumerate(header) if i < len(cells) and cells[i] != ""
    }
    if isinstance(data.get("buttons"), str):
        data["buttons"] = _csv_buttons(data["buttons"])
    yield from _row(data, functools.partial(_csv_location, shown, number, cells, header))


def _csv_location(
    shown: str, number: int, cells: Sequence[str], header: list[str], key: str | None
) -> Location:
    column = _csv_column(cells, header.index(key)) if key in header else 1
    return Location(shown, number, column)


def _csv_column(cells: Sequence[str], index: int) -> int:
    return 1 + sum(len(cell) + 1 for cell in cells[:index])


def _csv_buttons(text: str) -> Any:
    """Buttons in a CSV cell: a JSON list, or titles separated by ``|``."""
    if text.strip().startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return [title.strip() for title in text.split("|") if title.strip()]


def _row(data: Mapping[str, Any], where: Callable[[str | None], Location]) -> Iterator[Row]:
    """One log line as (conversation id, Line) or (conversation id, the error in it)."""
    key = data.get("conversation")
    if key is None or isinstance(key, (dict, list)) or str(key).strip() == "":
        yield SourceError(where("conversation" if "conversation" in data else None), 'no "conversation" id')
        return
    key = str(key)
    problem = _problem(data)
    if problem is not None:
        field_name, message = problem
        yield key, SourceError(where(field_name), message)
        return
    buttons = data.get("buttons") or ()
    text = data.get("text")
    yield (
        key,
        Line(
            where(None),
            data["role"],
            None if text is None else str(text),
            str(data["type"]) if data.get("type") not in (None, "", "text") else None,
            tuple(buttons),
            data.get("transfer") or None,
        ),
    )


def _problem(data: Mapping[str, Any]) -> tuple[str | None, str] | None:
    """What is wrong in a log line: the field to point at (None: the line) and why."""
    unknown = [key for key in data if key not in COLUMNS]
    if unknown:
        return unknown[0], f'unknown field "{unknown[0]}"; the fields are {", ".join(COLUMNS)}'
    role = data.get("role")
    if role not in ROLES:
        return ("role" if "role" in data else None), f'"role" is "user" or "bot", not {json.dumps(role)}'
    if data.get("text") is not None and not isinstance(data["text"], (str, int, float)):
        return "text", '"text" is a text'
    return _bot_problem(data) if role == "bot" else _user_problem(data)


def _bot_problem(data: Mapping[str, Any]) -> tuple[str | None, str] | None:
    if data.get("transfer"):
        return "transfer", '"transfer" goes on a user line (the result the caller sends)'
    if data.get("text") is None and not data.get("type") and not data.get("buttons"):
        return None, 'a bot line has a "text", a "type" or "buttons"'
    if data.get("buttons") and not isinstance(data["buttons"], list):
        return "buttons", '"buttons" is a list of titles or of {"title": ..., "payload": ...}'
    return None


def _user_problem(data: Mapping[str, Any]) -> tuple[str | None, str] | None:
    for key in ("type", "buttons"):
        if data.get(key):
            return key, f'"{key}" goes on a bot line'
    transfer = data.get("transfer")
    if transfer and transfer not in TRANSFER_RESULTS:
        return "transfer", f'"transfer" is one of {", ".join(TRANSFER_RESULTS)}, not {json.dumps(transfer)}'
    if not transfer and data.get("text") is None:
        return None, 'a user line has a "text" (or a "transfer")'
    return None


def _scenarios(text: str, shown: str, result: Read) -> None:
    """Scenarios as ``record`` writes them: their steps are already normalised."""
    try:
        documents = load_documents(text, shown)
    except SourceError as exc:
        result.errors.append(exc)
        return
    for document in documents:
        recorded = _recorded(document, shown)
        if isinstance(recorded, SourceError):
            result.errors.append(recorded)
        else:
            result.conversations.append(recorded)


def _recorded(document: Document, shown: str) -> Conversation | SourceError:
    """One recorded scenario as a conversation, or why it is not one a transcript holds."""
    data = document.data
    steps = data.get("conversation") if isinstance(data, dict) else None
    if not isinstance(steps, list) or not all(isinstance(step, dict) for step in steps):
        return SourceError(document.location(), "not a scenario: no conversation: list of steps")
    unknown = _unknown_key(document, steps)
    if unknown is not None:
        return unknown
    start = data.get("start") if isinstance(data.get("start"), dict) else None
    name = str(data.get("name") or f"{shown} {document.index + 1}")
    return Conversation(name, shown, steps=list(steps), start=start)


def _unknown_key(document: Document, steps: list[dict[str, Any]]) -> SourceError | None:
    """The error for the first step key a transcript does not hold, at that key."""
    for index, step in enumerate(steps):
        for key in step:
            if key not in _RECORDED_KEYS:
                return SourceError(
                    document.key_location(("conversation", index, key)),
                    f"{describe_path(('conversation', index, key))}: not a step a transcript holds "
                    f"({', '.join(sorted(_STEP_KEYS))})",
                )
    return None


# -- scenarios ---------------------------------------------------------------------------------


def steps_of(conversation: Conversation) -> list[dict[str, Any]]:
    """The conversation as scenario steps, bot texts normalised as ``record`` does."""
    if conversation.steps is not None:
        return conversation.steps
    steps: list[dict[str, Any]] = []
    texts: list[Any] = []  # consecutive plain bot texts: one bot step
    for line in conversation.lines:
        if line.role == "bot":
            _bot_line(line, texts, steps)
            continue
        _flush(texts, steps)
        steps.append(
            {"transfer": line.transfer} if line.transfer else {"user": escape_template(line.text or "")}
        )
    _flush(texts, steps)
    return steps


def _bot_line(line: Line, texts: list[Any], steps: list[dict[str, Any]]) -> None:
    """A plain text joins ``texts``; a message with a type or buttons is a step of its own."""
    if line.kind in IGNORED_TYPES:
        return
    # A title alone is a button's title, as the API's buttons carry one.
    buttons = [{"title": b} if isinstance(b, str) else b for b in line.buttons]
    checks = message_checks({"type": line.kind or "text", "buttons": buttons})
    if line.text is not None and not checks and line.kind is None:
        texts.append(text_matcher(line.text))
        return
    _flush(texts, steps)
    step: dict[str, Any] = {} if line.text is None else {"bot": text_matcher(line.text)}
    # Without a type in the log, the buttons are the point, not the type a channel gives them.
    step["message"] = {**({"$.type": line.kind} if line.kind else {}), **checks}
    steps.append(step)


def _flush(texts: list[Any], steps: list[dict[str, Any]]) -> None:
    if texts:
        steps.append({"bot": texts[0] if len(texts) == 1 else list(texts)})
        texts.clear()


def plan(conversations: Sequence[Conversation], flow: str, out: Path, root: Path) -> list[Planned]:
    """One scenario per distinct conversation (the first id names it), at a free path and with a
    name no scenario of the project (under ``root``) has."""
    distinct: dict[str, tuple[Conversation, list[dict[str, Any]], list[str]]] = {}
    for conversation in conversations:
        steps = steps_of(conversation)
        if not steps:
            continue
        path_key = json.dumps([conversation.start, steps], sort_keys=True, ensure_ascii=False)
        seen = distinct.setdefault(path_key, (conversation, steps, []))[2]
        seen.append(conversation.key)
    taken_paths = {p.resolve() for p in out.rglob("*")} if out.is_dir() else set()
    taken = taken_names(root)
    planned: list[Planned] = []
    for conversation, steps, seen in distinct.values():
        path = _free_path(out / f"{_slug(conversation.key)}.scenario.yaml", taken_paths)
        name = free_name(conversation.name, taken)
        planned.append(
            Planned(path, name, _scenario_text(conversation, name, flow, steps, seen), tuple(seen))
        )
    return planned


def _scenario_text(
    conversation: Conversation, name: str, flow: str, steps: list[dict[str, Any]], seen: list[str]
) -> str:
    document: dict[str, Any] = {"name": name, "flow": flow}
    if len(seen) > 1:
        document["description"] = f"{len(seen)} conversations went this way: {', '.join(seen)}"
    if conversation.start:
        document["start"] = conversation.start
    if any(line.kind in IGNORED_TYPES for line in conversation.lines):
        document["ignore_messages"] = sorted(IGNORED_TYPES)
    document["conversation"] = steps
    header = f"# Imported from {conversation.source} (flowtest import transcripts).\n"
    return dump(document, header)


def _free_path(path: Path, taken: set[Path]) -> Path:
    candidate, number = path, 2
    while candidate.resolve() in taken or candidate.exists():
        candidate = path.with_name(path.name.replace(".scenario.yaml", f"-{number}.scenario.yaml"))
        number += 1
    taken.add(candidate.resolve())
    return candidate


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", key).strip("-")[:80] or "conversation"
