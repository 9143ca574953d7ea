"""flowtest import botium: a hand-written suite (tests/fixtures/botium-handmade) imported, validated, run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flowtest.authoring.botium.script import Hook, Script, Step, memory_cases, parse_step, read_file
from flowtest.errors import SourceError
from tests.conftest import ROOT, run_pytest
from tests.test_authoring import project, run

SUITE = ROOT / "tests" / "fixtures" / "botium-handmade"

SUMMARY = [
    "flowtest: imported 4 scenario(s), 1 partial(s), 2 utterance list(s), 1 table(s) into scenarios",
    "2 thing(s) without an equivalent, kept as comments:",
    f"  {SUITE}/convos/declines-agent.convo.txt:15: INTENT flight_delayed: "
    "no equivalent (the API returns messages, not NLU results)",
    f"  {SUITE}/convos/reuses-number.convo.txt:18: $now: written as ${{now.iso}}, "
    "in ISO 8601 where Botium uses the locale's format",
]

DECLINES_AGENT = """\
# Imported from Botium: convos/declines-agent.convo.txt (flowtest import botium).
name: Flight status, caller declines an agent
flow: flight-status
description: The caller asks about a flight in their own words, types its number, and declines an agent.
strict: false  # Botium does not fail on bot messages no step checks
ignore_messages: [typing]  # Botium's connectors drop typing indicators
examples: flights.csv
conversation:
  - include: shared/greeting.partial.yaml
  - user: {utterance: ASK_STATUS}
  - bot: {contains: 'what is your FLIGHT NUMBER?', ignore_case: true}
  - user: ${flight}
  # botium (line 15): INTENT flight_delayed: no equivalent (the API returns messages, not NLU results)
  - bot: {regex: 'Flight ${expected} is delayed by .* minutes', ignore_case: true}
  - user: no thanks
  - wait: 50ms
  - bot: {contains: goodbye, ignore_case: true}
