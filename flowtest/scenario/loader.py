"""Load ``*.scenario.yaml`` files: YAML with positions, the JSON Schema, includes, templates.

Every problem becomes a SourceError at ``path:line:column``. A broken document is
reported on its own; the file's other documents still load.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowtest.durations import parse_duration
from flowtest.errors import Location, SourceError
from flowtest.jsonpath import check_syntax
from flowtest.matchers import MATCHERS, BuildContext, Takes, TextMode, regex_group_names
from flowtest.matchers.meaning import MeaningServices
from flowtest.scenario import model
from flowtest.scenario.tables import Row, read_located_table
from flowtest.scenario.texts import as_written
from flowtest.scenario.utterances import Library, UtteranceFinder, UtteranceList
from flowtest.schemas import fast_check, validator
from flowtest.steps import kind_for, scenario_kind
from flowtest.steps.base import RawStep
from flowtest.templating import BUILTINS, bind_partial, reference_problem, references
from flowtest.trace import Role
from flowtest.validation import describe_path, did_you_mean, schema_errors
from flowtest.yamlsource import Document, JsonPath, iter_paths, load_documents, load_stream, read_text

_MAX_INCLUDE_DEPTH = 20


@dataclass(frozen=True)
class InvalidDocument:
    """A document that cannot run, with every problem found in it."""

    errors: tuple[SourceError, ...]
    name: str | None
    location: Location
    # The tags it would have had, read leniently: `pytest -m smoke` still selects it and fails.
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadedFile:
    path: Path
    scenarios: tuple[model.Scenario, ...] = ()
    invalid: tuple[InvalidDocument, ...] = ()

    @property
    def broken(self) -> tuple[InvalidDocument, ...]:
        """The documents that cannot run, by the name they had before."""
        return self.invalid


class ScenarioLoader:
    """Loads scenario files under one project root; partials are read once and cached.

    ``text_match``: how bot steps compare texts when a scenario does not say (the setting).
    """

    def __init__(
        self,
        root: Path,
        utterance_mode: str = "all",
        text_match: TextMode = TextMode.EXACT,
        ignore_messages: tuple[str, ...] = (),
        meaning: MeaningServices | None = None,
    ) -> None:
        self.root = root.resolve()
        self.ignore_messages = frozenset(ignore_messages)
        self.meaning = meaning if meaning is not None else MeaningServices()
        self._root_prefix = str(self.root).rstrip(os.sep) + os.sep
        self.utterance_mode = utterance_mode
        self.text_match = text_match
        self._partials: dict[Path, Document] = {}
        self._tables: dict[Path, tuple[tuple[Row, Location], ...] | SourceError] = {}
        self._folders: dict[str, bool] = {}
        self.utterance_finder = UtteranceFinder(self.root, self.display)

    def display(self, path: Path) -> str:
        """The path as the user reads it: relative to the project root when inside it."""
        text = str(path)
        # pytest's paths are absolute and normalised: a prefix test, without resolve()'s
        # syscalls or pathlib's parsing (this runs for every collected file).
        if text.startswith(self._root_prefix) and path.is_absolute():
            return text[len(self._root_prefix) :]
        try:
            return str(path.resolve().relative_to(self.root))
        except ValueError:
            return str(path)

    def load_file(self, path: Path) -> LoadedFile:
        display = self.display(path)
        outside = self.outside(path, display)
        if outside is not None:
            return LoadedFile(path, invalid=(InvalidDocument((outside,), None, outside.location),))
        text = ""
        try:
            text = read_text(path, display)
            documents, unreadable = load_stream(text, display)
        except SourceError as exc:
            whole = InvalidDocument((exc,), _name_in_text(text), exc.location, _tags_in_text(text))
            return LoadedFile(path, invalid=(whole,))
        if not documents and not unreadable:
            error = SourceError(Location(display, 1, 1), "the file holds no scenario")
            return LoadedFile(path, invalid=(InvalidDocument((error,), None, error.location),))
        scenarios: list[model.Scenario] = []
        # A document that cannot be read costs only itself: the others in the file still run.
        invalid = [InvalidDocument((error,), None, error.location) for error in unreadable]
        if len(invalid) == 1 and not documents:  # the file's one document: its text still names it
            first = invalid[0]
            invalid = [
                InvalidDocument(first.errors, _name_in_text(text), first.location, _tags_in_text(text))
            ]
        for document in documents:
            result = self.load_document(path, document)
            if isinstance(result, InvalidDocument):
                invalid.append(result)
            else:
                scenarios.append(result)
        return LoadedFile(path, tuple(scenarios), tuple(invalid))

    def outside(self, path: Path, display: str) -> SourceError | None:
        """A link to a file outside the project is not read, nor a file in a folder that links
        outside it (pytest follows linked folders): the rule of includes and tables."""
        if path.is_symlink():
            if path.resolve().is_relative_to(self.root):
                return None
        elif not self._linked_out(os.path.dirname(os.path.abspath(path))):
            return None
        message = f"links to a file outside the project ({self.root}): not read"
        return SourceError(Location(display, 1, 1), message)

    def _linked_out(self, folder: str) -> bool:
        """Whether ``folder`` is reached through a link to a place outside the project; once per
        folder. A folder outside it that no link leads to (a file named on the command line) is
        read, as before."""
        known = self._folders.get(folder)
        if known is None:
            real = os.path.realpath(folder)
            known = self._folders[folder] = real != folder and not Path(real).is_relative_to(self.root)
        return known

    def load_document(self, path: Path, document: Document) -> model.Scenario | InvalidDocument:
        data = as_written(document).data
        name = data.get("name") if isinstance(data, dict) and isinstance(data.get("name"), str) else None
        tags = _lenient_tags(data.get("tags") if isinstance(data, dict) else None)
        errors = schema_errors(document, functools.partial(validator, "scenario"), fast_check("scenario"))
        if errors:
            return InvalidDocument(tuple(errors), name, document.location(), tags)
        table = self._examples(path, document)
        raw_steps, errors = self._steps(path, document)
        rows: tuple[Row, ...] = ()
        row_locations: tuple[Location, ...] = ()
        if isinstance(table, SourceError):
            errors.insert(0, table)
        elif table:
            rows, row_locations = (tuple(column) for column in zip(*table, strict=True))
        lists: dict[str, UtteranceList] = {}
        if not errors:
            raw_steps, lists, errors = self._utterances(path, document, raw_steps)
        if not errors:
            errors = _semantic_errors(document, raw_steps, rows, lists)
            errors += _kind_problems(raw_steps)
            errors += _row_errors(document, raw_steps, rows)
            errors += self._meaning_errors(raw_steps)
        if errors:
            return InvalidDocument(tuple(errors), name, document.location(), tags)
        mode = document.data.get("utterances", self.utterance_mode)
        texts = BuildContext(
            text=True,
            text_mode=TextMode(document.data.get("text_match", self.text_match)),
            services=self.meaning,
        )
        scenario = _build_scenario(document, raw_steps, rows, lists, mode, texts, self.ignore_messages)
        return dataclasses.replace(scenario, example_locations=row_locations) if row_locations else scenario

    def _meaning_errors(self, steps: list[RawStep]) -> list[SourceError]:
        """similar without its model, judge without an endpoint: errors here, never a silent pass."""
        errors = []
        for step in steps:
            for key, at in _meaning_keys(step):
                problem = self.meaning.similar_problem() if key == "similar" else self.meaning.judge_problem
                if problem is not None:
                    where = step.document.key_location(at)
                    errors.append(SourceError(where, f"{describe_path(at)}: {problem}"))
        return errors

    def _steps(self, path: Path, document: Document) -> tuple[list[RawStep], list[SourceError]]:
        """The conversation's steps; with a scenario key's kind (caller:), its step, then the steps
        under the keys beside it (goal:)."""
        kind = scenario_kind(document.data)
        if kind is None:
            return self._expand(path, document, ("conversation",), None, ())
        key = next(iter(kind.keys))
        steps: list[RawStep] = [RawStep(document.data[key], document, (key,), None, kind)]
        errors: list[SourceError] = []
        for beside in sorted(kind.modifiers & set(document.data)):
            more, more_errors = self._expand(path, document, (beside,), None, ())
            steps.extend(more)
            errors.extend(more_errors)
        return steps, errors

    # -- examples: PATH ----------------------------------------------------------------

    def _examples(self, path: Path, document: Document) -> tuple[tuple[Row, Location], ...] | SourceError:
        """The example rows, each with where it is written (a failure names the row)."""
        examples = document.data.get("examples", [])
        if not isinstance(examples, str):
            return tuple((row, document.location(("examples", index))) for index, row in enumerate(examples))
        target = (path.parent / examples).resolve()
        location = document.location(("examples",))
        if not target.is_relative_to(self.root):
            return SourceError(location, f"examples: '{examples}' is outside the project ({self.root})")
        if not target.is_file():
            return SourceError(location, f"examples: no such table file '{examples}'")
        if target not in self._tables:
            try:
                self._tables[target] = read_located_table(target, self.display(target))
            except SourceError as exc:
                self._tables[target] = exc
        return self._tables[target]

    # -- utterance lists ---------------------------------------------------------------

    def _utterances(
        self, path: Path, document: Document, steps: list[RawStep]
    ) -> tuple[list[RawStep], dict[str, UtteranceList], list[SourceError]]:
        """Steps with bot-side references replaced by their phrases; the lists user steps send from."""
        mentions = [_mentions_utterance(step.data) for step in steps]
        if not any(mentions):
            return steps, {}, []
        library = self.utterance_finder.library(self._folder(path))
        if library.broken:
            # A list file that cannot be read may define (or redefine) any name: no list is
            # trusted on its path, and its error is charged once to each scenario using lists.
            return steps, {}, list(library.broken)
        lists: dict[str, UtteranceList] = {}
        errors: list[SourceError] = []
        resolved = []
        for step, mentioned in zip(steps, mentions, strict=True):
            if not mentioned:
                resolved.append(step)
                continue
            user = step.data.get("user")
            if isinstance(user, dict):
                found = _lookup(library, user["utterance"], step, (*step.at, "user", "utterance"))
                if isinstance(found, SourceError):
                    errors.append(found)
                else:
                    lists.setdefault(found.name, found)
            if isinstance(user, dict) and len(step.data) == 1:
                resolved.append(step)  # nothing to expand beside it
                continue
            data = _expand_matchers(step.data, step, library, errors)
            resolved.append(RawStep(data, step.document, step.at, step.included_from, step.kind))
        if not errors:
            errors.extend(self._cap(document, steps, lists))
        return resolved, lists, errors

    def _folder(self, path: Path) -> Path:
        folder = path.parent
        return folder if folder.is_absolute() and folder.is_relative_to(self.root) else folder.resolve()

    def _cap(
        self, document: Document, steps: list[RawStep], lists: dict[str, UtteranceList]
    ) -> list[SourceError]:
        mode = document.data.get("utterances", self.utterance_mode)
        count = math.prod(len(found.phrases) for found in lists.values())
        if mode != "all" or count <= model.MAX_UTTERANCE_TESTS:
            return []
        first = next(step for step in steps if isinstance(step.data.get("user"), dict))
        at = ("utterances",) if "utterances" in document.data else (*first.at, "user")
        sizes = ", ".join(f"{name}: {len(found.phrases)} phrases" for name, found in lists.items())
        return [
            SourceError(
                (document if "utterances" in document.data else first.document).location(at),
                f"{describe_path(at)}: utterances: all makes {count} tests ({sizes}), "
                f"more than {model.MAX_UTTERANCE_TESTS}; use utterances: first or utterances: random",
            )
        ]

    # -- includes --------------------------------------------------------------------

    def _expand(
        self,
        path: Path,
        document: Document,
        at: JsonPath,
        included_from: Location | None,
        chain: tuple[Path, ...],
    ) -> tuple[list[RawStep], list[SourceError]]:
        steps: list[RawStep] = []
        errors: list[SourceError] = []
        conversation = _get(document.data, at)
        for index, data in enumerate(conversation):
            step_at = (*at, index)
            if "include" not in data:
                steps.append(RawStep(data, document, step_at, included_from))
                continue
            partial = self._partial(path, document, step_at, chain)
            if isinstance(partial, SourceError):
                errors.append(partial)
                continue
            partial_path, partial_document = partial
            bound = Document(
                partial_document.path,
                bind_partial(partial_document.data, data.get("with", {})),
                partial_document.index,
                partial_document.marks,
                partial_document.key_marks,
            )
            inner, inner_errors = self._expand(
                partial_path,
                bound,
                ("conversation",),
                document.location(step_at),
                (*chain, path.resolve()),
            )
            steps.extend(inner)
            errors.extend(inner_errors)
        return steps, errors

    def _partial(
        self, path: Path, document: Document, at: JsonPath, chain: tuple[Path, ...]
    ) -> tuple[Path, Document] | SourceError:
        include = _get(document.data, (*at, "include"))
        location = document.location((*at, "include"))
        target = (path.parent / include).resolve()
        where = describe_path((*at, "include"))
        if not target.is_relative_to(self.root):
            return SourceError(location, f"{where}: '{include}' is outside the project ({self.root})")
        if not target.is_file():
            return SourceError(location, f"{where}: no such partial file '{include}'")
        if target in chain or len(chain) > _MAX_INCLUDE_DEPTH:
            return SourceError(location, f"{where}: '{include}' includes itself")
        if target not in self._partials:
            loaded = self._read_partial(target)
            if isinstance(loaded, SourceError):
                return loaded
            self._partials[target] = loaded
        return target, self._partials[target]

    def _read_partial(self, target: Path) -> Document | SourceError:
        display = self.display(target)
        errors = partial_errors(target, display)
        if errors:
            return errors[0]
        return as_written(load_documents(read_text(target, display), display)[0])


def duplicate_name(scenario: model.Scenario, seen: dict[str, Location]) -> SourceError | None:
    """The error for a scenario named like one seen before (``seen`` records the first of each)."""
    first = seen.setdefault(scenario.name, scenario.location)
    if first == scenario.location:
        return None
    return SourceError(
        scenario.location, f"name: '{scenario.name}' is already the name of the scenario at {first}"
    )


def partial_errors(path: Path, display: str) -> list[SourceError]:
    """A partial file checked on its own (its templates are bound by whoever includes it)."""
    try:
        documents = load_documents(read_text(path, display), display)
    except SourceError as exc:
        return [exc]
    if len(documents) != 1:
        return [SourceError(Location(display, 1, 1), "a partial file holds exactly one document")]
    return schema_errors(
        as_written(documents[0]), functools.partial(validator, "partial"), fast_check("partial")
    )


def _mentions_utterance(data: dict[str, Any]) -> bool:
    """Whether a step names an utterance list anywhere (runs for every step: kept cheap)."""
    pending: list[Any] = [value for value in data.values() if isinstance(value, (dict, list))]
    while pending:
        item = pending.pop()
        values = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict) and "utterance" in item:
            return True
        pending.extend(value for value in values if isinstance(value, (dict, list)))
    return False


def _lookup(library: Library, name: str, step: RawStep, at: JsonPath) -> UtteranceList | SourceError:
    problem = library.problem(name)
    if problem is not None:
        return problem
    if name in library.lists:
        return library.lists[name]
    hint = did_you_mean(name, library.lists)
    return SourceError(
        step.document.location(at),
        f"{describe_path(at)}: no utterance list '{name}' in the *.utterances.yaml files "
        f"of this folder or the folders above it{hint}",
    )


def _expand_matchers(data: Any, step: RawStep, library: Library, errors: list[SourceError]) -> Any:
    """``{utterance: NAME}`` in a matcher becomes an any_of of its phrases (the user step keeps its name)."""

    def walk(value: Any, at: JsonPath) -> Any:
        if isinstance(value, list):
            return [walk(item, (*at, index)) for index, item in enumerate(value)]
        if not isinstance(value, dict):
            return value
        texts = _utterance_text(value)
        if texts is not None:
            key, name = texts
            found = _lookup(library, name, step, (*at, key, "utterance"))
            if isinstance(found, SourceError):
                errors.append(found)
                return value
            return _each_phrase(value, key, found)
        if "utterance" in value and at[len(step.at) :] != ("user",):
            found = _lookup(library, value["utterance"], step, (*at, "utterance"))
            if isinstance(found, SourceError):
                errors.append(found)
                return value
            # Not a key a user can write (the schema refuses it): it only names the list in the words.
            return {"any_of": list(found.phrases), "utterance_list": found.name}
        return {key: walk(item, (*at, key)) for key, item in value.items()}

    return walk(data, step.at)


_MEANING = ("similar", "judge")


def _meaning_keys(step: RawStep) -> Iterator[tuple[str, JsonPath]]:
    """Where a step uses similar or judge (cheap for the steps that hold no mapping inside)."""
    for key, value in step.data.items():
        if isinstance(value, (dict, list)):
            for at, inner in iter_paths(value, (*step.at, key)):
                if isinstance(inner, dict):
                    yield from ((name, (*at, name)) for name in _MEANING if name in inner)


def _utterance_text(matcher: dict[str, Any]) -> tuple[str, str] | None:
    """The text matcher key whose text is ``{utterance: NAME}``, and the name; else None."""
    for key, value in matcher.items():
        if isinstance(value, dict) and "utterance" in value and key in MATCHERS:
            return key, value["utterance"]
    return None


def _each_phrase(matcher: dict[str, Any], key: str, found: UtteranceList) -> dict[str, Any]:
    """A text matcher over a list: any phrase, compared as the matcher compares one (similar takes
    the list whole: the best of its texts)."""
    if MATCHERS[key].takes is Takes.TEXTS:
        return {**matcher, key: list(found.phrases)}
    each = [{**matcher, key: phrase} for phrase in found.phrases]
    return {"any_of": each, "utterance_list": found.name}


def _get(data: Any, at: JsonPath) -> Any:
    for part in at:
        data = data[part]
    return data


# -- checks the schema cannot express --------------------------------------------------


def _semantic_errors(
    document: Document, steps: list[RawStep], rows: tuple[Row, ...], lists: Mapping[str, UtteranceList]
) -> list[SourceError]:
    templated = list(_template_strings(document, steps))
    known = _known_names(rows, steps) if templated or lists else frozenset()
    errors: list[SourceError] = []
    for source, at, text in templated:
        for reference in references(text):
            problem = reference_problem(reference, known)
            if problem is not None:
                errors.append(SourceError(source.location(at), f"{describe_path(at)}: {problem}"))
    for found in lists.values():
        for index, (phrase, location) in enumerate(zip(found.phrases, found.phrase_locations, strict=True)):
            for reference in references(phrase):
                problem = reference_problem(reference, known)
                if problem is not None:
                    errors.append(SourceError(location, f"{found.name}[{index}]: {problem}"))
    for step in steps:  # every step of every file: most have nothing these two check
        if not _PATH_SECTIONS.isdisjoint(step.data):
            errors.extend(_jsonpath_errors(step))
        if "save" in step.data or isinstance(step.data.get("bot"), (dict, list)):
            errors.extend(_shadowing_errors(step))
    return errors


def _row_errors(document: Document, steps: list[RawStep], rows: tuple[Row, ...]) -> list[SourceError]:
    """Example rows that share an id, or lack a value a template uses: found here, not mid-run."""
    if not rows:
        return []
    row_keys = {key for row in rows for key in row}
    saved = {name for step in steps for name in step.data.get("save", {})}
    used: dict[str, Location] = {}
    for source, at, text in _template_strings(document, steps):
        for reference in references(text):
            root = reference.partition(".")[0]
            if root in row_keys and root not in saved:
                used.setdefault(root, source.location(at))
    inline = isinstance(document.data.get("examples"), list)
    errors: list[SourceError] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        label = f"examples[{index}]" if inline else f"examples: row {index + 1}"
        location = document.location(("examples", index) if inline else ("examples",))
        row_id = str(row.get("id", index))
        if row_id in seen and inline:
            errors.append(
                SourceError(location, f"{label}: id '{row_id}' is already used by examples[{seen[row_id]}]")
            )
        seen.setdefault(row_id, index)
        for name, where in used.items():
            if name not in row:
                errors.append(
                    SourceError(location, f"{label}: no value for '{name}' (used as ${{{name}}} at {where})")
                )
    return errors


def _lenient_tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(tag) for tag in value if isinstance(tag, (str, int)) and str(tag).strip())
    return ()


_FLOW_TAGS = re.compile(r"^tags:[ \t]*\[([^\]\n]*)\]", re.MULTILINE)
_BLOCK_TAGS = re.compile(r"^tags:[ \t]*\n((?:[ \t]+-[ \t]*[^\n]+\n?)+)", re.MULTILINE)
_NAME = re.compile(r"^name:[ \t]*(.+?)[ \t]*$", re.MULTILINE)


def _tags_in_text(text: str) -> tuple[str, ...]:
    """The tags of a file that is not even YAML, as a designer wrote them: tags: [a, b] or a list."""
    found = _FLOW_TAGS.search(text)
    if found is not None:
        parts = found.group(1).split(",")
    else:
        block = _BLOCK_TAGS.search(text)
        parts = [line.strip()[1:] for line in block.group(1).splitlines()] if block else []
    return tuple(tag for part in parts if (tag := part.strip().strip("'\"").strip()))


def _name_in_text(text: str) -> str | None:
    found = _NAME.search(text)
    return found.group(1).strip("'\"") if found else None


_RESERVED = BUILTINS | {"env"}


def _shadowing_errors(step: RawStep) -> Iterator[SourceError]:
    """A stored value named like a template flowtest provides would hide it (or be hidden)."""
    stored = [("bot",), *(("save", name) for name in step.data.get("save", {}))]
    for section in stored:
        if section[0] not in step.data:
            continue
        names = regex_group_names(step.data["bot"]) if section == ("bot",) else iter([section[1]])
        for name in names:
            if name in _RESERVED:
                at = (*step.at, *section)
                what, where = ("the regex group", step.document.location(at))
                if section != ("bot",):
                    what, where = "save", step.document.key_location(at)
                template = "${env.NAME}" if name == "env" else f"${{{name}}}"
                yield SourceError(
                    where,
                    f"{describe_path(at)}: {what} '{name}' is named like {template}, which flowtest "
                    "sets: choose another name",
                )


def _known_names(rows: tuple[Row, ...], steps: list[RawStep]) -> frozenset[str]:
    names = {key for row in rows for key in row}
    names.update(name for step in steps for name in step.data.get("save", {}))
    names.update(name for step in steps if "bot" in step.data for name in regex_group_names(step.data["bot"]))
    names.update(_kind_names(steps))
    return frozenset(names)


def _kind_names(steps: list[RawStep]) -> Iterator[str]:
    """The names a scenario key's step gives later steps (the caller's facts)."""
    for step in steps:
        if step.kind is not None:
            yield from step.kind.stores(step)


def _kind_problems(steps: list[RawStep]) -> list[SourceError]:
    """What a scenario key's kind finds wrong in its step that the schema cannot say."""
    return [error for step in steps if step.kind is not None for error in step.kind.problems(step)]


