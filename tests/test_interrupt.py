"""Ctrl-C in the middle of a conversation: the run stops and the session is still ended."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from flowtest.sandbox import DEFAULT_API_KEY
from flowtest.sandbox.server import RunningSandbox
from tests.conftest import start_pytest_with_logs

pytestmark = pytest.mark.signals

SCENARIO = """name: Waits long enough to be interrupted
flow: flight-status
conversation:
  - bot: {contains: help}
  - user: flight status
  - wait: 60s
  - bot: {contains: number}
"""


def test_sigint_mid_conversation_still_ends_the_session(tmp_path: Path, sandbox: RunningSandbox) -> None:
    (tmp_path / "slow.scenario.yaml").write_text(SCENARIO)
    before = sandbox.open_sessions
    process = start_pytest_with_logs(
        tmp_path, f"--flowtest-base-url={sandbox.url}", env={"FLOWTEST_API_KEY": DEFAULT_API_KEY}
    )
    assert process.stdout is not None
    # The DEBUG log line of the Send Message exchange means the conversation is under way.
    for line in process.stdout:
        if "/messages -> 200" in line:
            break
    assert sandbox.open_sessions == before + 1
    process.send_signal(signal.SIGINT)
    output = process.stdout.read()
    process.wait(timeout=30)
    assert process.returncode == 2  # pytest's "interrupted"
    assert "KeyboardInterrupt" in output
    assert sandbox.open_sessions == before
