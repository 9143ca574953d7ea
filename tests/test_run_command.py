"""`flowtest run` as a designer runs it: pytest's options and exit code, then the report, or why not."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flowtest.sandbox import DEFAULT_API_KEY
from flowtest.sandbox.server import RunningSandbox
from tests.conftest import FLOWS, FLOWTEST, ROOT
from tests.test_signals import wait_until, write_slow

PASSES = (
    "name: Hours\nflow: store-hours\nstrict: false\ntags: [smoke]\nconversation:\n  - status: completed\n"
)
FAILS = (
    "name: Wrong hours\nflow: store-hours\nstrict: false\nconversation:\n  - bot: {contains: never said}\n"
)
NO_NODE = {"PATH": str(Path(sys.executable).parent)}  # this Python and pytest, no Node.js


def _project(folder: Path, **scenarios: str) -> Path:
    (folder / "pyproject.toml").write_text(f'[tool.flowtest]\nsandbox_flows = "{FLOWS}"\n')
    (folder / "scenarios").mkdir()
    for name, text in scenarios.items():
        (folder / "scenarios" / f"{name}.scenario.yaml").write_text(text)
    return folder


def flowtest_run(
    folder: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "FLOWTEST_BASE_URL": "", "FLOWTEST_API_KEY": "", **(env or {})}
    command = [*FLOWTEST, "run", *args]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, env=full_env, timeout=300)


def test_the_runs_exit_code_and_one_line_saying_why_there_is_no_report(tmp_path: Path) -> None:
    project = _project(tmp_path, passes=PASSES, fails=FAILS)
    done = flowtest_run(project, env=NO_NODE)
    assert done.returncode == 1
    assert "1 failed, 1 passed" in done.stdout  # scenarios/, the default
    assert "the HTML report: flowtest report" not in done.stdout  # flowtest run builds it itself
    assert done.stdout.splitlines()[-1] == "flowtest: the run failed (pytest exit 1)"
    assert done.stderr.splitlines()[-1] == (
        "flowtest: no HTML report: flowtest report needs Node.js and npm on the PATH (https://nodejs.org)"
    )


def test_paths_and_pytest_options_reach_pytest(tmp_path: Path) -> None:
    project = _project(tmp_path, passes=PASSES, fails=FAILS)
    marked = flowtest_run(project, "scenarios", "-m", "smoke", "-p", "no:cacheprovider", env=NO_NODE)
    assert marked.returncode == 0, marked.stdout
    assert "1 passed, 1 deselected" in marked.stdout
    one = flowtest_run(project, "scenarios/fails.scenario.yaml", "-q", env=NO_NODE)
    assert one.returncode == 1
    assert "1 failed in" in one.stdout


def test_a_path_that_does_not_exist_runs_nothing(tmp_path: Path) -> None:
    done = flowtest_run(_project(tmp_path, passes=PASSES), "scenaros")
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        "flowtest: error: scenaros: no such file or folder\n",
    )


def test_an_older_runs_results_are_not_reported_as_this_ones(tmp_path: Path) -> None:
    project = _project(tmp_path, passes=PASSES)
    assert flowtest_run(project, env=NO_NODE).returncode == 0
    assert list((project / "reports" / "allure-results").glob("*-result.json"))
    done = flowtest_run(project, "-m", "nothing_is_tagged_this", env=NO_NODE)
    assert done.returncode == 5  # pytest: no tests ran
    assert done.stderr.splitlines()[-1] == "flowtest: no HTML report: this run wrote no Allure results"


def test_help_names_the_command_and_its_usage(tmp_path: Path) -> None:
    listed = subprocess.run([*FLOWTEST, "--help"], capture_output=True, text=True, check=True)
    assert "run the scenarios with pytest, then build the HTML report" in listed.stdout
    usage = subprocess.run([*FLOWTEST, "run", "--help"], capture_output=True, text=True, check=True)
    assert usage.stdout.startswith("usage: flowtest run [PATHS ...] [PYTEST OPTIONS] [--open]\n")


@pytest.mark.signals
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_to_flowtest_run_still_ends_every_session(
    tmp_path: Path, sandbox: RunningSandbox, signum: signal.Signals
) -> None:
    write_slow(tmp_path, 1)
    before = sandbox.open_sessions
    process = subprocess.Popen(
        [*FLOWTEST, "run", ".", f"--flowtest-base-url={sandbox.url}"],
        cwd=tmp_path,
        env={"FLOWTEST_API_KEY": DEFAULT_API_KEY, "PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: sandbox.open_sessions >= before + 1)
    process.send_signal(signum)  # to flowtest run alone, as `timeout` and a CI runner do
    output, errors = process.communicate(timeout=60)
    assert sandbox.open_sessions == before, output
    assert process.returncode == 2, output  # pytest's "interrupted"
    assert errors.splitlines()[-1] == f"flowtest: stopped by {signum.name}; no report (pytest exit 2)"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None, reason="needs Node.js and npm")
def test_the_report_is_built_and_open_hands_it_to_the_browser(tmp_path: Path) -> None:
    project = _project(tmp_path, passes=PASSES)
    for name in ("package.json", "package-lock.json", "allurerc.mjs"):
        shutil.copy(ROOT / name, project / name)
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"  # what webbrowser runs for $BROWSER: a real program
    browser.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {opened}\n')
    browser.chmod(0o755)
    done = flowtest_run(project, "--open", env={"BROWSER": str(browser)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "flowtest: report written to reports/allure-report/index.html"
    index = project / "reports" / "allure-report" / "index.html"
    assert opened.read_text() == index.as_uri()
    nowhere = flowtest_run(project, "--open", env={"BROWSER": "false"})  # a browser that fails, or none
    assert nowhere.returncode == 0
    assert nowhere.stderr.splitlines()[-1] == f"flowtest: no browser to open it with here; open {index}"
