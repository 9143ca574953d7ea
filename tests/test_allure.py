"""Allure results written from the trace: read the *-result.json files back and check them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowtest.sandbox import running_sandbox
from flowtest.sandbox.server import RunningSandbox
from tests.conftest import run_pytest, sandbox_config

API_KEY = "topsecret-api-key-4242"
SECRET_NAME = "Zebediah-Quartermaine"

PASSING = f"""name: Greets by name
flow: flight-status
description: The caller is greeted by name.
tags: [smoke, flights]
labels: {{epic: Travel, feature: Flight status, story: Greeting, severity: critical, owner: cx-team}}
links: [{{name: CX-1, url: "https://tracker.example/CX-1"}}]
examples:
  - {{id: first, request: flight status}}
  - {{id: second, request: my flight}}
start:
  variables: {{customerName: {SECRET_NAME}}}
conversation:
  - bot: {{contains: how can I help}}
  - user: ${{request}}
  - bot: {{regex: "(?i)flight number"}}
  - variables:
      $.customerName: {{type: string}}
"""

FAILING = """name: Expects the wrong greeting
flow: store-hours
conversation:
  - bot: {contains: closed}
"""

WRONG_VARIABLE = """name: Expects the wrong name
flow: flight-status
start:
  variables: {customerName: Ada}
conversation:
  - variables:
      $.customerName: Grace
