"""The small words real suites need (issue "Whole suites come across"), each run against the real
sandbox over loopback with the support flow of scenarios/flows, failure texts pinned."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from flowtest.client import AsyncFlowClient, ClientConfig
from flowtest.matchers import build
from flowtest.runner import RunContext, run_case
from flowtest.sandbox import DEFAULT_API_KEY
from flowtest.sandbox.server import RunningSandbox
from flowtest.scenario.loader import ScenarioLoader
from flowtest.scenario.model import cases_of
from flowtest.templating import Bindings
from flowtest.trace import Outcome, Result
from tests.conftest import failure_sections as sections
from tests.conftest import run_pytest
from tests.test_messages import HEADER, run_suite

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
        "step 2 (missing.scenario.yaml:6): bot message 2 of the turn does not match",
        f'  expected: {BUTTONS}: a list that includes "Billing", "Refunds": no item matches "Refunds"',
        f'  actual: {BUTTONS}: ["Billing", "Technical support", "Talk to a person"]',
    ]


# -- {utterance: NAME} as the text of a text matcher --------------------------------------


def test_a_text_matcher_over_an_utterance_list_takes_any_phrase(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    (tmp_path / "phrases.utterances.yaml").write_text(
        "HELLO: [hello, what can I HELP you with]\nBYE: [bye, ciao]\n"
    )
    output, failures = run_suite(
        tmp_path,
        sandbox,
        greets=(
            "  - message: {$.type: typing}\n  - bot: {contains: {utterance: HELLO}, ignore_case: true}\n"
        ),
        leaves=("  - message: {$.type: typing}\n  - bot: {starts_with: {utterance: BYE}}\n"),
    )
    assert "1 failed, 1 passed" in output
    assert failures["leaves"].splitlines()[1:4] == [
        "step 2 (leaves.scenario.yaml:6): bot message 2 of the turn does not match",
        '  expected: a phrase of BYE (any of: starts with "bye" | starts with "ciao")',
        '  actual: "Hi Ada! What can I help you with?"',
    ]


# -- ignore_messages: [typing] -----------------------------------------------------------


def test_ignored_message_types_are_never_consumed_nor_left_over(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    _output, failures = run_suite(
        tmp_path,
        sandbox,
        ignoring="  - bot: {contains: help}\n  - user: tech\n  - bot: {starts_with: Your ticket}\n",
        checking="  - bot: {contains: help}\n",
    )
    (tmp_path / "checking.scenario.yaml").unlink()
    # The key on a scenario, and the setting for every scenario.
    scenario = tmp_path / "ignoring.scenario.yaml"
    scenario.write_text(
        scenario.read_text().replace("conversation:", "ignore_messages: [typing, card]\nconversation:")
    )
    done = run_pytest(
        tmp_path,
        f"--flowtest-base-url={sandbox.url}",
        "-p",
        "no:allure_pytest",
        env={"FLOWTEST_API_KEY": DEFAULT_API_KEY},
    )
    assert "1 passed" in done.stdout, done.stdout
    assert failures["checking"].splitlines()[1] == (
        "step 1 (checking.scenario.yaml:5): bot message 1 of the turn is a typing message without text; "
        "a bot step checks text: check this one with a message: step, e.g. message: {$.type: typing}"
    )
    (tmp_path / "plain.scenario.yaml").write_text(HEADER.format(name="plain") + "  - bot: {contains: help}\n")
    scenario.unlink()
    done = run_pytest(
        tmp_path,
        f"--flowtest-base-url={sandbox.url}",
        "--flowtest-ignore-messages=typing",
        "-p",
        "no:allure_pytest",
        env={"FLOWTEST_API_KEY": DEFAULT_API_KEY},
    )
    assert "1 passed" in done.stdout, done.stdout


# -- the text options beside a plain bot: TEXT --------------------------------------------


def test_text_options_stand_beside_a_plain_bot_text(tmp_path: Path, sandbox: RunningSandbox) -> None:
    output, failures = run_suite(
        tmp_path,
        sandbox,
        folded=(
            "  - message: {$.type: typing}\n"
            "  - bot: hi ada! what can i help you with?\n"
            "    ignore_case: true\n"
        ),
        loose=(
            "  - message: {$.type: typing}\n  - bot: hi ada what can i help you with\n    text_match: loose\n"
        ),
        exact=("  - message: {$.type: typing}\n  - bot: hi ada! what can i help you with?\n"),
    )
    assert "1 failed, 2 passed" in output
    assert failures["exact"].splitlines()[2:4] == [
        '  expected: "hi ada! what can i help you with?"',
        "            hint: the texts differ only in case; ignore_case: true (or text_match: ignore_case) "
        "accepts it",
    ]


# -- soft checks and on_failure: continue --------------------------------------------------


SOFT = (
    "  - message: {$.type: typing}\n"
    "  - bot: Hello there\n"
    "    soft: true\n"
    "  - status: awaiting_transfer\n"
    "    soft: true\n"
    "  - user: tech\n"
    "  - bot: {starts_with: Your ticket}\n"
    "    anywhere: true\n"
    "  - status: awaiting_input\n"
)


def test_soft_checks_let_the_conversation_go_on_and_fail_it_at_the_end(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    every = SOFT.replace("    soft: true\n", "")
    output, failures = run_suite(tmp_path, sandbox, soft=SOFT + "  - variables: {$.topic: tech}\n")
    assert "1 failed" in output
    lines = failures["soft"].splitlines()
    # The two soft checks, and the end of the scenario: the typing indicator and the card are unchecked.
    assert (
        lines[0]
        == 'Scenario "soft" failed at soft.scenario.yaml:6:5 (and 2 more failures after it: soft checks)'
    )
    assert lines[1:7] == [
        "step 2 (soft.scenario.yaml:6): bot message 2 of the turn does not match",
        '  expected: "Hello there"',
        '  actual: "Hi Ada! What can I help you with?"',
        "step 3 (soft.scenario.yaml:8): the session is awaiting_input, expected awaiting_transfer",
        "  expected: awaiting_transfer",
        "  actual: awaiting_input",
    ]
    assert "✓" not in failures["soft"] and "  user  tech" in failures["soft"]  # it went on
    (tmp_path / "soft.scenario.yaml").unlink()
    output, failures = run_suite(tmp_path, sandbox, every=every)
    scenario = tmp_path / "every.scenario.yaml"
    scenario.write_text(scenario.read_text().replace("conversation:", "on_failure: continue\nconversation:"))
    done = run_pytest(
        tmp_path,
        f"--flowtest-base-url={sandbox.url}",
        "-p",
        "no:allure_pytest",
        env={"FLOWTEST_API_KEY": DEFAULT_API_KEY},
    )
    assert sections(done.stdout)["every"].splitlines()[0] == (
        'Scenario "every" failed at every.scenario.yaml:7:5 (and 2 more failures after it: soft checks)'
    )


# -- ${uuid} --------------------------------------------------------------------------------


def test_uuid_is_new_for_each_attempt_and_the_same_within_one(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    (tmp_path / "u.scenario.yaml").write_text(
        "name: u\nflow: support\nretries: 1\nstart: {variables: {customerName: '${uuid}'}}\n"
        "conversation:\n  - message: {$.type: typing}\n  - bot: {contains: '${uuid}'}\n  - bot: never\n"
    )
    case = cases_of(ScenarioLoader(tmp_path).load_file(tmp_path / "u.scenario.yaml").scenarios[0])[0]

    async def go() -> Result:
        async with AsyncFlowClient(ClientConfig(sandbox.url, "demo", DEFAULT_API_KEY)) as client:
            return await run_case(case, client, RunContext("run1", "demo"))

    result = asyncio.run(go())
    sent = [
        attempt.steps[0].exchanges[0].request_json["variables"]["customerName"] for attempt in result.attempts
    ]
    assert len(result.attempts) == 2 and sent[0] != sent[1]
    assert all(re.fullmatch(r"[0-9a-f-]{36}", value) for value in sent)
    assert [attempt.steps[2].outcome for attempt in result.attempts] == [Outcome.PASSED, Outcome.PASSED]
