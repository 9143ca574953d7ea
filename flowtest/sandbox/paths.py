"""What each session of the sandbox took through its flow, kept after End Session for coverage.

A run asks for its own sessions by the prefix of the ``metadata.externalSessionId`` that
flowtest gives every session it starts (``flowtest-{run_id}-``). Memory stays bounded: at
most ``limit`` ended sessions are kept, oldest forgotten first (and counted), and sessions
that took the same edges share one frozenset.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flowtest.sandbox.graph import FlowGraph

DEFAULT_LIMIT = 100_000
EXTERNAL_ID = "externalSessionId"  # the contract's metadata field for the caller's own id


@dataclass(frozen=True, slots=True)
class TakenPath:
    flow: str
    external_id: str | None
    edges: frozenset[int]

    @classmethod
    def of(cls, flow: str, metadata: Mapping[str, Any], taken: Iterable[int]) -> TakenPath:
        return cls(flow, _external(metadata), frozenset(taken))


class PathLog:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self.kept: OrderedDict[str, TakenPath] = OrderedDict()
        self.forgotten = 0
        self._shared: dict[frozenset[int], frozenset[int]] = {}
        self._entered: dict[tuple[str, frozenset[int]], list[str]] = {}  # per distinct path, once

    def keep(self, session_id: str, flow: str, metadata: Mapping[str, Any], taken: Iterable[int]) -> None:
        path = TakenPath.of(flow, metadata, taken)
        edges = self._shared.setdefault(path.edges, path.edges)
        self.kept[session_id] = TakenPath(flow, path.external_id, edges)
        while len(self.kept) > self.limit:
            self.kept.popitem(last=False)
            self.forgotten += 1
        if len(self._shared) > self.limit:  # distinct paths of forgotten sessions go too
            self._shared = {path.edges: path.edges for path in self.kept.values()}

    def select(
        self, prefix: str, live: Iterable[tuple[str, TakenPath]], graphs: Mapping[str, FlowGraph]
    ) -> dict[str, Any]:
        """Each session whose external id starts with ``prefix``: its flow, nodes and edges."""
        sessions: dict[str, Any] = {}
        for session_id, path in (*self.kept.items(), *live):
            if not (path.external_id or "").startswith(prefix):
                continue
            sessions[session_id] = {
                "flow": path.flow,
                EXTERNAL_ID: path.external_id,
                "nodes": self._nodes(path, graphs.get(path.flow)),
                "edges": sorted(path.edges),
            }
        return sessions

    def _nodes(self, path: TakenPath, graph: FlowGraph | None) -> list[str]:
        """The nodes a path entered: worked out once per distinct path (most sessions share one)."""
        key = (path.flow, path.edges)
        nodes = self._entered.get(key)
        if nodes is None:
            nodes = graph.nodes_entered(path.edges) if graph is not None else []
            if len(self._entered) < self.limit:
                self._entered[key] = nodes
        return nodes


def _external(metadata: Mapping[str, Any]) -> str | None:
    value = metadata.get(EXTERNAL_ID)
    return value if isinstance(value, str) else None
