"""The sandbox's flow engine: runs a flow's nodes until it waits for the caller or ends."""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flowtest.contract import AWAITING_INPUT, AWAITING_TRANSFER, COMPLETED
from flowtest.durations import parse_duration
from flowtest.sandbox.flows import Flow
from flowtest.sandbox.graph import NO_EDGE, NodePlan

MAX_NODES_PER_TURN = 1000
REGEX_TIMEOUT = 1.0  # seconds one of a flow's regexes may take on one text; a real one takes microseconds
_TEMPLATE = re.compile(r"\$\{([A-Za-z_][\w.-]*)\}")
_MISSING = object()
Message = dict[str, Any]  # one entry of a turn's "messages", as the API returns it
_TRANSFORMS: dict[str, Callable[[str], str]] = {
    "upper": str.upper,
    "lower": str.lower,
    "strip": str.strip,
    "remove_spaces": lambda text: "".join(text.split()),
    "digits_only": lambda text: "".join(ch for ch in text if ch.isdigit()),
}


@dataclass
class FlowState:
    """Where a running flow stands; mutated by the engine, owned by one session.

    ``taken``: the numbers of the edges the session took (see flowtest.sandbox.graph), or
    None when coverage is not recorded. ``seed`` picks the session's wordings (``one_of``).
    """

    status: str = AWAITING_INPUT
    variables: dict[str, Any] = field(default_factory=dict)
    waiting_at: str | None = None
    transfer: dict[str, Any] | None = None
    error: str | None = None
    taken: set[int] | None = None
    seed: int = 0


class FlowRegexStopped(Exception):
    """One of the flow's regexes backtracked past REGEX_TIMEOUT: the session ends in error."""

    def __init__(self, pattern: str, length: int) -> None:
        super().__init__(pattern)
        self.pattern, self.length = pattern, length
        self.node: str | None = None  # where it ran, set on the way out of the engine


def start(flow: Flow, state: FlowState) -> list[Message]:
    return _guarded(flow, state, lambda messages: _run(flow, state, flow.start, messages))


def resume_with_text(flow: Flow, state: FlowState, text: str) -> list[Message]:
    name = _waiting_node(state)
    node = flow.nodes[name]

    def resume(messages: list[Message]) -> None:
        value = stored_value(node, text)
        if value is not None:
            set_variable(state.variables, node["ask"], value)
        _take(state, _plan(flow, name).next)
        _run(flow, state, node["next"], messages)

    return _guarded(flow, state, resume)


def stored_value(node: Mapping[str, Any], text: str) -> str | None:
    """What an ask node stores for the user's text: transformed, then what ``extract`` finds (or None)."""
    for transform in node.get("transform", []):
        text = _TRANSFORMS[transform](text)
    return _extract(node["extract"], text) if "extract" in node else text


def _extract(pattern: str, text: str) -> str | None:
    """What entity extraction would keep: the regex's first group (or whole match), else nothing."""
    found = search(pattern, text)
    if found is None:
        return None
    return str(found.group(1) if found.re.groups else found.group(0))


def resume_with_transfer(flow: Flow, state: FlowState, status: str, reason: str | None) -> list[Message]:
    name = _waiting_node(state)
    node, plan = flow.nodes[name], _plan(flow, name)
    state.transfer = None
    state.variables["transferStatus"] = status
    if status == "success":
        state.variables.pop("failReason", None)
        _take(state, plan.on_success)
        return _guarded(flow, state, lambda messages: _run(flow, state, node["on_success"], messages))
    state.variables["failReason"] = reason if reason is not None else status
    _take(state, plan.on_error)
    return _guarded(flow, state, lambda messages: _run(flow, state, node["on_error"], messages))


def _guarded(flow: Flow, state: FlowState, action: Callable[[list[Message]], None]) -> list[Message]:
    """The turn's messages; a regex of the flow that ran too long ends the session in error, saying so."""
    messages: list[Message] = []
    node = state.waiting_at
    try:
        action(messages)
    except FlowRegexStopped as exc:
        node = exc.node or node
        where = f"{flow.path}:{flow.graph.node_lines[node]}" if node and flow.graph else flow.path
        text = (
            f"sandbox: {where}: regex {exc.pattern!r} of flow '{flow.id}' was stopped after "
            f"{REGEX_TIMEOUT:g}s on a {exc.length:,}-character text: it backtracks catastrophically "
            "(as (a|aa)+ can); rewrite it"
        )
        state.status, state.error, state.waiting_at, state.transfer = "error", text, None, None
        messages.append({"type": "error", "text": text})
    return messages


