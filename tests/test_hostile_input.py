"""Nothing a user writes may hang the run or lose the suite: a corpus of broken files, slow regexes.

Each broken file costs only itself, with one ``path:line:column: message`` line, in
``validate`` and in a pytest run, where the good scenario beside them still runs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowtest.sandbox import DEFAULT_API_KEY
from flowtest.sandbox.server import RunningSandbox
from flowtest.yamlsource import MAX_FILE_BYTES
from tests.conftest import FLOWS, FLOWTEST, run_pytest
from tests.faultserver import FaultServer, Reply, fault_server

HEAD = "name: NAME\nflow: flight-status\nconversation:\n"
GOOD = HEAD.replace("NAME", "Still runs") + "  - bot: {contains: help}\n"

# file name -> (content, the line validate and pytest print for it)
CORPUS = {
    "bad-date": (
        HEAD + "  - bot: {contains: help}\n  - user: 2024-02-30\n  - bot: {contains: Sorry}\n",
        None,
    ),  # a date that is none is the designer's text: the scenario is valid
    "bad-int-tag": (
        HEAD + "  - user: !!int abc\n",
        "bad-int-tag.scenario.yaml:4:11: 'abc' is not a valid !!int",
    ),
    "bad-float-tag": (
        HEAD + "  - user: !!float x\n",
        "bad-float-tag.scenario.yaml:4:11: 'x' is not a valid !!float",
    ),
    "bad-timestamp-tag": (
        HEAD + "  - user: !!timestamp foo\n",
        "bad-timestamp-tag.scenario.yaml:4:11: 'foo' is not a valid !!timestamp",
    ),
    "huge-int": (
        HEAD + "  - variables: {$.x: " + "9" * 5000 + "}\n",
        "huge-int.scenario.yaml:4:22: a number of 5000 digits is too long; quote it for the text",
    ),
    "deep": (
        HEAD + "  - variables: {$.x: {equals: " + "[" * 600 + "]" * 600 + "}}\n",
        "deep.scenario.yaml:4:127: nested more than 100 levels deep",
    ),
    "infinity": (
        "name: inf\nflow: flight-status\nstart:\n  variables: {a: .inf}\nconversation:\n  - bot: Hi\n",
        "infinity.scenario.yaml:4:18: .inf is not a number JSON can carry; quote it for the text",
    ),
    "nan": (
        "name: nan\nflow: flight-status\nstart:\n  variables: {a: .nan}\nconversation:\n  - bot: Hi\n",
        "nan.scenario.yaml:4:18: .nan is not a number JSON can carry; quote it for the text",
    ),
    "list-tag": (
        "name: tagged\nflow: flight-status\nconversation: !foo\n  - bot: Hi\n",
        "list-tag.scenario.yaml:3:15: unsupported YAML tag '!foo'",
    ),
    "syntax": (
        HEAD + "  - user: [unclosed\n",
        "syntax.scenario.yaml:5:1: invalid YAML: did not find expected",
    ),
    "alias-loop": (
        HEAD + "  - bot: {any_of: &loop [Hi, *loop]}\n",
        "alias-loop.scenario.yaml:4:19: an alias refers to a node that contains it",
    ),
    "alias-bomb": (
        "name: bomb\nflow: flight-status\nstart:\n  variables:\n    a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"    a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 7))
        + "conversation:\n  - bot: Hi\n",
        "alias-bomb.scenario.yaml:5:26: document too large: over 200,000 values (each use of an alias counts again)",
    ),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    (folder / "good.scenario.yaml").write_text(GOOD)
    for name, (content, _) in CORPUS.items():
        (folder / f"{name}.scenario.yaml").write_text(content.replace("NAME", name))
    return folder


def validate(folder: Path, *paths: str) -> subprocess.CompletedProcess[str]:
    command = [*FLOWTEST, "validate", *(paths or [str(folder)]), "--flows", str(FLOWS)]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=60)


def test_validate_gives_one_line_per_broken_file_and_no_traceback(corpus: Path) -> None:
    result = validate(corpus)
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    lines = [line.removeprefix(f"{corpus}/") for line in result.stdout.splitlines()]
    for name, (_, expected) in CORPUS.items():
        found = [line for line in lines if line.startswith(f"{name}.scenario.yaml")]
        if expected is None:
            assert found == [], output
            continue
        path, _, message = expected.partition(": ")
        assert len(found) == 1 and found[0].startswith(f"{path}: error: {message}"), output


def test_a_run_keeps_every_file_but_the_broken_ones(corpus: Path, sandbox: RunningSandbox) -> None:
    result = run_pytest(
        corpus, f"--flowtest-base-url={sandbox.url}", env={"FLOWTEST_API_KEY": DEFAULT_API_KEY}
    )
    output = result.stdout
    assert "Interrupted" not in output and "Traceback" not in output, output
    broken = sum(1 for _, expected in CORPUS.values() if expected is not None)
    assert f"{broken} failed, 2 passed" in output, output
    for _, expected in CORPUS.values():
        if expected is not None:
            assert expected.partition(": ")[2] in output


def test_an_oversize_file_is_refused_with_the_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.scenario.yaml"
    big.write_text(GOOD + "# " + "x" * (MAX_FILE_BYTES + 10) + "\n")
    result = validate(tmp_path, str(big))
    assert result.stdout.startswith(
        "big.scenario.yaml:1:1: error: the file is 2.0 MB, over the 2.0 MB limit: not read"
    ), result.stdout + result.stderr


def test_a_syntax_error_in_document_two_keeps_document_one(tmp_path: Path, sandbox: RunningSandbox) -> None:
    (tmp_path / "two.scenario.yaml").write_text(
        GOOD + "---\n" + HEAD.replace("NAME", "Two") + "  - user: [x\n"
    )
    result = run_pytest(
        tmp_path, f"--flowtest-base-url={sandbox.url}", env={"FLOWTEST_API_KEY": DEFAULT_API_KEY}
    )
    assert "1 failed, 1 passed" in result.stdout, result.stdout
    assert "two.scenario.yaml:10:1: invalid YAML: did not find expected ',' or ']'" in result.stdout


def test_merge_keys_override_and_null_keys_keep_their_text(tmp_path: Path, sandbox: RunningSandbox) -> None:
    (tmp_path / "merge.scenario.yaml").write_text(
        "name: Merge\nflow: flight-status\nstart:\n  variables: {null: 1, true: 2}\nconversation:\n"
        "  - &ask {bot: {contains: help}}\n"
        "  - user: flight\n"
        "  - <<: *ask\n    bot: {contains: number}\n"
        "  - variables: {$.null: 1, $.true: 2}\n"
    )
    result = run_pytest(
        tmp_path, f"--flowtest-base-url={sandbox.url}", env={"FLOWTEST_API_KEY": DEFAULT_API_KEY}
    )
    assert "1 passed" in result.stdout, result.stdout


# -- regexes a designer writes: bounded, and clear when they cannot run ----------------------


@pytest.fixture
def echo() -> Iterator[FaultServer]:
    with fault_server() as server:
        yield server


def run_echo(echo: FaultServer, folder: Path, scenario: str) -> subprocess.CompletedProcess[str]:
    (folder / "regex.scenario.yaml").write_text(scenario)
    return run_pytest(
        folder, f"--flowtest-base-url={echo.url}", env={"FLOWTEST_API_KEY": "k" * 12}, timeout=60
    )


def say_and_match(echo: FaultServer, folder: Path, said: str, pattern: str) -> str:
    scenario = f"name: Echo\nflow: echo\nconversation:\n  - bot: Hello\n  - user: {said}\n"
    return run_echo(echo, folder, scenario + f'  - bot: {{regex: "{pattern}"}}\n').stdout


def test_a_backtracking_regex_is_stopped_and_the_step_fails(tmp_path: Path, echo: FaultServer) -> None:
    output = say_and_match(echo, tmp_path, "a" * 40 + "!", "^You said: (a|aa)+$")
    assert (
        'step 3 (regex.scenario.yaml:6): regex "^You said: (a|aa)+$" was stopped after 1s on a '
        "51-character text: it backtracks catastrophically (as (a|aa)+ can); rewrite it"
    ) in output, output
    assert echo.open_sessions == []


def test_nested_repeats_on_a_long_text_answer_at_once(tmp_path: Path, echo: FaultServer) -> None:
    output = say_and_match(echo, tmp_path, "a" * 5000 + "!", "^You said: (a+)+$")
    assert "bot message 1 of the turn does not match" in output, output
    assert echo.open_sessions == []


def test_a_regex_invalid_once_templated_is_a_scenario_error(tmp_path: Path, echo: FaultServer) -> None:
    result = run_echo(
        echo,
        tmp_path,
        'name: Templated\nflow: echo\nexamples:\n  - {letters: ""}\nconversation:\n'
        '  - bot: {regex: "^Hel[${letters}]o"}\n',
    )
    assert (
        'step 1 (regex.scenario.yaml:6): regex "^Hel[]o" is not a valid regex once templated: unterminated character set'
    ) in result.stdout, result.stdout
    assert "Traceback" not in result.stdout and echo.open_sessions == []


def test_validate_warns_of_nested_repeats(tmp_path: Path) -> None:
    scenario = tmp_path / "nested.scenario.yaml"
    scenario.write_text(HEAD.replace("NAME", "n") + '  - bot: {any_of: [{regex: "^(\\\\w+\\\\s?)*$"}, Hi]}\n')
    result = validate(tmp_path, str(scenario))
    assert result.stdout.startswith(
        'nested.scenario.yaml:4:5: warning: step 1: regex "^(\\\\w+\\\\s?)*$": an unbounded repeat '
        "inside another, such as (a+)+, can take exponential time"
    ), result.stdout


def test_a_null_message_has_no_text(tmp_path: Path, echo: FaultServer) -> None:
    echo.start = Reply(
        status=201, body=lambda sid, _: {"sessionId": sid, "status": "awaiting_input", "messages": [None]}
    )
    result = run_echo(echo, tmp_path, "name: Null message\nflow: echo\nconversation:\n  - bot: None\n")
    assert (
        "step 1 (regex.scenario.yaml:4): bot message 1 of the turn is a null message without text"
        in result.stdout
    ), result.stdout


def test_validate_warns_of_a_regex_an_empty_value_breaks(tmp_path: Path) -> None:
    scenario = tmp_path / "templated.scenario.yaml"
    scenario.write_text(
        'name: t\nflow: flight-status\nexamples:\n  - {letters: ""}\nconversation:\n'
        '  - bot: {regex: "^Hel[${letters}]o"}\n'
    )
    result = validate(tmp_path, str(scenario))
    assert result.stdout.startswith(
        'templated.scenario.yaml:6:5: warning: step 1: regex "^Hel[${letters}]o": '
        "is not a valid regex when ${letters} is empty: unterminated character set at position 4"
    ), result.stdout