"""


@pytest.fixture(scope="module")
def keyed_sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(sandbox_config(api_key=API_KEY)) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, keyed_sandbox: RunningSandbox) -> Path:
    project = tmp_path_factory.mktemp("project")
    (project / "greet.scenario.yaml").write_text(PASSING)
    (project / "wrong.scenario.yaml").write_text(FAILING)
    (project / "variable.scenario.yaml").write_text(WRONG_VARIABLE)
    (project / "broken.scenario.yaml").write_text("name: x\nflow: y\nconversation: [{bot: {contians: a}}]\n")
    run_pytest(
        project,
        f"--flowtest-base-url={keyed_sandbox.url}",
        "--flowtest-secret-variables=customerName",
        env={"FLOWTEST_API_KEY": API_KEY},
    )
    return project / "reports" / "allure-results"


def _results(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in folder.glob("*-result.json")]


def _by_name(folder: Path, name: str) -> list[dict[str, Any]]:
    return [r for r in _results(folder) if r["name"] == name]


def _labels(result: dict[str, Any], name: str) -> list[str]:
    return [label["value"] for label in result["labels"] if label["name"] == name]


def test_results_go_to_reports_by_default_with_titles_and_labels(results: Path) -> None:
    greets = _by_name(results, "Greets by name")
    assert len(greets) == 2
    first = greets[0]
    assert first["status"] == "passed"
    assert first["description"] == "The caller is greeted by name."
    for name, value in [
        ("epic", "Travel"),
        ("feature", "Flight status"),
        ("story", "Greeting"),
        ("severity", "critical"),
        ("owner", "cx-team"),
    ]:
        assert _labels(first, name) == [value]
    assert sorted(_labels(first, "tag")) == ["flights", "smoke"]
    assert _labels(first, "suite") == ["greet"]
    assert first["links"] == [{"type": "link", "url": "https://tracker.example/CX-1", "name": "CX-1"}]


def test_example_rows_are_parameters_with_distinct_history_ids(results: Path) -> None:
    greets = _by_name(results, "Greets by name")
    parameters = sorted(tuple((p["name"], p["value"]) for p in r["parameters"]) for r in greets)
    assert parameters == [
        (("id", "first"), ("request", "flight status")),
        (("id", "second"), ("request", "my flight")),
    ]
    assert len({r["historyId"] for r in greets}) == 2


def test_one_step_per_conversation_step_with_attachments(results: Path) -> None:
    first = next(r for r in _by_name(results, "Greets by name") if r["parameters"][0]["value"] == "first")
    assert [(s["name"], s["status"]) for s in first["steps"]] == [
        ("Start Session: flight-status", "passed"),
        ('bot: contains "how can I help"', "passed"),
        ("user: flight status", "passed"),
        ('bot: matches regex "(?i)flight number"', "passed"),
        ("variables: $.customerName of type string", "passed"),
        ("End Session", "passed"),
    ]
    assert all(s["stop"] >= s["start"] for s in first["steps"])
    assert not any(s.get("attachments") for s in first["steps"])
    assert [(a["name"], a["type"]) for a in first["attachments"]] == [
        ("transcript", "text/html"),
        ("exchanges", "application/json"),
    ]


def test_every_call_of_a_conversation_is_in_one_exchanges_attachment(results: Path) -> None:
    first = next(r for r in _by_name(results, "Greets by name") if r["parameters"][0]["value"] == "first")
    (source,) = [a["source"] for a in first["attachments"] if a["name"] == "exchanges"]
    calls = json.loads((results / source).read_text(encoding="utf-8"))
    assert [(c["step"], c["request"]["method"], c["response"]["status"]) for c in calls] == [
        ("Start Session: flight-status", "POST", 201),
        ("user: flight status", "POST", 200),
        ("variables: $.customerName of type string", "GET", 200),
        ("End Session", "DELETE", 200),
    ]
    start = calls[0]
    assert start["request"]["url"].endswith("/cgw/process/v1/orgs/demo/flows/flight-status/sessions")
    assert start["request"]["headers"]["Authorization"] == "***"
    assert start["request"]["body"]["variables"] == {"customerName": "***"}
    assert start["response"]["body"]["status"] == "awaiting_input"
    assert start["response"]["duration_ms"] > 0
    assert calls[1]["request"]["body"] == {"text": "flight status"}


def test_the_failing_step_keeps_its_own_request_and_response(results: Path) -> None:
    (wrong,) = _by_name(results, "Expects the wrong name")
    failed = next(s for s in wrong["steps"] if s["status"] == "failed")
    assert failed["name"] == 'variables: $.customerName == "Grace"'
    request, response = failed["attachments"]
    assert request["name"].startswith("GET /orgs/demo/sessions/") and request["name"].endswith(" request")
    assert (response["name"], response["type"]) == ("200 response", "application/json")
    answer = json.loads((results / response["source"]).read_text(encoding="utf-8"))
    assert answer["status"] == 200
    assert answer["body"]["variables"]["customerName"] == "***"  # a secret variable, still masked
    assert [s for s in wrong["steps"] if s.get("attachments")] == [failed]


def test_failing_step_is_marked_and_categorised(results: Path) -> None:
    (wrong,) = _by_name(results, "Expects the wrong greeting")
    assert wrong["status"] == "failed"
    assert "[conversation mismatch]" in wrong["statusDetails"]["message"]
    assert [(s["name"], s["status"]) for s in wrong["steps"]][:2] == [
        ("Start Session: store-hours", "passed"),
        ('bot: contains "closed"', "failed"),
    ]
    (broken,) = [r for r in _results(results) if r["name"].endswith("(broken)")]
    assert broken["status"] == "broken"
    assert "[broken scenario file]" in broken["statusDetails"]["message"]
    categories = json.loads((results / "categories.json").read_text())
    assert [c["name"] for c in categories] == [
        "Conversation mismatch",
        "Variable mismatch",
        "Status mismatch",
        "Latency budget",
        "API error",
        "Transport error",
        "Broken scenario file",
        "Flowtest internal error",
    ]


def test_environment_properties_name_the_target_but_no_key(results: Path) -> None:
    properties = dict(
        line.split("=", 1) for line in (results / "environment.properties").read_text().splitlines()
    )
    assert properties["target"] == "live"
    assert properties["org"] == "demo"
    assert set(properties) == {"flowtest", "python", "target", "base_url", "org"}


def test_neither_the_api_key_nor_a_secret_variable_is_in_any_file(results: Path) -> None:
    files = list(results.iterdir())
    assert len(files) > 10
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert API_KEY not in text, path.name
        assert SECRET_NAME not in text, path.name


FAKE_RUN_CONFTEST = '''
import pytest
from flowtest.config import Settings
from flowtest.errors import Location
from flowtest.plugin import RUN_SESSION
from flowtest.redact import Redactor
from flowtest.trace import Category, Failure, Outcome, Result, StepRecord, Trace


def _trace(attempt, outcome):
    failure = Failure(Category.CONVERSATION, "conversation[0]: bot message 1 of the turn does not match") \\
        if outcome is Outcome.FAILED else None
    step = StepRecord("bot", "bot: Hi", "conversation[0]", Location("f.scenario.yaml", 4, 5),
                      1_700_000_000.0 + attempt, 0.01, "awaiting_input", "awaiting_input", outcome, failure)
    return Trace("Flaky greeting", "flight-status", "demo", Location("f.scenario.yaml", 1, 1), (step,),
                 f"ses_{attempt}", attempt)


class OnceFailingRun:
    """Stands in for the run session: the first attempt fails, the retry passes."""
    settings = Settings(base_url="http://api.test")
    base_url = "http://api.test"
    run_id = "r1"
    orgs = set()

    def result(self, key, case):
        return Result((_trace(1, Outcome.FAILED), _trace(2, Outcome.PASSED)))

    def prefetch(self, cases):
        pass

    def stop_launching(self):
        pass

    def watch_stop_signals(self):
        pass

    redactor = Redactor()

    def close(self):
        pass


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    config.stash[RUN_SESSION] = OnceFailingRun()
'''


def test_a_pass_on_retry_is_an_allure_retry_and_marked_flaky(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(FAKE_RUN_CONFTEST)
    pytester.makefile(
        ".scenario.yaml",
        f="name: Flaky greeting\nflow: flight-status\nretries: 1\nconversation:\n  - bot: Hi\n",
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:schemathesis", "-W", "default")
    result.assert_outcomes(passed=1, warnings=1)
    assert "flaky, passed after 1 failed attempt(s)" in result.stdout.str()
    attempts = sorted(
        _by_name(pytester.path / "reports" / "allure-results", "Flaky greeting"), key=lambda r: r["start"]
    )
    assert [r["status"] for r in attempts] == ["failed", "passed"]
    assert attempts[0]["historyId"] == attempts[1]["historyId"]
    assert attempts[1]["statusDetails"] == {"flaky": True, "message": "flaky: passed on attempt 2"}
    assert attempts[0]["steps"][0]["name"] == "bot: Hi"
