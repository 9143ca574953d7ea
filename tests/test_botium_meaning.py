"""flowtest import botium: structured messages, scripting memory taken from a message, button
payloads and botium.json's capabilities, imported and run against the support flow."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import run_pytest
from tests.test_authoring import project, run
from tests.test_botium_import_edges import _import

# The support flow (scenarios/flows): a typing indicator, then the greeting with three buttons.
GREETING = json.dumps(
    {
        "text": "hi there! what can I help you with?",
        "buttons": [
            {"title": "Billing"},
            {"title": "Technical support", "payload": "tech"},
            {"title": "Talk to a person"},
        ],
    }
)
POSTBACKS = f"""\
Postbacks and JSON

#bot
{GREETING}
ASSIGN_SCRIPTING_MEMORY topic|$.buttons[1].payload

#me
{{"text": "$topic", "payload": {{"source": "quick reply"}}}}

#bot
{{"type": "card", "title": "Ticket *"}}
ASSIGN_SCRIPTING_MEMORY check|$.buttons[0].payload

#bot
Your ticket number is $ticket.

#me
BUTTON $check|Check status

#bot
Ticket $ticket is being worked on
"""
EXACT = """\
Exact greeting

#bot
HI THERE! WHAT CAN I HELP YOU WITH?

#me
BILLING_WORDS
"""
EXACT_CAPS = (
    '{"botium": {"Capabilities": {"SCRIPTING_MATCHING_MODE": "equalsIgnoreCase", '
    '"SCRIPTING_UTTEXPANSION_MODE": "first", "SCRIPTING_ENABLE_MEMORY": false}}}'
)
WORDS = "BILLING_WORDS\nbilling\nmy bill, please\n"


def test_structured_messages_memory_from_a_message_and_button_payloads_run(tmp_path: Path) -> None:
    root = project(tmp_path)
    src = root / "botium"
    (src / "exact").mkdir(parents=True)
    (src / "postbacks.convo.txt").write_text(POSTBACKS)
    (src / "exact" / "exact.convo.txt").write_text(EXACT)
    (src / "exact" / "botium.json").write_text(EXACT_CAPS)
    (src / "exact" / "words.utterances.txt").write_text(WORDS)
    done = run("import", "botium", "botium", "--out", "scenarios/imported", "--flow", "support", cwd=root)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[1:] == [
        "1 thing(s) without an equivalent, kept as comments:",
        "  botium/postbacks.convo.txt:7: #me sends a structured message: sent its text as the text",
    ]
    postbacks = (root / "scenarios" / "imported" / "postbacks.scenario.yaml").read_text()
    greeting = (
        "  - message: {$.text: {contains: 'hi there! what can I help you with?', ignore_case: true}, "
        "$.buttons: {length: 3}, '$.buttons[0].title': {contains: Billing, ignore_case: true}, "
        "'$.buttons[1].title': {contains: Technical support, ignore_case: true}, "
        "'$.buttons[1].payload': {contains: tech, ignore_case: true}, "
        "'$.buttons[2].title': {contains: Talk to a person, ignore_case: true}}\n"
    )
    assert greeting in postbacks  # a JSON #bot: each field it names, lists by length and item
    assert "    save: {topic: '$.buttons[1].payload'}\n  - user: ${topic}\n" in postbacks
    card = "{$.type: {contains: card, ignore_case: true}, $.title: {regex: Ticket .*, ignore_case: true}}"
    assert f"  - message: {card}\n    save: {{check: '$.buttons[0].payload'}}\n" in postbacks
    assert "  - user: ${check}\n" in postbacks  # the button's payload, as Botium's ButtonInput sends it
    exact = (root / "scenarios" / "imported" / "exact" / "exact.scenario.yaml").read_text()
    assert "utterances: first  # botium.json SCRIPTING_UTTEXPANSION_MODE\n" in exact
    assert "  - bot: {equals: 'HI THERE! WHAT CAN I HELP YOU WITH?', ignore_case: true}\n" in exact
    tests = run_pytest(root, "-v", env={"FLOWTEST_BASE_URL": ""})
    assert re.findall(r"::(.+?) PASSED", tests.stdout) == ["Exact greeting", "Postbacks and JSON"], (
        tests.stdout
    )


def test_with_scripting_memory_off_a_dollar_word_is_text_and_every_failure_can_be_reported(
    tmp_path: Path,
) -> None:
    root = project(tmp_path)
    files = {
        "botium.json": '{"botium": {"Capabilities": {"SCRIPTING_ENABLE_MEMORY": false, '
        '"SCRIPTING_ENABLE_MULTIPLE_ASSERT_ERRORS": true}}}',
        "price.convo.txt": "Price\n\n#me\n$100 for $name?\n\n#bot\n$100 for $name\n",
    }
    code, stdout, stderr = _import(root, files)
    assert (code, stderr, stdout.splitlines()[1:]) == (0, "", [])
    text = (root / "scenarios" / "imported" / "price.scenario.yaml").read_text()
    assert "  - user: $100 for $name?\n  - bot: {contains: $100 for $name, ignore_case: true}\n" in text
    assert "on_failure: continue  # botium.json SCRIPTING_ENABLE_MULTIPLE_ASSERT_ERRORS\n" in text
