"""Caller rules that never fired in the whole run, said after it: a dead rule is usually a typo.

A reporter on flowtest's hooks (``pytest_flowtest_conversation``): each conversation whose
caller ran tells which of its rules answered a turn (a turn's record stands at its rule's
line). Under pytest-xdist each worker sends what it saw in ``workeroutput`` and the
controller, which prints the summary, merges them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from flowtest.steps.caller import caller_of

if TYPE_CHECKING:
    from flowtest.scenario.model import Case
    from flowtest.session import ConversationPool
    from flowtest.trace import Result

NAME = "flowtest-caller-rules"
_OUTPUT = "flowtest_caller_rules"


def register(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(NAME):
        config.pluginmanager.register(DeadRules(), NAME)


class DeadRules:
    def __init__(self) -> None:
        # Every rule of a caller that ran, by its place ("path:line:column"): (path:line, rule N, when ...).
        self.rules: dict[str, tuple[str, str, str]] = {}
        self.fired: set[str] = set()

    def pytest_flowtest_conversation(self, item: pytest.Item, case: Case, result: Result) -> None:
        caller = caller_of(case.scenario)
        if caller is None or not caller.rules:
            return
        places: set[str] = set()
        ran = False
        for trace in result.traces():
            for record in trace.steps:
                ran = ran or record.kind == "caller"
                if record.location is not None:
                    places.add(str(record.location))
        if not ran:  # it never got to answer (Start Session failed): its rules say nothing
            return
        for rule in caller.rules:
            place = str(rule.location)
            line = f"{rule.location.path}:{rule.location.line}"
            self.rules.setdefault(place, (line, f"rule {rule.number}", rule.written))
            if place in places:
                self.fired.add(place)

    def pytest_flowtest_run_finished(self, config: pytest.Config, pool: ConversationPool) -> None:
        output = getattr(config, "workeroutput", None)
        if output is not None:  # an xdist worker: its controller reports
            output[_OUTPUT] = {"rules": self.rules, "fired": sorted(self.fired)}

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        data = getattr(node, "workeroutput", {}).get(_OUTPUT)
        if data:
            for place, (line, number, when) in data["rules"].items():
                self.rules.setdefault(place, (line, number, when))
            self.fired.update(data["fired"])

    def dead(self) -> list[str]:
        """``path:line: rule 3 never fired (when contains "What can I help")``, in file order."""
        places = sorted(set(self.rules) - self.fired, key=_order)
        return [f"{self.rules[p][0]}: {self.rules[p][1]} never fired ({self.rules[p][2]})" for p in places]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(terminalreporter.config, "workerinput"):
            return
        lines = self.dead()
        if lines:
            terminalreporter.write_sep("-", "flowtest: caller rules that never fired (a typo in `when`?)")
            for line in lines:
                terminalreporter.write_line(line)


def _order(place: str) -> tuple[str, int, int]:
    path, line, column = place.rsplit(":", 2)
    return path, int(line), int(column)
