"""Allure results from the trace: labels, one step per conversation step, attachments, retries.

Imported only once scenarios are collected. Unless ``--alluredir`` is given (then
allure-pytest reports every test as usual), flowtest starts allure-pytest's listener
itself, for scenario items only, on a results folder it empties first; Allure's history
file keeps the trend. Steps are built from the trace with their recorded timings (the
conversation may have run before the pytest item, see concurrency), through
allure-commons' own model and hooks.
"""

from __future__ import annotations

import functools
import json
import platform
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import allure
import orjson
import pytest
from allure_commons import plugin_manager
from allure_commons.logger import AllureFileLogger
from allure_commons.model2 import (
    Attachment,
    Label,
    Parameter,
    Status,
    StatusDetails,
    TestResult,
    TestStepResult,
)
from allure_pytest.listener import AllureListener
from allure_pytest.utils import allure_full_name, get_history_id

from flowtest import __version__
from flowtest.client import Exchange
from flowtest.errors import ReportedFailure
from flowtest.redact import Redactor
from flowtest.reporting.transcript import transcript_fragment
from flowtest.reporting.writer import BackgroundWriter
from flowtest.scenario.model import Case
from flowtest.session import RunSession
from flowtest.trace import Outcome, Result, StepRecord, Trace

_NO_SECRETS = Redactor()
_STATUS = {
    Outcome.PASSED: "passed",
    Outcome.FAILED: "failed",
    Outcome.BROKEN: "broken",
    Outcome.SKIPPED: "skipped",
}
# allure-pytest's labels that say nothing to a conversation designer.
NOISE_LABELS = frozenset({"host", "thread", "language", "framework", "package"})
# The label that names a failure's category; allurerc.mjs sorts failures into categories by it.
CATEGORY_LABEL = "failure"
LISTENER = "allure_listener"  # allure-pytest's own name: either listener is found the same way
Wrapper = Generator[None, Any, None]


class ScenarioListener(AllureListener):  # type: ignore[misc]
    """allure-pytest's listener for scenario items only: other tests of the run stay out of the report.

    Also gives each result what a designer reads: the failure in the designer's words, no noise
    labels, the category as a label, an expected failure as a known issue.
    """

    def __init__(self, config: pytest.Config, is_scenario: Callable[[pytest.Item], bool]) -> None:
        super().__init__(config)
        self._is_scenario = is_scenario
        self._nodeids: set[str] = set()

    def _mine(self, item: pytest.Item) -> bool:
        if self._is_scenario(item):
            self._nodeids.add(item.nodeid)
            return True
        return False

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Wrapper:
        if self._mine(item):
            yield from super().pytest_runtest_protocol(item, nextitem)
        else:
            yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Wrapper:
        if self._mine(item):
            yield from super().pytest_runtest_setup(item)
        else:
            yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Wrapper:
        if self._mine(item):
            yield from super().pytest_runtest_call(item)
        else:
            yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Wrapper:
        if not self._mine(item):
            yield
            return
        yield from super().pytest_runtest_teardown(item)
        test = self.allure_logger.get_test(self._cache.get(item.nodeid))
        if test is not None:
            test.labels = [label for label in test.labels if label.name not in NOISE_LABELS]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Wrapper:
        if not self._mine(item):
            yield
            return
        yield from super().pytest_runtest_makereport(item, call)
        test = self.allure_logger.get_test(self._cache.get(item.nodeid))
        if test is not None and call.excinfo is not None:
            _in_designers_words(test, call.excinfo.value, item.get_closest_marker("xfail"))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> Wrapper:
        if nodeid in self._nodeids:
            yield from super().pytest_runtest_logfinish(nodeid, location)
        else:
            yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Wrapper:
        yield  # scenarios take no fixtures; other tests' fixtures stay out of the report

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_post_finalizer(self, fixturedef: Any) -> Wrapper:
        yield


def _in_designers_words(test: TestResult, error: BaseException, xfail: pytest.Mark | None) -> None:
    """The headline a designer reads: their step's failure, not a Python exception's name."""
    if not isinstance(error, ReportedFailure):
        return
    headline = error.headline
    if error.category is not None:
        test.labels.append(Label(name=CATEGORY_LABEL, value=error.category))
    details = StatusDetails(message=headline, trace=error.details)
    if xfail is not None:
        # pytest counts an expected failure as skipped; Allure 3 shows a failure marked known
        # as a known issue, which is what the scenario's xfail says it is.
        reason = xfail.kwargs.get("reason", "")
        test.status = Status.BROKEN if error.broken else Status.FAILED
        details.known = True
        details.message = f"Known issue: {reason}\n{headline}" if reason else headline
    test.statusDetails = details


