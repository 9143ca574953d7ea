"""The observed inventory: what a run saw of a deployment whose flows flowtest cannot read.

From each conversation's trace (and its case's steps, for what was asserted): flows started,
statuses reached, transfer results sent and destinations asked for, distinct bot prompts
(normalised as ``flowtest record`` does: ids, numbers and dates as placeholders), buttons
offered and buttons pressed, variables set and variables asserted, and API error codes.
A button offered and never pressed, or a variable set and never asserted, is an untested
branch; a flow the settings list (``flows = [...]``) that no conversation started is reported.

Per conversation only counters are updated; texts are normalised once each, at the end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flowtest.client.models import Exchange, FieldPaths
from flowtest.contract import AWAITING_TRANSFER
from flowtest.jsonpath import query
from flowtest.scenario import model
from flowtest.steps.calls import SaveStep
from flowtest.steps.checks import VariablesStep
from flowtest.trace import Result, Role, StepRecord, Trace

Json = dict[str, Any]
# Each kind of thing counted per flow, in the order the terminal lists them.
KINDS = (
    "statuses",
    "transfers",
    "destinations",
    "prompts",
    "buttons_offered",
    "buttons_pressed",
    "variables_set",
    "variables_asserted",
    "errors",
)
_LABELS = ("title", "label", "text")


@dataclass
class FlowInventory:
    started: int = 0
    counts: dict[str, Counter[str]] = field(default_factory=lambda: {kind: Counter() for kind in KINDS})

    def as_json(self) -> Json:
        return {"started": self.started, **{kind: dict(counter) for kind, counter in self.counts.items()}}


class Inventory:
    """Counts what conversations saw, per flow."""

    def __init__(self, fields: FieldPaths) -> None:
        self.fields = fields
        self.flows: dict[str, FlowInventory] = {}

    def conversation(self, case: model.Case, result: Result) -> None:
        for trace in result.traces():  # every attempt of every run (repeat)
            self._trace(trace)
        flow = self._flow(case.scenario.flow)
        flow.counts["variables_asserted"].update(_asserted(case.scenario.steps))

    def _flow(self, flow_id: str) -> FlowInventory:
        flow = self.flows.get(flow_id)
        if flow is None:
            flow = self.flows[flow_id] = FlowInventory()
        return flow

    def _trace(self, trace: Trace) -> None:
        flow = self._flow(trace.flow)
        counts = flow.counts
        if _started(trace):
            flow.started += 1
        # Each status once per conversation that reached it.
        counts["statuses"].update({s.status_after for s in trace.steps if s.status_after and _the_flows(s)})
        offered: dict[str, str] = {}  # what a press sends (payload, title) -> the button's title
        for step in trace.steps:
            _count_sent(counts, step, offered)
            if step.messages:  # a turn: Start Session's or a Send Message's answer
                offered = self._turn(counts, step)
            self._exchanges(counts, step)

    def _turn(self, counts: dict[str, Counter[str]], step: StepRecord) -> dict[str, str]:
        offered: dict[str, str] = {}
        for message in step.messages:
            text = message.get("text")
            if isinstance(text, str) and text:
                counts["prompts"][text] += 1
            for title, payload in _buttons(message):
                counts["buttons_offered"][title] += 1
                offered.setdefault(title, title)
                offered.setdefault(payload, title)
        return offered

    def _exchanges(self, counts: dict[str, Counter[str]], step: StepRecord) -> None:
        for exchange in step.exchanges:
            self._exchange(counts, exchange)
        if step.status_after == AWAITING_TRANSFER and step.messages and step.exchanges:
            self._destination(counts, step.exchanges[-1])

    def _exchange(self, counts: dict[str, Counter[str]], exchange: Exchange) -> None:
        """An API error's code, or the variables an answer (Get Session's, or the Start request) set."""
        status = exchange.status
        if status is not None and status >= 400:
            counts["errors"][_error_code(status, exchange.response_json)] += 1
        elif exchange.method == "GET" and status == 200:
            found = query(self.fields.variables, exchange.response_json)
            counts["variables_set"].update(_names(found.value))
        elif _starts(exchange) and exchange.request_body is not None:
            counts["variables_set"].update(_names((exchange.request_json or {}).get("variables")))

    def _destination(self, counts: dict[str, Counter[str]], exchange: Exchange) -> None:
        """Where the transfer the bot asked for goes, when its answer says."""
        transfer = query(self.fields.transfer, exchange.response_json)
        destination = transfer.value.get("destination") if isinstance(transfer.value, dict) else None
        if isinstance(destination, str):
            counts["destinations"][destination] += 1

    def as_json(self) -> Json:
        return {"flows": {flow_id: flow.as_json() for flow_id, flow in self.flows.items()}}


def _started(trace: Trace) -> bool:
    """Whether the conversation's Start Session gave a session."""
    first = trace.steps[0] if trace.steps else None
    return trace.session_id is not None and first is not None and any(map(_starts, first.exchanges))


