"""A flow as a graph: its nodes, and each edge with the line where the flow file writes it.

An edge is a way the engine can leave a node: its ``next``, each ``branch`` arm and its
``otherwise``, a transfer's ``on_success`` and ``on_error``; and each conditional ``say``
entry (one with ``when``), seen shown and not shown. Edges are numbered once, when the
flow is loaded; the engine records the numbers it takes (see ``NodePlan``), so that
recording a step costs adding one small int to a set.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flowtest.yamlsource import Document, JsonPath

NO_EDGE = -1
# How the engine leaves a node, in the order it looks (engine._route): the keys that make edges.
EXITS = {"ask": ("next",), "transfer": ("on_success", "on_error"), "fail": (), "branch": ("otherwise",)}
SAY_SHOWN, SAY_HIDDEN = "shown", "not shown"


@dataclass(frozen=True, slots=True)
class Edge:
    index: int
    source: str  # the node it leaves
    target: str  # the node it enters (the same node for a conditional say)
    kind: str  # next, branch, otherwise, on_success, on_error, say
    key: str  # stable within the flow: "route.branch[0]", "greet.say[1]:shown"
    line: int
    label: str  # as a designer reads it: 'when topic regex "bill"', 'say[1] not shown'

    def as_json(self, path: str) -> dict[str, Any]:
        return {
            "from": self.source,
            "to": self.target,
            "kind": self.kind,
            "key": self.key,
            "where": f"{path}:{self.line}",
            "label": self.label,
        }


@dataclass(frozen=True, slots=True)
class NodePlan:
    """The edge numbers of one node, looked up once per node the engine runs."""

    next: int = NO_EDGE
    branch: tuple[int, ...] = ()
    otherwise: int = NO_EDGE
    on_success: int = NO_EDGE
    on_error: int = NO_EDGE
    say: tuple[tuple[int, int] | None, ...] = ()  # (shown, not shown) for each conditional entry


@dataclass(frozen=True)
class FlowGraph:
    flow_id: str
    name: str
    path: str
    start: str
    nodes: tuple[str, ...]
    node_lines: Mapping[str, int] = field(repr=False)
    edges: tuple[Edge, ...] = field(repr=False)
    plans: Mapping[str, NodePlan] = field(repr=False)

    def as_json(self) -> dict[str, Any]:
        """What the sandbox's coverage endpoint sends, and flowtest.coverage reads."""
        return {
            "id": self.flow_id,
            "name": self.name,
            "file": self.path,
            "start": self.start,
            "nodes": [{"name": node, "line": self.node_lines[node]} for node in self.nodes],
            "edges": [edge.as_json(self.path) for edge in self.edges],
        }

    def nodes_entered(self, edges: Iterable[int]) -> list[str]:
        """The nodes a session entered, from the edges it took: the start, and every edge's target."""
        entered = {self.start}
        entered.update(self.edges[index].target for index in edges)
        return [node for node in self.nodes if node in entered]


def build_graph(document: Document, display: str) -> FlowGraph:
    """The graph of a valid flow document (schema and links already checked)."""
    data = document.data
    nodes: dict[str, Any] = data["nodes"]
    edges: list[Edge] = []
    plans: dict[str, NodePlan] = {}
    for name, node in nodes.items():
        plans[name] = _plan(document, name, node, edges)
    node_lines = {name: document.key_location(("nodes", name)).line for name in nodes}
    return FlowGraph(
        data["id"], data.get("name", data["id"]), display, data["start"], tuple(nodes), node_lines,
        tuple(edges), plans,
    )  # fmt: skip


def _plan(document: Document, name: str, node: Mapping[str, Any], edges: list[Edge]) -> NodePlan:
    def add(target: str, kind: str, key: str, at: JsonPath, label: str, key_line: bool = True) -> int:
        where = document.key_location(at) if key_line else document.location(at)
        edges.append(Edge(len(edges), name, target, kind, f"{name}.{key}", where.line, label))
        return len(edges) - 1

    say = _say_plan(name, node, add)
    exit_key = next((key for key in EXITS if key in node), None)
    at: JsonPath = ("nodes", name)
    if exit_key in ("ask", None) and "next" in node:
        return NodePlan(next=add(node["next"], "next", "next", (*at, "next"), "next"), say=say)
    if exit_key == "transfer":
        success = add(node["on_success"], "on_success", "on_success", (*at, "on_success"), "on_success")
        error = add(node["on_error"], "on_error", "on_error", (*at, "on_error"), "on_error")
        return NodePlan(on_success=success, on_error=error, say=say)
    if exit_key == "branch":
        arms = tuple(
            add(case["next"], "branch", f"branch[{index}]", (*at, "branch", index),
                f"when {condition_text(case['when'])}", key_line=False)
            for index, case in enumerate(node["branch"])
        )  # fmt: skip
        otherwise = add(node["otherwise"], "otherwise", "otherwise", (*at, "otherwise"), "otherwise")
        return NodePlan(branch=arms, otherwise=otherwise, say=say)
    return NodePlan(say=say)  # fail, end, or a last node: the flow stops here


def _say_plan(
    name: str, node: Mapping[str, Any], add: Callable[..., int]
) -> tuple[tuple[int, int] | None, ...]:
    say = node.get("say", [])
    entries = say if isinstance(say, list) else [say]
    plan: list[tuple[int, int] | None] = []
    for index, entry in enumerate(entries):
        if not (isinstance(entry, dict) and "when" in entry):
            plan.append(None)
            continue
        at: JsonPath = ("nodes", name, "say", index) if isinstance(say, list) else ("nodes", name, "say")
        shown_label = f"say[{index}] when {condition_text(entry['when'])}"
        shown = add(name, "say", f"say[{index}]:shown", at, f"{shown_label}: {SAY_SHOWN}", key_line=False)
        hidden = add(name, "say", f"say[{index}]:hidden", at, f"{shown_label}: {SAY_HIDDEN}", key_line=False)
        plan.append((shown, hidden))
    return tuple(plan)


def condition_text(condition: Mapping[str, Any]) -> str:
    """``{var: topic, regex: bill}`` as ``topic regex "bill"``."""
    test, expected = next(((k, v) for k, v in condition.items() if k != "var"), ("exists", True))
    return f"{condition.get('var')} {test} {json.dumps(expected, ensure_ascii=False)}"
