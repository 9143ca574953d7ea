"""``flowtest scaffold --uncovered``: a draft scenario for each edge that no passing scenario took.

Reads the last run's reports/coverage.json and the flows; for each missing edge, the shortest
walk through the flow's own engine that takes it (flowtest.sandbox.explore) becomes a
scenario as ``flowtest record`` writes one: the user texts and transfer results that lead
there, a check for each bot message on the way, and at the end a ``TODO`` for the designer
to say what should happen after that edge. Drafts never overwrite a file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowtest.authoring.record import Recording, dump, text_matcher
from flowtest.client.models import Message, TurnResult
from flowtest.sandbox import engine
from flowtest.sandbox.explore import Explorer, Turn, Walk
from flowtest.sandbox.flows import Flow
from flowtest.sandbox.graph import Edge, FlowGraph

DRAFT_TAG = "draft"


@dataclass(frozen=True)
class Draft:
    flow: str
    edge: Edge
    path: Path
    text: str | None  # None: no walk reaches the edge within the explorer's bounds


@dataclass(frozen=True)
class Wanted:
    """A missing edge as coverage.json names it."""

    flow: str
    key: str
    where: str


def missing_edges(coverage: Mapping[str, Any]) -> list[Wanted]:
    """Every missing edge of reports/coverage.json, flow by flow."""
    return [
        Wanted(flow_id, edge["key"], edge.get("where", ""))
        for flow_id, summary in coverage.items()
        if isinstance(summary, dict)
        for edge in summary.get("missing", [])
        if isinstance(edge, dict) and isinstance(edge.get("key"), str)
    ]


def drafts(
    flows: Mapping[str, Flow], wanted: Sequence[Wanted], out: Path, max_turns: int = 12
) -> Iterator[Draft]:
    """A draft (or why there is none) for each wanted edge of a flow that loads."""
    keys_by_flow: dict[str, list[str]] = {}
    for item in wanted:
        keys_by_flow.setdefault(item.flow, []).append(item.key)
    for flow_id, keys in keys_by_flow.items():
        flow = flows.get(flow_id)
        if flow is not None and flow.graph is not None:
            yield from _flow_drafts(flow_id, flow, flow.graph, keys, out, max_turns)


def _flow_drafts(
    flow_id: str, flow: Flow, graph: FlowGraph, keys: list[str], out: Path, max_turns: int
) -> Iterator[Draft]:
    """One flow's drafts: one walk search for all its wanted edges (keys it has no edge for aside)."""
    by_key = {edge.key: edge for edge in graph.edges}
    edges = [by_key[key] for key in keys if key in by_key]
    walks = Explorer(flow, max_turns=max_turns).shortest(edge.index for edge in edges)
    for edge in edges:
        path = out / flow_id / f"{_slug(edge.key)}.scenario.yaml"
        walk = walks.get(edge.index)
        yield Draft(flow_id, edge, path, draft_text(flow, edge, walk) if walk is not None else None)


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-")


def arrow(edge: Edge) -> str:
    if edge.kind == "say":
        return f"{edge.source}: {edge.label}"
    return f"{edge.source} -> {edge.target}"


def walk_scenario(flow: Flow, walk: Walk, name: str) -> dict[str, Any]:
    """A walk as a scenario, as ``flowtest record`` writes one: the caller's moves, a check for
    each bot message (a message worded per session: any of its wordings), each status change.
    ``flowtest explore`` writes one per walk (flowtest.sandbox.explore.Explorer.walks)."""
    recording = Recording(flow.id, name, dict(walk.start_variables))
    variants = _one_of_lists(flow)
    for turn in walk.turns:
        if turn.move.kind == "text":
            recording.steps.append({"user": recording.literal(str(turn.move.text))})
        elif turn.move.kind == "transfer":
            recording.steps.append({"transfer": turn.move.text})
        first = len(recording.steps)
        recording.turn(_turn_result(turn))
        _any_wording(recording.steps[first:], variants, turn.variables)
    return recording.scenario(None)


def draft_text(flow: Flow, edge: Edge, walk: Walk) -> str:
    where = f"{flow.path}:{edge.line}"
    document = walk_scenario(flow, walk, f"Draft: {flow.id} {arrow(edge)}")
    document = {
        "name": document.pop("name"),
        "flow": document.pop("flow"),
        "description": f"Drafted by flowtest scaffold: walks to {arrow(edge)} ({where}), "
        "which no passing scenario took.",
        "tags": [DRAFT_TAG],
        **document,
    }
    steps = document["conversation"]
    if not steps or "status" not in steps[-1]:
        steps.append({"status": walk.turns[-1].status})
    header = (
        f"# Drafted by flowtest scaffold --uncovered from {flow.path}: the shortest walk to\n"
        f"# {arrow(edge)} ({where}).\n"
    )
    todo = (
        f"  # TODO: the last turn took {arrow(edge)}; check what the flow must do there (its bot\n"
        "  # messages, variables: checks), then remove the draft tag.\n"
    )
    return dump(document, header) + todo


def _turn_result(turn: Turn) -> TurnResult:
    messages = tuple(Message(str(raw.get("type", "text")), raw.get("text"), raw) for raw in turn.messages)
    return TurnResult("draft", turn.status, messages, turn.transfer, {})


def _one_of_lists(flow: Flow) -> list[list[str]]:
    found = []
    for node in flow.nodes.values():
        say = node.get("say", [])
        for entry in say if isinstance(say, list) else [say]:
            if isinstance(entry, dict) and isinstance(entry.get("one_of"), list):
                found.append([str(text) for text in entry["one_of"]])
    return found


def _any_wording(
    steps: list[dict[str, Any]], variants: list[list[str]], variables: Mapping[str, Any]
) -> None:
    """A message the flow words per session (one_of) is checked as any of its wordings, each as
    ``record`` writes a text (a long one as ``{contains: its first sentence}``)."""
    if not variants:
        return
    rendered = [[str(engine.render(text, dict(variables))) for text in texts] for texts in variants]
    for step in steps:
        bot = step.get("bot")
        if isinstance(bot, list):
            step["bot"] = [_any_of(item, rendered) for item in bot]
        elif bot is not None:
            step["bot"] = _any_of(bot, rendered)


def _any_of(matcher: Any, rendered: list[list[str]]) -> Any:
    """The recorded matcher of a message, or any of its wordings when the flow words it per session."""
    wordings = next((texts for texts in rendered if any(text_matcher(t) == matcher for t in texts)), None)
    if wordings is None or len(set(wordings)) < 2:
        return matcher
    return {"any_of": [text_matcher(wording) for wording in dict.fromkeys(wordings)]}
