"""The sandbox's flow engine: runs a flow's nodes until it waits for the caller or ends."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flowtest.contract import AWAITING_INPUT, AWAITING_TRANSFER, COMPLETED
from flowtest.durations import parse_duration
from flowtest.sandbox.flows import Flow

MAX_NODES_PER_TURN = 1000
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
    """Where a running flow stands; mutated by the engine, owned by one session."""

    status: str = AWAITING_INPUT
    variables: dict[str, Any] = field(default_factory=dict)
    waiting_at: str | None = None
    transfer: dict[str, Any] | None = None
    error: str | None = None


def start(flow: Flow, state: FlowState) -> list[Message]:
    return _run(flow, state, flow.start)


def resume_with_text(flow: Flow, state: FlowState, text: str) -> list[Message]:
    node = flow.nodes[_waiting_node(state)]
    for name in node.get("transform", []):
        text = _TRANSFORMS[name](text)
    value = _extract(node["extract"], text) if "extract" in node else text
    if value is not None:
        set_variable(state.variables, node["ask"], value)
    return _run(flow, state, node["next"])


def _extract(pattern: str, text: str) -> str | None:
    """What entity extraction would keep: the regex's first group (or whole match), else nothing."""
    found = re.search(pattern, text)
    if found is None:
        return None
    return found.group(1) if found.re.groups else found.group(0)


def resume_with_transfer(flow: Flow, state: FlowState, status: str, reason: str | None) -> list[Message]:
    node = flow.nodes[_waiting_node(state)]
    state.transfer = None
    state.variables["transferStatus"] = status
    if status == "success":
        state.variables.pop("failReason", None)
        return _run(flow, state, node["on_success"])
    state.variables["failReason"] = reason if reason is not None else status
    return _run(flow, state, node["on_error"])


def _waiting_node(state: FlowState) -> str:
    if state.waiting_at is None:
        raise RuntimeError("the flow is not waiting")  # callers check the status first
    return state.waiting_at


def _run(flow: Flow, state: FlowState, name: str) -> list[Message]:
    messages: list[Message] = []
    for _ in range(MAX_NODES_PER_TURN):
        node = flow.nodes[name]
        for key, spec in node.get("set", {}).items():
            _apply_set(state.variables, key, spec)
        say = node.get("say", [])
        for spec in say if isinstance(say, list) else [say]:
            message = _message(spec, state.variables)
            if message is not None:
                messages.append(message)
        following = _route(name, node, state)
        if following is None:
            return messages
        name = following
    state.status, state.error = "error", f"flow ran {MAX_NODES_PER_TURN} nodes without waiting"
    return messages


def _message(spec: Any, variables: dict[str, Any]) -> Message | None:
    """A ``say`` entry as the API sends it; None when its ``when`` does not hold."""
    if isinstance(spec, str):
        return {"type": "text", "text": str(render(spec, variables))}
    if "when" in spec and not holds(spec["when"], variables):
        return None
    message: Message = {"type": spec.get("type", _kind(spec))}
    if "typing" in spec:
        message["durationMs"] = round(parse_duration(spec["typing"]) * 1000)
    if "text" in spec:
        message["text"] = str(render(spec["text"], variables))
    if "card" in spec:
        card = spec["card"]
        for key, field_name in (("title", "title"), ("subtitle", "subtitle"), ("image", "imageUrl")):
            if key in card:
                message[field_name] = str(render(card[key], variables))
        if "buttons" in card:
            message["buttons"] = _buttons(card["buttons"], variables)
    if "buttons" in spec:
        message["buttons"] = _buttons(spec["buttons"], variables)
    if "payload" in spec:
        message["payload"] = render_value(spec["payload"], variables)
    return message


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


def _route(name: str, node: Any, state: FlowState) -> str | None:
    """The next node, or None when the node leaves the flow waiting or finished."""
    if "ask" in node:
        state.status, state.waiting_at = AWAITING_INPUT, name
        return None
    if "transfer" in node:
        spec = node["transfer"]
        state.status, state.waiting_at = AWAITING_TRANSFER, name
        state.transfer = {key: render_value(value, state.variables) for key, value in spec.items()}
        return None
    if "fail" in node:
        state.status, state.error, state.waiting_at = "error", node["fail"], None
        return None
    if "branch" in node:
        for case in node["branch"]:
            if holds(case["when"], state.variables):
                return str(case["next"])
        return str(node["otherwise"])
    if "next" in node:
        return str(node["next"])
    state.status, state.waiting_at = COMPLETED, None
    return None


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
        return re.search(expected, str(value)) is not None
    return _compare(test, value, expected)


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


def _apply_set(variables: dict[str, Any], key: str, spec: Any) -> None:
    if isinstance(spec, dict) and set(spec) == {"add"}:
        current = lookup(variables, key)
        base = current if isinstance(current, (int, float)) and not isinstance(current, bool) else 0
        set_variable(variables, key, base + spec["add"])
        return
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
