"""`flowtest load` counts every session that may be open, never calls a killed worker all clear,
and does not charge an xfail scenario's expected failures: real Locust processes, a loopback server."""

from __future__ import annotations

import csv
import importlib.util
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faultserver import FaultServer, Reply, fault_server
from tests.test_load_locust import _free_port, _load
from tests.test_session_faults import wait_until

pytestmark = pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="needs the load extra")

GREETS = "name: Greets\nflow: greet\nconversation:\n  - bot: Hello\n  - user: hi\n  - bot: 'You said: hi'\n"
WAITS = "name: Waits\nflow: greet\nconversation:\n  - bot: Hello\n  - wait: 30s\n"
KNOWN_ISSUE = (
    "name: Known issue\nflow: greet\nxfail: CX-1, greets wrongly\nconversation:\n  - bot: Good evening\n"
)


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with fault_server() as running:
        yield running


def scenarios(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "load"
    folder.mkdir()
    (folder / "s.scenario.yaml").write_text(text)
    return folder


def test_lost_start_answers_are_counted_as_sessions_that_may_be_open(
    tmp_path: Path, server: FaultServer
) -> None:
    server.start = lambda sid, _body: (
        Reply(status=201, reset=True) if sid in ("ses_1", "ses_2") else Reply(201)
    )
    process = _load(scenarios(tmp_path, GREETS), "--headless", "-u", "1", "-t", "3s", "-H", server.url)
    output, _ = process.communicate(timeout=120)
    found = re.search(
        r"flowtest: (\d+) session\(s\) started, (\d+) ended, (\d+) may still be open(.*)", output
    )
    assert found is not None, output
    started, ended, may_be_open = (int(found.group(n)) for n in (1, 2, 3))
    assert started == ended and may_be_open == 2, output
    assert found.group(4) == " (2 Start Session answer(s) lost)"
    assert server.open_sessions == ["ses_1", "ses_2"]  # what the line says: two may be open


def test_a_killed_worker_is_not_reported_as_all_clear(tmp_path: Path, server: FaultServer) -> None:
    folder = scenarios(tmp_path, WAITS)
    port = str(_free_port())
    master = _load(
        folder,
        *("--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--expect-workers", "1"),
        *("--headless", "-u", "2", "-r", "2", "-t", "8s", "-H", server.url),
    )
    worker = _load(folder, "--worker", "--master-host", "127.0.0.1", "--master-port", port)
    try:
        wait_until(lambda: len(server.opened) == 2)  # both users are in their 30 s wait
        worker.send_signal(signal.SIGKILL)
        output, _ = master.communicate(timeout=120)
    finally:
        master.kill()
        worker.kill()
    assert server.open_sessions, "the killed worker left its sessions open: the line must not say 0"
    summary = next(line for line in output.splitlines() if "may still be open" in line)
    assert (
        "1 did not report the end of its run, so more sessions may be open: see that worker's own output"
    ) in summary, output


def test_an_xfail_scenario_failing_as_expected_is_not_a_failure(tmp_path: Path, server: FaultServer) -> None:
    report = tmp_path / "report"
    process = _load(
        scenarios(tmp_path, KNOWN_ISSUE),
        *("--headless", "-u", "1", "-t", "2s", "-H", server.url, "--csv", str(report)),
    )
    output, _ = process.communicate(timeout=120)
    with Path(f"{report}_stats.csv").open(newline="") as file:
        rows = {row["Name"]: row for row in csv.DictReader(file)}
    assert int(rows["greet: Start Session"]["Request Count"]) > 0, output
    assert rows["greet: Start Session"]["Failure Count"] == "0", output
    assert process.returncode == 0, output