def start(
    config: pytest.Config, results: Path | None, is_scenario: Callable[[pytest.Item], bool]
) -> AllureScenarioReporter | None:
    """The reporter for this run: on allure-pytest's listener (--alluredir) or on flowtest's own."""
    listener = config.pluginmanager.get_plugin(LISTENER)
    explicit = getattr(config.option, "allure_report_dir", None)
    if listener is not None and explicit:
        results = Path(explicit)  # allure-pytest's own listener, on the folder --alluredir names
    if listener is None:
        if results is None or config.option.collectonly:
            return None
        listener = ScenarioListener(config, is_scenario)
        # Under pytest-xdist the controller empties the folder once, before the workers run.
        logger = AllureFileLogger(str(results), clean=not hasattr(config, "workerinput"))
        config.pluginmanager.register(listener, LISTENER)
        for plugin in (listener, logger):
            plugin_manager.register(plugin)
            config.add_cleanup(functools.partial(plugin_manager.unregister, plugin))
    return AllureScenarioReporter(listener, results)


def clean(config: pytest.Config, results: Path | None) -> None:
    """Empty the results folder (the xdist controller, before its workers write)."""
    if results is None or config.option.collectonly or config.pluginmanager.get_plugin(LISTENER):
        return
    AllureFileLogger(str(results), clean=True)


