"""Which scenarios run: ``--flowtest-scenario NAME``, and a word when ``-m`` names no tag."""

from __future__ import annotations

import re
import warnings

import pytest

from flowtest.plugin.items import FlowtestWarning, scenario_name, tags_of


def select_by_name(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--flowtest-scenario NAME: the scenario with this name as written (-k cannot take every name)."""
    wanted = set(config.getoption("flowtest_scenario") or ())
    if not wanted:
        return
    _refuse_unknown_names(wanted, items)
    keep = [item for item in items if scenario_name(item) in wanted]
    dropped = [item for item in items if scenario_name(item) not in wanted]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def _refuse_unknown_names(wanted: set[str], items: list[pytest.Item]) -> None:
    """A UsageError for names no scenario has, each with a did-you-mean."""
    names = {name for item in items if (name := scenario_name(item)) is not None}
    missing = sorted(wanted - names)
    if not missing:
        return
    from flowtest.config import did_you_mean

    hints = "; ".join(f"'{name}'{did_you_mean(name, sorted(names))}" for name in missing)
    raise pytest.UsageError(f"flowtest: --flowtest-scenario: no scenario is named {hints}")


def warn_on_unknown_tags(config: pytest.Config, items: list[pytest.Item]) -> None:
    """-m naming no tag of any scenario selects nothing, silently (exit 5): say which tags exist."""
    expression = config.getoption("markexpr", "")
    if not expression:
        return
    named = set(re.findall(r"[A-Za-z_][\w.-]*", expression)) - {"and", "or", "not", "True", "False"}
    marks = {mark.name for item in items for mark in item.iter_markers()}
    if named & marks:
        return
    tags = sorted({tag for item in items for tag in tags_of(item)})
    known = ", ".join(tags) if tags else "none"
    warnings.warn(
        FlowtestWarning(f"-m {expression!r} names no tag of any scenario; the scenarios' tags: {known}"),
        stacklevel=1,
    )
