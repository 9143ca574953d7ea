"""Read YAML into plain Python values while remembering where every node stood.

PyYAML composes the node graph (with the C loader when it is built in); we turn
it into dicts, lists and scalars ourselves so that every value and every key
keeps its line and column, without subclassing or patching PyYAML.
"""

from __future__ import annotations

import datetime
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from flowtest.errors import Location, SourceError

JsonPath = tuple[str | int, ...]
_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MAX_NODES = 200_000  # an alias bomb expands exponentially; real files stay far below this
_MAX_DEPTH = 100  # real scenarios nest a dozen levels; Python's recursion limit is near 1000
MAX_FILE_BYTES = 2_000_000  # a scenario, partial or table is kilobytes; parsing 50 MB takes a minute
_RESOLVER: Any = yaml.resolver.Resolver()
_STANDARD_TAGS = frozenset({"tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"})
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_BOOL_TAG = "tag:yaml.org,2002:bool"


@dataclass(frozen=True)
class Document:
    """One YAML document as plain data, with the position of each value and key."""

    path: str
    data: Any
    index: int
    marks: Mapping[JsonPath, tuple[int, int]] = field(repr=False)
    key_marks: Mapping[JsonPath, tuple[int, int]] = field(repr=False)
    # Where a string value holds "${": template checks look only there.
    templated: tuple[JsonPath, ...] = field(default=(), repr=False)
    # The source text of each plain scalar that YAML read as a number, boolean or null:
    # where the format wants a text, it is the text as typed ("012345", "12:30", "3.10").
    written: Mapping[JsonPath, str] = field(default_factory=dict, repr=False)

    def location(self, at: JsonPath = ()) -> Location:
        """Position of the value at ``at``, or of its nearest ancestor that has one."""
        return self._nearest(self.marks, at)

    def key_location(self, at: JsonPath) -> Location:
        """Position of the key that names ``at`` (falls back to the value)."""
        if at in self.key_marks:
            line, column = self.key_marks[at]
            return Location(self.path, line, column)
        return self.location(at)

    def _nearest(self, marks: Mapping[JsonPath, tuple[int, int]], at: JsonPath) -> Location:
        mark = marks.get(at)  # nearly always there: asked for every step of every file
        if mark is not None:
            return Location(self.path, mark[0], mark[1])
        for end in range(len(at) - 1, -1, -1):
            mark = marks.get(at[:end])
            if mark is not None:
                return Location(self.path, mark[0], mark[1])
        return Location(self.path, 1, 1)


