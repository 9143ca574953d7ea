"""Allure results written from the trace: read the *-result.json files back and check them."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowtest.sandbox import running_sandbox
from flowtest.sandbox.server import RunningSandbox
from tests.conftest import FLOWS, run_pytest, sandbox_config

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

SKIPPED = """name: Not built yet
flow: flight-status
description: The call-back offer.
skip: CX-201 is not built
tags: [callback]
labels: {epic: Travel, severity: minor}
links: [{name: CX-201, url: "https://tracker.example/CX-201", type: issue}]
examples:
  - {id: morning, slot: 9}
  - {id: evening, slot: 18}
conversation:
  - bot: {contains: how can I help}
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
    (project / "skipped.scenario.yaml").write_text(SKIPPED)
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
    greets = sorted(
        _by_name(results, "Greets by name [first]") + _by_name(results, "Greets by name [second]"),
        key=lambda r: r["name"],
    )
    assert [r["name"] for r in greets] == ["Greets by name [first]", "Greets by name [second]"]
    first = greets[0]
    assert first["status"] == "passed"
    assert "<p class='about'>The caller is greeted by name.</p>" in first["descriptionHtml"]
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
    assert {label["name"] for label in first["labels"]} & {"host", "thread", "language", "framework"} == set()
    assert set(first) == {
        "name",
        "status",
        "description",
        "descriptionHtml",
        "steps",
        "attachments",
        "parameters",
        "start",
        "stop",
        "uuid",
        "historyId",
        "testCaseId",
        "fullName",
        "labels",
        "links",
        "titlePath",
    }
    assert first["description"] == "The caller is greeted by name."
    assert first["fullName"] == "greet.scenario#Greets by name"
    assert first["titlePath"] == ["greet.scenario.yaml"]
    assert first["testCaseId"] == hashlib.md5(b"greet.scenario#Greets by name").hexdigest()
    # allure-pytest's history id (the full name, then the parameters' values by name): the trend
    # of each example row carries on from runs written by allure-pytest itself.
    assert first["historyId"] == hashlib.md5(b"greet.scenario#Greets by namefirstflight status").hexdigest()
    assert first["stop"] >= first["start"] > 1_700_000_000_000
    everything = _results(results)
    assert len({r["uuid"] for r in everything}) == len(everything) > 5
    assert all(re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", r["uuid"]) for r in everything)


def test_example_rows_are_parameters_with_distinct_history_ids(results: Path) -> None:
    greets = _by_name(results, "Greets by name [first]") + _by_name(results, "Greets by name [second]")
    parameters = sorted(tuple((p["name"], p["value"]) for p in r["parameters"]) for r in greets)
    assert parameters == [
        (("id", "first"), ("request", "flight status")),
        (("id", "second"), ("request", "my flight")),
    ]
    assert len({r["historyId"] for r in greets}) == 2


def test_one_step_per_conversation_step_with_attachments(results: Path) -> None:
    (first,) = _by_name(results, "Greets by name [first]")
    assert [(s["name"], s["status"]) for s in first["steps"]] == [
        ("Start Session: flight-status", "passed"),
        ('step 1, bot: contains "how can I help"', "passed"),
        ("step 2, user: flight status", "passed"),
        ('step 3, bot: matches regex "(?i)flight number"', "passed"),
        ("step 4, variables: $.customerName of type string", "passed"),
        ("End Session", "passed"),
    ]
    assert all(s["stop"] >= s["start"] for s in first["steps"])
    assert not any(s.get("attachments") for s in first["steps"])
    # The transcript is the description, on the test's page; the calls are one attachment.
    assert [(a["name"], a["type"]) for a in first["attachments"]] == [("exchanges", "application/json")]
    assert "<div class='chat'>" in first["descriptionHtml"]


def test_every_call_of_a_conversation_is_in_one_exchanges_attachment(results: Path) -> None:
    (first,) = _by_name(results, "Greets by name [first]")
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
    assert failed["name"] == 'step 1, variables: $.customerName == "Grace"'
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
    assert wrong["statusDetails"]["message"] == (
        "step 1 (wrong.scenario.yaml:4): bot message 1 of the turn does not match"
    )
    assert wrong["statusDetails"]["trace"].startswith('Scenario "Expects the wrong greeting" failed at ')
    assert _labels(wrong, "failure") == ["conversation mismatch"]
    assert "class='fail'" in wrong["descriptionHtml"].split("<div class='chat'>")[0]  # failure first
    assert [(s["name"], s["status"]) for s in wrong["steps"]][:2] == [
        ("Start Session: store-hours", "passed"),
        ('step 1, bot: contains "closed"', "failed"),
    ]
    (broken,) = [r for r in _results(results) if r["name"].endswith("(broken)")]
    assert broken["status"] == "broken"
    assert (_labels(broken, "parentSuite"), _labels(broken, "suite")) == (["."], ["broken"])
    assert broken["statusDetails"]["message"] == (
        "broken.scenario.yaml:3:23: step 1, bot: unknown matcher 'contians', did you mean 'contains'?"
    )
    assert _labels(broken, "failure") == ["broken scenario file"]
    assert not (results / "categories.json").exists()  # Allure 3 reads categories from allurerc.mjs


def test_a_skipped_scenario_is_still_reported_with_its_labels_links_and_rows(results: Path) -> None:
    skipped = sorted(
        _by_name(results, "Not built yet [morning]") + _by_name(results, "Not built yet [evening]"),
        key=lambda r: r["name"],
    )
    assert [(r["name"], r["status"]) for r in skipped] == [
        ("Not built yet [evening]", "skipped"),
        ("Not built yet [morning]", "skipped"),
    ]
    evening = skipped[0]
    assert evening["statusDetails"]["message"] == "Skipped: CX-201 is not built"
    assert sorted((label["name"], label["value"]) for label in evening["labels"]) == [
        ("epic", "Travel"),
        ("parentSuite", "."),
        ("severity", "minor"),
        ("suite", "skipped"),
        ("tag", "callback"),
    ]
    assert evening["links"] == [{"type": "issue", "url": "https://tracker.example/CX-201", "name": "CX-201"}]
    assert evening["description"] == "The call-back offer."
    assert evening["parameters"] == [{"name": "id", "value": "evening"}, {"name": "slot", "value": "18"}]
    assert len({r["historyId"] for r in skipped}) == 2  # each row keeps its own trend while skipped
    assert "steps" not in evening and "attachments" not in evening


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
from flowtest.plugin import RUN
from flowtest.redact import Redactor
from flowtest.trace import Category, Failure, Outcome, Result, StepRecord, Trace


def _trace(attempt, outcome):
    failure = Failure(Category.CONVERSATION, "step 1: bot message 1 of the turn does not match") \\
        if outcome is Outcome.FAILED else None
    step = StepRecord("bot", "bot: Hi", "step 1", Location("f.scenario.yaml", 4, 5),
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


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config):
    config.stash[RUN].session = OnceFailingRun()
'''


def test_a_pass_on_retry_is_an_allure_retry_and_marked_flaky(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(FAKE_RUN_CONFTEST)
    pytester.makefile(
        ".scenario.yaml",
        f="name: Flaky greeting\nflow: flight-status\nretries: 1\nconversation:\n  - bot: Hi\n",
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:schemathesis", "-W", "default")
    result.assert_outcomes(passed=1, warnings=1)
    # Shown at the scenario's file and line, not at a line of flowtest's own code.
    warned = "  f.scenario.yaml:1: FlowtestWarning: Flaky greeting: flaky, passed after 1 failed attempt(s)"
    result.stdout.fnmatch_lines([warned, "    name: Flaky greeting"])


def test_a_results_folder_holding_anything_but_results_is_never_emptied(tmp_path: Path) -> None:
    # allure_results naming the scenarios' folder (or the project, ".") would delete them.
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.flowtest]\nsandbox_flows = "{FLOWS}"\nallure_results = "suite"\n'
    )
    (tmp_path / "suite").mkdir()
    scenario = tmp_path / "suite" / "greet.scenario.yaml"
    scenario.write_text("name: Greets\nflow: flight-status\nconversation:\n  - bot: {contains: help}\n")
    for args in ((), ("-n", "2")):  # emptied by the run, or by pytest-xdist's controller
        result = run_pytest(tmp_path, *args)
        assert result.returncode == 4, result.stdout + result.stderr
        assert result.stderr == (
            f"ERROR: flowtest: the Allure results folder {tmp_path / 'suite'} holds greet.scenario.yaml, "
            "which is not an Allure result; flowtest empties that folder before each run, so it is "
            "left alone: set allure_results in [tool.flowtest] (or --flowtest-allure-results) to a "
            "folder of its own\n\n"
        )
        assert scenario.is_file()
