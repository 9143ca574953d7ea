"""Sandbox flows that vary per session, that cannot hang the server, and that cost only their own file
when broken or linked out of the project."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from flowtest.client import ClientConfig, FlowClient
from flowtest.sandbox import DEFAULT_API_KEY, SandboxConfig, running_sandbox
from flowtest.sandbox.app import Faults
from tests.conftest import FLOWTEST, run_pytest

WORDING = """\
id: wording
start: greet
nodes:
  greet:
    say:
      - one_of: ["Hi! What can I do for you?", "Hello! How can I help?", "Hey there! What do you need?"]
    next: ask
  ask:
    ask: answer
    next: greet
"""
ORDER = """\
id: order
start: draw
nodes:
  draw:
    set: {first: {one_of: [name, city]}}
    branch:
      - when: {var: first, equals: name}
        next: ask_name
    otherwise: ask_city
  ask_name:
    say: What is your name?
    ask: name
    next: name_done
  name_done:
    branch:
      - when: {var: city, exists: true}
        next: done
    otherwise: ask_city
  ask_city:
    say: Which city?
    ask: city
    next: city_done
  city_done:
    branch:
      - when: {var: name, exists: true}
        next: done
    otherwise: ask_name
  done:
    say: Thanks ${name} from ${city}.
    end: true
"""
SLOW = """\
id: slow
start: ask
nodes:
  ask:
    say: Say something.
    ask: said
    next: route
  route:
    branch:
      - when: {var: said, regex: "^(a|aa)+$"}
        next: done
    otherwise: done
  done:
    say: Done.
    end: true
"""


def _flows(tmp_path: Path, **texts: str) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (folder / f"{name}.flow.yaml").write_text(text)
    return folder


@contextmanager
def _client(folder: Path, seed: int | None = None) -> Iterator[FlowClient]:
    config = SandboxConfig(flows_dir=folder, port=0, faults=Faults(seed=seed))
    with running_sandbox(config) as running:  # noqa: SIM117 (a context manager of two)
        with FlowClient(ClientConfig(running.url, "demo", DEFAULT_API_KEY, timeout=10)) as client:
            yield client


def _greetings(folder: Path, seed: int | None, sessions: int) -> list[tuple[str, str]]:
    """Each session's first greeting and the greeting after one answer (the flow loops back)."""
    found = []
    with _client(folder, seed) as client:
        for _ in range(sessions):
            turn = client.start_session("wording")
            again = client.send_text(turn.session_id, "nothing")
            found.append((turn.texts[0], again.texts[0]))
            client.end_session(turn.session_id)
    return found


def test_one_of_varies_between_sessions_and_stays_within_one(tmp_path: Path) -> None:
    folder = _flows(tmp_path, wording=WORDING)
    found = _greetings(folder, seed=7, sessions=30)
    assert all(first == again for first, again in found)  # a session keeps its wording
    assert {first for first, _ in found} == {
        "Hi! What can I do for you?",
        "Hello! How can I help?",
        "Hey there! What do you need?",
    }
    assert _greetings(folder, seed=7, sessions=30) == found  # the seed replays a run's wordings
    assert _greetings(folder, seed=8, sessions=30) != found


def test_set_one_of_changes_the_question_order_per_session(tmp_path: Path) -> None:
    folder = _flows(tmp_path, order=ORDER)
    firsts = []
    answers = {"What is your name?": "Ada", "Which city?": "Paris"}
    with _client(folder, seed=1) as client:
        for _ in range(20):
            turn = client.start_session("order")
            first = turn.texts[0]
            second = client.send_text(turn.session_id, answers[first])
            last = client.send_text(turn.session_id, answers[second.texts[0]])
            assert (last.status, last.texts) == ("completed", ("Thanks Ada from Paris.",))
            firsts.append(first)
    assert set(firsts) == {"What is your name?", "Which city?"}


def test_a_catastrophic_flow_regex_ends_that_session_in_error_within_its_bound(tmp_path: Path) -> None:
    folder = _flows(tmp_path, slow=SLOW)
    with _client(folder) as client:  # its 10 s timeout: without the bound, the answer never came
        turn = client.start_session("slow")
        answer = client.send_text(turn.session_id, "a" * 40 + "!")
        assert client.start_session("slow").status == "awaiting_input"  # the server serves on
    assert answer.status == "error"
    assert [m.raw for m in answer.messages] == [
        {
            "type": "error",
            "text": f"sandbox: {folder}/slow.flow.yaml:8: regex '^(a|aa)+$' of flow 'slow' was stopped "
            "after 1s on a 41-character text: it backtracks catastrophically (as (a|aa)+ can); rewrite it",
        }
    ]


