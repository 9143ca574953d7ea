"""Scenarios meant to fail, one per failure kind: the exact text a user reads, and no session left open."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from flowtest.sandbox import DEFAULT_API_KEY, running_sandbox
from flowtest.sandbox.app import Faults
from flowtest.sandbox.server import RunningSandbox
from tests.conftest import sandbox_config

HEADER = "name: Broken on purpose\nflow: flight-status\nconversation:\n"


@pytest.fixture(scope="module")
def target() -> Iterator[RunningSandbox]:
    with running_sandbox(sandbox_config(faults=Faults(latency=0.02))) as sandbox:
        yield sandbox


# Subprocesses: pytester's in-process runs reset sys.modules, which splits httpx's exception classes.
def run_scenario(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, target: RunningSandbox, text: str
) -> tuple[pytest.RunResult, str]:
    """Run one scenario file against the sandbox; the failure section, normalised."""
    monkeypatch.setenv("FLOWTEST_API_KEY", DEFAULT_API_KEY)
    pytester.makefile(".scenario.yaml", case=text)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:schemathesis", f"--flowtest-base-url={target.url}"
    )
    return result, failure_section(result.outlines)


def failure_section(lines: list[str]) -> str:
    start = next(i for i, line in enumerate(lines) if line.startswith("_____"))
    end = next(i for i, line in enumerate(lines) if i > start and line.startswith("====="))
    text = "\n".join(lines[start + 1 : end])
    text = re.sub(r"ses_[0-9a-f]+", "ses_X", text)
    text = re.sub(r"\(\d+(\.\d+)?m?s\)", "(T)", text)
    text = re.sub(r"http://127\.0\.0\.1:\d+", "SANDBOX", text)
    text = re.sub(r"actual: \d+ms", "actual: T", text)
    return re.sub(r"took \d+ms", "took T", text)


CASES = {
    "wrong message": (
        HEADER + "  - bot: Hello, how can I help?\n",
        """Scenario "Broken on purpose" failed at case.scenario.yaml:4:5
step 1 (case.scenario.yaml:4): bot message 1 of the turn does not match
  expected: "Hello, how can I help?"
  actual: "Hi there, how can I help?"