def _template_strings(document: Document, steps: list[RawStep]) -> Iterator[tuple[Document, JsonPath, str]]:
    """Every string holding "${" in the start body and the (expanded) steps."""
    for at in document.templated:
        if at[:1] == ("start",):
            yield document, at, _get(document.data, at)
    for step in steps:
        if step.document is document:
            depth = len(step.at)
            for at in document.templated:
                if at[:depth] == step.at:
                    yield document, at, _get(document.data, at)
        else:  # a partial's step, after its with: values were bound
            for at, value in iter_paths(step.data, step.at):
                if isinstance(value, str) and "${" in value:
                    yield step.document, at, value


_PATH_SECTIONS = frozenset({"variables", "message", "turn", "save"})


def _jsonpath_errors(step: RawStep) -> Iterator[SourceError]:
    for key in _PATH_SECTIONS.intersection(step.data):
        for name, value in step.data[key].items():
            expression = value if key == "save" else name
            problem = check_syntax(expression)
            if problem is not None:
                at = (*step.at, key, name)
                location = step.document.location(at) if key == "save" else step.document.key_location(at)
                yield SourceError(location, f"{describe_path(at)}: {problem}")


# -- building the model ----------------------------------------------------------------


def _build_scenario(
    document: Document,
    steps: list[RawStep],
    rows: tuple[Row, ...],
    lists: Mapping[str, UtteranceList],
    utterance_mode: str,
    texts: BuildContext,
    ignore_messages: frozenset[str],
) -> model.Scenario:
    data = document.data
    start = data.get("start", {})
    on_failure = data.get("on_failure", "stop")
    return model.Scenario(
        name=data["name"],
        flow=data["flow"],
        path=document.path,
        location=document.location(),
        steps=tuple(_build_step(step, texts, on_failure == "continue") for step in steps),
        flow_location=document.location(("flow",)),
        org=data.get("org"),
        description=data.get("description"),
        tags=tuple(data.get("tags", [])),
        labels=dict(data.get("labels", {})),
        links=tuple(
            model.Link(link["url"], link.get("name"), link.get("type", "link"))
            for link in data.get("links", [])
        ),
        start_variables=start.get("variables", {}),
        start_metadata=start.get("metadata", {}),
        examples=rows,
        utterances={name: found.phrases for name, found in lists.items()},
        utterance_mode=utterance_mode,
        # A caller reads every message it answers; the goal steps check what they name of the last turn.
        strict=data.get("strict", scenario_kind(data) is None),
        on_failure=on_failure,
        ignore_messages=frozenset(data["ignore_messages"]) if "ignore_messages" in data else ignore_messages,
        text_match=texts.text_mode,
        retries=data.get("retries", 0),
        repeat=data.get("repeat", 1),
        pass_rate=data.get("pass_rate", 1.0),
        weight=data.get("weight", 1),
        timeout=parse_duration(data["timeout"]) if "timeout" in data else None,
        skip=data.get("skip"),
        xfail=data.get("xfail"),
    )


def _build_step(raw: RawStep, texts: BuildContext, soft_checks: bool) -> model.Step:
    kind = raw.kind or kind_for(raw.data)
    step: model.Step = kind.build(raw, texts)
    # A scenario key's step (caller:) is not a check of its own: on_failure does not make it soft.
    if raw.kind is None and raw.data.get("soft", soft_checks and kind.role is Role.CHECK):
        return dataclasses.replace(step, soft=True)
    return step
