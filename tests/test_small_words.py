"""The small words real suites need (issue "Whole suites come across"), each run against the real
sandbox over loopback with the support flow of scenarios/flows, failure texts pinned."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowtest.matchers import build
from flowtest.sandbox.server import RunningSandbox
from flowtest.templating import Bindings
from tests.test_messages import run_suite

NONE = Bindings({}, {})
BUTTONS = "$.buttons[*].title"


# -- includes: a list holds these items, in any order, among others ----------------------


@pytest.mark.parametrize(
    ("wanted", "actual", "mismatch"),
    [
        (["b", "a"], ["a", "b", "c"], None),
        ([{"contains": "Pay"}], ["Billing", "Pay now"], None),
        (["d"], ["a", "b"], 'a list that includes "d": no item matches "d"'),
        (["a"], "a", 'a list that includes "a"'),  # a text is not a list of items
        (["a", "a"], ["a"], None),  # each matcher needs an item, not an item each
    ],
)
def test_includes(wanted: list[object], actual: object, mismatch: str | None) -> None:
    assert build({"includes": wanted}).check(actual, True, NONE) == mismatch


def test_includes_checks_the_buttons_offered_whatever_their_order(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    output, failures = run_suite(
        tmp_path,
        sandbox,
        offered=(
            "  - message: {$.type: typing}\n"
            f'  - message: {{"{BUTTONS}": {{includes: [Talk to a person, Billing]}}}}\n'
        ),
        missing=(
            "  - message: {$.type: typing}\n"
            f'  - message: {{"{BUTTONS}": {{includes: [Billing, Refunds]}}}}\n'
        ),
    )
    assert "1 failed, 1 passed" in output
    assert failures["missing"].splitlines()[1:4] == [
        "conversation[1]: bot message 2 of the turn does not match",
        f'  expected: {BUTTONS}: a list that includes "Billing", "Refunds": no item matches "Refunds"',
        f'  actual: {BUTTONS}: ["Billing", "Technical support", "Talk to a person"]',
    ]
