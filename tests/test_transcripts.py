"""flowtest import transcripts: production conversation logs in, scenarios that pass out."""

from __future__ import annotations

import json
import re
from pathlib import Path

from flowtest.authoring.transcripts import Conversation, Line, steps_of
from flowtest.errors import Location
from tests.conftest import run_pytest
from tests.test_authoring import project, run

GREETING = "Hi there! What can I help you with?"
TOPICS = ["Billing", "Technical support", "Talk to a person"]
FIELDS = "conversation, role, text, type, buttons, transfer"


def _support_call(key: str) -> list[dict[str, object]]:
    """A caller of the support flow (scenarios/flows) who opens a ticket and asks after it."""
    return [
        {"conversation": key, "role": "bot", "type": "typing"},
        {"conversation": key, "role": "bot", "text": GREETING, "buttons": TOPICS},
        {"conversation": key, "role": "user", "text": "Technical support"},
        {"conversation": key, "role": "bot", "type": "typing"},
        {
            "conversation": key,
            "role": "bot",
            "type": "card",
            "buttons": [{"title": "Check status", "payload": "status INC4711"}],
        },
        {
            "conversation": key,
            "role": "bot",
            "text": "Your ticket number is INC4711. Tell me the number any time to hear its status.",
        },
        {"conversation": key, "role": "user", "text": "status INC4711"},
        {"conversation": key, "role": "bot", "text": "Ticket INC4711 is being worked on. Goodbye."},
    ]


BILLING = [
    {"conversation": "b-7", "role": "bot", "type": "typing"},
    {"conversation": "b-7", "role": "bot", "text": GREETING, "buttons": TOPICS},
    {"conversation": "b-7", "role": "user", "text": "billing"},
    {"conversation": "b-7", "role": "bot", "text": "Connecting you to billing."},
    {"conversation": "b-7", "role": "user", "transfer": "failed"},
    {"conversation": "b-7", "role": "bot", "text": "Sorry, billing is busy right now (failed)."},
    {"conversation": "b-7", "role": "bot", "type": "handoff_failed"},
]

CSV = (
    "conversation,role,text,type,buttons,transfer\n"
    "csv-1,bot,,typing,,\n"
    f"csv-1,bot,{GREETING},,Billing|Technical support|Talk to a person,\n"
    "csv-1,user,billing,,,\n"
    "csv-1,bot,Connecting you to billing.,,,\n"
    "csv-1,user,,,,failed\n"
    'csv-1,bot,"Sorry, billing is busy right now (failed).",,,\n'
    "csv-1,bot,,handoff_failed,,\n"
)

TICKET_SCENARIO = """\
# Imported from logs/tuesday.jsonl (flowtest import transcripts).
name: Conversation t-1
flow: support
description: '2 conversations went this way: t-1, t-2'
ignore_messages:
- typing
conversation:
- bot: Hi there! What can I help you with?
  message:
    $.buttons[*].title:
    - Billing
    - Technical support
    - Talk to a person
- user: Technical support
- message:
    $.type: card
    $.buttons[*].title:
    - Check status
- bot: Your ticket number is INC4711. Tell me the number any time to hear its status.
- user: status INC4711
- bot: Ticket INC4711 is being worked on. Goodbye.
"""


