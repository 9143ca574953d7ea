"""The pytest plugin: collects ``*.scenario.yaml`` files; each scenario (per example row) is a test.

A thin layer: loading is the scenario loader's, running is the conversation pool's, the
failure text is the reporter's, and reporters (Allure, coverage, the run log) are plugins
of their own on flowtest's hooks (``flowtest.plugin.hooks``), registered only when on.
Registered through the ``pytest11`` entry point, so it is loaded into every pytest run
where flowtest is installed: until the first scenario file is collected it imports nothing
heavy, writes nothing and changes no global state (a suite without scenarios runs exactly
as without flowtest).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowtest.errors import FlowtestError
from flowtest.plugin.items import (
    RESULT,
    InvalidScenarioItem,
    ScenarioFile,
    ScenarioItem,
    is_scenario,
)
from flowtest.plugin.options import FIELD_OPTIONS, add_options
from flowtest.plugin.selection import select_by_name, warn_on_unknown_tags
from flowtest.plugin.state import STATE, PluginState, collector_paused, plugin_state, run_seed, worker_input
from flowtest.scenario import is_scenario_file

RUN = STATE  # the stash key of the run's PluginState, as tests and extensions know it

__all__ = [
    "FIELD_OPTIONS",
    "RUN",
    "InvalidScenarioItem",
    "PluginState",
    "ScenarioItem",
    "is_scenario",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from flowtest.plugin import hooks

    pluginmanager.add_hookspecs(hooks)


def _scenario_items(items: list[pytest.Item]) -> list[ScenarioItem]:
    return [item for item in items if isinstance(item, ScenarioItem)]


# -- collection --------------------------------------------------------------------------


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_scenario_file(file_path):
        first = STATE not in parent.config.stash
        state = plugin_state(parent.config)
        if first:
            _register_reporters(parent.config, state)
        state.pause_gc()
        # The name pytest would give a file in its folder's node, without its pathlib
        # relative_to (3 us a file); anywhere else pytest works it out.
        name = file_path.name if os.path.dirname(file_path) == str(parent.path) else None
        return ScenarioFile.from_parent(parent, path=file_path, name=name)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Iterator[None]:
    """Give the garbage collector back after collection; freeze what scenarios collected."""
    try:
        return (yield)
    finally:
        state = session.config.stash.get(STATE, None)
        if state is not None:
            state.resume_gc(freeze=bool(_scenario_items(session.items)))
            state.loader.meaning.collected()


@pytest.hookimpl(tryfirst=True)  # before -m deselects: the warning below needs every item's tags
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any(is_scenario(item) for item in items):
        return
    state = plugin_state(config)
    select_by_name(config, items)
    warn_on_unknown_tags(config, items)
    scenario_items = _scenario_items(items)
    if scenario_items and state.settings_error is not None:
        raise pytest.UsageError(f"flowtest: {state.settings_error}")
    state.pool.orgs.update(item.case.scenario.org for item in scenario_items if item.case.scenario.org)
    state.pool.watch_stop_signals()
    state.pool.notify = functools.partial(_notify, config)
    state.ran = True


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> str | None:
    """Where the conversations go, said once scenarios were collected (never for other suites)."""
    state = config.stash.get(STATE, None)
    if state is None or not _scenario_items(items):
        return None
    settings = state.pool.settings
    target = f"embedded sandbox ({settings.sandbox_flows})" if settings.uses_sandbox else settings.base_url
    target = state.pool.redactor.text(str(target))
    line = f"flowtest: {target}, org {settings.org}, run id {state.pool.run_id}"
    if any(uses_random(item) for item in items):
        line += (
            f"\nflowtest: utterances: random, seed {state.seed} (replay with --flowtest-seed {state.seed})"
        )
    return line


def uses_random(item: pytest.Item) -> bool:
    return (
        isinstance(item, ScenarioItem)
        and bool(item.case.phrases)
        and item.case.scenario.utterance_mode == "random"
    )


# -- running -----------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Iterator[None]:
    """With --flowtest-concurrency above 1, start the selected conversations ahead of their items."""
    state = session.config.stash.get(STATE, None)
    if session.config.option.collectonly or state is None or state.pool.settings.concurrency <= 1:
        return (yield)
    _start_ahead(session, state)
    with collector_paused(state):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """The project's other tests run with the cyclic GC on, as they would without flowtest."""
    state = item.config.stash.get(STATE, None)
    if state is None or not state.collector_paused or isinstance(item, ScenarioItem):
        return (yield)
    gc.enable()
    try:
        return (yield)
    finally:
        gc.disable()


