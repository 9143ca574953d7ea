"""Flow files (``*.flow.yaml``): load, validate against the flow schema, check node references."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowtest.errors import FlowtestError, Location, SourceError
from flowtest.schemas import fast_check, validator
from flowtest.validation import describe_path, did_you_mean, schema_errors
from flowtest.yamlsource import Document, load_documents, read_text

FLOW_SUFFIX = ".flow.yaml"
_NODE_LINKS = ("next", "otherwise", "on_success", "on_error")


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


def flow_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob(f"*{FLOW_SUFFIX}") if p.is_file())


def load_flows(folder: Path) -> dict[str, Flow]:
    """Every flow under ``folder`` by id; all problems at once in a FlowFilesError."""
    if not folder.is_dir():
        location = Location(str(folder), 1, 1)
        raise FlowFilesError([SourceError(location, "flows folder does not exist")])
    flows: dict[str, Flow] = {}
    errors: list[SourceError] = []
    for path in flow_files(folder):
        try:
            flow = load_flow_file(path, str(path))
        except FlowFilesError as exc:
            errors.extend(exc.errors)
            continue
        if flow.id in flows:
            first = flows[flow.id].path
            message = f"id: flow id '{flow.id}' is already used by {first}"
            errors.append(SourceError(Location(flow.path, 1, 1), message))
            continue
        flows[flow.id] = flow
    if errors:
        raise FlowFilesError(errors)
    return flows


def load_flow_file(path: Path, display: str) -> Flow:
    try:
        documents = load_documents(read_text(path, display), display)
    except SourceError as exc:
        raise FlowFilesError([exc]) from None
    if len(documents) != 1:
        location = documents[1].location() if documents else Location(display, 1, 1)
        raise FlowFilesError([SourceError(location, "a flow file holds exactly one flow")])
    document = documents[0]
    errors = schema_errors(document, functools.partial(validator, "flow"), fast_check("flow"))
    if not errors:
        errors = list(_broken_links(document))
    if errors:
        raise FlowFilesError(errors)
    data = document.data
    return Flow(data["id"], display, data["start"], data["nodes"], data.get("variables", {}))


def _broken_links(document: Document) -> Iterator[SourceError]:
    nodes: dict[str, Any] = document.data["nodes"]
    for at, target in _links(document.data):
        if target not in nodes:
            hint = did_you_mean(target, nodes)
            message = f"{describe_path(at)}: no node named '{target}'{hint}"
            yield SourceError(document.location(at), message)


def _links(data: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    yield ("start",), data["start"]
    for name, node in data["nodes"].items():
        for key in _NODE_LINKS:
            if key in node:
                yield ("nodes", name, key), node[key]
        for index, case in enumerate(node.get("branch", [])):
            yield ("nodes", name, "branch", index, "next"), case["next"]
