"""The words of two failures met often: a value a skipped optional step never stored, no message left."""

from __future__ import annotations

from pathlib import Path

from flowtest.sandbox.server import RunningSandbox
from tests.test_messages import run_suite

STEPS = {
    "promo": (
        "  - message: {$.type: typing}\n"
        "  - bot: {regex: 'code (?P<promo>\\w+)'}\n"
        "    optional: true\n"
        "  - bot: {contains: What can I help}\n"
        "  - user: my code is ${promo}\n"
    ),
    "nomore": (
        "  - message: {$.type: typing}\n  - bot: {contains: What can I help}\n  - bot: {contains: Goodbye}\n"
    ),
}


def test_a_skipped_optional_step_and_a_taken_turn_are_named(tmp_path: Path, sandbox: RunningSandbox) -> None:
    output, found = run_suite(tmp_path, sandbox, **STEPS)
    assert found["promo"].splitlines()[1] == (
        "conversation[3]: ${promo} is not set: the optional step conversation[1] at line 6 "
        "that stores it was skipped (no message matched it)"
    ), output
    assert found["nomore"].splitlines()[1:4] == [
        'conversation[2]: expected a bot message (contains "Goodbye"), but the turn has no more messages',
        '  expected: contains "Goodbye"',
        "  actual: (none: the turn had 2 message(s), all checked by earlier steps)",
    ], output
    assert sandbox.open_sessions == 0