def _lines(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def test_logs_become_one_scenario_per_distinct_conversation_that_passes(tmp_path: Path) -> None:
    root = project(tmp_path)
    logs = root / "logs"
    logs.mkdir()
    # Two calls that went the same way, interleaved as a log has them, and a transfer that failed.
    rows = [row for pair in zip(_support_call("t-1"), _support_call("t-2"), strict=True) for row in pair]
    (logs / "tuesday.jsonl").write_text(_lines(rows + BILLING))
    (logs / "wednesday.csv").write_text(CSV)  # the billing call again, from another system
    done = run(
        "import", "transcripts", "logs/tuesday.jsonl", "logs/wednesday.csv", "--flow", "support",
        "--out", "scenarios/production", cwd=root,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "flowtest: 2 scenario(s) from 4 conversation(s) into scenarios/production",
        "  scenarios/production/t-1.scenario.yaml: Conversation t-1 (and 1 more alike)",
        "  scenarios/production/b-7.scenario.yaml: Conversation b-7 (and 1 more alike)",
    ]
    out = root / "scenarios" / "production"
    assert (out / "t-1.scenario.yaml").read_text() == TICKET_SCENARIO
    billing = (out / "b-7.scenario.yaml").read_text()
    assert "- user: billing\n- bot: Connecting you to billing.\n- transfer: failed\n" in billing
    assert "- message:\n    $.type: handoff_failed\n" in billing

    tests = run_pytest(root, "-v", "scenarios/production", env={"FLOWTEST_BASE_URL": ""})
    assert tests.returncode == 0, tests.stdout
    assert re.findall(r"::(.+?) PASSED", tests.stdout) == ["Conversation b-7", "Conversation t-1"]

    again = run(
        "import", "transcripts", "logs/tuesday.jsonl", "--flow", "support", "--out", "scenarios/production",
        cwd=root,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[1] == (
        "  scenarios/production/t-1-2.scenario.yaml: Conversation t-1 (2) (and 1 more alike)"
    )
    assert (out / "t-1.scenario.yaml").read_text() == TICKET_SCENARIO  # never written over


def test_ids_numbers_and_dates_are_normalised_as_record_does() -> None:
    where = Location("log.jsonl", 1, 1)
    first = Conversation(
        "a",
        "log.jsonl",
        [Line(where, "user", "when?"), Line(where, "bot", "Booked for 2024-05-01 10:00, ref 88231944.")],
    )
    second = Conversation(
        "b",
        "log.jsonl",
        [Line(where, "user", "when?"), Line(where, "bot", "Booked for 2024-06-12 16:30, ref 10293847.")],
    )
    assert (
        steps_of(first)
        == steps_of(second)
        == [
            {"user": "when?"},
            {"bot": {"regex": r"^Booked for \d{4}-\d{2}-\d{2}[0-9T:.+Z -]*, ref \d+\.$"}},
        ]
    )


def test_a_scenario_written_by_record_is_read_as_a_transcript(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "recorded.scenario.yaml").write_text(
        "name: Recorded\nflow: support\nstart:\n  variables: {customerName: Ada}\nconversation:\n"
        "  - message: {$.type: typing}\n  - bot: Hi Ada! What can I help you with?\n"
        "    message: {'$.buttons[*].title': [Billing, Technical support, Talk to a person]}\n"
        "  - user: billing\n  - bot: Connecting you to billing.\n  - status: awaiting_transfer\n"
    )
    done = run(
        "import",
        "transcripts",
        "recorded.scenario.yaml",
        "--flow",
        "support",
        "--out",
        "scenarios/in",
        cwd=root,
    )
    assert (done.returncode, done.stderr) == (0, "")
    written = (root / "scenarios" / "in" / "Recorded.scenario.yaml").read_text()
    assert "name: Recorded (2)\n" in written  # the project has a scenario of that name: this one
    assert "start:\n  variables:\n    customerName: Ada\n" in written
    tests = run_pytest(root, "scenarios/in", env={"FLOWTEST_BASE_URL": ""})
    assert tests.returncode == 0, tests.stdout


def test_every_mistake_is_one_located_line_and_costs_its_conversation_only(tmp_path: Path) -> None:
    root = project(tmp_path)
    good = [{"conversation": "ok", "role": "user", "text": "billing"}]
    (root / "log.jsonl").write_text(
        _lines(good)
        + '{"conversation": "x1", "role": "robot", "text": "hi"}\n'
        + '{"conversation": "x2", "role": "user", "transfer": "maybe"}\n'
        + '{"conversation": "x3", "role": "bot", "text": "hi", "transfer": "failed"}\n'
        + '{"role": "user", "text": "who am I"}\n'
        + '{"conversation": "x4", "role": "user", "text": "hi", "mood": "ok"}\n'
        + '{"conversation": "x5", "role": "user", "text": "hi"\n'
        + "[1, 2]\n"
    )
    (root / "log.csv").write_text("conversation,role,words\nc,user,hi\n")
    (root / "other.csv").write_text("conversation,role,text\nc,user,\nd,bot,hello\n")
    logs = ("log.jsonl", "log.csv", "other.csv")
    done = run("import", "transcripts", *logs, "--flow", "support", "--out", "s", cwd=root)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        'log.jsonl:2:24: "role" is "user" or "bot", not "robot"',
        'log.jsonl:3:40: "transfer" is one of success, failed, hangup, not "maybe"',
        'log.jsonl:4:53: "transfer" goes on a user line (the result the caller sends)',
        'log.jsonl:5:1: no "conversation" id',
        f'log.jsonl:6:54: unknown field "mood"; the fields are {FIELDS}',
        "log.jsonl:7:52: not a JSON object: Expecting ',' delimiter",
        "log.jsonl:8:1: expected one JSON object a line",
        f"log.csv:1:19: unknown column 'words'; the columns are {FIELDS}",
        'other.csv:2:1: a user line has a "text" (or a "transfer")',
        "flowtest: 9 line(s) could not be read (above); their conversations were left out",
    ]
    assert sorted(path.name for path in (root / "s").iterdir()) == ["d.scenario.yaml", "ok.scenario.yaml"]
