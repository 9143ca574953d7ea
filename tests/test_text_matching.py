"""Text matching and texts as written: real pytest runs against the embedded sandbox (loopback).

The echo flow says back exactly what it received, so a scenario can check both what
flowtest sent and how it compared the bot's texts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flowtest.config import resolve
from flowtest.errors import ConfigError
from flowtest.matchers import TextMode
from flowtest.scenario.loader import ScenarioLoader
from tests.conftest import failure_sections as sections
from tests.conftest import run_pytest

ECHO_FLOW = """\
id: echo
start: hello
nodes:
  hello:
    say: Hello, how can I help you today?
    next: listen
  listen:
    ask: said
    next: answer
  answer:
    say: "${said}"
    next: listen
"""
HEADER = "name: {name}\nflow: echo\nconversation:\n  - bot: Hello, how can I help you today?\n"


def make_suite(folder: Path, pyproject: str = "", **scenarios: str) -> Path:
    (folder / "flows").mkdir(parents=True, exist_ok=True)
    (folder / "flows" / "echo.flow.yaml").write_text(ECHO_FLOW)
    settings = '[tool.flowtest]\nsandbox_flows = "flows"\nallure_results = ""\n' + pyproject
    (folder / "pyproject.toml").write_text(settings)
    for name, steps in scenarios.items():
        text = HEADER.format(name=name) + steps
        (folder / f"{name}.scenario.yaml").write_text(text)
    return folder


def test_texts_are_sent_and_compared_as_written(tmp_path: Path) -> None:
    steps = """\
  - user: 012345
  - bot: 012345
  - user: 12:30
  - bot: "12:30"
  - user: 3.10
  - bot: 3.10
  - user: yes
  - bot: {equals: yes}
  - user: true
  - bot: {any_of: [false, true]}
  - user: 1e3
  - bot: {all_of: [{starts_with: 1e}, {ends_with: 3}]}
  - variables:
      $.said: "1e3"
  - user: (a+b)
  - bot: (a+b)
  - save: {typed: $.said}
  - user: (a+b)
  - bot: {regex: "^${typed}$"}
  - user: ab
  - bot: {not: {regex: "^${typed}$"}}
"""
    suite = make_suite(tmp_path, as_written=steps)
    done = run_pytest(suite)
    assert done.returncode == 0, done.stdout
    assert "1 passed" in done.stdout


PASSING = """\
  - user: "  Yes,   PLEASE!  "
  - bot: {starts_with: "  Yes"}
  - user: Your ticket is INC0042.
  - bot: {ends_with: INC0042.}
  - user: I'd like to check my flight
  - bot: {all_of: [{contains: flight}, {starts_with: "I'd"}, {not: {contains: hotel}}]}
  - user: Sorry, I didnt understand that
  - bot: {fuzzy: "Sorry, I didn't understand that."}
  - user: Flight number plz
  - bot: {fuzzy: flight number please, threshold: 0.8}
  - user: HELLO there
  - bot: {equals: hello THERE, ignore_case: true}
  - user: Straße
  - bot: {contains: STRASSE, ignore_case: true}
  - user: FLIGHT ba117
  - bot: {regex: "^flight BA\\\\d+$", ignore_case: true}
  - user: "Well...   hello,  WORLD!"
  - bot: {starts_with: "well hello world", loose: true}
  - user: \uff46\uff55\uff4c\uff4c width
  - bot: {equals: full width, loose: true}
