"""The API key and secret variables never appear in anything flowtest writes.

Secrets are planted everywhere: the key in FLOWTEST_API_KEY, in the base URL, sent as
text and echoed back as bot text, echoed by the server inside an error body (the
Authorization header), a secret variable's value, a secret column of an examples row.
Then every output is searched: the terminal (-v, log_cli at DEBUG, warnings), JUnit
XML, every Allure result and attachment, and what ``record`` prints and writes.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowtest.client import AsyncFlowClient, ClientConfig, RetryPolicy
from flowtest.runner import RunContext, run_case
from flowtest.scenario.loader import ScenarioLoader
from flowtest.scenario.model import cases_of
from flowtest.trace import Category, Result
from tests.conftest import FLOWTEST, run_pytest
from tests.faultserver import FaultServer, Reply, fault_server, turn

KEY = "sk-live-5f3e9a7c1b2d"
PASSWORD = "hunter2-horse-battery"
ROW_SECRET = "row-secret-4711"
SECRETS = (KEY, PASSWORD, ROW_SECRET)


def answer(session_id: str, body: dict[str, Any]) -> Reply:
    """Echo the text; 'trigger' gets a 400 whose body repeats the Authorization header."""
    if body.get("text") == "trigger":
        return Reply(status=400, echo_auth=True)
    return Reply(body=lambda sid, b: turn(sid, messages=[{"type": "text", "text": f"You said: {b['text']}"}]))


def variables(session_id: str, body: dict[str, Any]) -> Reply:
    return Reply(
        body={
            "sessionId": session_id,
            "status": "awaiting_input",
            "variables": {"password": PASSWORD, "token": KEY},
        }
    )


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with fault_server(FaultServer(send=answer, get=variables)) as running:
        yield running


SCENARIOS = {
    "echoed-key": """name: The key comes back as bot text
flow: f
start:
  variables: {password: "%(password)s", token: "${env.FLOWTEST_API_KEY}"}
conversation:
  - bot: Hello
  - user: "${env.FLOWTEST_API_KEY}"
  - bot: something else
""",
    "server-echo": """name: The server repeats the Authorization header
flow: f
conversation:
  - bot: Hello
  - user: trigger
""",
    "variables": """name: A secret variable in a failed check
flow: f
conversation:
  - bot: Hello
  - variables:
      $.password: wrong
      $.token: wrong
""",
    "row": """name: A secret examples column
flow: f
examples:
  - {id: first, password: "%(row)s"}
conversation:
  - bot: Hello
  - user: "${password}"
  - bot: nope
""",
}


def test_no_output_holds_a_secret(tmp_path: Path, server: FaultServer) -> None:
    for name, text in SCENARIOS.items():
        content = text % {"password": PASSWORD, "row": ROW_SECRET}
        (tmp_path / f"{name}.scenario.yaml").write_text(content)
    base_url = f"{server.url}/gateway/{KEY}"  # a key in the base URL, as some gateways want
    result = run_pytest(
        tmp_path,
        f"--flowtest-base-url={base_url}",
        "--flowtest-secret-variables=password",
        "-v",
        "-W",
        "default",
        "-o",
        "log_cli=true",
        "--log-cli-level=DEBUG",
        "--junitxml=junit.xml",
        "--alluredir=allure",
        env={"FLOWTEST_API_KEY": KEY},
    )
    output = result.stdout + result.stderr
    assert "4 failed" in output, output
    # Each plant reached the output, masked.
    assert "answered 400 DENIED: bad Bearer ***" in output
    assert '"You said: ***"' in output
    assert f"{server.url}/gateway/***" in output
    written = {"terminal": output, "junit": (tmp_path / "junit.xml").read_text()}
    written.update({path.name: path.read_text() for path in (tmp_path / "allure").iterdir()})
    assert len(written) > 10
    leaks = {name: secret for name, text in written.items() for secret in SECRETS if secret in text}
    assert leaks == {}


def test_record_writes_no_secret_and_prints_none(tmp_path: Path, server: FaultServer) -> None:
    inputs = tmp_path / "lines.txt"
    inputs.write_text(f"{PASSWORD}\n{KEY}\ntrigger\n")
    (tmp_path / "pyproject.toml").write_text('[tool.flowtest]\nsecret_variables = ["password"]\n')
    out = tmp_path / "recorded.scenario.yaml"
    command = [
        *FLOWTEST, "record", "--flow", "f", "--base-url", server.url, "--inputs", str(inputs),
        "--var", f"password={PASSWORD}", "--out", str(out),
    ]  # fmt: skip
    result = subprocess.run(
        command,
        cwd=tmp_path,
        env={"FLOWTEST_API_KEY": KEY, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    scenario = out.read_text()
    assert "password: ${env.PASSWORD}" in scenario, scenario
    assert "bot: 'You said: ${env.PASSWORD}'" in scenario, scenario
    assert "- user: ${env.PASSWORD}\n" in scenario and "- user: ${env.FLOWTEST_API_KEY}\n" in scenario
    assert "$.token: ${env.FLOWTEST_API_KEY}\n    $.password:\n      exists: true" in scenario, scenario
    assert "refused: 400 DENIED bad Bearer ***" in result.stdout, result.stdout
    leaks = [s for s in SECRETS if s in scenario + result.stdout + result.stderr]
    assert leaks == []


def test_an_internal_error_in_a_step_is_short_masked_and_ends_the_session(tmp_path: Path) -> None:
    # A bug of flowtest's own is what no server can produce: the transport raises instead.
    ended = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            raise RuntimeError(f"boom with {request.headers['Authorization']}")
        if request.method == "DELETE":
            ended.append(request.url.path)
            return httpx.Response(200, json={"sessionId": "s1", "status": "terminated"})
        return httpx.Response(201, json=turn("s1"))

    (tmp_path / "x.scenario.yaml").write_text("name: x\nflow: f\nconversation:\n  - variables: {$.a: 1}\n")
    case = cases_of(ScenarioLoader(tmp_path).load_file(tmp_path / "x.scenario.yaml").scenarios[0])[0]
    config = ClientConfig("http://api.test", "demo", KEY, retry=RetryPolicy(max_attempts=1))

    async def go() -> Result:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with AsyncFlowClient(config, http=http) as client:
            return await run_case(case, client, RunContext("run1", "demo"))

    failure = asyncio.run(go()).final.steps[1].failure
    assert failure is not None and failure.category is Category.INTERNAL
    assert failure.message == (
        "step 1 (x.scenario.yaml:4): flowtest internal error (RuntimeError: boom with Bearer ***); "
        "this is a bug in flowtest, not in the scenario or the flow: please report it"
    )
    assert ended == ["/cgw/process/v1/orgs/demo/sessions/s1"]


BROKEN_RUN_CONFTEST = f"""
import httpx
import pytest

