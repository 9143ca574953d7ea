"""Coverage as a reporter on flowtest's hooks: on with --flowtest-coverage (setting ``coverage``).

Each conversation's sessions are noted as they finish; at the end each process asks the
sandbox what they took, an xdist worker hands that to its controller, and the process that
reports (the controller, or a run without workers) prints the table, writes
reports/coverage.json and the Allure coverage page, and fails the run below the gate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flowtest.config import Settings
from flowtest.coverage.consumer import FlowCoverage
from flowtest.scenario.model import Case
from flowtest.session import ConversationPool
from flowtest.trace import Result

_WORKER_KEY = "flowtest_coverage"


class CoverageReporter:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.coverage = FlowCoverage.from_settings(settings)
        self.lines: list[str] = []

    def pytest_flowtest_conversation(self, item: pytest.Item, case: Case, result: Result) -> None:
        self.coverage.conversation(case, result)

    def pytest_flowtest_run_finished(self, config: pytest.Config, pool: ConversationPool) -> None:
        data = self.coverage.finish(FlowCoverage.source(pool))
        workeroutput = getattr(config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[_WORKER_KEY] = json.dumps(data)
        else:
            self.coverage.merge(data)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """The xdist controller: a worker's data, merged with the others'."""
        data = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
        if data is not None:
            self.coverage.merge(json.loads(data))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(session.config, "workerinput"):
            return  # its controller reports
        reports = Path(session.config.rootpath) / "reports"
        verdict = self.coverage.report(reports, self.lines.append, self.settings.allure_results)
        if not verdict.passed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.lines:
            terminalreporter.section("flowtest coverage")
            for line in self.lines:
                terminalreporter.write_line(line)
