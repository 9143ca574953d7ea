"""`caller:` + `goal:` and `repeat:` against a help desk in the sandbox whose questions come in
another order in every session (tests/fixtures/desk-flows): the texts a user reads, every mode,
and no session left open."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from flowtest.reporting.runlog import RUNS_FOLDER
from flowtest.sandbox import DEFAULT_API_KEY, running_sandbox
from flowtest.sandbox.app import Faults
from flowtest.sandbox.server import RunningSandbox
from flowtest.scenario.loader import ScenarioLoader
from tests.conftest import FLOWTEST, PYTEST, failure_sections, run_pytest, sandbox_config
from tests.llmserver import JudgeRule, LLMServer, PersonaRule, llm_server
from tests.test_signals import wait_until

ENV = {"FLOWTEST_API_KEY": DEFAULT_API_KEY}
DESK_FLOWS = Path(__file__).resolve().parent / "fixtures" / "desk-flows"
# With this seed, sessions 1 to 6 of a sandbox ask name, ticket, ticket, topic, ticket and topic
# first; started with flaky: "yes", sessions 5 and 6 end in error.
SEED = 7
CALLER = """\
name: The caller answers the desk in any order
flow: desk
{extra}caller:
  facts: {{name: Ada, ticket: INC0060245}}
  rules:
    - when: {{contains: your name}}
      say: ${{name}}
    - when: {{contains: ticket number}}
      say: ${{ticket}}
    - when: {{message: {{"$.buttons[*].title": {{includes: [Billing]}}}}}}
      press: Billing
  max_turns: 6
goal:
  - status: completed
  - bot: Thank you Ada, ticket INC0060245 is with the billing team. Goodbye.
  - variables: {{$.ticket: "${{ticket}}", $.topic: billing}}
"""
SCRIPT = """\
name: A script by position
flow: desk
repeat: 3
conversation:
  - bot: Welcome to the help desk.
  - bot: What is your name?
  - user: Ada
  - bot: What is your ticket number?
  - user: INC0060245
  - bot: What is your question about?
  - user: billing
  - bot: {contains: Goodbye}
  - status: completed