@pytest.mark.signals
def test_serve_stops_on_sigterm_while_a_flow_regex_backtracks(tmp_path: Path) -> None:
    folder = _flows(tmp_path, slow=SLOW)
    command = [*FLOWTEST, "serve", "--port", "0", "--flows", str(folder)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        url = re.search(r"(http://\S+)", process.stdout.readline())
        assert url is not None
        with FlowClient(ClientConfig(url.group(1), "demo", DEFAULT_API_KEY, timeout=10)) as client:
            session = client.start_session("slow").session_id
            assert client.send_text(session, "a" * 40 + "!").status == "error"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.communicate()


def test_validate_warns_of_a_flow_regex_that_can_take_exponential_time(tmp_path: Path) -> None:
    folder = _flows(tmp_path, nested=SLOW.replace("^(a|aa)+$", "^(a+)+$").replace("id: slow", "id: nested"))
    result = subprocess.run(
        [*FLOWTEST, "validate", str(folder)], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.stdout.splitlines() == [
        'flows/nested.flow.yaml:10:34: warning: nodes.route.branch[0].when.regex: regex "^(a+)+$": '
        "an unbounded repeat inside another, such as (a+)+, can take exponential time"
    ]
    assert result.returncode == 0


BROKEN = "id: broken\nstart: greet\nnodes:\n  greet:\n    say: Hi\n    next: ask_topc\n  ask_topic:\n    ask: topic\n    nxet: greet\n"
FINE = "id: fine\nstart: greet\nnodes:\n  greet:\n    say: Hi\n"


def test_one_broken_flow_file_fails_only_its_own_scenarios_with_all_its_problems(tmp_path: Path) -> None:
    _flows(tmp_path, broken=BROKEN, fine=FINE)
    (tmp_path / "pyproject.toml").write_text('[tool.flowtest]\nsandbox_flows = "flows"\n')
    (tmp_path / "fine.scenario.yaml").write_text("name: Fine\nflow: fine\nconversation:\n  - bot: Hi\n")
    (tmp_path / "broken.scenario.yaml").write_text("name: Broken\nflow: broken\nconversation:\n  - bot: Hi\n")
    result = run_pytest(tmp_path, "-p", "no:allure_pytest")
    assert "1 failed, 1 passed" in result.stdout, result.stdout
    output = re.sub(r"127\.0\.0\.1:\d+", "HOST", result.stdout)
    assert (
        'Scenario "Broken" failed at broken.scenario.yaml:1:1\n'
        "unexpected API error: POST http://HOST/cgw/process/v1/orgs/demo/flows/broken/sessions answered "
        "500 INTERNAL: the flow 'broken' cannot run; its file has problems:\n"
        "flows/broken.flow.yaml:6:11: nodes.greet.next: no node named 'ask_topc', did you mean 'ask_topic'?\n"
        "flows/broken.flow.yaml:8:5: nodes.ask_topic: an 'ask' node needs 'next'\n"
        "flows/broken.flow.yaml:9:5: nodes.ask_topic: unknown key 'nxet', did you mean 'next'?\n"
    ) in output, output


def test_a_flow_file_linked_outside_the_project_is_neither_read_nor_echoed(tmp_path: Path) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    elsewhere.mkdir()
    secret = "id: leak\nstart: a\nnodes:\n  a: {say: TOP-SECRET-42, next: nowhere}\n"
    (elsewhere / "leak.flow.yaml").write_text(secret)
    flows = _flows(project, fine=FINE)
    (flows / "leak.flow.yaml").symlink_to(elsewhere / "leak.flow.yaml")
    (project / "pyproject.toml").write_text('[tool.flowtest]\nsandbox_flows = "flows"\n')
    (project / "leak.scenario.yaml").write_text("name: Leak\nflow: leak\nconversation:\n  - bot: Hi\n")
    refused = f"flows/leak.flow.yaml:1:1: links to a file outside the project ({project.resolve()}): not read"

    validated = subprocess.run(
        [*FLOWTEST, "validate", "--format", "github", "flows"], cwd=project, capture_output=True, text=True
    )
    assert validated.stdout.splitlines() == [
        f"::error file=flows/leak.flow.yaml,line=1,col=1::links to a file outside the project ({project.resolve()}): not read"
    ]
    ran = run_pytest(project, "-p", "no:allure_pytest")
    assert "flows/leak.flow.yaml:1:1: links to a file outside the project" in ran.stdout, ran.stdout
    served = subprocess.Popen(
        [*FLOWTEST, "serve", "--port", "0", "--flows", "flows"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert served.stderr is not None
        assert served.stderr.readline() == refused + "\n"
    finally:
        served.terminate()
        out, err = served.communicate(timeout=10)
    for output in (validated.stdout + validated.stderr, ran.stdout + ran.stderr, out + err):
        assert "TOP-SECRET-42" not in output and "nowhere" not in output


def test_validate_says_one_of_replaces_text(tmp_path: Path) -> None:
    folder = _flows(
        tmp_path,
        w="id: w\nstart: a\nnodes:\n  a:\n    say:\n      - text: Hi\n        one_of: [Hello, Hey]\n",
    )
    result = subprocess.run(
        [*FLOWTEST, "validate", str(folder)], cwd=tmp_path, capture_output=True, text=True
    )
    assert (
        result.stdout
        == "flows/w.flow.yaml:6:9: error: nodes.a.say[0]: 'one_of' replaces 'text': give one of them\n"
    )
    assert result.returncode == 1
