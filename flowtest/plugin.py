"""The pytest plugin: collects ``*.scenario.yaml`` files; each scenario (per example row) is a test.

A thin layer: loading is the scenario loader's, running is the runner's, the failure
text is the reporter's. Registered through the ``pytest11`` entry point.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import secrets
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowtest import xdist_queue
from flowtest.config import FIELD_NAMES, Settings, read_pyproject, resolve
from flowtest.errors import ConfigError, FlowtestError
from flowtest.reporting.failure import failure_text
from flowtest.runner import internal_error
from flowtest.scenario.loader import BrokenDocument, ScenarioLoader, is_scenario_file
from flowtest.scenario.model import Case, cases_of
from flowtest.session import RunSession
from flowtest.trace import Category, Outcome, Result

try:  # Allure is optional: flowtest[allure]
    from flowtest.reporting import allure as allure_report
except ImportError:  # pragma: no cover
    allure_report = None  # type: ignore[assignment]

RUN_SESSION = pytest.StashKey[RunSession]()
SETTINGS_ERROR = pytest.StashKey[ConfigError]()
LOADER = pytest.StashKey[ScenarioLoader]()
RESULT = pytest.StashKey[Result]()
SEED = pytest.StashKey[int]()
ALLURE = pytest.StashKey["allure_report.AllureScenarioReporter | None"]()

_OPTIONS = {
    "base_url": "base URL of the API (default: start the embedded sandbox)",
    "org": "organization id (default demo)",
    "timeout": "per-request timeout, e.g. 10s (default 30s)",
    "auth_header": "header that carries the API key (default Authorization)",
    "auth_scheme": "scheme before the key (default Bearer; empty for none)",
    "sandbox_flows": "flows folder for the embedded sandbox (default scenarios/flows)",
    "secret_variables": "comma-separated variable names masked in every report",
    "concurrency": "conversations run at once (default 1)",
    "rate_limit": "at most this many requests per second to the API, e.g. 20 (default: no cap)",
    "allure_results": "Allure results folder (default reports/allure-results; --alluredir wins)",
    "text_match": "how bot steps compare texts: exact (default), ignore_case or loose",
    "utterances": "user: {utterance: NAME}: all (one test per phrase, default), first or random",
    "seed": "seed for utterances: random (default: a new one each run, printed; give it to replay)",
}


class FlowtestWarning(UserWarning):
    """A problem that does not change a test's outcome: a failed End Session, a flaky pass."""


def _headline(result: Result) -> str:
    failed = result.final.failed_step
    if failed is None or failed.failure is None:
        return result.final.case_name
    return f"[{failed.failure.category.value}] {failed.failure.message}"


class ScenarioFailed(AssertionError):
    """The flow did not behave as the scenario says (Allure: failed)."""

    def __init__(self, result: Result) -> None:
        super().__init__(_headline(result))
        self.result = result


class ScenarioBroken(Exception):
    """The run could not check the flow: API or transport error, missing variable (Allure: broken)."""

    def __init__(self, result: Result) -> None:
        super().__init__(_headline(result))
        self.result = result


class BrokenScenario(Exception):
    def __init__(self, broken: BrokenDocument) -> None:
        self.errors = tuple(str(error) for error in broken.errors)
        super().__init__(f"[{Category.SCENARIO.value}] " + "; ".join(self.errors))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flowtest", "flowtest: conversation scenarios")
    for key, help_text in _OPTIONS.items():
        group.addoption(
            f"--flowtest-{key.replace('_', '-')}", dest=f"flowtest_{key}", default=None, help=help_text
        )
    for name in FIELD_NAMES:
        group.addoption(
            f"--flowtest-field-{name.replace('_', '-')}",
            dest=f"flowtest_field_{name}",
            default=None,
            help=f"JSONPath of the response's {name.replace('_', ' ')}",
        )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    root = Path(config.rootpath)
    options = {key: config.getoption(f"flowtest_{key}") for key in _OPTIONS}
    options.update({f"field_{n}": config.getoption(f"flowtest_field_{n}") for n in FIELD_NAMES})
    try:
        settings = resolve(options, os.environ, read_pyproject(root), root)
    except ConfigError as exc:
        config.stash[SETTINGS_ERROR] = exc
        settings = Settings()
    config.stash[LOADER] = ScenarioLoader(root, settings.utterances, settings.text_match)
    config.stash[SEED] = _seed(config, settings)
    config.stash[RUN_SESSION] = RunSession(settings, dict(os.environ))
    _default_allure_dir(config, settings)


