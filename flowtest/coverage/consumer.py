"""The run's coverage consumer: the lead registers it on flowtest's reporter seam.

Per conversation it keeps (session id, flow, passed) and counts the observed inventory; at
the end it asks the sandbox what those sessions took (``finish``), which gives mergeable
data (an xdist worker hands it to the controller, which ``merge``s every worker's); and
``report`` shows it: the terminal's table, reports/coverage.json, reports/observed.json,
the Allure coverage page, and the gate's lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowtest.client.models import FieldPaths
from flowtest.coverage.data import FAILED, PASSED, CoverageData, summarise
from flowtest.coverage.fetch import LocalSandbox, SandboxSource, Source
from flowtest.coverage.observed import Inventory, summarise_observed
from flowtest.coverage.report import (
    COVERAGE_FILE,
    OBSERVED_FILE,
    coverage_json,
    gate,
    observed_lines,
    relative_where,
    table,
    write_json,
)
from flowtest.trace import Outcome, Result

if TYPE_CHECKING:
    from flowtest.config import Settings
    from flowtest.scenario.model import Case
    from flowtest.session import ConversationPool


@dataclass(frozen=True)
class CoverageVerdict:
    """What ``report`` decided: ``passed`` is False when the gate failed (its ``lines`` say why)."""

    passed: bool
    lines: tuple[str, ...] = ()


class FlowCoverage:
    """``conversation`` per result, ``finish`` per process, ``merge`` per process's data, ``report`` once."""

    def __init__(
        self,
        minimum: float | None = None,
        expected_flows: tuple[str, ...] = (),
        fields: FieldPaths | None = None,
        root: Path | None = None,
        observe: bool = True,
    ) -> None:
        """``observe``: also count the observed inventory (what conversations saw); the embedded
        sandbox's runs need not, its flow graphs say more, so their conversations cost less."""
        self.minimum, self.expected_flows, self.root = minimum, expected_flows, root
        self.sessions: list[
            tuple[str, str, bool, bool]
        ] = []  # (session id, flow, passed, xfail), each attempt
        self.inventory = Inventory(fields or FieldPaths()) if observe else None
        self.data = CoverageData()

    @classmethod
    def from_settings(cls, settings: Settings) -> FlowCoverage:
        from flowtest.coverage.fetch import serves_coverage

        # The embedded sandbox, or one that `flowtest serve` runs: graphs, no inventory to count.
        graphs = settings.uses_sandbox or serves_coverage(str(settings.base_url), settings.api_key)
        return cls(
            settings.coverage_min, settings.flows, settings.fields, settings.project_root, observe=not graphs
        )

    @staticmethod
    def source(session: ConversationPool) -> Source | None:
        """Where the run's sessions ran (None before any conversation reached the API)."""
        if session.sandbox is not None:  # embedded: read in process
            return LocalSandbox(session.sandbox.api, session.run_id)
        if session.base_url is None:
            return None
        if session.settings.uses_sandbox:
            from flowtest.sandbox import DEFAULT_API_KEY

            return SandboxSource(session.base_url, DEFAULT_API_KEY, session.run_id)
        return SandboxSource(session.base_url, session.settings.api_key, session.run_id)

    # -- per conversation: cheap ------------------------------------------------------

    def conversation(self, case: Case, result: Result) -> None:
        """Each attempt's session counts on the side of its own outcome (a retried failure: failing),
        every run's with repeat."""
        known = case.scenario.xfail is not None
        for trace in result.traces():
            if trace.session_id is not None and trace.outcome is not Outcome.SKIPPED:
                self.sessions.append((trace.session_id, trace.flow, trace.outcome is Outcome.PASSED, known))
        if self.inventory is not None:
            self.inventory.conversation(case, result)

    # -- per process --------------------------------------------------------------------

    def finish(self, source: Source | None) -> dict[str, Any]:
        """This process's data (JSON): the sandbox's graphs and what each session took."""
        data = CoverageData()
        answer = source.fetch() if source is not None else None
        if answer is not None:
            self._count(data, answer)
        if self.inventory is not None:
            data.observed = self.inventory.as_json()
        return data.as_json()

    def _count(self, data: CoverageData, answer: Mapping[str, Any]) -> None:
        data.graphs = {
            flow_id: relative_where(graph, self.root) for flow_id, graph in answer["flows"].items()
        }
        data.broken = {flow_id: list(errors) for flow_id, errors in answer.get("broken", {}).items()}
        keys = {flow_id: [edge["key"] for edge in graph["edges"]] for flow_id, graph in data.graphs.items()}
        taken: Mapping[str, Any] = answer["sessions"]
        for session_id, flow_id, passed, known in self.sessions:
            session = taken.get(session_id)
            if session is None or flow_id not in keys:
                data.unmatched += session is None
                continue
            edge_keys = keys[flow_id]
            side = PASSED if passed else FAILED
            data.known += not passed and known
            data.flow(flow_id).add(side, session["nodes"], (edge_keys[index] for index in session["edges"]))

    def merge(self, data: Mapping[str, Any]) -> None:
        """Add one process's ``finish`` data (a worker's, or this process's own)."""
        self.data.merge(data)

    # -- once, at the end -----------------------------------------------------------------

    def report(
        self,
        reports: Path,
        write_line: Callable[[str], None],
        allure_results: Path | None = None,
    ) -> CoverageVerdict:
        """Show the merged data: the terminal, reports/coverage.json and observed.json, the
        Allure coverage page (when ``allure_results``), and the gate."""
        observed = summarise_observed(self.data.observed, self.expected_flows)
        if self.data.observed.get("flows") or not self.data.graphs:
            write_json(reports / OBSERVED_FILE, observed)
        if not self.data.graphs:
            return self._observed_only(observed, write_line)
        summaries = summarise(self.data)
        write_json(reports / COVERAGE_FILE, coverage_json(summaries))
        _write_lines(write_line, table(summaries, self.data.broken, self.data.known))
        never = self._never_started()
        if never:
            write_line(f"flows never started (settings: flows): {', '.join(never)}")
        lines = gate(summaries, self.minimum)
        if allure_results is not None:  # the gate's lines too: a run it failed must not look green there
            from flowtest.coverage.page import write_allure_page

            write_allure_page(allure_results, self.data.graphs, summaries, lines)
        _write_lines(write_line, lines)
        return CoverageVerdict(not lines, tuple(lines))

    def _observed_only(self, observed: dict[str, Any], write_line: Callable[[str], None]) -> CoverageVerdict:
        """An API without flow graphs (not a flowtest sandbox): the observed inventory, and no
        coverage gate can pass."""
        _write_lines(write_line, observed_lines(observed))
        if self.minimum is None:
            return CoverageVerdict(True)
        line = (
            f"flowtest: --flowtest-coverage-min={self.minimum:g}% needs the flow graphs of a flowtest "
            "sandbox; the API of this run has none (see the observed inventory above)"
        )
        write_line(line)
        return CoverageVerdict(False, (line,))

    def _never_started(self) -> list[str]:
        """The flows the settings list that no conversation started."""
        started = {
            flow_id for flow_id, counts in self.data.counts.items() if sum(counts.conversations.values())
        }
        return [flow_id for flow_id in self.expected_flows if flow_id not in started]


def _write_lines(write_line: Callable[[str], None], lines: Iterable[str]) -> None:
    for line in lines:
        write_line(line)
