"""similar and judge in scenarios, run by pytest against the real sandbox over loopback: the
semantic extra's real model, and a rule-answering OpenAI-compatible server for the judge."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowtest.sandbox import DEFAULT_API_KEY
from flowtest.sandbox.server import RunningSandbox
from tests.conftest import FLOWTEST, failure_sections, run_pytest
from tests.llmserver import JudgeRule, LLMServer, llm_server

HEADER = (
    "name: {name}\nflow: flight-status\nconversation:\n  - bot: {{contains: help}}\n  - user: flight status\n"
)


def run(
    folder: Path, sandbox: RunningSandbox, *args: str, env: dict[str, str] | None = None, **steps: str
) -> tuple[str, dict[str, str]]:
    for name, body in steps.items():
        (folder / f"{name}.scenario.yaml").write_text(HEADER.format(name=name) + body)
    done = run_pytest(
        folder,
        f"--flowtest-base-url={sandbox.url}",
        "-p",
        "no:allure_pytest",
        *args,
        env={"FLOWTEST_API_KEY": DEFAULT_API_KEY, **(env or {})},
    )
    return done.stdout + done.stderr, failure_sections(done.stdout)


# -- similar ---------------------------------------------------------------------------------


def test_similar_passes_a_rewording_and_fails_another_question_with_its_score(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    output, failures = run(
        tmp_path,
        sandbox,
        reworded="  - bot: {similar: Could you tell me the flight number?}\n",
        booking=(
            "  - bot:\n      similar: Could you tell me the flight number?\n"
            '      unlike: ["What is your flight number, please?"]\n'
        ),
        weather="  - bot: {similar: The weather is sunny in Paris today.}\n",
    )
    assert "2 failed, 1 passed" in output, output
    weather = failures["weather"].splitlines()
    assert weather[1] == "step 3 (weather.scenario.yaml:6): bot message 1 of the turn does not match"
    assert weather[2].startswith(
        '  expected: similar to "The weather is sunny in Paris today." (min 0.45): similarity 0.'
    )
    assert weather[2].endswith(
        ", below 0.45"
    )  # the min said once: "(min 0.45): similarity 0.1xx, below 0.45"
    assert weather[2].count("0.45") == 2
    booking = failures["booking"].splitlines()[2]
    assert "closest unlike 'What is your flight number, please?'" in booking and "margin 0.05" in booking


def test_similar_takes_min_and_the_similar_min_setting(tmp_path: Path, sandbox: RunningSandbox) -> None:
    output, _ = run(
        tmp_path, sandbox, "--flowtest-similar-min=0.99", strict="  - bot: {similar: Your flight number?}\n"
    )
    assert "1 failed" in output
    output, _ = run(
        tmp_path,
        sandbox,
        "--flowtest-similar-min=0.99",
        strict="  - bot: {similar: Your flight number?, min: 0.3}\n",
    )
    assert "1 passed" in output


def test_similar_works_inside_any_of_not_and_over_an_utterance_list(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    (tmp_path / "asks.utterances.yaml").write_text(
        "ASK_NUMBER: [Which flight are you on?, Your flight number?]\n"
    )
    output, failures = run(
        tmp_path,
        sandbox,
        listed="  - bot: {similar: {utterance: ASK_NUMBER}}\n",
        either="  - bot: {any_of: [{contains: nope}, {similar: What is the flight number?}]}\n",
        negated="  - bot: {not: {similar: What is your flight number?}}\n",
    )
    assert "1 failed, 2 passed" in output, output
    assert (
        failures["negated"]
        .splitlines()[2]
        .startswith('  expected: not similar to "What is your flight number?"')
    )


# -- judge -----------------------------------------------------------------------------------


@pytest.fixture
def judge() -> Iterator[LLMServer]:
    rules = [
        JudgeRule("asks for the flight", "flight number", True, "it asks for the flight number"),
        JudgeRule("apologises", "flight number", False, "it asks a question, it apologises for nothing"),
    ]
    with llm_server(LLMServer(judge_rules=rules)) as server:
        yield server


def test_judge_passes_and_fails_with_the_judges_reason_and_caches_answers(
    tmp_path: Path, sandbox: RunningSandbox, judge: LLMServer
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.flowtest]\njudge_url = "{judge.url}"\njudge_model = "test-model"\n'
        'judge_api_key_env = "JUDGE_KEY"\n'
    )
    env = {"JUDGE_KEY": "sk-judge-secret-4711"}
    steps = {
        "asks": "  - bot: {judge: asks for the flight number}\n",
        "sorry": "  - bot: {judge: apologises for the delay}\n",
    }
    output, failures = run(tmp_path, sandbox, env=env, **steps)
    assert "1 failed, 1 passed" in output, output
    assert failures["sorry"].splitlines()[2] == (
        '  expected: judged to meet "apologises for the delay": the judge says no: '
        "it asks a question, it apologises for nothing"
    )
    assert judge.count("judge") == 2
    output, _ = run(tmp_path, sandbox, env=env, **steps)
    assert "1 failed, 1 passed" in output and judge.count("judge") == 2  # the cache answered
    run(tmp_path, sandbox, "--flowtest-judge-refresh", env=env, **steps)
    assert judge.count("judge") == 4
    assert "sk-judge-secret-4711" not in output
    cached = "".join(path.read_text() for path in (tmp_path / ".flowtest").rglob("*.json"))
    assert cached and "sk-judge-secret-4711" not in cached


def test_judge_without_an_endpoint_is_an_error_at_collection_naming_the_setting(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    output, failures = run(tmp_path, sandbox, judged="  - bot: {judge: asks for the flight number}\n")
    assert "1 failed" in output
    assert failures["judged (broken)"] == (
        "judged.scenario.yaml:6:11: step 3, bot.judge: `judge` needs an OpenAI-compatible LLM "
        "endpoint: set judge_url (for a local Ollama: http://localhost:11434/v1) and judge_model, in "
        "[tool.flowtest], as FLOWTEST_JUDGE_URL or with --flowtest-judge-url (see docs/llm.md)"
    )


def test_a_judge_that_cannot_be_reached_fails_the_step_with_the_key_masked(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.flowtest]\njudge_url = "http://127.0.0.1:9/v1"\njudge_model = "m"\n'
        'judge_api_key_env = "JUDGE_KEY"\n'
    )
    output, failures = run(
        tmp_path, sandbox, env={"JUDGE_KEY": "sk-judge-secret-4711"}, down="  - bot: {judge: asks for it}\n"
    )
    assert "1 failed" in output
    assert "step 3 (down.scenario.yaml:6): " in failures["down"] and "127.0.0.1:9" in failures["down"]
    assert "sk-judge-secret-4711" not in output


def test_validate_warns_when_a_similar_text_is_as_close_to_an_unlike_one(tmp_path: Path) -> None:
    (tmp_path / "near.scenario.yaml").write_text(
        "name: near\nflow: flight-status\nconversation:\n"
        "  - bot:\n      similar: What is your flight number?\n"
        "      unlike: [what is your flight number?, What is your booking reference?]\n"
    )
    done = subprocess.run(
        [*FLOWTEST, "validate", "."], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        'near.scenario.yaml:4:5: warning: step 1: similar "What is your flight number?" and unlike '
        '"what is your flight number?" score 0.9'
    )
    assert len(done.stdout.splitlines()) == 1  # the booking reference is far enough
    assert done.stdout.rstrip().endswith(
        "closer than the margin (0.05) lets a reply stand between them: reword one of them, or check the "
        "fact that differs with contains or regex"
    )