class AllureScenarioReporter:
    """Writes one scenario's Allure data into the test result allure-pytest keeps open."""

    def __init__(self, listener: Any, results: Path | None) -> None:
        self.listener = listener
        self.results = results
        self.writer = BackgroundWriter(_report_attached_data)

    def _current(self) -> TestResult | None:
        result: TestResult | None = self.listener.allure_logger.get_test(None)
        return result

    def report(self, item: pytest.Item, case: Case, result: Result, redactor: Redactor = _NO_SECRETS) -> None:
        test = self._current()
        if test is None:
            return
        self._describe(item, case)
        for key, value in redactor.value(dict(case.row)).items():  # a secret column is masked
            text = value if isinstance(value, str) else json.dumps(value)
            test.parameters.append(Parameter(name=str(key), value=text))  # as written, unquoted
        random_pick = case.scenario.utterance_mode == "random"
        for name, phrase in case.phrases.items():
            # A random pick changes from run to run: shown, but kept out of the test's history id.
            test.parameters.append(Parameter(name=f"utterance {name}", value=phrase, excluded=random_pick))
        final = result.final
        test.steps.extend(_steps(final, self._attach))
        # The transcript is the test's description: Allure 3 shows it open, at full height, on the
        # page a designer lands on, not as a collapsed attachment.
        test.descriptionHtml = transcript_fragment(final, case.scenario.description)
        test.attachments.extend(_exchanges(final, self._attach))
        history_id = get_history_id(allure_full_name(item), test.parameters, {})
        for earlier in result.attempts[:-1]:
            plugin_manager.hook.report_result(result=_attempt_result(test, earlier, history_id, self._attach))

    def _attach(self, name: str, data: Any) -> Attachment:
        """A JSON attachment, written by the background writer (see ``flush``)."""
        file_name = f"{uuid.uuid4()}-attachment.json"
        self.writer.submit(_json_bytes(data), file_name)
        return Attachment(name=name, source=file_name, type="application/json")

    def flush(self) -> None:
        """Wait for every attachment handed to the writer; before the results are read."""
        self.writer.close()

    def mark_flaky(self, result: Result) -> None:
        test = self._current()
        if test is not None and result.flaky:
            message = f"flaky: passed on attempt {len(result.attempts)}"
            test.statusDetails = StatusDetails(flaky=True, message=message)

    def _describe(self, item: pytest.Item, case: Case) -> None:
        title = case.scenario.name if case.row_id is None else f"{case.scenario.name} [{case.row_id}]"
        allure.dynamic.title(title)

    def finish(self, session: RunSession, extra: dict[str, str]) -> None:
        """environment.properties beside the results, once the run is over."""
        if self.results is None or not self.results.is_dir():
            return
        settings = session.settings
        base_url = session.redactor.text(session.base_url) if session.base_url else None
        properties = environment_properties(base_url, settings.org, settings.uses_sandbox)
        properties.update(extra)
        lines = [f"{key}={value}" for key, value in properties.items()]
        (self.results / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")


def static_marks(case: Case) -> list[pytest.MarkDecorator]:
    """Labels, suites, links and description as allure-pytest marks, set at collection.

    As marks they reach the result even when the test never runs (skip).
    """
    scenario = case.scenario
    marks = suite_marks(Path(scenario.path))
    marks.extend(allure.label(name, value) for name, value in scenario.labels.items())
    marks.extend(
        allure.link(link.url, link_type=link.type, name=link.name or link.url) for link in scenario.links
    )
    if scenario.description:
        marks.append(allure.description(scenario.description))
    return marks


def suite_marks(path: Path) -> list[pytest.MarkDecorator]:
    """The report's tree: the scenario file's folder, then its name."""
    return [allure.parent_suite(path.parent.name or "."), allure.suite(path.name.split(".")[0])]


Attach = Callable[[str, Any], Attachment]


def _attempt_result(final: TestResult, trace: Trace, history_id: str, attach: Attach) -> TestResult:
    """An earlier failed attempt, written as its own result: Allure shows it as a retry."""
    failed = trace.failed_step
    message = failed.failure.message if failed is not None and failed.failure is not None else None
    start = int(trace.steps[0].started_at * 1000) if trace.steps else None
    stop = int((trace.steps[-1].started_at + trace.steps[-1].duration) * 1000) if trace.steps else None
    return TestResult(
        name=final.name,
        fullName=final.fullName,
        uuid=str(uuid.uuid4()),
        historyId=history_id,
        testCaseId=final.testCaseId,
        status=_STATUS[trace.outcome],
        statusDetails=StatusDetails(message=message),
        steps=list(_steps(trace, attach)),
        attachments=_exchanges(trace, attach),
        parameters=[Parameter(name=p.name, value=p.value) for p in final.parameters],
        labels=list(final.labels),
        start=start,
        stop=stop,
    )


def _steps(trace: Trace, attach: Attach) -> Iterator[TestStepResult]:
    for record in trace.steps:
        yield _step(record, attach)


def _step(record: StepRecord, attach: Attach) -> TestStepResult:
    details = None
    if record.failure is not None:
        parts = [f"[{record.failure.category.value}] {record.failure.message}"]
        if record.failure.expected is not None:
            parts.append(f"expected: {record.failure.expected}")
        if record.failure.actual is not None:
            parts.append(f"actual: {record.failure.actual}")
        details = StatusDetails(message="\n".join(parts))
    return TestStepResult(
        name=record.title,
        status=_STATUS[record.outcome],
        statusDetails=details,
        start=int(record.started_at * 1000),
        stop=int((record.started_at + record.duration) * 1000),
        attachments=_failed_step_exchanges(record, attach),
    )


def _exchanges(trace: Trace, attach: Attach) -> list[Attachment]:
    """Every API call of the conversation, in order, in one attachment.

    One file per conversation rather than two per call: creating files is what the
    results cost (16 per five-turn conversation made a run with Allure 2-4x slower).
    """
    calls = [
        {"step": record.title, "request": request, "response": response}
        for record in trace.steps
        for request, response in map(_exchange, record.exchanges)
    ]
    return [attach("exchanges", calls)] if calls else []


def _failed_step_exchanges(record: StepRecord, attach: Attach) -> list[Attachment]:
    """The failing step's own calls, beside its failure, where a designer looks first."""
    if record.failure is None:
        return []
    attachments = []
    for exchange in record.exchanges:
        request, response = _exchange(exchange)
        short = exchange.url.split("/cgw/process/v1", 1)[-1]
        attachments.append(attach(f"{exchange.method} {short} request", request))
        attachments.append(attach(f"{exchange.status or 'no answer'} response", response))
    return attachments


def _exchange(exchange: Exchange) -> tuple[dict[str, Any], dict[str, Any]]:
    request = {
        "method": exchange.method,
        "url": exchange.url,
        "headers": dict(exchange.request_headers),
        "body": exchange.request_json,
    }
    response = {
        "status": exchange.status,
        "duration_ms": round(exchange.duration * 1000, 1),
        "body": exchange.response_json,
        "error": exchange.error,
    }
    return request, response


def _json_bytes(data: Any) -> bytes:
    """Indented UTF-8 JSON; orjson is several times faster than json and this runs per exchange."""
    try:
        return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str)
    except (orjson.JSONEncodeError, TypeError):  # an integer beyond 64 bits, say
        return json.dumps(data, indent=2, ensure_ascii=False, default=str).encode()


def _report_attached_data(body: bytes, file_name: str) -> None:
    plugin_manager.hook.report_attached_data(body=body, file_name=file_name)


def environment_properties(base_url: str | None, org: str, sandbox: bool) -> dict[str, str]:
    return {
        "flowtest": __version__,
        "python": platform.python_version(),
        "target": "sandbox" if sandbox else "live",
        "base_url": base_url or "embedded sandbox",
        "org": org,
    }
