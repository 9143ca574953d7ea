"""Coverage data: what one process gathered (mergeable), and the per-flow summary of a run.

One process's data is plain JSON, so pytest-xdist workers hand theirs to the controller,
which merges them: flow graphs (the same files give the same graphs), and for each flow
how many passing and failing conversations took each edge and entered each node, keyed by
names that do not depend on the process (node names, edge keys such as ``route.branch[0]``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

FORMAT = "flowtest-coverage/1"
PASSED, FAILED = "passed", "failed"
Json = dict[str, Any]


@dataclass
class FlowCounts:
    """For one flow: how many passing/failing conversations took each edge, entered each node."""

    conversations: Counter[str] = field(default_factory=Counter)
    edges: dict[str, Counter[str]] = field(default_factory=lambda: {PASSED: Counter(), FAILED: Counter()})
    nodes: dict[str, Counter[str]] = field(default_factory=lambda: {PASSED: Counter(), FAILED: Counter()})

    def add(self, side: str, nodes: Iterable[str], edges: Iterable[str]) -> None:
        self.conversations[side] += 1
        self.nodes[side].update(nodes)
        self.edges[side].update(edges)

    def as_json(self) -> Json:
        return {
            "conversations": dict(self.conversations),
            "edges": {side: dict(counts) for side, counts in self.edges.items()},
            "nodes": {side: dict(counts) for side, counts in self.nodes.items()},
        }

    def merge(self, data: Mapping[str, Any]) -> None:
        self.conversations.update(data.get("conversations", {}))
        for side in (PASSED, FAILED):
            self.edges[side].update(data.get("edges", {}).get(side, {}))
            self.nodes[side].update(data.get("nodes", {}).get(side, {}))


@dataclass
class CoverageData:
    """What a process gathered, or what the controller merged from its workers."""

    graphs: dict[str, Json] = field(default_factory=dict)  # flow id -> graph (FlowGraph.as_json)
    broken: dict[str, list[str]] = field(default_factory=dict)  # flow id -> its file's problems
    counts: dict[str, FlowCounts] = field(default_factory=dict)
    unmatched: int = 0  # conversations whose session the sandbox no longer (or never) knew
    known: int = 0  # failing conversations of known issues (xfail): counted failing, said apart
    observed: Json = field(default_factory=dict)  # flowtest.coverage.observed's data

    def flow(self, flow_id: str) -> FlowCounts:
        counts = self.counts.get(flow_id)
        if counts is None:
            counts = self.counts[flow_id] = FlowCounts()
        return counts

    def as_json(self) -> Json:
        return {
            "format": FORMAT,
            "graphs": self.graphs,
            "broken": self.broken,
            "counts": {flow_id: counts.as_json() for flow_id, counts in self.counts.items()},
            "unmatched": self.unmatched,
            "known": self.known,
            "observed": self.observed,
        }

    def merge(self, data: Mapping[str, Any]) -> None:
        """Add another process's data (``as_json``) to this."""
        if data.get("format") != FORMAT:
            raise ValueError(f"not flowtest coverage data ({data.get('format')!r})")
        for flow_id, graph in data.get("graphs", {}).items():
            self.graphs.setdefault(flow_id, graph)
        for flow_id, errors in data.get("broken", {}).items():
            self.broken.setdefault(flow_id, list(errors))
        for flow_id, counts in data.get("counts", {}).items():
            self.flow(flow_id).merge(counts)
        self.unmatched += int(data.get("unmatched", 0))
        self.known += int(data.get("known", 0))
        from flowtest.coverage.observed import merge_observed  # the inventory owns its shape

        self.observed = merge_observed(self.observed, data.get("observed", {}))


@dataclass(frozen=True)
class Missing:
    source: str
    target: str
    where: str
    key: str
    label: str

    def as_json(self) -> Json:
        return {
            "from": self.source,
            "to": self.target,
            "where": self.where,
            "key": self.key,
            "label": self.label,
        }

    @property
    def arrow(self) -> str:
        """``route -> billing`` or, for a conditional say, ``greet: say[1] when ...: not shown``."""
        if self.source == self.target and self.key.startswith(f"{self.source}.say["):
            return f"{self.source}: {self.label}"
        return f"{self.source} -> {self.target}"


@dataclass(frozen=True)
class FlowSummary:
    """One flow's coverage, as coverage.json, the table and the gate show it."""

    flow_id: str
    name: str
    file: str
    nodes: tuple[int, int]  # (covered, total), by passing conversations
    edges: tuple[int, int]
    missing: tuple[Missing, ...]  # edges no passing conversation took
    conversations: Mapping[str, int]
    failing_nodes: int  # nodes / edges that failing conversations took
    failing_edges: int
    failing_only: tuple[Missing, ...]  # edges only failing conversations took

    @property
    def edge_percent(self) -> float:
        return _percent(*self.edges)

    @property
    def node_percent(self) -> float:
        return _percent(*self.nodes)

    def as_json(self) -> Json:
        """The pinned shape (nodes, edges, missing) and, beside it, what failing conversations took."""
        return {
            "nodes": {"covered": self.nodes[0], "total": self.nodes[1]},
            "edges": {"covered": self.edges[0], "total": self.edges[1]},
            "missing": [edge.as_json() for edge in self.missing],
            "name": self.name,
            "file": self.file,
            "conversations": {
                PASSED: self.conversations.get(PASSED, 0),
                FAILED: self.conversations.get(FAILED, 0),
            },
            "failing": {
                "nodes": {"covered": self.failing_nodes, "total": self.nodes[1]},
                "edges": {"covered": self.failing_edges, "total": self.edges[1]},
                "only": [edge.as_json() for edge in self.failing_only],
            },
        }


def _percent(covered: int, total: int) -> float:
    return 100.0 if total == 0 else 100.0 * covered / total


def summarise(data: CoverageData) -> list[FlowSummary]:
    """Every flow of the sandbox, in id order, started by the run or not."""
    return [
        _summary(flow_id, graph, data.counts.get(flow_id, FlowCounts()))
        for flow_id, graph in sorted(data.graphs.items())
    ]


def _summary(flow_id: str, graph: Json, counts: FlowCounts) -> FlowSummary:
    nodes = [node["name"] for node in graph["nodes"]]
    edges = graph["edges"]
    keys = [edge["key"] for edge in edges]
    passed_edges, failed_edges = counts.edges[PASSED], counts.edges[FAILED]
    untaken = [edge for edge in edges if not passed_edges[edge["key"]]]  # by any passing conversation
    return FlowSummary(
        flow_id=flow_id,
        name=graph.get("name", flow_id),
        file=graph.get("file", ""),
        nodes=(_taken(nodes, counts.nodes[PASSED]), len(nodes)),
        edges=(_taken(keys, passed_edges), len(edges)),
        missing=tuple(_missing(edge) for edge in untaken),
        conversations=dict(counts.conversations),
        failing_nodes=_taken(nodes, counts.nodes[FAILED]),
        failing_edges=_taken(keys, failed_edges),
        failing_only=tuple(_missing(edge) for edge in untaken if failed_edges[edge["key"]]),
    )


def _taken(names: list[str], counts: Counter[str]) -> int:
    """How many of the nodes (or edge keys) conversations took."""
    return sum(1 for name in names if counts[name])


def _missing(edge: Json) -> Missing:
    return Missing(edge["from"], edge["to"], edge["where"], edge["key"], edge["label"])