"""


def test_an_imported_suite_validates_and_runs_green_against_the_sandbox(tmp_path: Path) -> None:
    root = project(tmp_path)
    flows = ROOT / "tests" / "fixtures" / "botium-flows"  # flight status, with quick replies
    (root / "pyproject.toml").write_text(f'[tool.flowtest]\nsandbox_flows = "{flows}"\n')
    done = run("import", "botium", str(SUITE), "--out", "scenarios", "--flow", "flight-status", cwd=root)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == SUMMARY
    out = root / "scenarios"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "botium.utterances.yaml",
        "convos/declines-agent.scenario.yaml",
        "convos/flights.csv",
        "convos/reuses-number.scenario.yaml",
        "convos/shared/greeting.partial.yaml",
        "convos/smalltalk.scenario.yaml",
        "convos/straight-to-agent.scenario.yaml",
    ]
    assert (out / "convos" / "declines-agent.scenario.yaml").read_text() == DECLINES_AGENT
    assert (out / "convos" / "flights.csv").read_text() == (
        "id,flight,expected\nlower-case,ba 117,BA117\nalready-clean,LH400,LH400\n"
    )
    assert run("validate", cwd=root).returncode == 0

    tests = run_pytest(root, "-v", env={"FLOWTEST_BASE_URL": ""})
    assert tests.returncode == 0, tests.stdout
    passed = re.findall(r"::(.+) PASSED", tests.stdout)
    assert len(passed) == 10  # 2 table rows x 3 phrases, 2 phrases, and two single tests
    assert "Flight status, caller declines an agent[lower-case-ASK_STATUS-3]" in passed

    again = run("import", "botium", str(SUITE), "--out", "scenarios", "--flow", "flight-status", cwd=root)
    assert again.returncode == 2
    assert again.stderr == (
        "flowtest: error: scenarios/botium.utterances.yaml exists; "
        "flowtest import does not overwrite files (choose another --out)\n"
    )


def test_botium_meaning_is_kept_a_mismatch_still_fails(tmp_path: Path) -> None:
    """Case and position do not matter, as in Botium; a wrong text still fails, naming the step."""
    root = project(tmp_path)
    src = tmp_path / "botium"
    src.mkdir()
    (src / "wrong.convo.txt").write_text(
        "Wrong answer\n\n#bot\nHOW CAN I HELP\n\n#me\nflight status please\n\n#bot\nyour booking reference\n"
    )
    done = run("import", "botium", str(src), "--out", "scenarios", "--flow", "flight-status", cwd=root)
    assert done.returncode == 0, done.stderr
    tests = run_pytest(root, env={"FLOWTEST_BASE_URL": ""})
    assert "1 failed" in tests.stdout
    assert (
        "step 3 (scenarios/wrong.scenario.yaml:9): bot message 1 of the turn does not match" in tests.stdout
    )


def test_a_broken_botium_file_is_one_line_and_the_rest_is_imported(tmp_path: Path) -> None:
    root = project(tmp_path)
    src = tmp_path / "botium"
    src.mkdir()
    (src / "good.convo.txt").write_text("Good\n\n#bot\nhow can I help\n")
    (src / "bad.convo.txt").write_text("Bad\n\n#me\nBUTTON yes\nand some text\n")
    (src / "bad.convo.yaml").write_text("convos:\n  - name: x\n    steps:\n      - robot: [hi]\n")
    done = run("import", "botium", str(src), "--out", "scenarios", "--flow", "flight-status", cwd=root)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "botium/bad.convo.txt:3:1: #me: no text expected after a hook: 'and some text'",
        "botium/bad.convo.yaml:4:9: a step is one of begin, include, me, bot, end with its lines",
        "flowtest: 2 problem(s) in the Botium files (above)",
    ]
    assert (root / "scenarios" / "good.scenario.yaml").is_file()


# -- reading BotiumScript ---------------------------------------------------------------


def test_section_lines_become_text_asserters_and_hooks_as_botium_reads_them() -> None:
    step = parse_step(
        ["?!hello", "there", "", "BUTTONS yes|no\\|maybe", "!INTENT greet", "PAUSE 200", ""], "bot", 4, "x"
    )
    assert step == Step(
        "bot",
        4,
        text="hello\nthere",
        negated=True,
        optional=True,
        hooks=(
            Hook("asserter", "BUTTONS", ("yes", "no|maybe")),
            Hook("asserter", "INTENT", ("greet",), negated=True),
            Hook("logic", "PAUSE", ("200",)),
        ),
    )
    assert parse_step(["??who asks", "!!not negated"], "bot", 1, "x").text == "?who asks\n!!not negated"
    assert parse_step(['{"type": "card"}'], "bot", 1, "x").source_data == {"type": "card"}
    assert parse_step([""], "me", 1, "x").text is None
    assert parse_step(
        [{"BUTTONS": "a|b"}, {"asserter": "MEDIA", "args": ["x.png"], "not": True}], "bot", 1, "x"
    ).hooks == (
        Hook("asserter", "BUTTONS", ("a", "b")),
        Hook("asserter", "MEDIA", ("x.png",), negated=True),
    )


def test_scripting_memory_tables_in_both_orientations() -> None:
    by_case = memory_cases(["|$a|$b", "one|1|2", "two|3|4"])
    by_variable = memory_cases(["|one|two", "$a|1|3", "$b|2|4"])
    assert by_case == by_variable
    assert [(case.name, case.values) for case in by_case] == [
        ("one", {"$a": "1", "$b": "2"}),
        ("two", {"$a": "3", "$b": "4"}),
    ]


def test_a_convo_file_header_and_include_section(tmp_path: Path) -> None:
    path = tmp_path / "a.convo.txt"
    path.write_text("My convo\nfirst line\nsecond line\n\n#include greeting\n\n#me hello-channel\nhi\n")
    script = Script()
    read_file(path, "a.convo.txt", script)
    convo = script.convos[0]
    assert (convo.name, convo.description) == ("My convo", "first line\nsecond line")
    assert [(s.sender, s.channel, s.text, s.line) for s in convo.steps] == [
        ("include", "greeting", None, 5),
        ("me", "hello-channel", "hi", 7),
    ]


def test_object_convo_without_steps_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('{"convos": [{"name": "x"}]}')
    with pytest.raises(
        SourceError, match=r"^a.json:1:13: convos\[0\]: a convo has a name and a list of steps$"
    ):
        read_file(path, "a.json", Script())