"""


def test_text_matchers_and_options_pass(tmp_path: Path) -> None:
    suite = make_suite(tmp_path, matchers=PASSING)
    (suite / "mode.scenario.yaml").write_text(
        "name: mode\nflow: echo\ntext_match: loose\nconversation:\n"
        "  - bot: hello how can i help you today\n"
        "  - user: Good-bye,  then!\n"
        "  - bot: {any_of: [goodbye then, see you]}\n"
        "  - user: Ticket INC7\n"
        "  - bot: {regex: ^ticket}\n"  # loose makes a regex ignore case
    )
    done = run_pytest(suite)
    assert done.returncode == 0, done.stdout
    assert "2 passed" in done.stdout


FAILING = {
    "case": "  - user: Hello World\n  - bot: hello world\n",
    "spacing": '  - user: "Your order  has shipped."\n  - bot: {contains: "order has shipped"}\n',
    "punctuation": "  - user: Hi, Ada! Welcome back.\n  - bot: Hi Ada welcome back\n",
    "regex": "  - user: Flight BA117\n  - bot: {regex: '^flight'}\n",
    "fuzzy": "  - user: Please hold the line\n  - bot: {fuzzy: Please hold on, threshold: 0.9}\n",
    "ignore": '  - user: "Good  bye"\n  - bot: {equals: good bye, ignore_case: true}\n',
    "all": "  - user: Ticket INC1\n  - bot: {all_of: [{starts_with: Ticket}, {ends_with: INC2}]}\n",
}


def test_failures_name_the_difference_the_option_and_the_score(tmp_path: Path) -> None:
    suite = make_suite(tmp_path, **FAILING)
    done = run_pytest(suite)
    found = sections(done.stdout)
    transcript = "\n\nTranscript (flow echo, org demo, session ses_X):\n  bot   Hello, how can I help you today?\n        [status: awaiting_input]\n"
    assert found["case"] == (
        'Scenario "case" failed at case.scenario.yaml:6:5\n'
        "step 3 (case.scenario.yaml:6): bot message 1 of the turn does not match\n"
        '  expected: "hello world"\n'
        "            hint: the texts differ only in case; ignore_case: true (or text_match: ignore_case) accepts it\n"
        '  actual: "Hello World"' + transcript + "  user  Hello World  (T)\n  bot   Hello World\n"
        "  ✗ step 3 (case.scenario.yaml:6): bot: hello world"
    )
    assert found["spacing"].splitlines()[2:4] == [
        '  expected: contains "order has shipped"',
        "            hint: the texts differ only in spacing; loose: true (or text_match: loose) accepts it",
    ]
    assert found["punctuation"].splitlines()[2:4] == [
        '  expected: "Hi Ada welcome back"',
        "            hint: the texts differ only in case and punctuation; loose: true (or text_match: loose) accepts it",
    ]
    assert found["regex"].splitlines()[2:5] == [
        '  expected: matches regex "^flight"',
        "            hint: the texts differ only in case; ignore_case: true (or text_match: ignore_case) accepts it",
        '  actual: "Flight BA117"',
    ]
    assert found["fuzzy"].splitlines()[1:4] == [
        "step 3 (fuzzy.scenario.yaml:6): bot message 1 of the turn does not match",
        '  expected: fuzzy "Please hold on" (similarity at least 0.9), score 0.65',
        '  actual: "Please hold the line"',
    ]
    assert found["ignore"].splitlines()[2:4] == [
        '  expected: equals "good bye" (ignoring case)',
        "            hint: the texts differ only in spacing; loose: true (or text_match: loose) accepts it",
    ]
    assert found["all"].splitlines()[2:4] == ['  expected: ends with "INC2"', '  actual: "Ticket INC1"']
    assert len(found) == len(FAILING)


def test_the_text_match_setting_sets_the_default_and_the_scenario_key_wins(tmp_path: Path) -> None:
    steps = "  - user: Hello,  World!\n  - bot: hello world\n"
    exact = "text_match: exact\n"
    suite = make_suite(tmp_path, loose=steps)
    (suite / "exact.scenario.yaml").write_text(
        "name: exact\nflow: echo\n" + exact + HEADER.split("\n", 2)[2] + steps
    )
    done = run_pytest(suite, env={"FLOWTEST_TEXT_MATCH": "loose"})
    assert "1 failed, 1 passed" in done.stdout, done.stdout
    assert "exact.scenario.yaml:7:5" in done.stdout

    wrong = run_pytest(suite, "--flowtest-text-match=lose")
    assert wrong.returncode == pytest.ExitCode.USAGE_ERROR
    assert (
        "flowtest: --flowtest-text-match: expected one of exact, ignore_case, loose, got 'lose', "
        "did you mean 'loose'?"
    ) in wrong.stderr


def test_the_setting_is_read_from_every_source(tmp_path: Path) -> None:
    assert resolve({}, {}, {}, tmp_path).text_match is TextMode.EXACT
    assert resolve({}, {}, {"text_match": "ignore_case"}, tmp_path).text_match is TextMode.IGNORE_CASE
    from_env = resolve({}, {"FLOWTEST_TEXT_MATCH": "loose"}, {"text_match": "ignore_case"}, tmp_path)
    assert from_env.text_match is TextMode.LOOSE
    from_cli = resolve({"text_match": "exact"}, {"FLOWTEST_TEXT_MATCH": "loose"}, {}, tmp_path)
    assert from_cli.text_match is TextMode.EXACT
    with pytest.raises(ConfigError, match=r"\[tool.flowtest\] text_match: expected one of exact"):
        resolve({}, {}, {"text_match": "fuzzy"}, tmp_path)


@pytest.mark.parametrize(
    ("step", "error"),
    [
        (
            "  - bot: {regex: x, loose: true}\n",
            "4:10: step 1, bot: 'loose' goes with equals, contains, starts_with or ends_with "
            "(a regex says itself what it tolerates; use ignore_case)",
        ),
        (
            "  - bot: {contains: x, threshold: 0.5}\n",
            "4:10: step 1, bot: 'threshold' goes with fuzzy",
        ),
        (
            "  - bot: {start_with: x}\n",
            "4:11: step 1, bot: unknown matcher 'start_with', did you mean 'starts_with'?",
        ),
        (
            "  - bot: {fuzzy: x, threshold: 2}\n",
            "4:32: step 1, bot.threshold: 2 is greater than the maximum of 1",
        ),
        ("  - bot: {all_of: []}\n", "4:19: step 1, bot.all_of: [] should be non-empty"),
        (
            "  - bot: {regex: 'your (name'}\n",
            '4:18: step 1, bot.regex: not a valid regex: missing ), unterminated subpattern at position 6 of "your (name"',
        ),
    ],
)
def test_misused_options_are_one_line_each(tmp_path: Path, step: str, error: str) -> None:
    path = tmp_path / "bad.scenario.yaml"
    path.write_text("name: bad\nflow: echo\nconversation:\n" + step)
    loaded = ScenarioLoader(tmp_path).load_file(path)
    assert [str(e) for broken in loaded.broken for e in broken.errors] == [f"bad.scenario.yaml:{error}"]


def test_text_match_is_a_scenario_key_with_its_choices(tmp_path: Path) -> None:
    path = tmp_path / "bad.scenario.yaml"
    path.write_text("name: bad\nflow: echo\ntext_match: lose\nconversation:\n  - bot: hi\n")
    loaded = ScenarioLoader(tmp_path).load_file(path)
    assert [str(e) for broken in loaded.broken for e in broken.errors] == [
        "bad.scenario.yaml:3:13: text_match: expected one of exact, ignore_case, loose, got 'lose', "
        "did you mean 'loose'?"
    ]


def test_a_partial_sees_its_texts_as_written_and_its_with_values_escaped_in_a_regex(tmp_path: Path) -> None:
    (tmp_path / "ask.partial.yaml").write_text(
        "conversation:\n  - user: 0042\n  - bot: 0042\n  - user: ${ticket}\n  - bot: {regex: '^${ticket}$'}\n"
    )
    path = tmp_path / "uses.scenario.yaml"
    path.write_text(
        "name: uses\nflow: echo\nconversation:\n  - include: ask.partial.yaml\n    with: {ticket: 'a.b'}\n"
    )
    (scenario,) = ScenarioLoader(tmp_path).load_file(path).scenarios
    user, bot, _, regex = scenario.steps
    assert user.text == "0042"  # type: ignore[attr-defined]
    assert bot.matchers[0].text == "0042"  # type: ignore[attr-defined]
    assert regex.matchers[0].pattern == r"^a\.b$"  # type: ignore[attr-defined]