def _starts(exchange: Exchange) -> bool:
    """Start Session: the POST to a flow's sessions (a Send Message posts to a session's messages)."""
    return exchange.method == "POST" and exchange.url.endswith("/sessions")


def _the_flows(step: StepRecord) -> bool:
    """A status the flow reached, not the teardown's End Session (every session ends so)."""
    return step.role is not Role.LIFECYCLE or bool(step.received) or step.status_before is None


def _count_sent(counts: dict[str, Counter[str]], step: StepRecord, offered: Mapping[str, str]) -> None:
    """A press of a button the bot offered (its title), or a transfer's result: what was sent."""
    if step.role is not Role.SEND or not step.exchanges:
        return
    body = step.exchanges[-1].request_json
    if not isinstance(body, Mapping):
        return
    text, transfer = body.get("text"), body.get("transferResult")
    if isinstance(text, str) and text in offered:
        counts["buttons_pressed"][offered[text]] += 1
    elif isinstance(transfer, Mapping) and isinstance(transfer.get("status"), str):
        counts["transfers"][transfer["status"]] += 1


def _buttons(message: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """(title, what pressing it sends) of each button: its payload, else its title."""
    for key in ("buttons", "quickReplies", "quick_replies", "options"):
        items = message.get(key)
        if isinstance(items, list):
            for item in items:
                if isinstance(item, str):
                    yield item, item
                elif isinstance(item, Mapping):
                    title = next((item[k] for k in _LABELS if isinstance(item.get(k), str)), None)
                    if title is not None:
                        payload = item.get("payload")
                        yield title, payload if isinstance(payload, str) else title


def _names(variables: Any) -> list[str]:
    return [f"$.{name}" for name in variables] if isinstance(variables, Mapping) else []


def _asserted(steps: Iterable[model.Step]) -> Iterable[str]:
    for step in steps:
        if isinstance(step, VariablesStep):
            yield from (_root(check.path) for check in step.checks)
        elif isinstance(step, SaveStep):
            yield from (_root(path) for _, path in step.targets)


def _root(path: str) -> str:
    """``$.a.b`` and ``$.a[0]`` as ``$.a``: variables are counted by their top-level name."""
    text = path.strip()
    head = text[2:] if text.startswith("$.") else text.lstrip("$")
    for stop in ".[":
        head = head.split(stop, 1)[0]
    return f"$.{head}" if head else text


def _error_code(status: int, body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return f"{status} {code}" if isinstance(code, str) else str(status)


def merge_observed(first: Mapping[str, Any], second: Mapping[str, Any]) -> Json:
    """Two processes' inventories (``as_json``) as one."""
    flows: dict[str, Json] = {flow_id: dict(data) for flow_id, data in first.get("flows", {}).items()}
    for flow_id, data in second.get("flows", {}).items():
        into = flows.setdefault(flow_id, {"started": 0, **{kind: {} for kind in KINDS}})
        into["started"] = into.get("started", 0) + data.get("started", 0)
        for kind in KINDS:
            into[kind] = dict(Counter(into.get(kind, {})) + Counter(data.get(kind, {})))
    return {"flows": flows}


def summarise_observed(data: Mapping[str, Any], expected: Iterable[str] = ()) -> Json:
    """observed.json: per flow, each kind by its distinct values (prompts normalised), what was
    offered and never pressed, set and never asserted; and the expected flows never started."""
    from flowtest.authoring.varying import normalised  # the recorder's rule for what varies

    flows: Json = {}
    for flow_id, inventory in sorted(data.get("flows", {}).items()):
        prompts: Counter[str] = Counter()
        for text, count in inventory.get("prompts", {}).items():
            prompts[normalised(text)] += count
        summary: Json = {kind: dict(sorted(inventory.get(kind, {}).items())) for kind in KINDS}
        summary["prompts"] = dict(sorted(prompts.items()))
        summary["started"] = inventory.get("started", 0)
        summary["never_pressed"] = sorted(set(summary["buttons_offered"]) - set(summary["buttons_pressed"]))
        summary["never_asserted"] = sorted(set(summary["variables_set"]) - set(summary["variables_asserted"]))
        flows[flow_id] = summary
    started = {flow_id for flow_id, summary in flows.items() if summary["started"]}
    return {"flows": flows, "never_started": [flow for flow in expected if flow not in started]}