def _start_ahead(session: pytest.Session, state: PluginState) -> None:
    from flowtest import xdist_queue

    runnable = {
        index: (item.nodeid, item.case)
        for index, item in enumerate(session.items)
        if isinstance(item, ScenarioItem) and item.get_closest_marker("skip") is None
    }
    try:
        if worker_input(session.config) is None:
            state.pool.prefetch(list(runnable.values()))
            return
        queued = xdist_queue.reader(session.config)
        if queued is not None:  # an xdist worker: follow what it is handed
            state.pool.follow(lambda: [runnable[index] for index in queued() if index in runnable])
    except FlowtestError:
        return  # each item reports the same error when it asks for its result


def pytest_runtest_teardown(item: pytest.Item) -> None:
    if RESULT in item.stash:
        # Reported: keeping every trace to the end made memory (and GC) grow with the run.
        del item.stash[RESULT]


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is not None and state.ran:
        session.config.hook.pytest_flowtest_run_finished(config=session.config, pool=state.pool)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.pool.close()
        _say_where_the_report_is(config, state)


# -- pytest-xdist ------------------------------------------------------------------------


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker picks the same random phrases as the run's printed seed says."""
    node.workerinput["flowtest_seed"] = run_seed(node.config)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """The xdist controller collects nothing itself. A worker's scenario items tell it to prepare
    the reporters' folders once, before any worker writes to them, and to stop on SIGTERM/SIGHUP
    like on Ctrl-C, so that its workers end their sessions."""
    config = node.config
    if STATE in config.stash or not any(is_scenario_file(Path(nodeid.partition("::")[0])) for nodeid in ids):
        return
    state = plugin_state(config)
    _register_reporters(config, state, controller=True)
    state.pool.watch_stop_signals()


# -- reporters ---------------------------------------------------------------------------


def _register_reporters(config: pytest.Config, state: PluginState, controller: bool = False) -> None:
    """The reporters this run asked for, each a plugin on flowtest's hooks."""
    if config.option.collectonly:
        return
    from flowtest.reporting import rules

    rules.register(config)  # caller rules that never fired
    settings = state.pool.settings
    from flowtest.reporting.runlog import RUNS_FOLDER, RunLogReporter  # what `flowtest diff` compares

    runlog = RunLogReporter(Path(config.rootpath) / RUNS_FOLDER, controller=controller)
    config.pluginmanager.register(runlog, "flowtest-runlog")
    if settings.coverage:
        from flowtest.coverage.reporter import CoverageReporter

        config.pluginmanager.register(CoverageReporter(settings), "flowtest-coverage")
    if config.pluginmanager.has_plugin("allure_pytest"):
        from flowtest.reporting import allure as allure_report

        allure_report.register(config, settings.allure_results, state.pool.redactor, controller)


def _notify(config: pytest.Config, message: str) -> None:
    """A line on the terminal now, even while pytest captures the test's output."""
    capture = config.pluginmanager.getplugin("capturemanager")
    context = capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext()
    with context:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Known issues (xfail) whose scenarios passed: pytest counts them 'xpassed' and moves on."""
    from flowtest.reporting.failure import passes_now

    lines = [
        f"{report.location[0]}:{report.location[1] + 1}: {report.location[2]}: "
        + passes_now(str(getattr(report, "wasxfail", "")))
        for report in terminalreporter.stats.get("xpassed", [])
        if is_scenario_file(Path(report.location[0]))
    ]
    if lines:
        terminalreporter.section("flowtest: known issues that pass now")
        for line in lines:
            terminalreporter.write_line(line)


def _say_where_the_report_is(config: pytest.Config, state: PluginState) -> None:
    """The terminal's last line: where the results are and the command that builds the report."""
    terminalreporter = config.pluginmanager.get_plugin("terminalreporter")
    if terminalreporter is None or config.option.collectonly or worker_input(config) is not None:
        return
    explicit = getattr(config.option, "allure_report_dir", None)
    results = Path(explicit).resolve() if explicit else state.pool.settings.allure_results
    if results is None or not results.is_dir():
        return
    from flowtest.reporting.html_report import REPORT_BUILT_AFTER, ReportPaths, report_command

    if os.environ.get(REPORT_BUILT_AFTER):
        return
    paths = ReportPaths.default(Path(config.rootpath), results)
    terminalreporter.write_line(
        f"flowtest: Allure results in {paths.shown(results)}; "
        f"the HTML report: {report_command(paths)} (writes {paths.shown(paths.index)})"
    )
