"""Ctrl-C in the middle of a conversation: the run stops and the session is still ended."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from flowtest.sandbox import DEFAULT_API_KEY
from flowtest.sandbox.server import RunningSandbox

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
    env = {**os.environ, "FLOWTEST_API_KEY": DEFAULT_API_KEY, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:schemathesis",
        f"--flowtest-base-url={sandbox.url}",
        "--rootdir",
        str(tmp_path),
        str(tmp_path),
        "-o",
        "log_cli=true",
        "--log-cli-level=DEBUG",
    ]
    before = sandbox.open_sessions
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
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
