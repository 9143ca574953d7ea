"""Load ``*.scenario.yaml`` files: YAML with positions, the JSON Schema, includes, templates.

Every problem becomes a SourceError at ``path:line:column``. A broken document is
reported on its own; the file's other documents still load.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from flowtest.durations import parse_duration
from flowtest.errors import Location, SourceError
from flowtest.jsonpath import check_syntax
from flowtest.matchers import BuildContext, TextMode
from flowtest.matchers import build as build_matcher
from flowtest.scenario import model
from flowtest.scenario.texts import as_written
from flowtest.schemas import fast_check, load_schema, validator
from flowtest.templating import bind_partial, reference_problem, references
from flowtest.validation import describe_path, schema_errors
from flowtest.yamlsource import Document, JsonPath, iter_paths, load_documents, read_text

SCENARIO_SUFFIXES = (".scenario.yaml", ".scenario.yml")
_MAX_INCLUDE_DEPTH = 20


@dataclass(frozen=True)
class BrokenDocument:
    """A document that cannot run, with every problem found in it."""

    errors: tuple[SourceError, ...]
    name: str | None
    location: Location


@dataclass(frozen=True)
class LoadedFile:
    path: Path
    scenarios: tuple[model.Scenario, ...] = ()
    broken: tuple[BrokenDocument, ...] = ()


@dataclass(frozen=True)
class _RawStep:
    """A step's YAML with the document it came from, before it becomes a model.Step."""

    data: dict[str, Any]
    document: Document
    at: JsonPath
    included_from: Location | None


def is_scenario_file(path: Path) -> bool:
    return path.name.endswith(SCENARIO_SUFFIXES)


@functools.cache
def _partial_validator() -> Draft202012Validator:
    schema = load_schema("scenario")
    partial = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": "#/$defs/partial"}
    return Draft202012Validator(partial, format_checker=Draft202012Validator.FORMAT_CHECKER)


class ScenarioLoader:
    """Loads scenario files under one project root; partials are read once and cached.

    ``text_match``: how bot steps compare texts when a scenario does not say (the setting).
    """

    def __init__(self, root: Path, text_match: TextMode = TextMode.EXACT) -> None:
        self.root = root.resolve()
        self.text_match = text_match
        self._partials: dict[Path, Document] = {}

    def display(self, path: Path) -> str:
        """The path as the user reads it: relative to the project root when inside it."""
        if path.is_absolute() and path.is_relative_to(self.root):
            return str(path.relative_to(self.root))  # pytest's paths: no resolve() syscalls needed
        try:
            return str(path.resolve().relative_to(self.root))
        except ValueError:
            return str(path)

    def load_file(self, path: Path) -> LoadedFile:
        display = self.display(path)
        try:
            documents = load_documents(read_text(path, display), display)
        except SourceError as exc:
            return LoadedFile(path, broken=(BrokenDocument((exc,), None, exc.location),))
        if not documents:
            error = SourceError(Location(display, 1, 1), "the file holds no scenario")
            return LoadedFile(path, broken=(BrokenDocument((error,), None, error.location),))
        scenarios: list[model.Scenario] = []
        broken: list[BrokenDocument] = []
        for document in documents:
            result = self.load_document(path, document)
            (broken if isinstance(result, BrokenDocument) else scenarios).append(result)  # type: ignore[arg-type]
        return LoadedFile(path, tuple(scenarios), tuple(broken))

    def load_document(self, path: Path, document: Document) -> model.Scenario | BrokenDocument:
        data = as_written(document).data
        name = data.get("name") if isinstance(data, dict) and isinstance(data.get("name"), str) else None
        errors = schema_errors(document, validator("scenario"), fast_check("scenario"))
        if not errors:
            raw_steps, include_errors = self._expand(path, document, ("conversation",), None, ())
            errors = include_errors or _semantic_errors(document, raw_steps)
        if errors:
            return BrokenDocument(tuple(errors), name, document.location())
        return _build_scenario(document, raw_steps, self.text_match)

    # -- includes --------------------------------------------------------------------

    def _expand(
        self,
        path: Path,
        document: Document,
        at: JsonPath,
        included_from: Location | None,
        chain: tuple[Path, ...],
    ) -> tuple[list[_RawStep], list[SourceError]]:
        steps: list[_RawStep] = []
        errors: list[SourceError] = []
        conversation = _get(document.data, at)
        for index, data in enumerate(conversation):
            step_at = (*at, index)
            if "include" not in data:
                steps.append(_RawStep(data, document, step_at, included_from))
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