"""


@contextmanager
def desk_sandbox(latency: float = 0.0) -> Iterator[RunningSandbox]:
    """A sandbox of its own: its sessions ask in the orders SEED gives, from the first."""
    with running_sandbox(sandbox_config(flows_dir=DESK_FLOWS, faults=Faults(latency, seed=SEED))) as running:
        yield running


@pytest.fixture
def desk() -> Iterator[RunningSandbox]:
    with desk_sandbox() as running:
        yield running


def run(
    folder: Path, desk: RunningSandbox, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_pytest(
        folder,
        f"--flowtest-base-url={desk.url}",
        "--flowtest-allure-results=",
        *args,
        env={**ENV, **(env or {})},
    )


def write(folder: Path, text: str, name: str = "case") -> Path:
    path = folder / f"{name}.scenario.yaml"
    path.write_text(text)
    return path


def failure(result: subprocess.CompletedProcess[str], name: str) -> str:
    sections = failure_sections(result.stdout)
    assert name in sections, result.stdout + result.stderr
    text = sections[name].split("\n-----")[0]  # the summary sections after the failures
    return re.sub(r"http://127\.0\.0\.1:\d+", "DESK", text)


# -- the caller finds its way where a script by position does not -------------------------


MISPLACED = (
    "failed (session ses_X): step 2 (1-script.scenario.yaml:6): bot message 2 of the turn does not match"
)


def test_a_script_by_position_fails_where_the_caller_passes(tmp_path: Path, desk: RunningSandbox) -> None:
    write(tmp_path, SCRIPT, "1-script")  # sessions 1 to 3: it gets the one order it was written for
    write(tmp_path, CALLER.format(extra="repeat: 3\n"), "2-caller")
    result = run(tmp_path, desk)
    assert "1 failed, 1 passed" in result.stdout, result.stdout
    text = failure(result, "A script by position")
    assert text.splitlines()[1:5] == [
        "1 of 3 runs passed (33%, pass_rate 1): 3 needed",
        "  run 1: passed (session ses_X)",
        f"  run 2: {MISPLACED}",
        f"  run 3: {MISPLACED}",
    ], text
    assert desk.api.started == 6
    assert desk.open_sessions == 0


# The first session of a desk asks name, ticket, topic: how each transcript below starts.
OPENING = (
    "Transcript (flow desk, org demo, session ses_X):\n"
    "  bot   Welcome to the help desk.\n"
    "  bot   What is your name?\n"
    "        [status: awaiting_input]\n"
    '  user  Ada  (T)  [rule 1: when contains "your name"]\n'
    "  bot   What is your ticket number?\n"
)
GOAL_FAILS = CALLER.format(extra="").replace("$.topic: billing", "$.topic: tech")


def test_each_turn_is_shown_with_the_rule_that_answered_it(tmp_path: Path, desk: RunningSandbox) -> None:
    write(tmp_path, GOAL_FAILS)
    result = run(tmp_path, desk)
    assert failure(result, "The caller answers the desk in any order") == (
        'Scenario "The caller answers the desk in any order" failed at case.scenario.yaml:16:5\n'
        "goal step 3 (case.scenario.yaml:16): 1 of 2 variable check(s) failed\n"
        '  expected: $.topic: "tech"\n'
        '  actual: $.topic: "billing"\n'
        "\n" + OPENING + '  user  INC0060245  (T)  [rule 2: when contains "ticket number"]\n'
        "  bot   What is your question about?  [Billing] [Technical] [Talk to a person]\n"
        "  user  [Billing] billing  (T)  [rule 3: when message $.buttons[*].title a list that includes "
        '"Billing"]\n'
        "  bot   Thank you Ada, ticket INC0060245 is with the billing team. Goodbye.\n"
        "        [status: completed]\n"
        '  ✗ goal step 3 (case.scenario.yaml:16): variables: $.ticket == "INC0060245", $.topic == "tech"'
    )
    assert desk.open_sessions == 0


REASKED = "That is not a ticket number, it looks like INC123. | What is your ticket number?"


def test_max_turns_names_the_last_turns_and_the_rules_tried(tmp_path: Path, desk: RunningSandbox) -> None:
    looping = (
        CALLER.format(extra="")
        .replace("ticket: INC0060245}", "ticket: none}")
        .replace("max_turns: 6", "max_turns: 4")
    )
    write(tmp_path, looping)
    result = run(tmp_path, desk)
    assert failure(result, "The caller answers the desk in any order") == (
        'Scenario "The caller answers the desk in any order" failed at case.scenario.yaml:3:1\n'
        "caller (case.scenario.yaml:3): max_turns reached: 4 turns answered and the session is still "
        "awaiting_input\n"
        "  expected: the session leaves awaiting_input and awaiting_transfer within max_turns: 4\n"
        "  actual: the last 3 turns:\n"
        "            2. bot: What is your ticket number?\n"
        '               rule 2: when contains "ticket number" -> user: none\n'
        f"            3. bot: {REASKED}\n"
        '               rule 2: when contains "ticket number" -> user: none\n'
        f"            4. bot: {REASKED}\n"
        '               rule 2: when contains "ticket number" -> user: none\n'
        f"          now: bot: {REASKED} (status awaiting_input)\n"
        "          rules tried on it:\n"
        '            rule 1: when contains "your name": no match\n'
        '            rule 2: when contains "ticket number": matches\n'
        "\n" + OPENING + '  user  none  (T)  [rule 2: when contains "ticket number"]\n'
        "  bot   That is not a ticket number, it looks like INC123.\n"
        "  bot   What is your ticket number?\n"
        * 3
        + "  ✗ caller (case.scenario.yaml:3): caller: 3 rules, max_turns 4"
    )
    assert desk.open_sessions == 0


def test_a_turn_no_rule_matches_fails_without_otherwise(tmp_path: Path, desk: RunningSandbox) -> None:
    text = CALLER.format(extra="")
    only_names = text[: text.index("    - when: {contains: ticket")] + text[text.index("  max_turns") :]
    write(tmp_path, only_names)
    result = run(tmp_path, desk)
    assert failure(result, "The caller answers the desk in any order") == (
        'Scenario "The caller answers the desk in any order" failed at case.scenario.yaml:3:1\n'
        "caller (case.scenario.yaml:3): turn 2: no rule matches and there is no otherwise\n"
        '  expected: rule 1: when contains "your name"\n'
        "  actual: bot: What is your ticket number? (status awaiting_input)\n"
        "\n" + OPENING + "  ✗ caller (case.scenario.yaml:3): caller: 1 rule, max_turns 6"
    )
    assert desk.open_sessions == 0


def test_press_names_a_button_the_turn_must_offer(tmp_path: Path, desk: RunningSandbox) -> None:
    write(tmp_path, CALLER.format(extra="").replace("press: Billing", "press: Refunds"))
    result = run(tmp_path, desk)
    text = failure(result, "The caller answers the desk in any order")
    assert text.splitlines()[1:4] == [
        "caller (case.scenario.yaml:3): turn 3: rule 3: when message $.buttons[*].title a list that includes "
        '"Billing" presses "Refunds", but the turn offers no such button',
        '  expected: a button "Refunds"',
        '  actual: buttons: "Billing", "Technical", "Talk to a person"',
    ], text
    assert desk.open_sessions == 0


TRANSFER_AND_END = """\
name: The caller asks for a person
flow: desk
caller:
  facts: {name: Ada, ticket: INC7}
  rules:
    - when: {contains: your name}
      say: ${name}
    - when: {contains: ticket number}
      say: ${ticket}
    - when: {contains: question about}
      press: talk to a PERSON                     # titles compare ignoring case and spacing
    - when: {status: awaiting_transfer}
      transfer: success
