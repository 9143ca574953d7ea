"""The coverage page of the Allure report: each flow drawn as a graph, untaken edges marked.

Allure 3 shows "global attachments" (a ``*-globals.json`` file in the results folder) on a
page of their own, apart from the tests: the report's counts stay the terminal's. For each
flow, the run writes its graph in Graphviz DOT and a Markdown table of what is missing;
``flowtest report`` draws each DOT as SVG with @viz-js/viz (Graphviz compiled to
WebAssembly, run by the Node.js that Allure 3 needs anyway) before Allure builds the report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flowtest.coverage.data import FlowSummary
from flowtest.coverage.report import percent

PREFIX = "flowtest-coverage-"
GLOBALS = f"{PREFIX}globals.json"  # Allure 3 reads *-globals.json
DOT_SUFFIX = "-attachment.dot"  # an attachment's name, so the results folder holds only Allure files
SVG_SUFFIX = "-attachment.svg"
TABLE = f"{PREFIX}table-attachment.md"
_TAKEN, _FAILING, _MISSING = "#2e7d32", "#ef6c00", "#c62828"
LEGEND = "\ngreen: taken by a passing conversation, orange: only by failing ones, red dashed: by none"


def write_allure_page(
    results: Path,
    graphs: Mapping[str, Any],
    summaries: Sequence[FlowSummary],
    failed_gate: Sequence[str] = (),
) -> None:
    """The DOT of each flow, the table, and the globals file that lists them (SVGs to come);
    ``failed_gate``: the lines of a --flowtest-coverage-min that failed, shown as the report's
    global errors (the tests all passed: nothing else there would say why the run failed)."""
    results.mkdir(parents=True, exist_ok=True)
    attachments = [
        {"name": "Flow coverage: what no passing scenario reached", "type": "text/markdown", "source": TABLE}
    ]
    (results / TABLE).write_text(markdown(summaries), encoding="utf-8")
    for summary in summaries:
        stem = PREFIX + _slug(summary.flow_id)
        (results / f"{stem}{DOT_SUFFIX}").write_text(dot(graphs[summary.flow_id], summary), encoding="utf-8")
        attachments.append(
            {"name": _title(summary), "type": "image/svg+xml", "source": f"{stem}{SVG_SUFFIX}"}
        )
    (results / GLOBALS).write_text(
        json.dumps(
            {"attachments": attachments, "errors": [{"message": line} for line in failed_gate]}, indent=2
        ),
        encoding="utf-8",
    )


def _slug(flow_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", flow_id).strip("-") or "flow"


def _title(summary: FlowSummary) -> str:
    (edges, all_edges), (nodes, all_nodes) = summary.edges, summary.nodes
    return (
        f"Flow {summary.flow_id}: edges {edges}/{all_edges} ({percent(summary.edge_percent)}), "
        f"nodes {nodes}/{all_nodes} ({percent(summary.node_percent)})"
    )


def markdown(summaries: Sequence[FlowSummary]) -> str:
    lines = [
        "# Flow coverage",
        "",
        "Covered: taken by a passing conversation. Each flow's graph follows: green was taken, "
        "orange only by failing conversations, red dashed by none.",
        "",
        "| flow | nodes | edges | missing edges |",
        "| --- | --- | --- | --- |",
    ]
    for summary in summaries:
        missing = "<br>".join(f"`{edge.arrow}` {edge.where}" for edge in summary.missing) or "none"
        lines.append(
            f"| {summary.flow_id} | {summary.nodes[0]}/{summary.nodes[1]} {percent(summary.node_percent)} "
            f"| {summary.edges[0]}/{summary.edges[1]} {percent(summary.edge_percent)} | {missing} |"
        )
    return "\n".join(lines) + "\n"


def dot(graph: Mapping[str, Any], summary: FlowSummary) -> str:
    """The flow in Graphviz DOT: nodes entered filled, each edge coloured by who took it."""
    missing = {edge.key for edge in summary.missing}
    failing_only = {edge.key for edge in summary.failing_only}
    entered = _entered(graph, missing)
    lines = [
        f"digraph {_quote(summary.flow_id)} {{",
        f"  label={_quote(_title(summary) + LEGEND)}; labelloc=t; fontname=Helvetica; fontsize=16;",
        "  rankdir=TB; nodesep=0.35; ranksep=0.45;",
        '  node [shape=box, style="rounded,filled", fontname=Helvetica, fontsize=11];',
        "  edge [fontname=Helvetica, fontsize=10];",
    ]
    for node in graph["nodes"]:
        name = node["name"]
        fill, border = ("#e8f5e9", _TAKEN) if name in entered else ("#fafafa", "#9e9e9e")
        label = f"{name}\\nline {node['line']}"
        start = ", peripheries=2" if name == graph["start"] else ""
        looks = f'fillcolor="{fill}", color="{border}"{start}'
        lines.append(f"  {_quote(name)} [label={_quote(label, escaped=True)}, {looks}];")
    for edge in graph["edges"]:
        key = edge["key"]
        if key in missing and key not in failing_only:
            style = f'color="{_MISSING}", fontcolor="{_MISSING}", style=dashed, penwidth=1.6'
        elif key in failing_only:
            style = f'color="{_FAILING}", fontcolor="{_FAILING}", penwidth=1.6'
        else:
            style = f'color="{_TAKEN}", penwidth=1.4'
        label = _edge_label(edge)
        lines.append(f"  {_quote(edge['from'])} -> {_quote(edge['to'])} [label={_quote(label)}, {style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _entered(graph: Mapping[str, Any], missing: set[str]) -> set[str]:
    """Nodes a passing conversation entered: the start and the target of each taken edge."""
    entered = {graph["start"]}
    entered.update(
        edge["to"] for edge in graph["edges"] if edge["key"] not in missing and edge["kind"] != "say"
    )
    return entered


def _edge_label(edge: Mapping[str, Any]) -> str:
    kind = edge["kind"]
    line = edge["where"].rsplit(":", 1)[-1]
    if kind == "next":
        return f":{line}"
    text = edge["label"]
    if kind == "say":  # "say[1] when promo regex ".": shown": the condition is on the node's line
        text = text.split(" when ", 1)[0] + (" not shown" if text.endswith("not shown") else " shown")
    return f"{text[:48]}… :{line}" if len(text) > 50 else f"{text} :{line}"


def _quote(text: str, escaped: bool = False) -> str:
    body = text if escaped else text.replace("\\", "\\\\")
    return '"' + body.replace('"', '\\"').replace("\n", "\\n") + '"'
