"""Allure results from the trace: labels, one step per conversation step, attachments, retries.

Imported only once scenarios are collected. flowtest writes each scenario's result itself,
in Allure's result format, as a plain dict built from the case, the item's marks and the
trace: steps carry their recorded timings (the conversation may have run before the pytest
item, see concurrency). orjson makes them JSON, and the writer reuses the last run's files
for them. allure-pytest's listener and file logger are not on this path: their hook
wrappers around every phase, attrs models and pure-Python indented JSON cost more than the
conversations did. The labels, links, tags, suites and history id
are computed with allure-pytest's own functions, so results match what it would write.

Results go to the folder flowtest owns (emptied first; Allure's history file keeps the
trend), or with ``--alluredir`` to that folder, where allure-pytest keeps reporting every
other test of the run.
"""

from __future__ import annotations

import functools
import itertools
import platform
import shutil
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import allure
import pytest
from allure_commons.utils import md5
from allure_pytest.utils import (
    allure_description,
    allure_full_name,
    allure_labels,
    allure_links,
    allure_suite_labels,
    allure_title_path,
    pytest_markers,
)

from flowtest import __version__
from flowtest.client import Exchange
from flowtest.contract import API_BASE
from flowtest.errors import ReportedFailure
from flowtest.redact import MASK, Redactor
from flowtest.reporting import results_folder
from flowtest.reporting.failure import passes_now
from flowtest.reporting.transcript import result_fragment
from flowtest.reporting.writer import ReportWriter, set_aside, stranger
from flowtest.scenario.model import Case
from flowtest.session import ConversationPool
from flowtest.templating import as_text, references
from flowtest.trace import Outcome, Result, StepRecord, Trace

_STATUS = {
    Outcome.PASSED: "passed",
    Outcome.FAILED: "failed",
    Outcome.BROKEN: "broken",
    Outcome.SKIPPED: "skipped",
}
# The label that names a failure's category; allurerc.mjs sorts failures into categories by it.
CATEGORY_LABEL = "failure"
KNOWN_ISSUE_CATEGORY = "known issue"  # an xfail scenario that failed, as it was expected to
LISTENER = "allure_listener"  # allure-pytest's name for its listener, registered with --alluredir
Json = dict[str, Any]
Wrapper = Generator[None, Any, None]


def register(config: pytest.Config, results: Path | None, redactor: Redactor, controller: bool) -> None:
    """Allure for this run, as a plugin on flowtest's hooks (the xdist controller only empties
    the folder, once, before its workers write to it)."""
    if controller:
        clean(config, results)
    else:
        config.pluginmanager.register(AllureRun(results, redactor), "flowtest-allure-run")


class AllureRun:
    """Allure's marks at collection, then, once scenarios were collected, the results reporter."""

    def __init__(self, results: Path | None, redactor: Redactor) -> None:
        self.results, self.redactor = results, redactor
        self.reporter: AllureScenarioReporter | None = None
        self.random_phrases = False  # a case ran with utterances: random: the seed goes in the report

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        """Labels, suites and links as allure-pytest marks: they select tests (--allure-features)
        and reach the result even when the test never runs (skip)."""
        from flowtest.plugin.items import InvalidScenarioItem, ScenarioItem

        if isinstance(item, ScenarioItem):
            marks = static_marks(item.case)
        elif isinstance(item, InvalidScenarioItem):
            marks = suite_marks(Path(item.invalid.location.path))
        else:
            return
        for mark in marks:
            item.add_marker(mark)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        from flowtest.plugin.items import is_scenario

        if self.reporter is None and any(is_scenario(item) for item in items):
            self.reporter = start(config, self.results, is_scenario, self.redactor)

    def pytest_flowtest_conversation(self, item: pytest.Item, case: Case, result: Result) -> None:
        if self.reporter is not None:
            self.reporter.report(item, case, result)
        self.random_phrases = self.random_phrases or (
            bool(case.phrases) and case.scenario.utterance_mode == "random"
        )

    def pytest_flowtest_run_finished(self, config: pytest.Config, pool: ConversationPool) -> None:
        if self.reporter is None:
            return
        from flowtest.plugin.state import STATE

        self.reporter.flush()
        extra = {"utterance seed": str(config.stash[STATE].seed)} if self.random_phrases else {}
        self.reporter.finish(pool, extra)


