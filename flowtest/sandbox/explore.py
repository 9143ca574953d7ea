"""Walk a sandbox flow breadth-first through its own engine: every branch arm, every button,
every transfer result, up to a depth. ``flowtest scaffold --uncovered`` takes the shortest walk
to each missing edge; ``flowtest explore`` can take every distinct walk.

A caller's moves at a node that asks are texts chosen to satisfy the flow's conditions on
that variable (a regex's shortest matches, a ``contains`` text, a number past a bound),
its ``extract`` pattern, the buttons just offered, and a text that matches none of them;
at a transfer, each transfer result. Start variables are varied too, for conditions on
variables that no node asks for (a promo, a tier). Walks reaching a state already seen
(the same node, the same truth of every condition, the same counters) are not followed
again, and the whole walk is bounded by ``max_states``, so a flow with loops ends.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from flowtest.contract import AWAITING_INPUT, AWAITING_TRANSFER
from flowtest.sandbox import engine
from flowtest.sandbox.engine import FlowRegexStopped, FlowState, Message
from flowtest.sandbox.flows import Flow

FILLER = "something else"  # a caller's text that no condition is meant to match
TRANSFER_RESULTS = ("success", "failed")
_SAMPLES = 8  # shortest matches tried per regex: generation stays cheap, and one usually fits
_REPEAT_LIMIT = 4  # how many times exrex repeats an unbounded part (\d+ -> at most 4 digits)
_MAX_PATTERN = 1000
_ENGINE_SET = frozenset({"transferStatus", "failReason"})  # the engine's own variables


@dataclass(frozen=True)
class Move:
    """What the caller did: ``start`` (with start variables), ``text`` or ``transfer``."""

    kind: str
    text: str | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    move: Move
    status: str
    messages: tuple[Message, ...]
    transfer: Mapping[str, Any] | None
    edges: frozenset[int]  # the edges this turn took
    variables: Mapping[str, Any]  # after the turn


@dataclass(frozen=True)
class Walk:
    turns: tuple[Turn, ...]  # turns[0] is Start Session

    @property
    def edges(self) -> frozenset[int]:
        return frozenset().union(*(turn.edges for turn in self.turns))

    @property
    def start_variables(self) -> Mapping[str, Any]:
        return self.turns[0].move.variables


class Explorer:
    def __init__(
        self,
        flow: Flow,
        max_turns: int = 12,
        max_states: int = 20_000,
        transfer_results: tuple[str, ...] = TRANSFER_RESULTS,
        seed: int = 0,
    ) -> None:
        self.flow, self.max_turns, self.max_states = flow, max_turns, max_states
        self.transfer_results, self.seed = transfer_results, seed
        self.conditions = list(_conditions(flow.nodes))
        self.asked = {node["ask"] for node in flow.nodes.values() if "ask" in node}
        self.counters = sorted(_counters(flow.nodes))
        self._texts: dict[str, list[str]] = {}

    def walks(self) -> Iterator[Walk]:
        """Every walk to a state not seen before, shortest first (Start Session counts as a turn)."""
        seen: set[tuple[Any, ...]] = set()
        queue: deque[tuple[Walk, FlowState]] = deque()
        for variables in self._start_variables():
            state = self._state(variables)
            turn = self._turn(Move("start", variables=variables), state, lambda s: engine.start(self.flow, s))
            if self._new(seen, state):
                queue.append((Walk((turn,)), state))
        explored = 0
        while queue and explored < self.max_states:
            walk, state = queue.popleft()
            explored += 1
            yield walk
            if len(walk.turns) > self.max_turns:
                continue
            for move in self._moves(state, walk.turns[-1]):
                after = copy.deepcopy(state)
                turn = self._turn(move, after, _resume(self.flow, move))
                if self._new(seen, after) or not turn.edges <= walk.edges:
                    queue.append((Walk((*walk.turns, turn)), after))

    def shortest(self, targets: Iterable[int]) -> dict[int, Walk]:
        """The first (shortest) walk that takes each target edge; targets never reached are absent."""
        wanted, found = set(targets), dict[int, Walk]()
        for walk in self.walks():
            for edge in walk.turns[-1].edges & wanted:
                found.setdefault(edge, walk)
            wanted -= set(found)
            if not wanted:
                break
        return found

    # -- moves ----------------------------------------------------------------------------

    def _moves(self, state: FlowState, last: Turn) -> Iterator[Move]:
        if state.status == AWAITING_TRANSFER:
            yield from (Move("transfer", result) for result in self.transfer_results)
        elif state.status == AWAITING_INPUT and state.waiting_at is not None:
            offered = [text for message in last.messages for text in _presses(message)]
            for text in dict.fromkeys([*offered, *self._node_texts(state.waiting_at)]):
                yield Move("text", text)

    def _node_texts(self, name: str) -> list[str]:
        """Texts worth typing at an ask node, each one verified against what it is for."""
        if name not in self._texts:
            node = self.flow.nodes[name]
            variable = node["ask"]
            texts = [
                text
                for condition in self.conditions
                if _same_variable(condition["var"], variable)
                for text in self._satisfying(condition, node)
            ]
            if "extract" in node:
                texts += [t for t in _examples(node["extract"]) if self._stored(node, t) is not None][:1]
            self._texts[name] = list(dict.fromkeys([*texts, FILLER]))
        return self._texts[name]

    def _satisfying(self, condition: Mapping[str, Any], node: Mapping[str, Any]) -> list[str]:
        """At most one text that, typed at ``node``, makes ``condition`` hold."""
        for text in _condition_texts(condition):
            value = self._stored(node, text)
            if value is not None and _holds(condition, _nested(condition["var"], value)):
                return [text]
        return []

    def _stored(self, node: Mapping[str, Any], text: str) -> str | None:
        """What the engine stores for ``text`` at an ask node (after transforms and extract)."""
        try:
            return engine.stored_value(node, text)
        except FlowRegexStopped:
            return None

    def _start_variables(self) -> list[dict[str, Any]]:
        """No start variables, then one set per condition on a variable no node asks for."""
        variants: list[dict[str, Any]] = [{}]
        for condition in self.conditions:
            name = condition["var"]
            if name in _ENGINE_SET or any(_same_variable(name, asked) for asked in self.asked):
                continue
            value = next(
                (v for v in _condition_values(condition) if _holds(condition, _nested(name, v))), None
            )
            if value is not None:
                variants.append(_nested(name, value))
        unique: dict[str, dict[str, Any]] = {}
        for variables in variants:
            unique.setdefault(repr(sorted(variables.items())), variables)
        return list(unique.values())

    # -- states -----------------------------------------------------------------------------

    def _state(self, variables: Mapping[str, Any]) -> FlowState:
        defaults = copy.deepcopy(dict(self.flow.defaults))
        return FlowState(variables={**defaults, **copy.deepcopy(dict(variables))}, seed=self.seed)

    def _turn(self, move: Move, state: FlowState, act: Any) -> Turn:
        state.taken = set()
        messages = tuple(act(state))
        edges, state.taken = frozenset(state.taken), None
        transfer = dict(state.transfer) if state.transfer is not None else None
        return Turn(move, state.status, messages, transfer, edges, copy.deepcopy(state.variables))

    def _new(self, seen: set[tuple[Any, ...]], state: FlowState) -> bool:
        """Whether no walk reached a state that behaves alike: the same node and status, the same
        truth of every condition of the flow, the same counters."""
        key = (
            state.waiting_at,
            state.status,
            tuple(_holds(c, state.variables) for c in self.conditions),
            tuple(repr(engine.lookup(state.variables, name)) for name in self.counters),
        )
        if key in seen:
            return False
        seen.add(key)
        return True


def _resume(flow: Flow, move: Move) -> Any:
    if move.kind == "transfer":
        return lambda state: engine.resume_with_transfer(flow, state, str(move.text), None)
    return lambda state: engine.resume_with_text(flow, state, str(move.text))


def _holds(condition: Mapping[str, Any], variables: Mapping[str, Any]) -> bool:
    try:
        return engine.holds(dict(condition), dict(variables))
    except FlowRegexStopped:
        return False


def _conditions(nodes: Mapping[str, Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Every condition of the flow: branch arms, and conditional say entries."""
    for node in nodes.values():
        for case in node.get("branch", []):
            yield case["when"]
        say = node.get("say", [])
        for entry in say if isinstance(say, list) else [say]:
            if isinstance(entry, dict) and "when" in entry:
                yield entry["when"]


