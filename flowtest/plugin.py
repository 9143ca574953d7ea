"""The pytest plugin: collects ``*.scenario.yaml`` files; each scenario (per example row) is a test.

A thin layer: loading is the scenario loader's, running is the runner's, the failure
text is the reporter's. Registered through the ``pytest11`` entry point, so it is loaded
into every pytest run where flowtest is installed: until the first scenario file is
collected it imports nothing heavy, writes nothing and changes no global state (a suite
without scenarios runs exactly as without flowtest).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from flowtest.errors import ConfigError, FlowtestError, ReportedFailure
from flowtest.scenario import is_scenario_file

if TYPE_CHECKING:
    from flowtest.errors import Location
    from flowtest.reporting.allure import AllureScenarioReporter
    from flowtest.scenario.loader import BrokenDocument, ScenarioLoader
    from flowtest.scenario.model import Case
    from flowtest.session import RunSession
    from flowtest.trace import Result

RESULT = pytest.StashKey["Result"]()
SEED = pytest.StashKey[int]()

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
# The response fields of config.FIELD_NAMES, named here so that registering the options
# imports nothing; tests/test_plugin_footprint.py checks that the two lists agree.
FIELD_OPTIONS = ("session_id", "status", "messages", "message_text", "variables", "metadata", "transfer")


class FlowtestWarning(UserWarning):
    """A problem that does not change a test's outcome: a failed End Session, a flaky pass."""


class ScenarioFailed(ReportedFailure, AssertionError):
    """The flow did not behave as the scenario says (Allure: failed)."""

    def __init__(self, result: Result) -> None:
        from flowtest.reporting.failure import result_failure

        super().__init__(*result_failure(result), broken=False)
        self.result = result


class ScenarioBroken(ReportedFailure):
    """The run could not check the flow: API or transport error, missing variable (Allure: broken)."""

    def __init__(self, result: Result) -> None:
        from flowtest.reporting.failure import result_failure

        super().__init__(*result_failure(result), broken=True)
        self.result = result


class BrokenScenario(ReportedFailure):
    def __init__(self, broken: BrokenDocument) -> None:
        from flowtest.trace import Category

        self.errors = tuple(str(error) for error in broken.errors)
        text = "\n".join(self.errors)
        super().__init__(text, Category.SCENARIO.value, text, broken=True)


class ScenarioRun:
    """What a run with scenarios needs; made when pytest meets the first scenario file."""

    def __init__(self, config: pytest.Config) -> None:
        from flowtest.config import Settings, read_pyproject, resolve
        from flowtest.scenario.loader import ScenarioLoader
        from flowtest.session import RunSession

        root = Path(config.rootpath)
        self.settings_error: ConfigError | None = None
        try:
            settings = resolve(_options(config), os.environ, read_pyproject(root), root)
        except ConfigError as exc:
            self.settings_error = exc
            settings = Settings()
        self.loader: ScenarioLoader = ScenarioLoader(root, settings.utterances, settings.text_match)
        self.session: RunSession = RunSession(settings, dict(os.environ))
        self.reporter: AllureScenarioReporter | None = None
        worker_seed = getattr(config, "workerinput", {}).get("flowtest_seed")
        if settings.seed is not None:
            self.seed = settings.seed
        else:
            self.seed = int(worker_seed) if worker_seed is not None else _seed(config)
        self.gc_paused = False
        self.collector_paused = False  # while the conversations run, see _collector_paused
        self.names: dict[str, Location] = {}  # each scenario name, where it was first seen
        self.tags: set[str] = set()  # the tags registered as markers so far

    def pause_gc(self) -> None:
        """Collection allocates many small acyclic objects that live for the whole run; full GC
        passes over them made collecting 10,000 files several times slower."""
        if not self.gc_paused and gc.isenabled():
            gc.disable()
            self.gc_paused = True

    def resume_gc(self, freeze: bool) -> None:
        if self.gc_paused:
            gc.enable()
            self.gc_paused = False
        if freeze:
            gc.freeze()


RUN = pytest.StashKey[ScenarioRun]()


def _run(config: pytest.Config) -> ScenarioRun:
    if RUN not in config.stash:
        config.stash[RUN] = ScenarioRun(config)
    return config.stash[RUN]