from flowtest.client import AsyncFlowClient, ClientConfig, RetryPolicy
from flowtest.runner import RunContext, run_case
from flowtest.scenario.loader import ScenarioLoader
from flowtest.scenario.model import cases_of
from flowtest.trace import Category, Result
from flowtest.plugin import RUN


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    run = config.stash[RUN].session

    def result(key, case):
        secret_in_a_local = {KEY!r}
        raise KeyError("flowtest broke near " + secret_in_a_local)

    run.result = result
"""


def test_an_internal_error_in_the_plugin_shows_no_traceback_nor_locals(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(BROKEN_RUN_CONFTEST)
    (tmp_path / "x.scenario.yaml").write_text("name: x\nflow: f\nconversation:\n  - bot: Hi\n")
    result = run_pytest(tmp_path, "-l", "--tb=long", env={"FLOWTEST_API_KEY": KEY})
    assert "flowtest internal error (KeyError: 'flowtest broke near ***'); this is a bug in flowtest" in (
        result.stdout
    ), result.stdout
    assert KEY not in result.stdout and "secret_in_a_local" not in result.stdout


def test_a_link_to_a_file_outside_the_project_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "private.yaml").write_text(f"name: x\nflow: f\nconversation:\n  - user: {KEY}\n  - bogus: 1\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "linked.scenario.yaml").symlink_to(outside / "private.yaml")
    (project / "linked.partial.yaml").symlink_to(outside / "private.yaml")
    run = run_pytest(project)
    command = [*FLOWTEST, "validate", str(project), "--format", "github"]
    check = subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=60)
    for output in (run.stdout, check.stdout):
        assert f"links to a file outside the project ({project.resolve()}): not read" in output, output
        assert KEY not in output and "bogus" not in output


def test_url_secrets_are_the_password_and_key_like_query_values() -> None:
    from flowtest.redact import url_secrets

    assert url_secrets("https://bot:pw-123@api.example.com/x?api_key=k-9&lang=en") == ["pw-123", "k-9"]
    assert url_secrets("https://api.example.com") == []


def test_a_scenario_in_a_folder_that_links_outside_the_project_is_not_read(tmp_path: Path) -> None:
    # pytest follows a linked folder: the file in it is no less outside than a linked file.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "private.scenario.yaml").write_text(
        f"name: x\nflow: f\nconversation:\n  - user: {KEY}\n  - bogus: 1\n"
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "shared").symlink_to(outside, target_is_directory=True)
    run = run_pytest(project)
    root = project.resolve()
    expected = f"shared/private.scenario.yaml:1:1: links to a file outside the project ({root}): not read"
    assert expected in run.stdout, run.stdout
    assert KEY not in run.stdout and "bogus" not in run.stdout