def _plan(flow: Flow, name: str) -> NodePlan:
    return flow.graph.plans[name] if flow.graph is not None else _NO_PLAN


_NO_PLAN = NodePlan()


def _take(state: FlowState, edge: int) -> None:
    if state.taken is not None and edge != NO_EDGE:
        state.taken.add(edge)


def _waiting_node(state: FlowState) -> str:
    if state.waiting_at is None:
        raise RuntimeError("the flow is not waiting")  # callers check the status first
    return state.waiting_at


def _run(flow: Flow, state: FlowState, name: str, messages: list[Message]) -> None:
    for _ in range(MAX_NODES_PER_TURN):
        try:
            following = _node(flow, state, name, messages)
        except FlowRegexStopped as exc:
            exc.node = name
            raise
        if following is None:
            return
        name = following
    state.status, state.error = "error", f"flow ran {MAX_NODES_PER_TURN} nodes without waiting"


def _node(flow: Flow, state: FlowState, name: str, messages: list[Message]) -> str | None:
    """Run one node: its set, its say, then where it goes (None: the flow waits or ended)."""
    node = flow.nodes[name]
    plan = _plan(flow, name)
    for key, spec in node.get("set", {}).items():
        _apply_set(state, name, key, spec)
    say = node.get("say", [])
    for index, spec in enumerate(say if isinstance(say, list) else [say]):
        if isinstance(spec, dict) and "when" in spec:
            shown = holds(spec["when"], state.variables)
            sides = plan.say[index] if index < len(plan.say) else None
            if sides is not None:
                _take(state, sides[0] if shown else sides[1])
            if not shown:
                continue
        messages.append(_message(spec, state, f"{name}:{index}"))
    following, edge = _route(name, node, plan, state)
    _take(state, edge)
    return following


def _message(spec: Any, state: FlowState, place: str) -> Message:
    """A ``say`` entry as the API sends it (its ``when`` holds)."""
    variables = state.variables
    if isinstance(spec, str):
        return {"type": "text", "text": str(render(spec, variables))}
    message: Message = {"type": spec.get("type", _kind(spec))}
    if "typing" in spec:
        message["durationMs"] = round(parse_duration(spec["typing"]) * 1000)
    if "text" in spec:
        message["text"] = str(render(spec["text"], variables))
    if "one_of" in spec:
        message["text"] = str(render(pick(state.seed, place, spec["one_of"]), variables))
    if "card" in spec:
        message.update(_card(spec["card"], variables))
    if "buttons" in spec:
        message["buttons"] = _buttons(spec["buttons"], variables)
    if "payload" in spec:
        message["payload"] = render_value(spec["payload"], variables)
    return message


# A card's keys in a flow file, and the message fields the API sends them as.
_CARD_FIELDS = (("title", "title"), ("subtitle", "subtitle"), ("image", "imageUrl"))


def _card(card: dict[str, Any], variables: dict[str, Any]) -> Message:
    fields: Message = {
        field_name: str(render(card[key], variables)) for key, field_name in _CARD_FIELDS if key in card
    }
    if "buttons" in card:
        fields["buttons"] = _buttons(card["buttons"], variables)
    return fields


def pick(seed: int, place: str, choices: list[Any]) -> Any:
    """The session's choice among ``choices`` at ``place``: the same each time within a session."""
    return choices[zlib.crc32(f"{seed}:{place}".encode()) % len(choices)]


def _kind(spec: dict[str, Any]) -> str:
    if "typing" in spec:
        return "typing"
    if "card" in spec:
        return "card"
    return "quick_replies" if "buttons" in spec else "text"


