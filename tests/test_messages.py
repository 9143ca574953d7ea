"""Messages kept whole: message, optional, anywhere, turn, save beside bot, regex groups, JSONPath results.

Everything runs against the real sandbox over loopback, with the support flow of
scenarios/flows (typing indicator, quick replies, a card, a transfer with a target).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from flowtest.authoring.record import Recording
from flowtest.client import AsyncFlowClient, ClientConfig, FlowClient
from flowtest.errors import Location
from flowtest.jsonpath import Found, nothing_at, query
from flowtest.redact import Redactor
from flowtest.reporting.transcript import transcript_html
from flowtest.runner import RunContext, run_case
from flowtest.sandbox import DEFAULT_API_KEY
from flowtest.sandbox.server import RunningSandbox
from flowtest.scenario.loader import ScenarioLoader
from flowtest.scenario.model import cases_of
from flowtest.trace import Outcome, Result, StepRecord, Trace, redact_trace
from tests.conftest import failure_sections as sections
from tests.conftest import run_pytest

HEADER = "name: {name}\nflow: support\nstart: {{variables: {{customerName: Ada}}}}\nconversation:\n"
GREETING = {
    "type": "quick_replies",
    "text": "Hi Ada! What can I help you with?",
    "buttons": [
        {"title": "Billing", "payload": "Billing"},
        {"title": "Technical support", "payload": "tech"},
        {"title": "Talk to a person", "payload": "agent"},
    ],
}


def run_suite(folder: Path, sandbox: RunningSandbox, **scenarios: str) -> tuple[str, dict[str, str]]:
    for name, steps in scenarios.items():
        (folder / f"{name}.scenario.yaml").write_text(HEADER.format(name=name) + steps)
    done = run_pytest(
        folder,
        f"--flowtest-base-url={sandbox.url}",
        "-p",
        "no:allure_pytest",
        env={"FLOWTEST_API_KEY": DEFAULT_API_KEY},
    )
    return done.stdout, sections(done.stdout)


# -- the sandbox speaks rich messages ----------------------------------------------------


def test_the_sandbox_sends_typing_quick_replies_cards_and_a_transfer_target(client: FlowClient) -> None:
    turn = client.start_session("support", variables={"customerName": "Ada", "promo": "2 for 1"})
    assert [dict(m.raw) for m in turn.messages] == [
        {"type": "typing", "durationMs": 300},
        {"type": "text", "text": "Spring offer: 2 for 1"},
        GREETING,
    ]
    card_turn = client.send_text(turn.session_id, "Technical support")
    assert dict(card_turn.messages[1].raw) == {
        "type": "card",
        "title": "Ticket INC4711",
        "subtitle": "Technical support",
        "buttons": [{"title": "Check status", "payload": "status INC4711"}],
    }
    client.send_text(turn.session_id, "it is about inc4711, thanks")  # extract: takes the number only
    assert client.get_session(turn.session_id).variables["askedTicket"] == "INC4711"
    client.end_session(turn.session_id)

    billing = client.start_session("support")  # no promo: the conditional message is not said
    assert [m.type for m in billing.messages] == ["typing", "quick_replies"]
    transferring = client.send_text(billing.session_id, "billing")
    assert transferring.raw["transfer"] == {
        "destination": "billing-queue",
        "data": {"topic": "billing", "customer": "there"},
    }
    client.end_session(billing.session_id)


# -- failures a designer reads -----------------------------------------------------------

FAILING = {
    "textless": "  - bot: Hi Ada! What can I help you with?\n",
    "buttons": (
        "  - message: {$.type: typing}\n"
        "  - bot: Hi Ada! What can I help you with?\n"
        "    message:\n"
        "      $.buttons[*].title: [Billing, Tech]\n"
        "      $.buttons[0].icon: {exists: true}\n"
    ),
    "anywhere": ("  - bot: {contains: Goodbye}\n    anywhere: true\n"),
    "turn": (
        "  - message: {$.type: typing}\n"
        "  - bot: {contains: help}\n"
        "  - user: billing\n"
        "  - bot: Connecting you to billing.\n"
        "  - turn: {$.transfer.destination: sales-queue, $.transfer.data.customer: Ada}\n"
    ),
    "save": ("  - message: {$.type: typing}\n    save: {seconds: $.durationSeconds}\n"),
    "optional": (
        "  - bot: {starts_with: 'Spring offer'}\n"
        "    optional: true\n"
        "  - message: {$.type: typing}\n"
        "  - message: {$.type: card}\n"
    ),
}


def test_failure_texts(tmp_path: Path, sandbox: RunningSandbox) -> None:
    output, found = run_suite(tmp_path, sandbox, **FAILING)
    greeting = "  bot   [typing…]\n  bot   Hi Ada! What can I help you with?  [Billing] [Technical support] [Talk to a person]\n        [status: awaiting_input]\n"
    assert found["textless"] == (
        'Scenario "textless" failed at textless.scenario.yaml:5:5\n'
        "step 1 (textless.scenario.yaml:5): bot message 1 of the turn is a typing message without text; a bot step checks text: "
        "check this one with a message: step, e.g. message: {$.type: typing}\n"
        '  expected: "Hi Ada! What can I help you with?"\n'
        '  actual: {"type": "typing", "durationMs": 300}\n\n'
        "Transcript (flow support, org demo, session ses_X):\n"
        + greeting
        + "  ✗ step 1 (textless.scenario.yaml:5): bot: Hi Ada! What can I help you with?"
    )
    assert found["buttons"].splitlines()[1:6] == [
        "step 2 (buttons.scenario.yaml:6): bot message 2 of the turn does not match",
        '  expected: $.buttons[*].title: ["Billing", "Tech"]',
        "            $.buttons[0].icon: exists",
        '  actual: $.buttons[*].title: ["Billing", "Technical support", "Talk to a person"]',
        '          $.buttons[0].icon: nothing ($.buttons[0] is {"title": "Billing", "payload": "Billing"})',
    ]
    assert found["anywhere"].splitlines()[1:4] == [
        'step 1 (anywhere.scenario.yaml:5): no unchecked bot message of the turn matches (contains "Goodbye")',
        '  expected: contains "Goodbye"',
        '  actual: [typing…], "Hi Ada! What can I help you with?"',
    ]
    assert found["turn"].splitlines()[1:4] == [
        "step 5 (turn.scenario.yaml:9): the latest response does not match",
        '  expected: $.transfer.destination: "sales-queue"',
        '  actual: $.transfer.destination: "billing-queue"',
    ]
    assert found["save"].splitlines()[1:4] == [
        "step 1 (save.scenario.yaml:5): save seconds: $.durationSeconds found nothing in the message",
        "  expected: a value at $.durationSeconds",
        '  actual: nothing ($ is {"type": "typing", "durationMs": 300})',
    ]
    assert found["optional"].splitlines()[6:] == [
        "  bot   [typing…]",
        "  bot   Hi Ada! What can I help you with?  [Billing] [Technical support] [Talk to a person]",
        "        [status: awaiting_input]",
        '  ○ step 1 (optional.scenario.yaml:5): bot: starts with "Spring offer" (optional) (skipped: no match)',
        '  ✗ step 3 (optional.scenario.yaml:8): message: $.type == "card"',
    ]
    assert len(found) == len(FAILING), output
    assert sandbox.open_sessions == 0


def test_passing_checks_over_whole_messages(tmp_path: Path, sandbox: RunningSandbox) -> None:
    steps = (
        "  - message: {$.type: typing}\n"
        "    optional: true\n"
        "  - bot: {starts_with: 'Spring offer'}\n"
        "    optional: true\n"  # no promo: skipped, nothing consumed
        "  - bot: {regex: '^Hi (?P<who>\\w+)!'}\n"
        "    message:\n"
        "      $.buttons[?(@.payload == 'tech')].title: [Technical support]\n"
        "      $.buttons[0:2].payload: [Billing, tech]\n"
        "      $..payload: {length: 3}\n"
        "      $.buttons[5].title: {exists: false}\n"
        "    save: {second: '$.buttons[1].title', titles: '$.buttons[*].title'}\n"
        "  - user: ${second}\n"
        "  - bot: {contains: ticket number is INC4711}\n"  # anywhere: the card and typing come first
        "    anywhere: true\n"
        "  - message:\n"
        "      $.type: card\n"
        "      $.buttons[*].payload: ['status INC4711']\n"
        "    anywhere: true\n"
        "  - message: {$.type: typing}\n"
        "  - user: ${who} asks about INC4711; options were ${titles}\n"
        "  - bot: Ticket INC4711 is being worked on. Goodbye.\n"
        "  - variables: {$.askedTicket: INC4711, $.topic: technical support}\n"
        "  - status: completed\n"
    )
    output, found = run_suite(tmp_path, sandbox, passing=steps)
    assert found == {}, output
    assert "1 passed" in output


def test_a_template_from_a_regex_group_is_known_at_collection(tmp_path: Path) -> None:
    path = tmp_path / "s.scenario.yaml"
    path.write_text(
        HEADER.format(name="s")
        + "  - bot: {regex: '(?P<ticket>INC\\d+)'}\n  - user: ${ticket}\n  - user: ${tikcet}\n"
    )
    loaded = ScenarioLoader(tmp_path).load_file(path)
    assert [str(e) for broken in loaded.broken for e in broken.errors] == [
        "s.scenario.yaml:7:11: step 3, user: unknown template name 'tikcet', did you mean 'ticket'?"
    ]


@pytest.mark.parametrize(
    ("step", "error"),
    [
        (
            "  - bot: [a, b]\n    optional: true\n",
            "5:10: step 1, bot: with 'optional', bot takes one matcher, not a list",
        ),
        (
            "  - status: completed\n    anywhere: true\n",
            "5:5: step 1: 'anywhere' goes with a bot or message step",
        ),
        (
            "  - bot: [a, b]\n    save: {x: $.text}\n",
            "5:10: step 1, bot: beside 'save', bot takes one matcher, not a list "
            "(save reads the one message bot matches)",
        ),
        (
            "  - bot: {contains: a, optional: true}\n",
            "5:24: step 1, bot: unknown matcher 'optional' "
            "(it belongs to the step: write it on its own line, beside bot)",
        ),
        (
            "  - message: {$.type: card}\n    status: completed\n",
            "5:5: step 1: a step takes exactly one of user, transfer, bot, message, turn, status, "
            "variables, save, include, wait, end; found message, status (message and save may stand beside bot)",
        ),
        ("  - turn: {'$.a[': 1}\n", "5:12: step 1, turn.$.a[: invalid JSONPath '$.a['"),
    ],
)
def test_misplaced_keys_are_one_line_each(tmp_path: Path, step: str, error: str) -> None:
    path = tmp_path / "s.scenario.yaml"
    path.write_text(HEADER.format(name="s") + step)
    loaded = ScenarioLoader(tmp_path).load_file(path)
    errors = [str(e) for broken in loaded.broken for e in broken.errors]
    assert len(errors) == 1 and errors[0].startswith(f"s.scenario.yaml:{error}"), errors


# -- the JSONPath results rule -------------------------------------------------------------

DATA = {"a": [{"x": 1}, {"x": 2}], "b": {"c": 3}, "e": []}


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("$.b.c", Found(3, True)),
        ("$.a[0].x", Found(1, True)),  # one index: its value
        ("$.a[-1].x", Found(2, True)),
        ("$.e", Found([], True)),  # a path to a list: the list
        ("$.a[*].x", Found([1, 2], True)),  # wildcard: every value
        ("$..x", Found([1, 2], True)),  # recursive descent
        ("$.a[0:1]", Found([{"x": 1}], True)),  # slice
        ("$.a[?(@.x > 1)].x", Found([2], True)),  # filter
        ("$.b.*", Found([3], True)),
        ("$.a[*].y", Found([], False)),  # finds nothing: an empty list, not found
        ("$.b.d", Found(None, False)),
    ],
)
def test_a_path_gives_a_list_only_when_it_can_find_many(path: str, found: Found) -> None:
    assert query(path, DATA) == found


def test_nothing_at_shows_the_nearest_value_above() -> None:
    assert nothing_at("$.a[0].y", DATA) == 'nothing ($.a[0] is {"x": 1})'
    assert nothing_at("$.a[7].x", DATA) == 'nothing ($.a is [{"x": 1}, {"x": 2}])'
    assert nothing_at("$.b.c.d", DATA) == "nothing ($.b.c is 3)"


# -- what reports show ---------------------------------------------------------------------


def _run_in_process(
    tmp_path: Path, sandbox: RunningSandbox, steps: str, context: RunContext | None = None
) -> Result:
    path = tmp_path / "s.scenario.yaml"
    header = HEADER.format(name="s")
    if context is not None and context.secret_keys:  # a secret long enough to be masked
        header = header.replace("customerName: Ada", "customerName: Ada Lovelace")
    path.write_text(header + steps)
    case = cases_of(ScenarioLoader(tmp_path).load_file(path).scenarios[0])[0]

    async def go() -> Result:
        async with AsyncFlowClient(ClientConfig(sandbox.url, "demo", DEFAULT_API_KEY)) as client:
            return await run_case(case, client, context or RunContext("run1", "demo"))

    return asyncio.run(go())


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.classes: list[tuple[str, str]] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open.append(dict(attrs).get("class") or "")

    def handle_endtag(self, tag: str) -> None:
        self._open.pop()

    def handle_data(self, data: str) -> None:
        named = [cls for cls in self._open if cls]
        if data.strip() and named:
            self.classes.append((named[-1], data))


def test_the_html_transcript_shows_buttons_cards_typing_and_skipped_steps(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    result = _run_in_process(
        tmp_path,
        sandbox,
        "  - message: {$.type: typing}\n  - bot: {starts_with: Nope}\n    optional: true\n"
        "  - bot: {contains: help}\n  - user: tech\n  - message: {$.type: typing}\n"
        "  - message: {$.type: card}\n  - bot: {contains: INC4711}\n",
    )
    trace = result.final
    assert trace.outcome is Outcome.PASSED
    assert [step.outcome for step in trace.steps if step.kind == "bot"] == [
        Outcome.SKIPPED,
        Outcome.PASSED,
        Outcome.PASSED,
    ]
    parser = _Collect()
    parser.feed(transcript_html(trace))
    seen = parser.classes
    assert ("bubble typing", "•••") in seen
    assert [text for cls, text in seen if cls == "chip"] == [
        "Billing",
        "Technical support",
        "Talk to a person",
        "Check status",
    ]
    assert ("bubble card", "Ticket INC4711") in seen
    assert ("check skipped", '○ bot: starts with "Nope" (optional) (skipped: no match)') in seen


def test_record_writes_message_checks_and_keeps_buttons(client: FlowClient) -> None:
    recording = Recording("support", "r", {})
    turn = client.start_session("support")
    recording.turn(turn)
    recording.turn(client.send_text(turn.session_id, "billing"))
    client.end_session(turn.session_id)
    steps: list[dict[str, Any]] = recording.steps
    assert steps == [
        {"message": {"$.type": "typing"}},
        {
            "bot": "Hi there! What can I help you with?",
            "message": {
                "$.type": "quick_replies",
                "$.buttons[*].title": ["Billing", "Technical support", "Talk to a person"],
            },
        },
        {"status": "awaiting_input"},
        {"bot": "Connecting you to billing."},
        {
            "turn": {
                "$.transfer.destination": "billing-queue",
                "$.transfer.data.topic": "billing",
                "$.transfer.data.customer": "there",
            }
        },
        {"status": "awaiting_transfer"},
    ]


def test_a_secret_said_in_a_rich_message_is_masked_in_the_trace(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    result = _run_in_process(
        tmp_path,
        sandbox,
        "  - message: {$.type: typing}\n  - bot: {contains: What can I help you with?}\n",
        RunContext("run1", "demo", secret_keys=frozenset({"customerName"})),
    )
    start = result.final.steps[0]
    assert result.final.outcome is Outcome.PASSED
    assert start.messages[1]["text"] == "Hi ***! What can I help you with?"
    assert start.received[1].startswith("Hi ***! What can I help you with?")
    assert "Lovelace" not in transcript_html(result.final)


def test_a_secret_only_in_a_button_payload_is_masked() -> None:
    raw = {
        "type": "quick_replies",
        "text": "Pick one",
        "buttons": [{"title": "Pay", "payload": "card 4111-1111"}],
    }
    step = StepRecord(
        "start", "Start Session: f", None, None, 0.0, 0.0, None, "awaiting_input", Outcome.PASSED
    )
    step = replace(step, received=("Pick one  [Pay]",), messages=(raw,))
    trace = Trace("c", "f", "demo", Location("x", 1, 1), (step,), "ses_1")
    redacted = redact_trace(trace, Redactor(secret_values=("4111-1111",)))
    assert redacted.steps[0].messages[0]["buttons"][0]["payload"] == "card ***"
