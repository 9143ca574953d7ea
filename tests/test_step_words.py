"""Words of failures met often: a value a skipped optional step never stored, no message left, names taken."""

from __future__ import annotations

from pathlib import Path

from flowtest.sandbox.server import RunningSandbox
from tests.test_authoring import project, run
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
        "step 4 (promo.scenario.yaml:9): ${promo} is not set: the optional step 2 (promo.scenario.yaml:6) "
        "that stores it was skipped (no message matched it)"
    ), output
    assert found["nomore"].splitlines()[1:4] == [
        'step 3 (nomore.scenario.yaml:7): expected a bot message (contains "Goodbye"), '
        "but the turn has no more messages",
        '  expected: contains "Goodbye"',
        "  actual: (none: the turn had 2 message(s), all checked by earlier steps)",
    ], output
    assert sandbox.open_sessions == 0


def test_a_stored_value_named_like_a_provided_template_is_a_validate_error(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "scenarios" / "s.scenario.yaml").write_text(
        "name: n\nflow: flight-status\nconversation:\n"
        "  - bot: {regex: 'Hi (?P<run_id>\\w+)'}\n"
        "    save: {env: $.text}\n"
        "  - user: ${run_id}\n"
    )
    done = run("validate", cwd=root)
    assert done.stdout.splitlines() == [
        "scenarios/s.scenario.yaml:4:10: error: step 1, bot: the regex group 'run_id' is named like "
        "${run_id}, which flowtest sets: choose another name",
        "scenarios/s.scenario.yaml:5:12: error: step 1, save.env: save 'env' is named like "
        "${env.NAME}, which flowtest sets: choose another name",
    ]