def _seed(config: pytest.Config, settings: Settings) -> int:
    """--flowtest-seed, else the controller's (under xdist), else a new one."""
    worker_seed = getattr(config, "workerinput", {}).get("flowtest_seed")
    if settings.seed is not None:
        return settings.seed
    return int(worker_seed) if worker_seed is not None else secrets.randbelow(10**6)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker picks the same random phrases as the run's printed seed says."""
    node.workerinput["flowtest_seed"] = node.config.stash[SEED]


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> str | None:
    if not any(_uses_random(item) for item in items):
        return None
    seed = config.stash[SEED]
    return f"flowtest: utterances: random, seed {seed} (replay with --flowtest-seed {seed})"


def _uses_random(item: pytest.Item) -> bool:
    return (
        isinstance(item, ScenarioItem)
        and bool(item.case.phrases)
        and item.case.scenario.utterance_mode == "random"
    )


def _default_allure_dir(config: pytest.Config, settings: Settings) -> None:
    """allure-pytest writes to reports/allure-results unless --alluredir says otherwise."""
    has_allure = hasattr(config.option, "allure_report_dir")
    if has_allure and not config.option.allure_report_dir and settings.allure_results is not None:
        config.option.allure_report_dir = str(settings.allure_results)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    reporter = config.stash.get(ALLURE, None)
    if reporter is not None:
        reporter.flush()
    results = getattr(config.option, "allure_report_dir", None)
    if not results or hasattr(config, "workerinput") or RUN_SESSION not in config.stash:
        return
    if not any(isinstance(item, (ScenarioItem, BrokenScenarioItem)) for item in session.items):
        return
    run = config.stash[RUN_SESSION]
    base_url = run.redactor.text(run.base_url) if run.base_url else None
    properties = allure_report.environment_properties(base_url, run.settings.org, run.settings.uses_sandbox)
    if any(_uses_random(item) for item in session.items):
        properties["utterance seed"] = str(config.stash[SEED])
    allure_report.write_run_files(Path(results), properties)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Iterator[None]:
    """With --flowtest-concurrency above 1, start the selected conversations ahead of their items."""
    if session.config.option.collectonly or RUN_SESSION not in session.config.stash:
        return (yield)
    run = session.config.stash[RUN_SESSION]
    if run.settings.concurrency <= 1:
        return (yield)
    _start_ahead(session, run)
    with _young_collections_less_often():
        return (yield)


def _start_ahead(session: pytest.Session, run: RunSession) -> None:
    runnable = {
        index: (item.nodeid, item.case)
        for index, item in enumerate(session.items)
        if isinstance(item, ScenarioItem) and item.get_closest_marker("skip") is None
    }
    try:
        if not hasattr(session.config, "workerinput"):
            run.prefetch(list(runnable.values()))
            return
        queued = xdist_queue.reader(session.config)
        if queued is not None:  # an xdist worker: follow what it is handed
            run.follow(lambda: [runnable[index] for index in queued() if index in runnable])
    except FlowtestError:
        return  # each item reports the same error when it asks for its result


