"""SIGTERM, SIGHUP and pytest-timeout stop a run the way Ctrl-C does: every session is ended.

Real pytest subprocesses, real signals, sessions counted on the server's side.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from flowtest.sandbox import DEFAULT_API_KEY
from flowtest.sandbox.server import RunningSandbox
from tests.conftest import PYTEST

pytestmark = pytest.mark.signals

SLOW = """name: Waits long enough to be stopped {number}
flow: flight-status
conversation:
  - bot: {{contains: help}}
  - user: flight status
  - wait: 60s
  - bot: {{contains: number}}
"""
MODES = {
    "serial": [],
    "concurrent": ["--flowtest-concurrency", "4"],
    "xdist": ["-n", "2", "--flowtest-concurrency", "2"],
}


def write_slow(folder: Path, count: int) -> None:
    for number in range(count):
        (folder / f"slow{number}.scenario.yaml").write_text(SLOW.format(number=number))


def start(folder: Path, sandbox: RunningSandbox, *args: str) -> subprocess.Popen[str]:
    command = [*PYTEST, "--rootdir", str(folder), str(folder), f"--flowtest-base-url={sandbox.url}", *args]
    return subprocess.Popen(
        command,
        cwd=folder,
        env={"FLOWTEST_API_KEY": DEFAULT_API_KEY, "PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_until(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the run to get under way"
        time.sleep(0.05)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_stop_signals_end_every_session(
    tmp_path: Path, sandbox: RunningSandbox, mode: str, signum: signal.Signals
) -> None:
    running = 1 if mode == "serial" else 4
    write_slow(tmp_path, running)
    before = sandbox.open_sessions
    process = start(tmp_path, sandbox, *MODES[mode])
    wait_until(lambda: sandbox.open_sessions >= before + running)
    process.send_signal(signum)  # to pytest itself, as `timeout` and `docker stop` do
    output, _ = process.communicate(timeout=60)
    assert sandbox.open_sessions == before, output
    assert process.returncode == 2, output  # pytest's "interrupted", as after Ctrl-C
    assert "KeyboardInterrupt" in output or "Interrupted" in output


@pytest.mark.parametrize("mode", ["serial", "concurrent", "xdist"])
def test_pytest_timeout_still_ends_the_session(tmp_path: Path, sandbox: RunningSandbox, mode: str) -> None:
    write_slow(tmp_path, 3)
    before = sandbox.open_sessions
    # Under xdist each worker runs its items one by one here: the timeout lands mid-conversation.
    args = ["-n", "2"] if mode == "xdist" else MODES[mode]
    process = start(tmp_path, sandbox, "--timeout", "2", "-p", "timeout", *args)
    output, _ = process.communicate(timeout=120)
    assert "3 failed" in output, output
    assert "Timeout" in output
    assert sandbox.open_sessions == before, output