def _options(config: pytest.Config) -> dict[str, Any]:
    options = {key: config.getoption(f"flowtest_{key}") for key in _OPTIONS}
    options.update({f"field_{n}": config.getoption(f"flowtest_field_{n}") for n in FIELD_OPTIONS})
    return options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flowtest", "flowtest: conversation scenarios")
    for key, help_text in _OPTIONS.items():
        group.addoption(
            f"--flowtest-{key.replace('_', '-')}", dest=f"flowtest_{key}", default=None, help=help_text
        )
    group.addoption(
        "--flowtest-scenario",
        dest="flowtest_scenario",
        action="append",
        default=[],
        metavar="NAME",
        help="run only the scenario with this name, as written in its file (repeatable)",
    )
    for name in FIELD_OPTIONS:
        group.addoption(
            f"--flowtest-field-{name.replace('_', '-')}",
            dest=f"flowtest_field_{name}",
            default=None,
            help=f"JSONPath of the response's {name.replace('_', ' ')}",
        )


def _scenario_items(items: list[pytest.Item]) -> list[ScenarioItem]:
    return [item for item in items if isinstance(item, ScenarioItem)]


def is_scenario(item: pytest.Item) -> bool:
    """A test flowtest made: a scenario, or a scenario file that cannot run."""
    return isinstance(item, (ScenarioItem, BrokenScenarioItem))


def pytest_sessionfinish(session: pytest.Session) -> None:
    run = session.config.stash.get(RUN, None)
    if run is not None and run.reporter is not None:
        run.reporter.flush()
        extra = {}
        if any(_uses_random(item) for item in session.items):
            extra["utterance seed"] = str(run.seed)
        run.reporter.finish(run.session, extra)


def _seed(config: pytest.Config) -> int:
    """The controller's seed for random phrases: made once, handed to every xdist worker."""
    if SEED not in config.stash:
        import secrets

        config.stash[SEED] = secrets.randbelow(10**6)
    return config.stash[SEED]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker picks the same random phrases as the run's printed seed says."""
    node.workerinput["flowtest_seed"] = _seed(node.config)