@contextlib.contextmanager
def _young_collections_less_often() -> Iterator[None]:
    """The cyclic GC's youngest generation collected every 10,000 allocations, not every 700.

    With thousands of conversations in flight, their state lives long enough to be
    promoted, and Python 3.11's collections then walk it over and over: at 3000
    conversations the GC took 40% of the run's CPU (18 s; 8 s with this and the
    clients' first attempt outside tenacity). Memory stays the same: the conversations
    make few reference cycles, and those are still collected.
    """
    previous = gc.get_threshold()
    gc.set_threshold(10_000, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def pytest_runtest_teardown(item: pytest.Item) -> None:
    result = item.stash.get(RESULT, None)
    reporter = _allure(item.config)
    if result is not None and reporter is not None:
        reporter.mark_flaky(result)
    if result is not None:
        # Reported: keeping every trace to the end made memory (and GC) grow with the run.
        del item.stash[RESULT]


def _allure(config: pytest.Config) -> allure_report.AllureScenarioReporter | None:
    """The Allure reporter when allure-pytest is writing results in this run, else None."""
    if allure_report is None:
        return None
    if ALLURE not in config.stash:
        reporter = allure_report.AllureScenarioReporter(config)
        config.stash[ALLURE] = reporter if reporter.active else None
    return config.stash[ALLURE]


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(RUN_SESSION, None)
    if session is not None:
        session.close()


def pytest_report_header(config: pytest.Config) -> str | None:
    session = config.stash.get(RUN_SESSION, None)
    if session is None:
        return None
    settings = session.settings
    target = f"embedded sandbox ({settings.sandbox_flows})" if settings.uses_sandbox else settings.base_url
    target = session.redactor.text(str(target))
    seed = config.stash[SEED]
    return f"flowtest: {target}, org {settings.org}, run id {session.run_id}, utterance seed {seed}"


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Iterator[None]:
    """Collect without the cyclic GC, then freeze what was collected.

    Collection allocates many small acyclic objects that live for the whole run;
    full GC passes over them made collecting 10,000 files several times slower.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return (yield)
    finally:
        if was_enabled:
            gc.enable()
        gc.freeze()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_scenario_file(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    scenario_items = [item for item in items if isinstance(item, ScenarioItem)]
    if not scenario_items:
        return
    error = config.stash.get(SETTINGS_ERROR, None)
    if error is not None:
        raise pytest.UsageError(f"flowtest: {error}")
    session = config.stash[RUN_SESSION]
    session.orgs.update(item.case.scenario.org for item in scenario_items if item.case.scenario.org)
    session.watch_stop_signals()
    session.notify = functools.partial(_notify, config)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """The xdist controller collects nothing itself: a worker's scenario items tell it to
    stop on SIGTERM/SIGHUP like on Ctrl-C, so that its workers end their sessions."""
    session = node.config.stash.get(RUN_SESSION, None)
    if session is not None and any(is_scenario_file(Path(i.partition("::")[0])) for i in ids):
        session.watch_stop_signals()


def _notify(config: pytest.Config, message: str) -> None:
    """A line on the terminal now, even while pytest captures the test's output."""
    capture = config.pluginmanager.getplugin("capturemanager")
    context = capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext()
    with context:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        loaded = self.config.stash[LOADER].load_file(self.path)
        for scenario in loaded.scenarios:
            for case in cases_of(scenario, self.config.stash[SEED]):
                yield ScenarioItem.from_parent(self, name=case.name, case=case)
        for broken in loaded.broken:
            name = broken.name or self.path.name
            yield BrokenScenarioItem.from_parent(self, name=f"{name} (broken)", broken=broken)


class ScenarioItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        scenario = case.scenario
        for tag in scenario.tags:
            self.config.addinivalue_line("markers", f"{tag}: scenario tag")
            self.add_marker(tag)
        if scenario.skip is not None:
            self.add_marker(pytest.mark.skip(reason=scenario.skip))
        if allure_report is not None and _allure(self.config) is not None:
            for mark in allure_report.static_marks(case):
                self.add_marker(mark)
        if scenario.xfail is not None:
            self.add_marker(pytest.mark.xfail(reason=scenario.xfail, raises=(ScenarioFailed, ScenarioBroken)))

    def runtest(self) -> None:
        result = self.config.stash[RUN_SESSION].result(self.nodeid, self.case)
        self.stash[RESULT] = result
        reporter = _allure(self.config)
        if reporter is not None:
            reporter.report(self, self.case, result, self.config.stash[RUN_SESSION].redactor)
        for attempt in result.attempts:
            for message in attempt.warnings:
                warnings.warn(FlowtestWarning(message), stacklevel=1)
        if result.flaky:
            self.user_properties.append(("flaky", f"passed on attempt {len(result.attempts)}"))
            failed = len(result.attempts) - 1
            warnings.warn(
                FlowtestWarning(f"{self.case.name}: flaky, passed after {failed} failed attempt(s)"),
                stacklevel=1,
            )
        if result.final.outcome is not Outcome.PASSED:
            self._stop_if_last_failure_allowed()
        if result.final.outcome is Outcome.FAILED:
            raise ScenarioFailed(result)
        if result.final.outcome is not Outcome.PASSED:
            raise ScenarioBroken(result)

    def _stop_if_last_failure_allowed(self) -> None:
        """-x / --maxfail: pytest stops after this failure, so no new conversation may start."""
        maxfail = self.config.option.maxfail
        if maxfail and self.session.testsfailed + 1 >= maxfail and not self.get_closest_marker("xfail"):
            self.config.stash[RUN_SESSION].stop_launching()

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, (ScenarioFailed, ScenarioBroken)):
            return failure_text(excinfo.value.result, verbose=self.config.get_verbosity() > 0)
        if isinstance(excinfo.value, FlowtestError):
            return f"flowtest: {excinfo.value}"
        return _short_failure(self.config, excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.scenario.location.line - 1, self.case.name


def _short_failure(config: pytest.Config, excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """Anything else that stopped a scenario item, in one redacted line: never a traceback,
    whose locals hold the environment, the key and the request bodies."""
    error = excinfo.value
    # pytest.fail() and pytest-timeout say what happened; anything else is a bug of ours.
    message = str(error.msg) if isinstance(error, pytest.fail.Exception) else internal_error(error)
    session = config.stash.get(RUN_SESSION, None)
    return session.redactor.text(message) if session is not None else message


class BrokenScenarioItem(pytest.Item):
    """A document that cannot run: it fails on its own, the other files still run."""

    def __init__(self, *, broken: BrokenDocument, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.broken = broken

    def runtest(self) -> None:
        raise BrokenScenario(self.broken)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, BrokenScenario):
            return "\n".join(excinfo.value.errors)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.broken.location.line - 1, self.name