def start(
    config: pytest.Config,
    results: Path | None,
    is_scenario: Callable[[pytest.Item], bool],
    redactor: Redactor,
) -> AllureScenarioReporter | None:
    """The reporter for this run, registered as a plugin: on flowtest's folder or on --alluredir's."""
    if config.option.collectonly:
        return None
    listener = config.pluginmanager.get_plugin(LISTENER)
    explicit = getattr(config.option, "allure_report_dir", None)
    reuse = None
    worker = hasattr(config, "workerinput")  # under pytest-xdist the controller claims and empties it, once
    if listener is not None and explicit:
        results = Path(explicit).absolute()
        config.pluginmanager.unregister(listener)
        config.pluginmanager.register(OtherTestsListener(listener, is_scenario), LISTENER)
    elif results is None:
        return None
    elif not worker:
        _refuse_a_folder_not_its_own(results)
    held = None if worker else results_folder.lock(results)
    if not worker and not explicit:
        reuse = set_aside(results)
    results_folder.make_folder(results)
    reporter = AllureScenarioReporter(results, is_scenario, redactor, reuse)
    config.pluginmanager.register(reporter, "flowtest-allure")
    watch = results_folder.ResultsWatch(results, reporter.writer, held)
    config.pluginmanager.register(watch, "flowtest-allure-results")
    return reporter


def clean(config: pytest.Config, results: Path | None) -> None:
    """Claim and empty the results folder (the xdist controller, before its workers write)."""
    if results is None or config.option.collectonly or config.pluginmanager.get_plugin(LISTENER):
        return
    _refuse_a_folder_not_its_own(results)
    held = results_folder.lock(results)
    _empty(results)
    results_folder.make_folder(results)
    config.pluginmanager.register(results_folder.ResultsWatch(results, None, held), "flowtest-allure-results")


def _refuse_a_folder_not_its_own(results: Path) -> None:
    """Emptying the results folder deletes what is in it: never the project, its scenarios
    or its report, when allure_results names one of them; never a file or what a link names."""
    results_folder.check_path(results)
    name = stranger(results)
    if name is not None:
        raise pytest.UsageError(
            f"flowtest: the Allure results folder {results} holds {name}, which is not an Allure "
            "result; flowtest empties that folder before each run, so it is left alone: "
            + results_folder.SETTING
        )


def _empty(results: Path) -> None:
    """A fixed scenario must not still be shown broken by the last run's file."""
    shutil.rmtree(results, ignore_errors=True)


class OtherTestsListener:
    """allure-pytest's own listener, handed every test of the run but the scenarios (flowtest's).

    It stays registered with allure-commons as it is, so ``allure.step`` and attachments in
    those tests reach it as usual; only its pytest hooks pass through here.
    """

    def __init__(self, listener: Any, is_scenario: Callable[[pytest.Item], bool]) -> None:
        self._listener = listener
        self._is_scenario = is_scenario

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Wrapper:
        if self._is_scenario(item):
            yield
        else:
            yield from self._listener.pytest_runtest_protocol(item, nextitem)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Wrapper:
        if self._is_scenario(item):
            yield
        else:
            yield from self._listener.pytest_runtest_setup(item)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Wrapper:
        if self._is_scenario(item):
            yield
        else:
            yield from self._listener.pytest_runtest_call(item)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Wrapper:
        if self._is_scenario(item):
            yield
        else:
            yield from self._listener.pytest_runtest_teardown(item)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Wrapper:
        if self._is_scenario(item):
            yield
        else:
            yield from self._listener.pytest_runtest_makereport(item, call)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> Wrapper:
        yield from self._listener.pytest_runtest_logfinish(nodeid, location)  # a no-op for scenarios

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Wrapper:
        yield from self._listener.pytest_fixture_setup(fixturedef, request)  # scenarios take no fixtures

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_post_finalizer(self, fixturedef: Any) -> Wrapper:
        yield from self._listener.pytest_fixture_post_finalizer(fixturedef)


@dataclass
class _Open:
    """A scenario item's result while pytest runs its phases."""

    status: str = "skipped"
    details: Json | None = None
    category: str | None = None
    start: int = 0
    stop: int = 0
    conversation: Json = field(default_factory=dict)


