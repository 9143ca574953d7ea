"""Flow files (``*.flow.yaml``): load, validate against the flow schema, check node references.

A broken flow file costs only its own flow: ``load_flow_set`` keeps the flows that load and,
by flow id, the problems of those that do not, so that the sandbox still serves the others
and answers a Start Session of a broken one with its problems.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowtest.errors import FlowtestError, Location, SourceError
from flowtest.sandbox.graph import FlowGraph, build_graph
from flowtest.schemas import fast_check, validator
from flowtest.validation import describe_path, did_you_mean, schema_errors
from flowtest.yamlsource import Document, JsonPath, load_documents, read_text

FLOW_SUFFIX = ".flow.yaml"
_NODE_LINKS = ("next", "otherwise", "on_success", "on_error")
# Says why a file is not read (a link out of the project), or None: the scenario loader's rule.
OutsideCheck = Callable[[Path, str], "SourceError | None"]


class FlowFilesError(FlowtestError):
    """One or more flow files are broken; each problem is one ``path:line:column: ...`` line."""

    def __init__(self, errors: list[SourceError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(error) for error in errors))


@dataclass(frozen=True)
class Flow:
    id: str
    path: str
    start: str
    nodes: Mapping[str, Mapping[str, Any]] = field(repr=False)
    defaults: Mapping[str, Any] = field(default_factory=dict, repr=False)
    graph: FlowGraph | None = field(default=None, repr=False, compare=False)
    document: Document | None = field(default=None, repr=False, compare=False)  # with its marks


@dataclass(frozen=True)
class FlowSet:
    """The flows that load, by id, and the problems of each flow that does not."""

    flows: dict[str, Flow]
    broken: dict[str, tuple[SourceError, ...]] = field(default_factory=dict)

    @property
    def errors(self) -> list[SourceError]:
        return [error for errors in self.broken.values() for error in errors]


def flow_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob(f"*{FLOW_SUFFIX}") if p.is_file())


def load_flows(folder: Path, outside: OutsideCheck | None = None) -> dict[str, Flow]:
    """Every flow under ``folder`` by id; all problems at once in a FlowFilesError."""
    found = load_flow_set(folder, outside, str)
    if found.broken:
        raise FlowFilesError(found.errors)
    return found.flows


def load_flow_set(
    folder: Path, outside: OutsideCheck | None = None, display: Callable[[Path], str] = str
) -> FlowSet:
    """Every flow under ``folder``: a missing folder is a FlowFilesError, a broken file is not.

    ``display``: a file's path as messages show it (the scenario loader's: relative to the project).
    """
    if not folder.is_dir():
        location = Location(str(folder), 1, 1)
        raise FlowFilesError([SourceError(location, "flows folder does not exist")])
    flows: dict[str, Flow] = {}
    broken: dict[str, list[SourceError]] = {}
    for path in flow_files(folder):
        shown = display(path)
        refused = outside(path, shown) if outside is not None else None
        if refused is not None:
            broken.setdefault(_file_id(path), []).append(refused)
            continue
        try:
            flow = load_flow_file(path, shown)
        except FlowFilesError as exc:
            broken.setdefault(_id_in(exc, path), []).extend(exc.errors)
            continue
        if flow.id in flows:
            first = flows[flow.id].path
            message = f"id: flow id '{flow.id}' is already used by {first}"
            broken.setdefault(flow.id, []).append(SourceError(Location(flow.path, 1, 1), message))
            continue
        flows[flow.id] = flow
    return FlowSet(flows, {flow_id: tuple(errors) for flow_id, errors in broken.items()})


class _BrokenFlowFile(FlowFilesError):
    """A broken file, and the flow id it names when that much could be read."""

    def __init__(self, errors: list[SourceError], flow_id: str | None) -> None:
        super().__init__(errors)
        self.flow_id = flow_id


def _id_in(exc: FlowFilesError, path: Path) -> str:
    flow_id = exc.flow_id if isinstance(exc, _BrokenFlowFile) else None
    return flow_id or _file_id(path)


def _file_id(path: Path) -> str:
    """The id a scenario most likely uses for a file whose own id cannot be read."""
    return path.name.removesuffix(FLOW_SUFFIX)


def load_flow_file(path: Path, display: str) -> Flow:
    document = _one_document(path, display)
    errors = _flow_errors(document)
    data = document.data
    if errors:
        raise _BrokenFlowFile(errors, _readable_id(data))
    graph = build_graph(document, display)
    defaults = data.get("variables", {})
    return Flow(data["id"], display, data["start"], data["nodes"], defaults, graph, document)


def _one_document(path: Path, display: str) -> Document:
    try:
        documents = load_documents(read_text(path, display), display)
    except SourceError as exc:
        raise FlowFilesError([exc]) from None
    if len(documents) != 1:
        location = documents[1].location() if documents else Location(display, 1, 1)
        raise FlowFilesError([SourceError(location, "a flow file holds exactly one flow")])
    return documents[0]


def _flow_errors(document: Document) -> list[SourceError]:
    """Every problem of the file in one pass, in file order: the schema's, and each link to a
    missing node."""
    errors = schema_errors(document, functools.partial(validator, "flow"), fast_check("flow"))
    seen = {str(error) for error in errors}
    errors.extend(error for error in _broken_links(document) if str(error) not in seen)
    errors.sort(key=lambda e: (e.location.line, e.location.column))
    return errors


def _readable_id(data: Any) -> str | None:
    """The flow's id, when a broken file has one."""
    flow_id = data.get("id") if isinstance(data, dict) else None
    return flow_id if isinstance(flow_id, str) and flow_id else None


def _broken_links(document: Document) -> Iterator[SourceError]:
    data = document.data
    nodes = data.get("nodes") if isinstance(data, dict) else None
    if not isinstance(nodes, dict):
        return
    for at, target in _links(data, nodes):
        if isinstance(target, str) and target not in nodes:
            hint = did_you_mean(target, nodes)
            message = f"{describe_path(at)}: no node named '{target}'{hint}"
            yield SourceError(document.location(at), message)


def _links(data: dict[str, Any], nodes: dict[str, Any]) -> Iterator[tuple[JsonPath, Any]]:
    """Each node reference of a flow, however broken the rest of it is."""
    if "start" in data:
        yield ("start",), data["start"]
    for name, node in nodes.items():
        if not isinstance(node, dict):
            continue
        for key in _NODE_LINKS:
            if key in node:
                yield ("nodes", name, key), node[key]
        branch = node.get("branch")
        for index, case in enumerate(branch if isinstance(branch, list) else []):
            if isinstance(case, dict) and "next" in case:
                yield ("nodes", name, "branch", index, "next"), case["next"]