def _uses_random(item: pytest.Item) -> bool:
    return (
        isinstance(item, ScenarioItem)
        and bool(item.case.phrases)
        and item.case.scenario.utterance_mode == "random"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Iterator[None]:
    """With --flowtest-concurrency above 1, start the selected conversations ahead of their items."""
    run = session.config.stash.get(RUN, None)
    if session.config.option.collectonly or run is None or run.session.settings.concurrency <= 1:
        return (yield)
    _start_ahead(session, run)
    with _collector_paused(run):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """The project's other tests run with the cyclic GC on, as they would without flowtest."""
    run = item.config.stash.get(RUN, None)
    if run is None or not run.collector_paused or isinstance(item, ScenarioItem):
        return (yield)
    gc.enable()
    try:
        return (yield)
    finally:
        gc.disable()


def _start_ahead(session: pytest.Session, run: ScenarioRun) -> None:
    from flowtest import xdist_queue

    runnable = {
        index: (item.nodeid, item.case)
        for index, item in enumerate(session.items)
        if isinstance(item, ScenarioItem) and item.get_closest_marker("skip") is None
    }
    try:
        if not hasattr(session.config, "workerinput"):
            run.session.prefetch(list(runnable.values()))
            return
        queued = xdist_queue.reader(session.config)
        if queued is not None:  # an xdist worker: follow what it is handed
            run.session.follow(lambda: [runnable[index] for index in queued() if index in runnable])
    except FlowtestError:
        return  # each item reports the same error when it asks for its result


@contextlib.contextmanager
def _collector_paused(run: ScenarioRun) -> Iterator[None]:
    """No cyclic GC passes while the conversations run (scenario items only, see above).

    Thousands of conversations in flight keep their state alive, so each pass of the
    collector walks more of it than the last: at 10,000 conversations the GC took a third
    of the run's CPU (11 of 33 s) and made it superlinear, even with its youngest
    generation collected every 10,000 allocations instead of 700. Passing conversations
    make no reference cycles (10,000 left as few objects to collect as 1,000); a failing one
    leaves about a hundred small objects (2 KB), freed when the GC is back on at the end.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    run.collector_paused = True
    try:
        yield
    finally:
        run.collector_paused = False
        if was_enabled:
            gc.enable()


def pytest_runtest_teardown(item: pytest.Item) -> None:
    if RESULT in item.stash:
        # Reported: keeping every trace to the end made memory (and GC) grow with the run.
        del item.stash[RESULT]


def _reporter(config: pytest.Config) -> AllureScenarioReporter | None:
    run = config.stash.get(RUN, None)
    return None if run is None else run.reporter


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(RUN, None)
    if run is not None:
        run.session.close()
        _say_where_the_report_is(config)


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> str | None:
    """Where the conversations go, said once scenarios were collected (never for other suites)."""
    run = config.stash.get(RUN, None)
    if run is None or not _scenario_items(items):
        return None
    settings = run.session.settings
    target = f"embedded sandbox ({settings.sandbox_flows})" if settings.uses_sandbox else settings.base_url
    target = run.session.redactor.text(str(target))
    line = f"flowtest: {target}, org {settings.org}, run id {run.session.run_id}"
    if any(_uses_random(item) for item in items):
        line += f"\nflowtest: utterances: random, seed {run.seed} (replay with --flowtest-seed {run.seed})"
    return line


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Iterator[None]:
    """Give the garbage collector back after collection; freeze what scenarios collected."""
    try:
        return (yield)
    finally:
        run = session.config.stash.get(RUN, None)
        if run is not None:
            run.resume_gc(freeze=bool(_scenario_items(session.items)))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_scenario_file(file_path):
        _run(parent.config).pause_gc()
        # The name pytest would give a file in its folder's node, without its pathlib
        # relative_to (3 us a file); anywhere else pytest works it out.
        name = file_path.name if os.path.dirname(file_path) == str(parent.path) else None
        return ScenarioFile.from_parent(parent, path=file_path, name=name)
    return None


@pytest.hookimpl(tryfirst=True)  # before -m deselects: the warning below needs every item's tags
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any(is_scenario(item) for item in items):
        return
    run = _run(config)
    _select_by_name(config, items)
    _warn_on_unknown_tags(config, items)
    scenario_items = _scenario_items(items)
    if scenario_items and run.settings_error is not None:
        raise pytest.UsageError(f"flowtest: {run.settings_error}")
    run.session.orgs.update(item.case.scenario.org for item in scenario_items if item.case.scenario.org)
    run.session.watch_stop_signals()
    run.session.notify = functools.partial(_notify, config)
    if _allure_enabled(config):
        from flowtest.reporting import allure as allure_report

        run.reporter = allure_report.start(
            config, run.session.settings.allure_results, is_scenario, run.session.redactor
        )


def _select_by_name(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--flowtest-scenario NAME: the scenario with this name as written (-k cannot take every name)."""
    wanted = set(config.getoption("flowtest_scenario") or ())
    if not wanted:
        return
    names = {name for item in items if (name := _scenario_name(item)) is not None}
    missing = sorted(wanted - set(names))
    if missing:
        from flowtest.config import did_you_mean

        hints = "; ".join(f"'{name}'{did_you_mean(name, sorted(names))}" for name in missing)
        raise pytest.UsageError(f"flowtest: --flowtest-scenario: no scenario is named {hints}")
    keep = [item for item in items if _scenario_name(item) in wanted]
    dropped = [item for item in items if _scenario_name(item) not in wanted]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def _scenario_name(item: pytest.Item) -> str | None:
    if isinstance(item, ScenarioItem):
        return item.case.scenario.name
    if isinstance(item, BrokenScenarioItem):
        return item.broken.name
    return None


def _warn_on_unknown_tags(config: pytest.Config, items: list[pytest.Item]) -> None:
    """-m naming no tag of any scenario selects nothing, silently (exit 5): say which tags exist."""
    expression = config.getoption("markexpr", "")
    if not expression:
        return
    import re

    named = set(re.findall(r"[A-Za-z_][\w.-]*", expression)) - {"and", "or", "not", "True", "False"}
    marks = {mark.name for item in items for mark in item.iter_markers()}
    if named & marks:
        return
    tags = sorted({tag for item in items for tag in _tags_of(item)})
    known = ", ".join(tags) if tags else "none"
    warnings.warn(
        FlowtestWarning(f"-m {expression!r} names no tag of any scenario; the scenarios' tags: {known}"),
        stacklevel=1,
    )


def _tags_of(item: pytest.Item) -> tuple[str, ...]:
    if isinstance(item, ScenarioItem):
        return item.case.scenario.tags
    if isinstance(item, BrokenScenarioItem):
        return item.broken.tags
    return ()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """The xdist controller collects nothing itself. A worker's scenario items tell it to empty
    the results folder once, before any worker writes to it, and to stop on SIGTERM/SIGHUP like on
    Ctrl-C, so that its workers end their sessions."""
    config = node.config
    if RUN in config.stash or not any(is_scenario_file(Path(nodeid.partition("::")[0])) for nodeid in ids):
        return
    from flowtest.reporting import allure as allure_report

    run = _run(config)
    allure_report.clean(config, run.session.settings.allure_results)
    run.session.watch_stop_signals()


def _notify(config: pytest.Config, message: str) -> None:
    """A line on the terminal now, even while pytest captures the test's output."""
    capture = config.pluginmanager.getplugin("capturemanager")
    context = capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext()
    with context:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


def _say_where_the_report_is(config: pytest.Config) -> None:
    """The terminal's last line: where the results are and the command that builds the report."""
    run = config.stash.get(RUN, None)
    terminalreporter = config.pluginmanager.get_plugin("terminalreporter")
    if run is None or terminalreporter is None or config.option.collectonly:
        return
    if hasattr(config, "workerinput"):
        return
    explicit = getattr(config.option, "allure_report_dir", None)
    results = Path(explicit).resolve() if explicit else run.session.settings.allure_results
    if results is None or not results.is_dir():
        return
    from flowtest.reporting.html_report import ReportPaths, report_command

    paths = ReportPaths.default(Path(config.rootpath), results)
    terminalreporter.write_line(
        f"flowtest: Allure results in {paths.shown(results)}; "
        f"the HTML report: {report_command(paths)} (writes {paths.shown(paths.index)})"
    )


def _allure_enabled(config: pytest.Config) -> bool:
    """allure-pytest is loaded (not blocked with -p no:allure_pytest): its marks and listener work."""
    return config.pluginmanager.has_plugin("allure_pytest")


def _add_tags(item: pytest.Item, tags: tuple[str, ...]) -> None:
    registered = _run(item.config).tags
    for tag in tags:
        if tag not in registered:  # once per run, not per item: pytest rereads the list for each new mark
            registered.add(tag)
            item.config.addinivalue_line("markers", f"{tag}: scenario tag")
        item.add_marker(tag)


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from flowtest.scenario.loader import BrokenDocument, duplicate_name
        from flowtest.scenario.model import cases_of

        run = _run(self.config)
        loaded = run.loader.load_file(self.path)
        broken_ones = list(loaded.broken)
        for scenario in loaded.scenarios:
            duplicate = duplicate_name(scenario, run.names)
            if duplicate is not None:
                location, tags = scenario.location, scenario.tags
                broken_ones.append(BrokenDocument((duplicate,), scenario.name, location, tags))
                continue
            for case in cases_of(scenario, run.seed):
                yield ScenarioItem.from_parent(self, name=case.name, case=case)
        for broken in broken_ones:
            name = broken.name or self.path.name
            yield BrokenScenarioItem.from_parent(self, name=f"{name} (broken)", broken=broken)


class ScenarioItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        scenario = case.scenario
        _add_tags(self, scenario.tags)
        if scenario.skip is not None:
            self.add_marker(pytest.mark.skip(reason=scenario.skip))
        if _allure_enabled(self.config):
            from flowtest.reporting.allure import static_marks

            for mark in static_marks(case):
                self.add_marker(mark)
        if scenario.xfail is not None:
            self.add_marker(pytest.mark.xfail(reason=scenario.xfail, raises=(ScenarioFailed, ScenarioBroken)))

    def runtest(self) -> None:
        from flowtest.trace import Outcome

        result = self.config.stash[RUN].session.result(self.nodeid, self.case)
        self.stash[RESULT] = result
        reporter = _reporter(self.config)
        if reporter is not None:
            reporter.report(self, self.case, result)
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
            self.config.stash[RUN].session.stop_launching()

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from flowtest.reporting.failure import failure_text

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
    from flowtest.runner import internal_error

    message = str(error.msg) if isinstance(error, pytest.fail.Exception) else internal_error(error)
    run = config.stash.get(RUN, None)
    return run.session.redactor.text(message) if run is not None else message


class BrokenScenarioItem(pytest.Item):
    """A document that cannot run: it fails on its own, the other files still run."""

    def __init__(self, *, broken: BrokenDocument, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.broken = broken
        _add_tags(self, broken.tags)
        if _allure_enabled(self.config):
            from flowtest.reporting.allure import suite_marks

            for mark in suite_marks(Path(broken.location.path)):
                self.add_marker(mark)

    def runtest(self) -> None:
        raise BrokenScenario(self.broken)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, BrokenScenario):
            return "\n".join(excinfo.value.errors)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.broken.location.line - 1, self.name