class AllureScenarioReporter:
    """Writes one Allure result per scenario item, and one per earlier attempt of a retried one."""

    def __init__(
        self,
        results: Path,
        is_scenario: Callable[[pytest.Item], bool],
        redactor: Redactor,
        reuse: Path | None = None,
    ) -> None:
        self.results = results
        self.writer = ReportWriter(results, reuse)
        self._is_scenario = is_scenario
        self._redactor = redactor
        self._open: dict[str, _Open] = {}
        # One random UUID per run, then a counter in its last group: unique ids in UUID form
        # for every file, without a system call and a UUID object each (three per conversation).
        self._prefix = str(uuid.uuid4())[:24]
        self._counter = itertools.count()

    def _new_id(self) -> str:
        return f"{self._prefix}{next(self._counter):012x}"

    def report(self, item: pytest.Item, case: Case, result: Result) -> None:
        """The conversation's part of the item's result; called by the item with its trace."""
        final = result.final
        conversation: Json = {
            # The transcript is the test's description: Allure 3 shows it open, at full height,
            # on the page a designer lands on, not as a collapsed attachment.
            "descriptionHtml": result_fragment(result, case.scenario.description, case.scenario.xfail),
            "steps": [_step(record, self._attach) for record in final.steps],
            "attachments": _exchanges(final, self._attach),
            **_span(final),
        }
        if result.runs:
            # repeat: every run is a step of its own (not an Allure retry: a run is not a flaky attempt).
            runs = enumerate(result.runs, 1)
            conversation["steps"] = [_run_step(number, run, self._attach) for number, run in runs]
            conversation["attachments"] = [
                a for run in result.runs for a in _exchanges(run.final, self._attach)
            ]
            if result.outcome is Outcome.PASSED:  # a failure's details say the rate already
                conversation["statusDetails"] = {"message": result.rate}
        if result.flaky:
            message = f"flaky: passed on attempt {len(result.attempts)}"
            conversation["statusDetails"] = {"flaky": True, "message": message}
        self._open.setdefault(item.nodeid, _Open()).conversation = conversation
        for earlier in () if result.runs else result.attempts[:-1]:
            self._write_attempt(item, earlier)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if self._is_scenario(item):
            self._phase(item, call, report)
        return report

    def _phase(self, item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport) -> None:
        """allure-pytest's rules: setup decides, then the call if setup passed, then a failed teardown."""
        state = self._open.setdefault(item.nodeid, _Open())
        if report.when != "teardown":
            state.start, state.stop = _ms(call.start), _ms(call.stop)
        status, details = _phase_outcome(call, report)
        failed_teardown = report.when == "teardown" and status in ("failed", "broken")
        if report.when == "setup" or (
            state.status == "passed" and (report.when == "call" or failed_teardown)
        ):
            state.status, state.details = status, details
            if call.excinfo is not None and isinstance(call.excinfo.value, ReportedFailure):
                _in_designers_words(state, call.excinfo.value, item.get_closest_marker("xfail"))
        if report.when == "teardown":
            del self._open[item.nodeid]
            self._write(item, state)

    def _write(self, item: pytest.Item, state: _Open) -> None:
        conversation = state.conversation
        test = self._identity(item, state.category)
        test.update(
            status=state.status,
            statusDetails=conversation.get("statusDetails", state.details),
            descriptionHtml=conversation.get("descriptionHtml"),
            steps=conversation.get("steps"),
            attachments=conversation.get("attachments"),
            start=conversation.get("start", state.start),
            stop=conversation.get("stop", state.stop),
        )
        self._write_result(test)

    def _write_attempt(self, item: pytest.Item, trace: Trace) -> None:
        """An earlier failed attempt, written as its own result: Allure shows it as a retry."""
        failed = trace.failed_step
        failure = failed.failure if failed is not None else None
        test = self._identity(item, failure.category.value if failure is not None else None)
        test.update(
            status=_STATUS[trace.outcome],
            statusDetails={"message": failure.message} if failure is not None else None,
            steps=[_step(record, self._attach) for record in trace.steps],
            attachments=_exchanges(trace, self._attach),
            **_span(trace),
        )
        self._write_result(test)

    def _identity(self, item: pytest.Item, category: str | None) -> Json:
        """What every result of the item shares: names, history id, labels, links, parameters."""
        case = getattr(item, "case", None)
        parameters = _parameters(case, self._redactor) if isinstance(case, Case) else []
        full_name = allure_full_name(item)
        kept = sorted((p for p in parameters if not p.get("excluded")), key=lambda p: str(p["name"]))
        return {
            "name": _title(case) if isinstance(case, Case) else item.name,
            "description": allure_description(item),
            "parameters": parameters,
            "uuid": self._new_id(),
            # allure-pytest's history id: the same test keeps its trend across runs and tools.
            "historyId": md5(full_name, *(p["value"] for p in kept)),
            "testCaseId": md5(full_name),
            "fullName": full_name,
            "labels": _labels(item, category),
            "links": [{"type": kind, "url": url, "name": name} for kind, url, name in allure_links(item)],
            "titlePath": allure_title_path(item),
        }

    def _write_result(self, test: Json) -> None:
        # Empty fields are left out, as allure-commons does.
        compact = {key: value for key, value in test.items() if value or value is False}
        self.writer.write(compact, f"{compact['uuid']}-result.json")

    def _attach(self, name: str, data: Any) -> Json:
        file_name = f"{self._new_id()}-attachment.json"
        self.writer.write(data, file_name, indent=True)
        return {"name": name, "source": file_name, "type": "application/json"}

    def flush(self) -> None:
        """Delete the last run's files that were not reused; before the results are read."""
        self.writer.close()

    def finish(self, pool: ConversationPool, extra: dict[str, str]) -> None:
        """environment.properties beside the results, once the run is over."""
        if not self.results.is_dir():
            return
        settings = pool.settings
        base_url = pool.redactor.text(pool.base_url) if pool.base_url else None
        properties = environment_properties(base_url, settings.org, settings.uses_sandbox)
        properties.update(extra)
        lines = [f"{key}={value}" for key, value in properties.items()]
        (self.results / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _phase_outcome(call: pytest.CallInfo[None], report: pytest.TestReport) -> tuple[str, Json | None]:
    """A phase's status and details, as allure-pytest reads them from pytest's report."""
    status: str = report.outcome
    details: Json | None = None
    xfail = getattr(report, "wasxfail", None)
    if call.excinfo is not None:
        details = {"message": call.excinfo.exconly(), "trace": report.longreprtext}
        error = call.excinfo.value
        if xfail is not None:
            status, details = _known_issue(xfail, details["message"])
            details["trace"] = report.longreprtext
        elif status != "skipped" and not isinstance(error, (AssertionError, pytest.fail.Exception)):
            status = "broken"
    if status == "passed" and xfail is not None:
        details = {"message": passes_now(xfail)}
    return status, details


def _in_designers_words(state: _Open, error: ReportedFailure, xfail: pytest.Mark | None) -> None:
    """The headline a designer reads: their step's failure, not a Python exception's name."""
    state.category = error.category
    state.details = {"message": error.headline, "trace": error.details}
    if xfail is not None:
        state.category = KNOWN_ISSUE_CATEGORY
        state.status, state.details = _known_issue(xfail.kwargs.get("reason", ""), error.headline)
        state.details["trace"] = error.details


def _known_issue(reason: str, headline: str) -> tuple[str, Json]:
    """An expected failure (xfail): skipped, as pytest counts it, and flagged known.

    Allure counts results by status alone: a known issue written as failed is counted
    Failed and drawn red beside the real failures. Skipped keeps the report's counts the
    terminal's (it never counts an xfailed test as failed); the known flag shows it as
    a known issue on its page, and its failure label sorts it under "Known issues".
    """
    message = f"Known issue: {reason}\n{headline}" if reason else f"Known issue\n{headline}"
    return "skipped", {"known": True, "message": message}


def _title(case: Case) -> str:
    return case.scenario.name if case.row_id is None else f"{case.scenario.name} [{case.row_id}]"


def _parameters(case: Case, redactor: Redactor) -> list[Json]:
    # A secret column (named as a secret variable, or bound into one) is masked, and so is its
    # value wherever else it shows (another column, a phrase), and the API key in a phrase.
    secret = _secret_columns(case, redactor.secret_keys)
    row = dict(case.row)
    redactor = redactor.with_values(as_text(row[column]) for column in secret)
    parameters: list[Json] = [
        # As written, unquoted.
        {"name": str(key), "value": MASK if key in secret else redactor.text(as_text(value))}
        for key, value in redactor.value(row).items()
    ]
    # A random pick changes from run to run: shown, but kept out of the test's history id.
    random_pick = case.scenario.utterance_mode == "random"
    parameters.extend(
        {"name": f"utterance {name}", "value": redactor.text(phrase), "excluded": random_pick}
        for name, phrase in case.phrases.items()
    )
    return parameters


def _secret_columns(case: Case, secret_keys: frozenset[str]) -> frozenset[str]:
    """The row's columns whose values become secret: named as a secret variable, or written
    (``${column}``) into the value of one in ``start:``."""
    bound = {
        reference.partition(".")[0]
        for template in _under_secret_keys(
            [case.scenario.start_variables, case.scenario.start_metadata], secret_keys
        )
        for reference in references(template)
    }
    return frozenset(column for column in case.row if column in secret_keys or column in bound)


def _under_secret_keys(value: Any, secret_keys: frozenset[str], secret: bool = False) -> Iterator[str]:
    """Every string in ``value`` held, at any depth, under a key named as a secret variable."""
    if isinstance(value, str):
        if secret:
            yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _under_secret_keys(item, secret_keys, secret or key in secret_keys)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _under_secret_keys(item, secret_keys, secret)


def _labels(item: pytest.Item, category: str | None) -> list[Json]:
    """The item's Allure marks, its tags and suites, and the failure's category.

    allure-pytest's host, thread, language, framework and package labels say nothing to a
    conversation designer and are left out.
    """
    labels = [{"name": CATEGORY_LABEL, "value": category}] if category else []
    labels.extend({"name": name, "value": value} for name, value in sorted(allure_labels(item)))
    labels.extend({"name": "tag", "value": tag} for tag in pytest_markers(item))
    labels.extend({"name": name, "value": value} for name, value in allure_suite_labels(item))
    return labels


def static_marks(case: Case) -> list[pytest.MarkDecorator]:
    """Labels, suites, links and description as allure-pytest marks, set at collection.

    As marks they select tests (``--allure-features``) and reach the result even when the
    test never runs (skip).
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
    return [_parent_suite(path.parent.name or "."), _suite(path.name.split(".")[0])]


# Every item of a folder (or a file) gets the same mark: made once, not per item (each
# allure mark costs 6 us, 0.13 s of collecting 10,000 scenarios). Marks are immutable.
_parent_suite = functools.lru_cache(maxsize=4096)(allure.parent_suite)
_suite = functools.lru_cache(maxsize=4096)(allure.suite)


Attach = Callable[[str, Any], Json]


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _span(trace: Trace) -> Json:
    """When the conversation really ran, which may be long before its item reported."""
    if not trace.steps:
        return {}
    last = trace.steps[-1]
    return {
        "start": int(trace.steps[0].started_at * 1000),
        "stop": int((last.started_at + last.duration) * 1000),
    }


def _numbered(where: str | None) -> bool:
    """A step of the file's lists ("step 3", "goal step 1"), not a caller's turn."""
    return where is not None and where.rsplit(" ", 1)[-1].isdigit()


def _step(record: StepRecord, attach: Attach) -> Json:
    step: Json = {
        # "step 3, bot: ...": the report numbers its steps from Start Session; failures count the file's
        "name": f"{record.where}, {record.title}" if _numbered(record.where) else record.title,
        "status": _STATUS[record.outcome],
        "start": int(record.started_at * 1000),
        "stop": int((record.started_at + record.duration) * 1000),
    }
    if record.failure is not None:
        parts = [f"[{record.failure.category.value}] {record.failure.message}"]
        if record.failure.expected is not None:
            parts.append(f"expected: {record.failure.expected}")
        if record.failure.actual is not None:
            parts.append(f"actual: {record.failure.actual}")
        step["statusDetails"] = {"message": "\n".join(parts)}
        attachments = _failed_step_exchanges(record, attach)
        if attachments:
            step["attachments"] = attachments
    return step


def _run_step(number: int, run: Result, attach: Attach) -> Json:
    """One run of a repeated case, its steps inside."""
    trace = run.final
    attempts = f", {len(run.attempts)} attempts" if len(run.attempts) > 1 else ""
    return {
        "name": f"run {number}: {trace.outcome.value} (session {trace.session_id or 'none'}{attempts})",
        "status": _STATUS[trace.outcome],
        "steps": [_step(record, attach) for record in trace.steps],
        **_span(trace),
    }


def _exchanges(trace: Trace, attach: Attach) -> list[Json]:
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


def _failed_step_exchanges(record: StepRecord, attach: Attach) -> list[Json]:
    """The failing step's own calls, beside its failure, where a designer looks first."""
    attachments = []
    for exchange in record.exchanges:
        request, response = _exchange(exchange)
        short = exchange.url.split(API_BASE, 1)[-1]
        attachments.append(attach(f"{exchange.method} {short} request", request))
        attachments.append(attach(f"{exchange.status or 'no answer'} response", response))
    return attachments


def _exchange(exchange: Exchange) -> tuple[Json, Json]:
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


def environment_properties(base_url: str | None, org: str, sandbox: bool) -> dict[str, str]:
    return {
        "flowtest": __version__,
        "python": platform.python_version(),
        "target": "sandbox" if sandbox else "live",
        "base_url": base_url or "embedded sandbox",
        "org": org,
    }
