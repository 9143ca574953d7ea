"""Secrets that reached reports by other roads: a key in Locust's -H, a list file linked from
outside the project, an examples value bound into a secret variable, a phrase that is the key.

Real pytest, `flowtest validate` and `flowtest load` subprocesses against a loopback server;
every file they write is searched.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FLOWTEST, run_pytest
from tests.faultserver import FaultServer, fault_server
from tests.test_load_locust import _load

KEY = "sk-live-5f3e9a7c1b2d"
PIN = "pin-secret-8812"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with fault_server() as running:
        yield running


GREETS = "name: Greets\nflow: greet\nconversation:\n  - bot: Hello\n"


@pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="needs the load extra")
@pytest.mark.parametrize("where", ["query", "user-info"])
def test_locusts_html_report_does_not_keep_a_key_given_in_the_host(
    tmp_path: Path, server: FaultServer, where: str
) -> None:
    folder = tmp_path / "load"
    folder.mkdir()
    (folder / "s.scenario.yaml").write_text(GREETS)
    host = f"{server.url}/?api_key={KEY}" if where == "query" else server.url.replace("//", f"//{KEY}@")
    report = tmp_path / "report.html"
    process = _load(folder, "--headless", "-u", "1", "-t", "2s", "-H", host, "--html", str(report))
    output, _ = process.communicate(timeout=120)
    html = report.read_text()
    assert KEY not in html and KEY not in output, output
    shown = f"{server.url}/?api_key=***" if where == "query" else server.url.replace("//", "//***@")
    assert json.dumps(shown)[1:-1] in html or shown in html, output


def test_a_list_file_linked_from_outside_the_project_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "private.yaml").write_text(f"GREETING: [{KEY}]\nbogus: 1\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "lists.utterances.yaml").symlink_to(outside / "private.yaml")
    (project / "hi.scenario.yaml").write_text(
        "name: Says a greeting\nflow: greet\nconversation:\n  - bot: Hello\n  - user: {utterance: GREETING}\n"
    )
    run = run_pytest(project)
    command = [*FLOWTEST, "validate", str(project), "--format", "github"]
    check = subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=60)
    root = project.resolve()
    for output in (run.stdout, check.stdout):
        assert "lists.utterances.yaml" in output
        assert f"links to a file outside the project ({root}): not read" in output, output
        assert KEY not in output and "bogus" not in output


def test_allure_parameters_mask_a_value_bound_into_a_secret_variable_and_a_phrase_that_is_the_key(
    tmp_path: Path, server: FaultServer
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.flowtest]\nsecret_variables = ["pin"]\n')
    (tmp_path / "lists.utterances.yaml").write_text(f"PASSPHRASE: [{KEY}]\n")
    (tmp_path / "pin.scenario.yaml").write_text(
        "name: Checks a pin\nflow: greet\nstrict: false\n"
        "start: {variables: {pin: 'code ${code}'}}\n"
        f"examples: [{{id: one, code: {PIN}, who: Ada}}]\n"
        "conversation:\n  - bot: Hello\n  - user: {utterance: PASSPHRASE}\n"
    )
    run = run_pytest(tmp_path, f"--flowtest-base-url={server.url}", env={"FLOWTEST_API_KEY": KEY})
    assert "1 passed" in run.stdout, run.stdout
    results = tmp_path / "reports" / "allure-results"
    (result,) = [json.loads(path.read_text()) for path in results.glob("*-result.json")]
    parameters = {p["name"]: p["value"] for p in result["parameters"]}
    assert parameters == {"id": "one", "code": "***", "who": "Ada", "utterance PASSPHRASE": "***"}
    for path in results.iterdir():
        assert PIN not in path.read_text() and KEY not in path.read_text(), path.name