Transcript (flow flight-status, org demo, session ses_X):
  bot   Hi there, how can I help?
        [status: awaiting_input]
  ✗ step 1 (case.scenario.yaml:4): bot: Hello, how can I help?""",
    ),
    "api": (
        "name: Broken on purpose\nflow: no-such-flow\nconversation:\n  - bot: hi\n",
        "Scenario \"Broken on purpose\" failed at case.scenario.yaml:1:1\nno such flow: POST SANDBOX/cgw/process/v1/orgs/demo/flows/no-such-flow/sessions answered 404 FLOW_NOT_FOUND: no flow 'no-such-flow' in organization 'demo' (check the scenario's flow:)\n\nTranscript (flow no-such-flow, org demo, session none):\n  ✗ start: Start Session: no-such-flow",
    ),
    "invalid-state": (
        "name: Broken on purpose\nflow: flight-status\nconversation:\n  - bot: {contains: help}\n  - user: agent\n  - bot: {contains: agent}\n  - user: hello?\n",
        'Scenario "Broken on purpose" failed at case.scenario.yaml:7:5\nstep 4 (case.scenario.yaml:7): the session is awaiting_transfer; a user step needs awaiting_input\n  expected: awaiting_input\n  actual: awaiting_transfer\n\nTranscript (flow flight-status, org demo, session ses_X):\n  bot   Hi there, how can I help?\n        [status: awaiting_input]\n  user  agent  (T)\n  bot   Let me put you through to an agent.\n        [status: awaiting_transfer]\n  ✗ step 4 (case.scenario.yaml:7): user: hello?',
    ),
    "key": (
        "name: Broken on purpose\nflow: flight-status\nconversation:\n  - bot: hi\n    wihtin: 2s\n",
        "case.scenario.yaml:5:5: step 1: unknown key 'wihtin', did you mean 'within'?",
    ),
    "duration": (
        "name: Broken on purpose\nflow: flight-status\nconversation:\n  - user: flight\n    within: soon\n",
        "case.scenario.yaml:5:13: step 1, within: expected a duration such as 2s, 250ms or 1.5, got 'soon'",
    ),
    "matcher": (
        "name: Broken on purpose\nflow: flight-status\nconversation:\n  - bot: {contians: sorry}\n",
        "case.scenario.yaml:4:11: step 1, bot: unknown matcher 'contians', did you mean 'contains'?",
    ),
    "save": (
        "name: Broken on purpose\nflow: flight-status\nconversation:\n  - bot: {contains: help}\n  - save: {flight: $.flightNumber}\n",
        'Scenario "Broken on purpose" failed at case.scenario.yaml:5:5\nstep 2 (case.scenario.yaml:5): save flight: $.flightNumber found nothing in the session\'s variables\n  expected: a value at $.flightNumber\n  actual: variables: attempts, customerName\n\nTranscript (flow flight-status, org demo, session ses_X):\n  bot   Hi there, how can I help?\n        [status: awaiting_input]\n  ✗ step 2 (case.scenario.yaml:5): save: flight = $.flightNumber',
    ),
    "status": (
        "name: Broken on purpose\nflow: flight-status\nconversation:\n  - bot: {contains: help}\n  - status: awaiting_transfer\n",
        'Scenario "Broken on purpose" failed at case.scenario.yaml:5:5\nstep 2 (case.scenario.yaml:5): the session is awaiting_input, expected awaiting_transfer\n  expected: awaiting_transfer\n  actual: awaiting_input\n\nTranscript (flow flight-status, org demo, session ses_X):\n  bot   Hi there, how can I help?\n        [status: awaiting_input]\n  ✗ step 2 (case.scenario.yaml:5): status: awaiting_transfer',
    ),
    "template": (
        "name: Broken on purpose\nflow: flight-status\nconversation:\n  - bot: hi\n  - user: my flight is ${flihgt}\n  - save: {flight: $.flightNumber}\n",
        "case.scenario.yaml:5:11: step 2, user: unknown template name 'flihgt', did you mean 'flight'?",
    ),
    "unconsumed": (
        "name: Broken on purpose\nflow: flight-status\nconversation:\n  - bot: {contains: help}\n  - user: flight please\n",
        'Scenario "Broken on purpose" failed at case.scenario.yaml:5:5\nstep 2 (case.scenario.yaml:5): 1 bot message of the turn not checked before the scenario ended: "Sure. What is your flight number?" (add bot or message steps for them, or set strict: false)\n  expected: no unchecked bot messages\n  actual: "Sure. What is your flight number?"\n\nTranscript (flow flight-status, org demo, session ses_X):\n  bot   Hi there, how can I help?\n        [status: awaiting_input]\n  user  flight please  (T)\n  bot   Sure. What is your flight number?\n  ✗ step 2 (case.scenario.yaml:5): end of scenario',
    ),
    "variable": (
        "name: Broken on purpose\nflow: flight-status\nconversation:\n  - bot: {contains: help}\n  - user: flight\n  - bot: {contains: number}\n  - user: ba 117\n  - bot: {contains: BA117}\n  - variables:\n      $.flightNumber: BA118\n      $.attempts: {gte: 1}\n      $.delayMinutes: {lt: 30}\n",
        'Scenario "Broken on purpose" failed at case.scenario.yaml:9:5\nstep 6 (case.scenario.yaml:9): 2 of 3 variable check(s) failed\n  expected: $.flightNumber: "BA118"\n            $.delayMinutes: < 30\n  actual: $.flightNumber: "BA117"\n          $.delayMinutes: 40\n\nTranscript (flow flight-status, org demo, session ses_X):\n  bot   Hi there, how can I help?\n        [status: awaiting_input]\n  user  flight  (T)\n  bot   Sure. What is your flight number?\n  user  ba 117  (T)\n  bot   Flight BA117 is delayed by 40 minutes. Would you like to talk to an agent?\n  ✗ step 6 (case.scenario.yaml:9): variables: $.flightNumber == "BA118", $.attempts >= 1, $.delayMinutes < 30',
    ),
    "within": (
        "name: Broken on purpose\nflow: flight-status\nconversation:\n  - bot: {contains: help}\n  - user: flight\n    within: 5ms\n",
        'Scenario "Broken on purpose" failed at case.scenario.yaml:5:5\nstep 2 (case.scenario.yaml:5): the answer took T, over the 5ms budget\n  expected: within 5ms\n  actual: T\n\nTranscript (flow flight-status, org demo, session ses_X):\n  bot   Hi there, how can I help?\n        [status: awaiting_input]\n  user  flight  (T)\n  bot   Sure. What is your flight number?\n  ✗ step 2 (case.scenario.yaml:5): user: flight',
    ),
    "yaml": (
        "name: Broken on purpose\nflow: flight-status\nconversation:\n  - bot: [hello\n  - user: x\n",
        "case.scenario.yaml:5:9: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence opened at line 4)",
    ),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_failure_text(
    kind: str, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, target: RunningSandbox
) -> None:
    source, expected = CASES[kind]
    result, section = run_scenario(pytester, monkeypatch, target, source)
    assert section == expected
    result.assert_outcomes(failed=1)
    assert target.open_sessions == 0
    assert "Traceback" not in result.stdout.str()


def test_a_broken_file_does_not_hide_the_others(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, target: RunningSandbox
) -> None:
    monkeypatch.setenv("FLOWTEST_API_KEY", DEFAULT_API_KEY)
    pytester.makefile(".scenario.yaml", broken="name: [x\n")
    pytester.makefile(".scenario.yaml", good=HEADER + "  - bot: {contains: help}\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:schemathesis", f"--flowtest-base-url={target.url}"
    )
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == 1
    assert target.open_sessions == 0


def test_missing_api_key_for_a_real_deployment_is_one_clear_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLOWTEST_API_KEY", raising=False)
    pytester.makefile(".scenario.yaml", good=HEADER + "  - bot: hi\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:schemathesis", "--flowtest-base-url=https://api.example.test"
    )
    assert failure_section(result.outlines) == (
        "flowtest: FLOWTEST_API_KEY is not set: the API at https://api.example.test needs an "
        "organization API key"
    )


def test_a_server_that_is_down_names_the_url(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWTEST_API_KEY", "k")
    pytester.makefile(".scenario.yaml", good=HEADER + "  - bot: hi\n")
    pytester.makefile(".scenario.yaml", later=HEADER.replace("Broken on purpose", "Later") + "  - bot: hi\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:schemathesis", "--flowtest-base-url=http://127.0.0.1:9"
    )
    refused = (
        "POST SANDBOX/cgw/process/v1/orgs/demo/flows/flight-status/sessions failed: "
        "connection refused. Is the service running at SANDBOX? Check the base URL."
    )
    assert failure_section(result.outlines).splitlines()[:2] == [
        'Scenario "Broken on purpose" failed at good.scenario.yaml:1:1',
        refused,
    ]
    # The next scenario does not wait out the retries again: it names the first failure.
    later = result.outlines[result.outlines.index(next(x for x in result.outlines if "_ Later _" in x)) + 1]
    assert re.sub(r"http://127\.0\.0\.1:9", "SANDBOX", later) == (
        f"flowtest: not run: the API could not be reached for an earlier scenario ({refused})"
    )


def test_unknown_config_key_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.flowtest]\nbase_ulr = "http://x"\n')
    pytester.makefile(".scenario.yaml", good=HEADER + "  - bot: hi\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:schemathesis")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        f"flowtest: {pytester.path}/pyproject.toml: [tool.flowtest] unknown key 'base_ulr', did you mean 'base_url'?"
        in result.stderr.str()
    )


def test_verbose_adds_the_raw_exchanges_without_the_key(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, target: RunningSandbox
) -> None:
    monkeypatch.setenv("FLOWTEST_API_KEY", DEFAULT_API_KEY)
    pytester.makefile(".scenario.yaml", case=HEADER + "  - bot: Hello\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:schemathesis", f"--flowtest-base-url={target.url}", "-v"
    )
    section = failure_section(result.outlines)
    exchanges = section[section.index("Exchanges (secrets redacted):") :].splitlines()
    assert exchanges[1] == "  POST SANDBOX/cgw/process/v1/orgs/demo/flows/flight-status/sessions -> 201 (T)"
    assert re.fullmatch(
        r'    request:  \{"metadata": \{"externalSessionId": "flowtest-[0-9a-f]{12}-[0-9a-f]{12}"\}\}',
        exchanges[2],
    )
    assert exchanges[3].startswith('    response: {"sessionId": "ses_X", "status": "awaiting_input"')
    assert exchanges[-2].startswith("  DELETE SANDBOX/cgw/process/v1/orgs/demo/sessions/ses_X -> 200")
    assert DEFAULT_API_KEY not in result.stdout.str()


def test_a_missing_environment_variable_is_named(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, target: RunningSandbox
) -> None:
    monkeypatch.setenv("FLOWTEST_API_KEY", DEFAULT_API_KEY)
    monkeypatch.delenv("FLOWTEST_NOT_SET", raising=False)
    source = HEADER + "  - bot: {contains: help}\n  - user: ${env.FLOWTEST_NOT_SET}\n"
    _, section = run_scenario(pytester, monkeypatch, target, source)
    assert section.splitlines()[:2] == [
        'Scenario "Broken on purpose" failed at case.scenario.yaml:5:5',
        "step 2 (case.scenario.yaml:5): environment variable FLOWTEST_NOT_SET is not set (used as ${env.FLOWTEST_NOT_SET})",
    ]
    assert target.open_sessions == 0


def test_a_wrong_api_key_says_which_setting_to_check(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, target: RunningSandbox
) -> None:
    monkeypatch.setenv("FLOWTEST_API_KEY", "not-the-key")
    pytester.makefile(".scenario.yaml", case=HEADER + "  - bot: hi\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:schemathesis", f"--flowtest-base-url={target.url}"
    )
    assert failure_section(result.outlines).splitlines()[1] == (
        "unexpected API error: POST SANDBOX/cgw/process/v1/orgs/demo/flows/flight-status/sessions "
        "answered 401 UNAUTHORIZED: unknown API key (check FLOWTEST_API_KEY)"
    )
    assert "not-the-key" not in result.stdout.str()