goal:
  - status: completed
  - bot: You're through to a person. Goodbye.
  - variables: {$.topic: agent}
---
name: The caller hangs up when asked for a ticket
flow: desk
caller:
  rules:
    - when: {contains: ticket number}
      end: true
  otherwise: {say: Ada}
goal:
  - status: terminated
"""


def test_transfer_and_end_replies(tmp_path: Path, desk: RunningSandbox) -> None:
    write(tmp_path, TRANSFER_AND_END)
    result = run(tmp_path, desk, "-v")
    assert "2 passed" in result.stdout, result.stdout
    assert desk.open_sessions == 0


DEAD = CALLER.format(extra="").replace(
    "    - when: {message:",
    "    - when: {contains: ticket numbr}\n      say: typo\n    - when: {message:",
)


@pytest.mark.parametrize("mode", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_rules_that_never_fired_are_reported_after_the_run(
    tmp_path: Path, desk: RunningSandbox, mode: list[str]
) -> None:
    write(tmp_path, DEAD, "dead")
    write(tmp_path, DEAD.replace("name: The caller", "name: Another caller"), "again")
    result = run(tmp_path, desk, *mode)
    assert "2 passed" in result.stdout, result.stdout
    summary = result.stdout.split("flowtest: caller rules that never fired (a typo in `when`?)", 1)[1]
    assert summary.splitlines()[1:3] == [
        'again.scenario.yaml:10: rule 3 never fired (when contains "ticket numbr")',
        'dead.scenario.yaml:10: rule 3 never fired (when contains "ticket numbr")',
    ], result.stdout


def test_a_rule_that_fired_in_any_run_is_not_dead(tmp_path: Path, desk: RunningSandbox) -> None:
    write(tmp_path, CALLER.format(extra="repeat: 3\n"))
    result = run(tmp_path, desk)
    assert "1 passed" in result.stdout
    assert "never fired" not in result.stdout


MODES = {
    "serial": [],
    "concurrent": ["--flowtest-concurrency", "4"],
    "xdist": ["-n", "2", "--flowtest-concurrency", "2"],
}


@pytest.mark.parametrize("mode", list(MODES))
def test_every_mode_runs_callers_and_ends_every_session(
    tmp_path: Path, desk: RunningSandbox, mode: str
) -> None:
    for number in range(3):
        write(
            tmp_path,
            CALLER.format(extra="repeat: 3\n").replace("any order", f"any order {number}"),
            str(number),
        )
    result = run(tmp_path, desk, *MODES[mode])
    assert "3 passed" in result.stdout, result.stdout
    assert desk.api.started == 9
    assert desk.open_sessions == 0


FLAKY = CALLER.format(extra='start: {variables: {flaky: "yes"}}\nrepeat: 6\npass_rate: RATE\n')


@pytest.mark.parametrize("mode", ["serial", "concurrent"])
def test_repeat_passes_when_the_share_passes(tmp_path: Path, mode: str) -> None:
    with desk_sandbox() as desk:  # runs 5 and 6 end in error
        write(tmp_path, FLAKY.replace("RATE", "0.6"), "enough")
        result = run(tmp_path, desk, "-W", "always", *MODES[mode])
        assert "1 passed" in result.stdout, result.stdout
        assert "4 of 6 runs passed (67%, pass_rate 0.6)" in result.stdout
        assert desk.open_sessions == 0


def test_repeat_fails_below_the_share_and_shows_every_run(tmp_path: Path) -> None:
    with desk_sandbox() as desk:
        write(tmp_path, FLAKY.replace("RATE", "0.8"))
        result = run(tmp_path, desk)
        text = failure(result, "The caller answers the desk in any order")
        assert desk.open_sessions == 0
    (log,) = (tmp_path / RUNS_FOLDER).glob("*.json")  # what flowtest diff compares
    (test,) = json.loads(log.read_text())["tests"]
    assert (test["outcome"], test["runs"]) == ("failed", {"passed": 4, "of": 6, "pass_rate": 0.8})
    failed = (
        "failed (session ses_X): goal step 1 (case.scenario.yaml:17): the session is error, "
        "expected completed"
    )
    assert text.split("\nTranscript")[0] == (
        'Scenario "The caller answers the desk in any order" failed at case.scenario.yaml:17:5\n'
        "4 of 6 runs passed (67%, pass_rate 0.8): 5 needed\n"
        + "".join(f"  run {number}: passed (session ses_X)\n" for number in range(1, 5))
        + f"  run 5: {failed}\n"
        f"  run 6: {failed}\n"
        "Run 5, the first that did not pass:\n"
        "goal step 1 (case.scenario.yaml:17): the session is error, expected completed\n"
        "  expected: completed\n"
        "  actual: error\n"
    )


# -- the LLM caller ---------------------------------------------------------------------------

PERSONA = """\
name: Ada, played by a model
flow: desk
caller:
  facts: {name: Ada}
  persona: ${name}, a customer who answers in few words
  goal_text: get her billing question to the right team
  max_turns: 6
