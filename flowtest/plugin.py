"""The pytest plugin: collects ``*.scenario.yaml`` files; each scenario (per example row) is a test.

A thin layer: loading is the scenario loader's, running is the runner's, the failure
text is the reporter's. Registered through the ``pytest11`` entry point.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowtest.config import FIELD_NAMES, Settings, read_pyproject, resolve
from flowtest.errors import ConfigError, FlowtestError
from flowtest.reporting.failure import failure_text
from flowtest.scenario.loader import BrokenDocument, ScenarioLoader, is_scenario_file
from flowtest.scenario.model import Case, cases_of
from flowtest.session import RunSession
from flowtest.trace import Outcome, Result

RUN_SESSION = pytest.StashKey[RunSession]()
SETTINGS_ERROR = pytest.StashKey[ConfigError]()
LOADER = pytest.StashKey[ScenarioLoader]()
RESULT = pytest.StashKey[Result]()

_OPTIONS = {
    "base_url": "base URL of the API (default: start the embedded sandbox)",
    "org": "organization id (default demo)",
    "timeout": "per-request timeout, e.g. 10s (default 30s)",
    "auth_header": "header that carries the API key (default Authorization)",
    "auth_scheme": "scheme before the key (default Bearer; empty for none)",
    "sandbox_flows": "flows folder for the embedded sandbox (default scenarios/flows)",
    "secret_variables": "comma-separated variable names masked in every report",
    "concurrency": "conversations run at once (default 1)",
}


class FlowtestWarning(UserWarning):
    """A problem that does not change a test's outcome: a failed End Session, a flaky pass."""


class ScenarioFailed(Exception):
    def __init__(self, result: Result) -> None:
        super().__init__(result.final.case_name)
        self.result = result


class BrokenScenario(Exception):
    def __init__(self, broken: BrokenDocument) -> None:
        super().__init__("\n".join(str(error) for error in broken.errors))


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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "flowtest: a conversation scenario run by flowtest")
    root = Path(config.rootpath)
    config.stash[LOADER] = ScenarioLoader(root)
    options = {key: config.getoption(f"flowtest_{key}") for key in _OPTIONS}
    options.update({f"field_{n}": config.getoption(f"flowtest_field_{n}") for n in FIELD_NAMES})
    try:
        settings = resolve(options, os.environ, read_pyproject(root), root)
    except ConfigError as exc:
        config.stash[SETTINGS_ERROR] = exc
        settings = Settings()
    config.stash[RUN_SESSION] = RunSession(settings, dict(os.environ))


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
    return f"flowtest: {target}, org {settings.org}, run id {session.run_id}"


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


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        loaded = self.config.stash[LOADER].load_file(self.path)
        for scenario in loaded.scenarios:
            for case in cases_of(scenario):
                yield ScenarioItem.from_parent(self, name=case.name, case=case)
        for broken in loaded.broken:
            name = broken.name or self.path.name
            yield BrokenScenarioItem.from_parent(self, name=f"{name} (broken)", broken=broken)


class ScenarioItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        scenario = case.scenario
        self.add_marker("flowtest")
        for tag in scenario.tags:
            self.config.addinivalue_line("markers", f"{tag}: scenario tag")
            self.add_marker(tag)
        if scenario.skip is not None:
            self.add_marker(pytest.mark.skip(reason=scenario.skip))
        if scenario.xfail is not None:
            self.add_marker(pytest.mark.xfail(reason=scenario.xfail, raises=ScenarioFailed))

    def runtest(self) -> None:
        result = self.config.stash[RUN_SESSION].run(self.case)
        self.stash[RESULT] = result
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
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return failure_text(excinfo.value.result, verbose=self.config.get_verbosity() > 0)
        if isinstance(excinfo.value, FlowtestError):
            return f"flowtest: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.scenario.location.line - 1, self.case.name


class BrokenScenarioItem(pytest.Item):
    """A document that cannot run: it fails on its own, the other files still run."""

    def __init__(self, *, broken: BrokenDocument, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.broken = broken

    def runtest(self) -> None:
        raise BrokenScenario(self.broken)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, BrokenScenario):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.broken.location.line - 1, self.name
