"""What pytest collects from a scenario file: one item per case, and one per document that cannot run."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from flowtest.errors import FlowtestError, ReportedFailure
from flowtest.plugin.state import STATE, plugin_state

if TYPE_CHECKING:
    from flowtest.scenario.loader import InvalidDocument
    from flowtest.scenario.model import Case
    from flowtest.trace import Result

RESULT = pytest.StashKey["Result"]()


class FlowtestWarning(UserWarning):
    """A problem that does not change a test's outcome: a failed End Session, a flaky pass."""


class ConversationFailed(ReportedFailure, AssertionError):
    """The flow did not behave as the scenario says (Allure: failed)."""

    def __init__(self, result: Result) -> None:
        from flowtest.reporting.failure import result_failure

        super().__init__(*result_failure(result), broken=False)
        self.result = result


class ConversationBroken(ReportedFailure):
    """The run could not check the flow: API or transport error, missing variable (Allure: broken)."""

    def __init__(self, result: Result) -> None:
        from flowtest.reporting.failure import result_failure

        super().__init__(*result_failure(result), broken=True)
        self.result = result


class InvalidScenario(ReportedFailure):
    """A scenario document that cannot run: its errors, one ``path:line:column: ...`` line each."""

    def __init__(self, invalid: InvalidDocument) -> None:
        from flowtest.trace import Category

        self.errors = tuple(str(error) for error in invalid.errors)
        text = "\n".join(self.errors)
        super().__init__(text, Category.SCENARIO.value, text, broken=True)


def add_tags(item: pytest.Item, tags: tuple[str, ...]) -> None:
    registered = plugin_state(item.config).tags
    for tag in tags:
        if tag not in registered:  # once per run, not per item: pytest rereads the list for each new mark
            registered.add(tag)
            item.config.addinivalue_line("markers", f"{tag}: scenario tag")
        item.add_marker(tag)


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from flowtest.scenario.loader import InvalidDocument, duplicate_name
        from flowtest.scenario.model import cases_of
        from flowtest.steps.caller import unavailable

        state = plugin_state(self.config)
        loaded = state.loader.load_file(self.path)
        invalid = list(loaded.invalid)
        for scenario in loaded.scenarios:
            problem = duplicate_name(scenario, state.names) or unavailable(state.pool.settings, scenario)
            if problem is not None:
                invalid.append(InvalidDocument((problem,), scenario.name, scenario.location, scenario.tags))
                continue
            for case in cases_of(scenario, state.seed):
                yield ScenarioItem.from_parent(self, name=case.name, case=case)
        for document in invalid:
            name = document.name or self.path.name
            yield InvalidScenarioItem.from_parent(self, name=f"{name} (broken)", invalid=document)


class ScenarioItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        scenario = case.scenario
        add_tags(self, scenario.tags)
        if scenario.skip is not None:
            self.add_marker(pytest.mark.skip(reason=scenario.skip))
        if scenario.xfail is not None:
            raises = (ConversationFailed, ConversationBroken)
            self.add_marker(pytest.mark.xfail(reason=scenario.xfail, raises=raises))

    def runtest(self) -> None:
        from flowtest.trace import Outcome

        result = self.config.stash[STATE].pool.result(self.nodeid, self.case)
        self.stash[RESULT] = result
        self.config.hook.pytest_flowtest_conversation(item=self, case=self.case, result=result)
        for attempt in result.traces():
            for message in attempt.warnings:
                self._warn(message)
        if result.flaky:
            self.user_properties.append(("flaky", f"passed on attempt {len(result.attempts)}"))
            failed = len(result.attempts) - 1
            self._warn(f"{self.case.name}: flaky, passed after {failed} failed attempt(s)")
        if result.runs:
            self.user_properties.append(("pass rate", result.rate))
            if result.outcome is Outcome.PASSED and result.passed_runs < len(result.runs):
                self._warn(f"{self.case.name}: {result.rate}")
        outcome = result.outcome
        if outcome is not Outcome.PASSED:
            self._stop_if_last_failure_allowed()
        if outcome is Outcome.FAILED:
            raise ConversationFailed(result)
        if outcome is not Outcome.PASSED:
            raise ConversationBroken(result)

    def _warn(self, message: str) -> None:
        """A warning pytest's summary shows at the scenario's file and line, not at flowtest's code."""
        where = self.case.scenario.location
        warnings.warn_explicit(FlowtestWarning(message), FlowtestWarning, where.path, where.line)

    def _stop_if_last_failure_allowed(self) -> None:
        """-x / --maxfail: pytest stops after this failure, so no new conversation may start."""
        maxfail = self.config.option.maxfail
        if maxfail and self.session.testsfailed + 1 >= maxfail and not self.get_closest_marker("xfail"):
            self.config.stash[STATE].pool.stop_launching()

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from flowtest.reporting.failure import failure_text

        if isinstance(excinfo.value, (ConversationFailed, ConversationBroken)):
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
    state = config.stash.get(STATE, None)
    return state.pool.redactor.text(message) if state is not None else message


class InvalidScenarioItem(pytest.Item):
    """A document that cannot run: it fails on its own, the other files still run."""

    def __init__(self, *, invalid: InvalidDocument, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.invalid = invalid
        add_tags(self, invalid.tags)

    def runtest(self) -> None:
        raise InvalidScenario(self.invalid)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, InvalidScenario):
            return "\n".join(excinfo.value.errors)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.invalid.location.line - 1, self.name


def is_scenario(item: pytest.Item) -> bool:
    """A test flowtest made: a scenario, or a scenario file that cannot run."""
    return isinstance(item, (ScenarioItem, InvalidScenarioItem))


def scenario_name(item: pytest.Item) -> str | None:
    if isinstance(item, ScenarioItem):
        name: str = item.case.scenario.name
        return name
    if isinstance(item, InvalidScenarioItem):
        return item.invalid.name
    return None


def tags_of(item: pytest.Item) -> tuple[str, ...]:
    if isinstance(item, ScenarioItem):
        tags: tuple[str, ...] = item.case.scenario.tags
        return tags
    if isinstance(item, InvalidScenarioItem):
        return item.invalid.tags
    return ()
