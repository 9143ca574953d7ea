"""Messages the docs promise, each pinned as a user reads it: one line, the file's place, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowtest.config import read_pyproject, resolve
from flowtest.errors import ConfigError
from flowtest.sandbox import DEFAULT_API_KEY
from flowtest.sandbox.server import RunningSandbox
from flowtest.scenario.loader import ScenarioLoader
from tests.conftest import failure_sections, run_pytest


def _errors(folder: Path, text: str | bytes) -> list[str]:
    path = folder / "x.scenario.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    loaded = ScenarioLoader(folder).load_file(path)
    return [str(error) for invalid in loaded.invalid for error in invalid.errors]


HEAD = "name: x\nflow: f\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            HEAD + "conversation:\n  - bot: hi\nflow: g\n",
            "x.scenario.yaml:5:1: duplicate key 'flow'",
        ),
        (
            HEAD + "conversation:\n  - user: hi\n    user: again\n",
            "x.scenario.yaml:5:5: duplicate key 'user'",
        ),
        (b"name: caf\xe9\nflow: f\nconversation:\n  - bot: hi\n", None),  # pinned below: the reason varies
        ("name: x\nconversation:\n  - bot: hi\n", "x.scenario.yaml:1:1: missing required key 'flow'"),
        (
            HEAD + "conversation:\n  - wait: 1s\n    end: true\n",
            "x.scenario.yaml:4:5: step 1: a step takes exactly one of user, transfer, bot, message, "
            "turn, status, variables, save, include, wait, end; found wait, end (message and save may stand "
            "beside bot)",
        ),
        (
            HEAD + "conversation:\n  - {}\n",
            "x.scenario.yaml:4:5: step 1: a step needs one of: user, transfer, bot, message, turn, "
            "status, variables, save, include, wait, end",
        ),
        (
            HEAD + "conversation:\n  - user: hi\n    bot: hello\n",
            "x.scenario.yaml:4:5: step 1: a step takes exactly one of user, transfer, bot, message, "
            "turn, status, variables, save, include, wait, end; found user, bot (message and save may stand "
            "beside bot)",
        ),
    ],
    ids=[
        "duplicate-top",
        "duplicate-step",
        "not-utf8",
        "missing-required",
        "two-actions",
        "needs-one-of",
        "exactly-one-of",
    ],
)
def test_a_file_mistake_is_one_line_at_its_place(
    tmp_path: Path, text: str | bytes, message: str | None
) -> None:
    errors = _errors(tmp_path, text)
    if message is None:
        assert len(errors) == 1 and errors[0].startswith("x.scenario.yaml:1:1: not UTF-8 text (")
    else:
        assert errors == [message]


def test_expecting_a_refusal_that_does_not_come_says_what_came(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    head = "flow: flight-status\nconversation:\n  - bot: {contains: help}\n"
    (tmp_path / "accepted.scenario.yaml").write_text(
        "name: accepted\n" + head + "  - user: hi\n    error: {status: 409, code: SESSION_NOT_ACTIVE}\n"
    )
    (tmp_path / "other.scenario.yaml").write_text(
        "name: other\n" + head + "  - end: true\n  - user: hi\n    error: {status: 400}\n"
    )
    done = run_pytest(
        tmp_path,
        f"--flowtest-base-url={sandbox.url}",
        "-p",
        "no:allure_pytest",
        env={"FLOWTEST_API_KEY": DEFAULT_API_KEY},
    )
    failures = failure_sections(done.stdout)
    assert failures["accepted"].splitlines()[1:4] == [
        "step 2 (accepted.scenario.yaml:5): expected the API to refuse with 409 SESSION_NOT_ACTIVE, "
        "it accepted the call",
        "  expected: 409 SESSION_NOT_ACTIVE",
        "  actual: status awaiting_input",
    ]
    assert failures["other"].splitlines()[1:4] == [
        "step 3 (other.scenario.yaml:6): expected the API to refuse with 400, it answered 404 "
        "SESSION_NOT_FOUND",
        "  expected: 400",
        "  actual: 404 SESSION_NOT_FOUND",
    ]
    assert sandbox.open_sessions == 0


@pytest.mark.parametrize(
    ("pyproject", "message"),
    [
        ("[tool.flowtest\norg = 'x'\n", "cannot read [tool.flowtest]: "),
        ("[tool]\nflowtest = 3\n", "[tool.flowtest] must be a table"),
        ("[tool.flowtest]\norgg = 'x'\n", "[tool.flowtest] unknown key 'orgg', did you mean 'org'?"),
        ("[tool.flowtest]\nconcurrency = 0\n", "[tool.flowtest] concurrency: expected 1 or more, got 0"),
        (
            "[tool.flowtest]\napi_key = 'sk-1'\n",
            "[tool.flowtest] must not hold the API key; set the FLOWTEST_API_KEY",
        ),
    ],
    ids=["not-toml", "not-a-table", "unknown-key", "bad-value", "key-in-file"],
)
def test_a_configuration_mistake_names_its_source(tmp_path: Path, pyproject: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(pyproject)
    with pytest.raises(ConfigError) as caught:
        resolve({}, {}, read_pyproject(tmp_path), tmp_path)
    assert message in str(caught.value)
    assert "sk-1" not in str(caught.value)


def test_a_bad_setting_from_the_environment_or_an_option_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^FLOWTEST_TIMEOUT: expected a duration such as 2s"):
        resolve({}, {"FLOWTEST_TIMEOUT": "soon"}, {}, tmp_path)
    with pytest.raises(ConfigError, match=r"^--flowtest-concurrency: expected a whole number, got 'many'"):
        resolve({"concurrency": "many"}, {}, {}, tmp_path)