def _buttons(specs: list[Any], variables: dict[str, Any]) -> list[dict[str, str]]:
    buttons = []
    for spec in specs:
        title = str(render(spec if isinstance(spec, str) else spec["title"], variables))
        payload = spec.get("payload", title) if isinstance(spec, dict) else title
        buttons.append({"title": title, "payload": str(render(payload, variables))})
    return buttons


def _route(name: str, node: Any, plan: NodePlan, state: FlowState) -> tuple[str | None, int]:
    """The next node and the edge to it; None when the node leaves the flow waiting or finished."""
    if "ask" in node:
        state.status, state.waiting_at = AWAITING_INPUT, name
        return None, NO_EDGE
    if "transfer" in node:
        spec = node["transfer"]
        state.status, state.waiting_at = AWAITING_TRANSFER, name
        state.transfer = {key: render_value(value, state.variables) for key, value in spec.items()}
        return None, NO_EDGE
    if "fail" in node:
        state.status, state.error, state.waiting_at = "error", node["fail"], None
        return None, NO_EDGE
    if "branch" in node:
        for index, case in enumerate(node["branch"]):
            if holds(case["when"], state.variables):
                return str(case["next"]), plan.branch[index] if plan.branch else NO_EDGE
        return str(node["otherwise"]), plan.otherwise
    if "next" in node:
        return str(node["next"]), plan.next
    state.status, state.waiting_at = COMPLETED, None
    return None, NO_EDGE


def holds(condition: dict[str, Any], variables: dict[str, Any]) -> bool:
    value = lookup(variables, condition["var"])
    test, expected = next((k, v) for k, v in condition.items() if k != "var")
    if test == "exists":
        return (value is not _MISSING) is expected
    if value is _MISSING:
        return False
    if test == "equals":
        return bool(value == expected)
    if test == "contains":
        return isinstance(value, str) and expected in value
    if test == "regex":
        return search(expected, str(value)) is not None
    return _compare(test, value, expected)


def search(pattern: str, text: str) -> Any:
    """``re.search`` with its cost bounded: the ``regex`` engine stops after REGEX_TIMEOUT (``re``
    cannot be stopped, and held the server deaf to Ctrl-C and SIGTERM on a catastrophic pattern)."""
    import regex  # by the first flow regex run, not by a sandbox that has none

    try:
        return regex.search(pattern, text, timeout=REGEX_TIMEOUT, concurrent=True)
    except TimeoutError:
        raise FlowRegexStopped(pattern, len(text)) from None


def _compare(test: str, value: Any, expected: float) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return {
        "gt": number > expected,
        "gte": number >= expected,
        "lt": number < expected,
        "lte": number <= expected,
    }[test]


def lookup(variables: dict[str, Any], dotted: str) -> Any:
    value: Any = variables
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def set_variable(variables: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    target = variables
    for part in parents:
        child = target.get(part)
        if not isinstance(child, dict):
            child = target[part] = {}
        target = child
    target[last] = value


def _apply_set(state: FlowState, node: str, key: str, spec: Any) -> None:
    variables = state.variables
    if isinstance(spec, dict) and set(spec) == {"add"}:
        current = lookup(variables, key)
        base = current if isinstance(current, (int, float)) and not isinstance(current, bool) else 0
        set_variable(variables, key, base + spec["add"])
        return
    if (
        isinstance(spec, dict)
        and set(spec) == {"one_of"}
        and isinstance(spec["one_of"], list)
        and spec["one_of"]
    ):
        spec = pick(state.seed, f"{node}:set:{key}", spec["one_of"])  # the session's own, e.g. question order
    set_variable(variables, key, render_value(spec, variables))


def render_value(value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return render(value, variables)
    if isinstance(value, dict):
        return {key: render_value(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, variables) for item in value]
    return value


def render(text: str, variables: dict[str, Any]) -> Any:
    """``${name}`` and ``${a.b}``; a string that is only a reference keeps the value's type."""
    whole = _TEMPLATE.fullmatch(text)
    if whole is not None:
        value = lookup(variables, whole.group(1))
        return "" if value is _MISSING else value
    return _TEMPLATE.sub(lambda m: _as_text(lookup(variables, m.group(1))), text)


def _as_text(value: Any) -> str:
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