def read_text(path: Path, display: str) -> str:
    """A file's text (newlines read as ``\\n``), or a SourceError that says why it cannot be read."""
    try:
        text = _read_bytes(path, display).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(Location(display, 1, 1), f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise SourceError(Location(display, 1, 1), f"cannot read file: {exc.strerror}") from None
    if "\r" in text:  # what Path.read_text's universal newlines did
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _read_bytes(path: Path, display: str) -> bytes:
    """The bytes of a file not over MAX_FILE_BYTES. With os calls, not pathlib and io: this
    runs for every collected file, and took a third of the time the file's YAML takes to parse."""
    descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(descriptor).st_size  # 0 for a special file: then read until the end
        chunks: list[bytes] = []
        done = 0
        while True:
            if max(size, done) > MAX_FILE_BYTES:
                shown = _megabytes(max(size, done))
                message = f"the file is {shown}, over the {_megabytes(MAX_FILE_BYTES)} limit: not read"
                raise SourceError(Location(display, 1, 1), message)
            chunk = os.read(descriptor, size + 1 - done if done <= size else 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            done += len(chunk)
    finally:
        os.close(descriptor)


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def load_documents(text: str, display: str) -> list[Document]:
    """Every non-empty document of a YAML stream; the first error becomes a SourceError."""
    documents, errors = load_stream(text, display)
    if errors:
        raise errors[0]
    return documents


def load_stream(text: str, display: str) -> tuple[list[Document], list[SourceError]]:
    """Every document that can be read, and one error for each that cannot.

    A syntax error ends the stream there: the documents before it are kept.
    """
    documents: list[Document] = []
    errors: list[SourceError] = []
    nodes = yaml.compose_all(text, Loader=_LOADER)
    aliases = "*" in text  # without one, no node can contain itself: nothing to watch for
    index = 0
    while True:
        try:
            node = next(nodes)
        except StopIteration:
            break
        except yaml.MarkedYAMLError as exc:
            errors.append(_syntax_error(exc, display, text))
            break
        except yaml.YAMLError as exc:
            errors.append(SourceError(Location(display, 1, 1), f"invalid YAML: {exc}"))
            break
        if node is not None and not _is_empty(node):
            try:
                documents.append(_Builder(display).document(node, index, aliases))
            except SourceError as exc:
                errors.append(exc)
        index += 1
    return documents, errors


def _is_empty(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag.endswith(":null") and node.value in ("", "~")


def _syntax_error(exc: yaml.MarkedYAMLError, display: str, text: str) -> SourceError:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = exc.problem or "invalid YAML"
    context = ""
    if exc.context:
        started = exc.context_mark
        opened = f" opened at line {started.line + 1}" if started is not None and started is not mark else ""
        context = f" ({exc.context}{opened})"
    hinted = _hinted(text.split("\n"), line, column, problem)
    if hinted is None:
        return SourceError(Location(display, line, column), f"invalid YAML: {problem}{context}")
    column, message = hinted
    return SourceError(Location(display, line, column), f"invalid YAML: {message}")


# PyYAML's words for three mistakes a designer makes, and what to do instead. Each hint
# follows the message on its line, so it reaches `validate --format github` and pytest alike.
TAB_HINT = "a tab in the indentation; hint: indent with spaces, YAML does not allow tabs there"
QUOTE_HINT = "quote the text: ': ' inside an unquoted text starts a mapping (bot: \"Sorry: no agents\")"
_TABS_PROBLEMS = ("cannot start any token", "tab character")
_MAPPING_PROBLEM = "mapping values are not allowed"
_NESTED_STEP_PROBLEMS = (_MAPPING_PROBLEM, "did not find expected key", "expected <block end>")
_FLOW_PATH = re.compile(r"\$[^\s,{}]*")  # a JSONPath as written in a {...} mapping, up to , } or space


@dataclass(frozen=True)
class _Mistake:
    """A syntax error as PyYAML words it, and the line it points at."""

    lines: list[str]
    line: int
    column: int
    problem: str
    text: str  # the line itself
    indentation: str  # its leading spaces and tabs


def _hinted(lines: list[str], line: int, column: int, problem: str) -> tuple[int, str] | None:
    """(column, message) for a mistake with a known remedy, else None."""
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    indentation = text[: len(text) - len(text.lstrip(" \t"))]
    mistake = _Mistake(lines, line, column, problem, text, indentation)
    return next((found for hint in _HINTS if (found := hint(mistake)) is not None), None)


def _tab_hint(mistake: _Mistake) -> tuple[int, str] | None:
    if "\t" in mistake.indentation and any(words in mistake.problem for words in _TABS_PROBLEMS):
        return mistake.indentation.index("\t") + 1, TAB_HINT
    return None


def _flow_path_hint(mistake: _Mistake) -> tuple[int, str] | None:
    path = _flow_path_before(mistake.text, mistake.column)
    if path is None:
        return None
    start, written = path
    hint = f'quote a JSONPath with [ or * inside {{...}} ("{written}"), or write one key per line'
    return start + 1, f"{mistake.problem}; hint: {hint}"


def _colon_hint(mistake: _Mistake) -> tuple[int, str] | None:
    if _MAPPING_PROBLEM in mistake.problem and ":" in mistake.text[: mistake.column - 1]:
        return mistake.column, f"{mistake.problem}; hint: {QUOTE_HINT}"
    return None


def _indent_hint(mistake: _Mistake) -> tuple[int, str] | None:
    """A step indented further than the one above it: YAML reads it as part of that step."""
    if not any(words in mistake.problem for words in _NESTED_STEP_PROBLEMS):
        return None
    lines = mistake.lines
    above = next((n for n in range(mistake.line - 1, 0, -1) if lines[n - 1].strip()), None)
    if above is None:
        return None
    above_text = lines[above - 1]
    if len(mistake.indentation) <= len(above_text) - len(above_text.lstrip(" ")):
        return None
    hint = (
        f"this line is indented further than line {above}: line it up with line {above} "
        "(a new step's '-' goes in the same column as the step before)"
    )
    return len(mistake.indentation) + 1, f"{mistake.problem}; hint: {hint}"


# The first that fits gives the hint.
_HINTS = (_tab_hint, _flow_path_hint, _colon_hint, _indent_hint)


def _flow_path_before(text: str, column: int) -> tuple[int, str] | None:
    """(index, path) of an unquoted JSONPath with '[' or '*' in a {...} mapping, before ``column``."""
    opened = text.find("{")
    if opened < 0:
        return None
    for found in _FLOW_PATH.finditer(text, opened):
        written = found.group().removesuffix(":")
        if found.start() < column and ("[" in written or "*" in written):
            return found.start(), written
    return None


class _Builder:
    def __init__(self, display: str) -> None:
        self.display = display
        self.constructor = SafeConstructor()
        self.marks: dict[JsonPath, tuple[int, int]] = {}
        self.key_marks: dict[JsonPath, tuple[int, int]] = {}
        self.templated: list[JsonPath] = []
        self.written: dict[JsonPath, str] = {}
        self.own_keys: set[JsonPath] = set()
        self.count = 0

    def document(self, node: Node, index: int, aliases: bool = True) -> Document:
        data = self.build(node, (), set() if aliases else None)
        return Document(
            self.display, data, index, self.marks, self.key_marks, tuple(self.templated), self.written
        )

    def build(self, node: Node, at: JsonPath, ancestors: set[int] | None) -> Any:
        """``ancestors``: the ids of the collections above, to stop an alias cycle (None: no alias)."""
        self.count += 1
        if self.count > _MAX_NODES or len(at) > _MAX_DEPTH:
            raise self.too_large(node)
        self.marks[at] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, ScalarNode):
            if node.tag == _STR_TAG:  # most values of a scenario: inline, no call at all
                if "${" in node.value:
                    self.templated.append(at)
                return node.value
            return self.typed_scalar(node, at)
        if node.tag not in _STANDARD_TAGS:
            raise self.error(node, f"unsupported YAML tag '{node.tag}'")
        if ancestors is None:
            return self.collection(node, at, None)
        return self.acyclic_collection(node, at, ancestors)

    def too_large(self, node: Node) -> SourceError:
        if self.count > _MAX_NODES:
            message = f"document too large: over {_MAX_NODES:,} values (each use of an alias counts again)"
            return self.error(node, message)
        return self.error(node, f"nested more than {_MAX_DEPTH} levels deep")

    def typed_scalar(self, node: ScalarNode, at: JsonPath) -> Any:
        """A scalar YAML did not read as plain text; a number, boolean or null keeps its source text."""
        value = self.scalar(node)
        if isinstance(value, str):
            if "${" in value:
                self.templated.append(at)
        elif not node.style and node.value:
            self.written[at] = node.value
        return value

    def acyclic_collection(self, node: Node, at: JsonPath, ancestors: set[int]) -> Any:
        if id(node) in ancestors:
            raise self.error(node, "an alias refers to a node that contains it")
        ancestors.add(id(node))
        try:
            return self.collection(node, at, ancestors)
        finally:
            ancestors.discard(id(node))

    def collection(self, node: Node, at: JsonPath, ancestors: set[int] | None) -> Any:
        if isinstance(node, SequenceNode):
            return [self.build(child, (*at, i), ancestors) for i, child in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self.mapping(node, at, ancestors)
        raise self.error(node, "unsupported YAML node")

    def scalar(self, node: ScalarNode) -> Any:
        if node.tag == _STR_TAG:
            return node.value
        if node.tag == _MERGE_TAG:  # a bare '<<' as a value is just text
            return node.value
        if node.tag == _BOOL_TAG and node.value.lower() not in ("true", "false"):
            return node.value  # YAML 1.2: "yes", "no", "on", "off" are text (a caller says "yes")
        try:
            value = self.constructor.construct_object(node)
        except yaml.YAMLError:
            raise self.error(node, f"unsupported YAML tag '{node.tag}'") from None
        except (ValueError, TypeError, AttributeError, OverflowError):
            return self.unreadable(node)
        # Dates and binary have no JSON form: keep what the designer typed.
        if isinstance(value, (datetime.date, bytes)):
            return node.value
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(node, f"{node.value} is not a number JSON can carry; quote it for the text")
        return value

    def unreadable(self, node: ScalarNode) -> str:
        """A scalar its tag cannot build: a text when YAML only guessed the tag, else an error."""
        implicit = _RESOLVER.resolve(ScalarNode, node.value, (True, False)) == node.tag
        if implicit and node.tag.endswith(":int"):
            digits = sum(char.isdigit() for char in node.value)
            raise self.error(node, f"a number of {digits} digits is too long; quote it for the text")
        if implicit:  # 2024-02-30 looks like a date but is none: the designer's text
            return str(node.value)
        kind = node.tag.rsplit(":", 1)[-1]
        raise self.error(node, f"'{node.value}' is not a valid !!{kind}")

    def mapping(self, node: MappingNode, at: JsonPath, ancestors: set[int] | None) -> dict[str, Any]:
        merges = sum(1 for key, _ in node.value if key.tag == _MERGE_TAG)
        if merges:
            own = len(node.value) - merges
            try:
                self.constructor.flatten_mapping(node)  # resolves YAML merge keys (<<), merged first
            except yaml.YAMLError as exc:
                raise self.error(node, f"cannot merge: {getattr(exc, 'problem', exc)}") from None
            merged = len(node.value) - own
        else:
            merged = 0
        result: dict[str, Any] = {}
        key_marks, own_keys = self.key_marks, self.own_keys
        for position, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, ScalarNode):
                raise self.error(key_node, "a key must be plain text, not a list or mapping")
            # A key is the text as written: "null: 1" names "null", not "None".
            key = key_node.value
            child = (*at, key)
            if position >= merged:  # the mapping's own keys override what a merge brought
                if key in result and child in own_keys:
                    raise self.error(key_node, f"duplicate key '{key}'")
                own_keys.add(child)
            mark = key_node.start_mark
            key_marks[child] = (mark.line + 1, mark.column + 1)
            result[key] = self.build(value_node, child, ancestors)
        return result

    def error(self, node: Node, message: str) -> SourceError:
        mark = node.start_mark
        return SourceError(Location(self.display, mark.line + 1, mark.column + 1), message)


def iter_paths(data: Any, at: JsonPath = ()) -> Iterator[tuple[JsonPath, Any]]:
    """Every (path, value) pair below ``data``, depth first."""
    yield at, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from iter_paths(value, (*at, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from iter_paths(value, (*at, index))