goal:
  - status: completed
  - bot: {contains: is with the billing team}
  - variables: {$.name: Ada, $.topic: billing}
"""
CALLER_RULES = [
    PersonaRule("your name", {"say": "Ada"}),
    PersonaRule("ticket number", {"say": "INC0060245"}),
    PersonaRule("question about", {"press": "Billing"}),
]


def test_a_persona_plays_the_caller_and_a_rerun_asks_nothing(tmp_path: Path) -> None:
    write(tmp_path, PERSONA)
    cache = tmp_path / "cache"
    with llm_server(LLMServer(persona_rules=list(CALLER_RULES))) as model:
        env = {
            "FLOWTEST_JUDGE_URL": model.url,
            "FLOWTEST_JUDGE_MODEL": "test-model",
            "FLOWTEST_JUDGE_CACHE": str(cache),
        }
        asked = []
        for _ in range(2):  # a new desk each time: its first session asks in the same order
            with desk_sandbox() as desk:
                result = run(tmp_path, desk, env=env)
                assert "1 passed" in result.stdout, result.stdout + result.stderr
                assert desk.open_sessions == 0
            asked.append(model.count("persona"))
    assert asked == [3, 3]  # three turns asked once; the rerun replayed the cache
    assert len(list((cache / "persona").rglob("*.json"))) == 3
    prompt = model.calls[0].body["messages"][0]["content"]
    assert "Ada, a customer who answers in few words" in prompt  # the persona's ${name} is a fact


def test_a_persona_without_an_endpoint_is_an_error_at_collection(
    tmp_path: Path, desk: RunningSandbox
) -> None:
    write(tmp_path, PERSONA)
    env = {key: "" for key in os.environ if key.startswith("FLOWTEST_JUDGE")}
    result = run(tmp_path, desk, env=env)
    assert failure(result, "Ada, played by a model (broken)") == (
        "case.scenario.yaml:5:12: caller.persona: `persona` needs an OpenAI-compatible LLM endpoint: set "
        "judge_url (for a local Ollama: http://localhost:11434/v1) and judge_model, in [tool.flowtest], as "
        "FLOWTEST_JUDGE_URL or with --flowtest-judge-url (see docs/llm.md)"
    )
    assert desk.api.started == 0  # never at run time


def test_allure_and_the_html_transcript_show_every_run_and_the_rate(tmp_path: Path) -> None:
    results = tmp_path / "results"
    suite = tmp_path / "suite"
    suite.mkdir()
    with desk_sandbox() as desk:
        write(suite, FLAKY.replace("RATE", "0.8"))
        run_pytest(suite, f"--flowtest-base-url={desk.url}", f"--flowtest-allure-results={results}", env=ENV)
    (found,) = [json.loads(path.read_text()) for path in results.glob("*-result.json")]
    assert found["status"] == "failed"
    assert found["statusDetails"]["message"].startswith(
        "4 of 6 runs passed (67%, pass_rate 0.8); goal step 1"
    )
    names = [re.sub(r"ses_\w+", "ses_X", step["name"]) for step in found["steps"]]
    assert names == [f"run {n}: {'passed' if n < 5 else 'failed'} (session ses_X)" for n in range(1, 7)]
    turns = [step["name"] for step in found["steps"][0]["steps"]]
    assert turns[1] == 'user: Ada (rule 1: when contains "your name")'
    html = found["descriptionHtml"]
    assert "4 of 6 runs passed (67%, pass_rate 0.8): failed" in html
    assert [html.count(f"run {n} of 6: ") for n in range(1, 7)] == [1] * 6
    assert html.count("class='chat'") == 6
    assert "user · " in html and "rule 1: when contains &quot;your name&quot;" in html


# -- the file: one line per mistake ------------------------------------------------------------

MISTAKES = {
    "both": (
        "conversation: [{bot: hi}]\ncaller: {rules: [{when: hi, say: hello}]}\ngoal: [{status: completed}]\n",
        ["1:1: a scenario takes exactly one of conversation, caller; found conversation, caller"],
    ),
    "neither": ("", ["1:1: a scenario needs one of: conversation, caller"]),
    "no goal": (
        "caller: {rules: [{when: hi, say: hello}]}\n",
        ["1:1: 'caller' needs 'goal': the steps checked when the caller stops"],
    ),
    "goal alone": (
        "conversation: [{bot: hi}]\ngoal: [{status: completed}]\n",
        ["1:1: 'goal' goes with caller"],
    ),
    "two replies": (
        "caller:\n  rules:\n    - {when: hi, say: hello, end: true}\ngoal: [{status: completed}]\n",
        ["5:7: caller, rule 1: a reply takes exactly one of say, press, transfer, end; found say, end"],
    ),
    "a matcher's typo": (
        "caller:\n  rules:\n    - {when: {contians: hi}, say: hello}\ngoal: [{status: completed}]\n",
        ["5:15: caller, rule 1, when: unknown matcher 'contians', did you mean 'contains'?"],
    ),
    "persona alone": (
        "caller: {persona: Ann}\ngoal: [{status: completed}]\n",
        ["3:9: caller: 'persona' needs 'goal_text': what the caller wants"],
    ),
    "pass_rate alone": (
        "pass_rate: 0.5\ncaller: {rules: [{when: hi, say: hello}]}\ngoal: [{status: completed}]\n",
        ["1:1: 'pass_rate' goes with repeat"],
    ),
    "templates and paths": (
        "caller:\n  facts: {ticket: INC1}\n  rules:\n"
        '    - {when: {message: {"$.buttons[*": Billing}}, say: "${tiket}"}\n'
        'goal: [{variables: {$.x: "${ticket}"}}]\n',
        [
            "6:56: caller, rule 1, say: unknown template name 'tiket', did you mean 'ticket'?",
            "6:25: caller, rule 1, when.message.$.buttons[*: invalid JSONPath '$.buttons[*': "
            "Parse error near the end of string!",
        ],
    ),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_mistake_in_a_caller_scenario_is_one_line_at_its_place(tmp_path: Path, mistake: str) -> None:
    body, expected = MISTAKES[mistake]
    path = write(tmp_path, f"name: {mistake}\nflow: desk\n{body}")
    (invalid,) = ScenarioLoader(tmp_path).load_file(path).invalid
    assert [str(error) for error in invalid.errors] == [f"case.scenario.yaml:{line}" for line in expected]


def test_texts_in_a_caller_are_sent_as_written(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: texts\nflow: desk\ncaller:\n  facts: {ticket: 012345}\n  rules:\n"
        "    - {when: 0012, say: 3.10}\n  otherwise: {say: yes}\ngoal: [{status: completed}]\n",
    )
    (scenario,) = ScenarioLoader(tmp_path).load_file(path).scenarios
    caller = scenario.steps[0]
    assert caller.facts == (("ticket", "012345"),)  # type: ignore[attr-defined]
    assert caller.rules[0].reply.text == "3.10"  # type: ignore[attr-defined]
    assert caller.otherwise.text == "yes"  # type: ignore[attr-defined]
    assert not scenario.strict  # the goal checks what it names of the last turn


# -- sessions always ended: signals, flowtest load ---------------------------------------------


@pytest.mark.signals
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_mid_turn_still_ends_the_callers_sessions(tmp_path: Path, signum: signal.Signals) -> None:
    write(tmp_path, CALLER.format(extra="repeat: 2\n"))
    with desk_sandbox(latency=0.5) as desk:
        command = [*PYTEST, "--rootdir", str(tmp_path), str(tmp_path), f"--flowtest-base-url={desk.url}"]
        process = subprocess.Popen(
            [*command, "--flowtest-concurrency", "2", "--flowtest-allure-results="],
            cwd=tmp_path,
            env={**os.environ, **ENV},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_until(lambda: desk.open_sessions == 2)  # each call takes 0.5 s: the signal lands mid-call
        process.send_signal(signum)
        output, _ = process.communicate(timeout=60)
        assert desk.open_sessions == 0, output
    assert process.returncode == 2, output


def test_flowtest_load_runs_a_caller_like_any_scenario_and_ends_its_sessions(
    tmp_path: Path, desk: RunningSandbox
) -> None:
    write(tmp_path, CALLER.format(extra=""))
    result = subprocess.run(
        [*FLOWTEST, "load", str(tmp_path), "--headless", "-u", "3", "-r", "3", "-t", "3s", "-H", desk.url],
        cwd=tmp_path,
        env={**os.environ, **ENV, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    found = re.search(r"flowtest: (\d+) session\(s\) started, \1 ended, 0 may still be open", output)
    assert found is not None and int(found.group(1)) > 3, output
    assert "desk: turn 3 (user)" in output  # each caller turn is a request of its own
    assert desk.open_sessions == 0


def test_similar_and_judge_pick_rules_by_meaning(tmp_path: Path, desk: RunningSandbox) -> None:
    meaning = (
        CALLER.format(extra="")
        .replace("{contains: your name}", "{similar: May I have your name?}")
        .replace("{contains: ticket number}", "{judge: asks for a ticket number}")
    )
    write(tmp_path, meaning)
    rules = [JudgeRule("ticket number", "ticket number", True, "it asks for one")]
    with llm_server(LLMServer(judge_rules=rules)) as model:
        env = {
            "FLOWTEST_JUDGE_URL": model.url,
            "FLOWTEST_JUDGE_MODEL": "test-model",
            "FLOWTEST_JUDGE_CACHE": str(tmp_path / "cache"),
        }
        result = run(tmp_path, desk, env=env)
    assert "1 passed" in result.stdout, result.stdout + result.stderr
    asked = [call.body["messages"][-1]["content"] for call in model.calls]
    assert any("What is your ticket number?" in question for question in asked)
    assert desk.open_sessions == 0


def test_retries_apply_to_each_run_of_a_repeat(tmp_path: Path) -> None:
    retried = FLAKY.replace("RATE", "1").replace("repeat: 6", "repeat: 6\nretries: 1")
    with desk_sandbox() as desk:  # sessions 5, 6, 7 and 9 break: run 5 fails twice, run 6 passes on retry
        write(tmp_path, retried)
        result = run(tmp_path, desk)
        text = failure(result, "The caller answers the desk in any order")
        assert desk.api.started == 8 and desk.open_sessions == 0
    assert text.splitlines()[1:8] == [
        "5 of 6 runs passed (83%, pass_rate 1): 6 needed",
        *(f"  run {number}: passed (session ses_X)" for number in range(1, 5)),
        "  run 5: failed (session ses_X, 2 attempts): goal step 1 (case.scenario.yaml:18): the session is "
        "error, expected completed",
        "  run 6: passed (session ses_X, 2 attempts)",
    ], text
