"""Where coverage is shown: the terminal's table per flow, reports/coverage.json, the gate's line."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from flowtest.coverage.data import FAILED, PASSED, FlowSummary, Missing

COVERAGE_FILE = "coverage.json"
OBSERVED_FILE = "observed.json"
SHOWN_MISSING = 12  # missing edges listed per flow in the terminal; coverage.json has them all
_OBSERVED_LABELS = {
    "statuses": "statuses reached",
    "transfers": "transfer results sent",
    "destinations": "transfer destinations",
    "buttons_offered": "buttons offered",
    "variables_set": "variables set",
    "errors": "API errors exercised",
}


def percent(value: float) -> str:
    """``66.7%``; never rounds up to 100% what is not all."""
    if value >= 100:
        return "100%"
    return f"{min(round(value, 1), 99.9):.1f}%"


def coverage_json(summaries: Sequence[FlowSummary]) -> dict[str, Any]:
    """reports/coverage.json: per flow id, the pinned shape (nodes, edges, missing) and more beside it."""
    return {summary.flow_id: summary.as_json() for summary in summaries}


def write_json(path: Path, data: Any) -> None:
    """Written whole or not at all: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, path)


def table(
    summaries: Sequence[FlowSummary], broken: Mapping[str, Sequence[str]], known: int = 0
) -> Iterator[str]:
    """The terminal's coverage table: a row per flow, its missing edges below it."""
    passed = sum(s.conversations.get(PASSED, 0) for s in summaries)
    failed = sum(s.conversations.get(FAILED, 0) for s in summaries)
    among = f", {known} of them {'a known issue' if known == 1 else 'known issues'} (xfail)" if known else ""
    yield (
        f"flowtest coverage: {len(summaries)} flow(s), {passed} passing and {failed} failing "
        f"conversation(s){among}; covered = taken by a passing conversation"
    )
    width = max([len("flow"), *(len(s.flow_id) for s in summaries)])
    yield f"{'flow':<{width}}  {'nodes':>14}  {'edges':>14}  failing took"
    for summary in summaries:
        nodes = f"{summary.nodes[0]}/{summary.nodes[1]} {percent(summary.node_percent):>6}"
        edges = f"{summary.edges[0]}/{summary.edges[1]} {percent(summary.edge_percent):>6}"
        failing = f"{summary.failing_edges} edge(s)" if summary.conversations.get(FAILED) else "-"
        yield f"{summary.flow_id:<{width}}  {nodes:>14}  {edges:>14}  {failing}"
        yield from _edges("missing", summary.missing, SHOWN_MISSING)
        yield from _edges("only failing took", summary.failing_only, SHOWN_MISSING)
    for flow_id, errors in sorted(broken.items()):
        yield f"{flow_id:<{width}}  cannot run: {errors[0]}" + (
            f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        )


def _edges(title: str, edges: Sequence[Missing], limit: int) -> Iterator[str]:
    if not edges:
        return
    arrows = [edge.arrow for edge in edges[:limit]]
    width = max(len(arrow) for arrow in arrows)
    for index, (edge, arrow) in enumerate(zip(edges, arrows, strict=False)):
        head = f"  {title}:" if index == 0 else " " * (len(title) + 3)
        yield f"{head} {arrow:<{width}}  {edge.where}"
    if len(edges) > limit:
        yield " " * (len(title) + 3) + f" ... and {len(edges) - limit} more (reports/{COVERAGE_FILE})"


def gate(summaries: Sequence[FlowSummary], minimum: float | None) -> list[str]:
    """One line per flow whose edge coverage is below ``minimum``: which flow, what is missing."""
    if minimum is None:
        return []
    lines = []
    for summary in summaries:
        if summary.edge_percent + 1e-9 < minimum:
            missing = ", ".join(f"{edge.arrow} ({edge.where})" for edge in summary.missing)
            covered, total = summary.edges
            lines.append(
                f"flowtest: coverage below --flowtest-coverage-min={minimum:g}%: flow {summary.flow_id} "
                f"covers {percent(summary.edge_percent)} of its edges ({covered}/{total}); missing: {missing}"
            )
    return lines


def observed_lines(summary: Mapping[str, Any]) -> Iterator[str]:
    """The observed inventory in the terminal: per flow what was seen, and its untested parts."""
    flows: Mapping[str, Any] = summary.get("flows", {})
    yield f"flowtest observed: {len(flows)} flow(s) (no flow graph: what the conversations saw)"
    for flow_id, data in flows.items():
        prompts = len(data["prompts"])
        yield f"{flow_id}: {data['started']} conversation(s) started, {prompts} distinct bot prompt(s)"
        for kind, label in _OBSERVED_LABELS.items():
            if data[kind]:
                yield f"  {label}: {_counted(data[kind])}"
        if data["never_pressed"]:
            yield f"  buttons offered, never pressed: {', '.join(data['never_pressed'])}"
        if data["never_asserted"]:
            yield f"  variables set, never asserted: {', '.join(data['never_asserted'])}"
    if summary.get("never_started"):
        yield f"flows never started (settings: flows): {', '.join(summary['never_started'])}"


def _counted(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} ({count})" for name, count in counts.items())


def relative(path: str, root: Path | None) -> str:
    """A flow file's path as the user reads it: relative to the project when inside it."""
    if root is None or not os.path.isabs(path):
        return path
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path


def relative_where(graph: dict[str, Any], root: Path | None) -> dict[str, Any]:
    """A graph from the sandbox with its file and each edge's FILE:LINE relative to the project."""
    file = graph.get("file", "")
    shown = relative(file, root)
    if shown == file:
        return graph
    edges = [{**edge, "where": shown + edge["where"][len(file) :]} for edge in graph.get("edges", [])]
    return {**graph, "file": shown, "edges": edges}