def partial_errors(path: Path, display: str) -> list[SourceError]:
    """A partial file checked on its own (its templates are bound by whoever includes it)."""
    try:
        documents = load_documents(read_text(path, display), display)
    except SourceError as exc:
        return [exc]
    if len(documents) != 1:
        return [SourceError(Location(display, 1, 1), "a partial file holds exactly one document")]
    return schema_errors(as_written(documents[0]), _partial_validator())


def _get(data: Any, at: JsonPath) -> Any:
    for part in at:
        data = data[part]
    return data


# -- checks the schema cannot express --------------------------------------------------


def _semantic_errors(document: Document, steps: list[_RawStep]) -> list[SourceError]:
    known = _known_names(document.data, steps)
    errors: list[SourceError] = []
    for source, at, text in _template_strings(document, steps):
        for reference in references(text):
            problem = reference_problem(reference, known)
            if problem is not None:
                errors.append(SourceError(source.location(at), f"{describe_path(at)}: {problem}"))
    for step in steps:
        errors.extend(_jsonpath_errors(step))
    return errors


def _known_names(data: dict[str, Any], steps: list[_RawStep]) -> frozenset[str]:
    names = {key for row in data.get("examples", []) for key in row}
    names.update(name for step in steps for name in step.data.get("save", {}))
    return frozenset(names)


def _template_strings(document: Document, steps: list[_RawStep]) -> Iterator[tuple[Document, JsonPath, str]]:
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


def _jsonpath_errors(step: _RawStep) -> Iterator[SourceError]:
    for key in ("variables", "save"):
        section = step.data.get(key, {})
        for name, value in section.items():
            expression = name if key == "variables" else value
            problem = check_syntax(expression)
            if problem is not None:
                at = (*step.at, key, name)
                location = (
                    step.document.key_location(at) if key == "variables" else step.document.location(at)
                )
                yield SourceError(location, f"{describe_path(at)}: {problem}")


# -- building the model ----------------------------------------------------------------


def _build_scenario(document: Document, steps: list[_RawStep], text_match: TextMode) -> model.Scenario:
    data = document.data
    start = data.get("start", {})
    texts = BuildContext(text=True, text_mode=TextMode(data.get("text_match", text_match)))
    return model.Scenario(
        name=data["name"],
        flow=data["flow"],
        path=document.path,
        location=document.location(),
        steps=tuple(_build_step(step, texts) for step in steps),
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
        examples=tuple(data.get("examples", [])),
        strict=data.get("strict", True),
        text_match=texts.text_mode,
        retries=data.get("retries", 0),
        timeout=parse_duration(data["timeout"]) if "timeout" in data else None,
        skip=data.get("skip"),
        xfail=data.get("xfail"),
    )


def _build_step(raw: _RawStep, texts: BuildContext) -> model.Step:
    data, document = raw.data, raw.document
    where = describe_path(raw.at)
    location = document.location(raw.at)
    common: dict[str, Any] = {"where": where, "location": location, "included_from": raw.included_from}
    within = parse_duration(data["within"]) if "within" in data else None
    error = data.get("error")
    expected_error = model.ExpectedError(error["status"], error.get("code")) if error else None
    if "user" in data:
        text = data["user"] if isinstance(data["user"], str) else str(data["user"])
        return model.UserStep(**common, text=text, within=within, error=expected_error)
    if "transfer" in data:
        return model.TransferStep(
            **common, result=data["transfer"], reason=data.get("reason"), within=within, error=expected_error
        )
    if "bot" in data:
        specs = data["bot"] if isinstance(data["bot"], list) else [data["bot"]]
        return model.BotStep(**common, matchers=tuple(build_matcher(spec, texts) for spec in specs))
    if "status" in data:
        statuses = data["status"] if isinstance(data["status"], list) else [data["status"]]
        return model.StatusStep(**common, statuses=tuple(statuses))
    if "variables" in data:
        checks = tuple(
            model.VariableCheck(
                path, build_matcher(spec), document.key_location((*raw.at, "variables", path))
            )
            for path, spec in data["variables"].items()
        )
        return model.VariablesStep(**common, checks=checks)
    if "save" in data:
        return model.SaveStep(**common, targets=tuple(data["save"].items()))
    if "wait" in data:
        return model.WaitStep(**common, seconds=parse_duration(data["wait"]))
    return model.EndStep(**common)