def _counters(nodes: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Variables a node adds to ({add: N}): their values tell loops apart."""
    return {
        name
        for node in nodes.values()
        for name, spec in node.get("set", {}).items()
        if isinstance(spec, dict) and set(spec) == {"add"}
    }


def _same_variable(tested: str, asked: str) -> bool:
    return tested == asked or tested.startswith(asked + ".")


def _presses(message: Mapping[str, Any]) -> Iterator[str]:
    """What pressing each button of a message sends: its title as typed, and its payload."""
    for button in message.get("buttons", []):
        yield button["title"]
        yield button["payload"]


def _condition_texts(condition: Mapping[str, Any]) -> Iterator[str]:
    for value in _condition_values(condition):
        yield (
            value if isinstance(value, str) else json.dumps(value)  # true, 3, 2.5: as typed
        )


def _condition_values(condition: Mapping[str, Any]) -> Iterator[Any]:
    """Values that may satisfy the condition, plainest first (each is checked before use)."""
    test, expected = next((k, v) for k, v in condition.items() if k != "var")
    candidates = _CANDIDATES.get(test)
    if candidates is not None:
        yield from candidates(expected)


def _itself(expected: Any) -> Iterable[Any]:
    return (expected,)


def _present(expected: Any) -> Iterable[Any]:
    return ("yes",) if expected else ()


def _beside(step: int, inclusive: bool) -> Callable[[Any], Iterable[Any]]:
    """Numbers that pass a comparison: the bound itself when it is included, then one step past it."""

    def candidates(expected: Any) -> Iterable[Any]:
        number = int(expected) if float(expected).is_integer() else expected
        return (number, number + step) if inclusive else (number + step,)

    return candidates


def _examples(pattern: str) -> list[str]:
    """The shortest texts a regex matches (exrex), the readable ones first; bounded in count and
    repetition, and each checked with the engine's own bounded search."""
    if len(pattern) > _MAX_PATTERN:
        return []
    import exrex  # only when a walk needs a text for a regex

    try:
        samples = list(itertools.islice(exrex.generate(pattern, limit=_REPEAT_LIMIT), _SAMPLES))
    except Exception:  # exrex cannot expand some constructs (lookbehinds, conditionals): no samples
        return []
    fitting = []
    for sample in dict.fromkeys(samples):
        try:
            if engine.search(pattern, sample) is not None:
                fitting.append(sample)
        except FlowRegexStopped:
            continue
    return sorted(fitting, key=lambda text: not text.strip() or not text.isprintable())


# A condition's test, and the values that may pass it.
_CANDIDATES: dict[str, Callable[[Any], Iterable[Any]]] = {
    "equals": _itself,
    "contains": _itself,
    "regex": _examples,
    "exists": _present,
    "gt": _beside(1, inclusive=False),
    "gte": _beside(1, inclusive=True),
    "lt": _beside(-1, inclusive=False),
    "lte": _beside(-1, inclusive=True),
}


def _nested(dotted: str, value: Any) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    engine.set_variable(variables, dotted, value)
    return variables
