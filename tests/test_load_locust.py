"""flowtest load for real: Locust processes (a master and two workers, or one local run) against the sandbox.

Locust and gevent monkeypatch at import, so they only ever run in subprocesses here.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowtest.sandbox import DEFAULT_API_KEY, running_sandbox
from flowtest.sandbox.server import RunningSandbox
from tests.conftest import FLOWTEST, sandbox_config

PASSING = """\
name: Flight status, unknown request
flow: flight-status
tags: [smoke]
weight: 3
start: {variables: {customerName: "Ada ${run_id}"}}
conversation:
  - bot: {regex: "^Hi Ada [0-9a-f]{12}, how can I help\\\\?$"}
  - user: what's the weather
  - bot: {contains: ""}
"""
FAILING = """\
name: Store hours, wrong greeting
flow: store-hours
conversation:
  - bot: Good evening.
"""
NEVER = """\
name: Order tracking, kept out of load runs
flow: order-tracking
weight: 0
conversation:
  - bot: Welcome to order tracking.
"""
EXCLUDED = """\
name: Order tracking, slow
flow: order-tracking
tags: [slow]
conversation:
  - bot: Welcome to order tracking.
"""
FAILURE_TEXT = "step 1 (load/wrong-greeting.scenario.yaml:4): bot message 1 of the turn does not match"
ALL_ENDED = re.compile(r"flowtest: (\d+) session\(s\) started, \1 ended, 0 may still be open")
ENV = {**os.environ, "FLOWTEST_API_KEY": DEFAULT_API_KEY, "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    folder = tmp_path / "load"
    folder.mkdir()
    for name, text in [
        ("unknown-request", PASSING),
        ("wrong-greeting", FAILING),
        ("never", NEVER),
        ("slow", EXCLUDED),
    ]:
        (folder / f"{name}.scenario.yaml").write_text(text)
    return folder


@pytest.fixture
def target() -> Iterator[RunningSandbox]:
    with running_sandbox(sandbox_config()) as running:
        yield running


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _load(suite: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*FLOWTEST, "load", str(suite), *args],
        cwd=suite.parent,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as file:
        return {row["Name"]: row for row in csv.DictReader(file)}


def test_a_master_and_two_workers_run_the_scenarios_and_end_every_session(
    suite: Path, target: RunningSandbox
) -> None:
    port = str(_free_port())
    report = suite.parent / "report"
    master = _load(
        suite,
        *("--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--expect-workers", "2"),
        *("--headless", "-u", "6", "-r", "6", "-t", "3s", "-H", target.url, "--exclude-tags", "slow"),
        *("--csv", str(report), "--html", f"{report}.html"),
    )
    workers = [
        _load(suite, "--worker", "--master-host", "127.0.0.1", "--master-port", port) for _ in range(2)
    ]
    try:
        master_out, _ = master.communicate(timeout=120)
        worker_outs = [worker.communicate(timeout=90)[0] for worker in workers]
    finally:
        for process in (master, *workers):
            process.kill()

    assert master.returncode == 1, master_out  # Locust's exit code when requests failed
    stats = _rows(Path(f"{report}_stats.csv"))
    starts = int(stats["flight-status: Start Session"]["Request Count"])
    ends = int(stats["flight-status: End Session"]["Request Count"])
    assert starts > 0 and ends >= starts, stats
    assert int(stats["flight-status: turn 1 (user)"]["Request Count"]) <= starts
    assert int(stats["flight-status: Start Session"]["Failure Count"]) == 0
    failing = stats["store-hours: Start Session"]
    assert int(failing["Request Count"]) > 0
    assert failing["Failure Count"] == failing["Request Count"]
    assert not [name for name in stats if name.startswith("order-tracking")]  # weight 0, --exclude-tags

    failures = _rows(Path(f"{report}_failures.csv"))
    assert list(failures) == ["store-hours: Start Session"]
    assert failures["store-hours: Start Session"]["Error"] == FAILURE_TEXT
    assert failures["store-hours: Start Session"]["Occurrences"] == failing["Failure Count"]
    assert "flight-status: turn 1 (user)" in Path(f"{report}.html").read_text()

    for out in worker_outs:
        assert ALL_ENDED.search(out), out
    assert "may still be open (as 2 worker(s) last reported)" in master_out, master_out
    assert len(target.api.sessions) == 0
    assert target.api.started >= starts


@pytest.mark.signals
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_ends_every_session_and_says_so(
    stop: signal.Signals, suite: Path, target: RunningSandbox
) -> None:
    process = _load(suite, "--headless", "-u", "4", "-r", "4", "-t", "60s", "-H", target.url)
    try:
        deadline = time.monotonic() + 60
        while target.api.started < 20 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert target.api.started >= 20, "the load run did not start conversations"
        process.send_signal(stop)
        out, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert ALL_ENDED.search(out), out
    assert len(target.api.sessions) == 0


def test_without_a_target_it_says_which_setting_to_give(suite: Path) -> None:
    env = {key: value for key, value in ENV.items() if key != "FLOWTEST_BASE_URL"}
    result = subprocess.run(
        [*FLOWTEST, "load", str(suite), "--headless", "-u", "1", "-t", "5s"],
        cwd=suite.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert (
        "flowtest: error: flowtest load needs the API's URL: --host URL or FLOWTEST_BASE_URL "
        "(for a local target, start one with `flowtest serve`)" in result.stderr
    )


def test_without_locust_it_says_how_to_install_it() -> None:
    # Locust cannot be uninstalled for one test: the import system is told it is absent.
    code = "import sys; sys.modules['locust'] = None; from flowtest.cli import main; sys.exit(main(['load']))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == (
        "flowtest load needs Locust, an optional extra: pip install 'pytest-flowtest[load]'\n"
    )


def test_the_plugin_and_the_other_commands_never_import_locust_or_gevent() -> None:
    code = (
        "import sys, flowtest.plugin, flowtest.cli, flowtest.load, flowtest.load.samples; "
        "print(sorted(m for m in ('locust', 'gevent') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_a_weight_that_is_not_a_whole_number_is_one_line_at_its_place(tmp_path: Path) -> None:
    (tmp_path / "w.scenario.yaml").write_text("name: n\nflow: f\nweight: 2.5\nconversation:\n  - bot: hi\n")
    result = subprocess.run(
        [*FLOWTEST, "validate", "w.scenario.yaml", "--flows", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "w.scenario.yaml:3:9: error: weight: expected a whole number, got 2.5" in result.stdout
