"""--flowtest-concurrency: the same outcomes and texts as one by one, faster, and stoppable."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
from pathlib import Path

import pytest

from flowtest.sandbox import DEFAULT_API_KEY, running_sandbox
from flowtest.sandbox.server import RunningSandbox
from tests.conftest import PYTEST, run_pytest, sandbox_config, start_pytest_with_logs

GOOD = (
    "name: good {n}\nflow: flight-status\nconversation:\n"
    "  - bot: {{contains: help}}\n  - user: flight\n  - bot: {{contains: number}}\n"
)
BAD = "name: bad {n}\nflow: flight-status\nconversation:\n  - bot: {{contains: goodbye}}\n"
SLOW = "name: slow {n}\nflow: flight-status\nconversation:\n  - bot: {{contains: help}}\n  - wait: 60s\n"


WAITING = (
    "name: waiting {n}\nflow: flight-status\nconversation:\n  - bot: {{contains: help}}\n  - wait: 300ms\n"
)


def _suite(folder: Path, kinds: list[str]) -> None:
    for n, kind in enumerate(kinds):
        text = {"good": GOOD, "bad": BAD, "slow": SLOW, "waiting": WAITING}[kind].format(n=n)
        (folder / f"s{n:03d}.scenario.yaml").write_text(text)


def _pytest(folder: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_pytest(
        folder, f"--flowtest-base-url={url}", "-v", *extra, env={"FLOWTEST_API_KEY": DEFAULT_API_KEY}
    )


def _outcomes(output: str) -> list[str]:
    return re.findall(r"^(s\d+\.scenario\.yaml::.*?) (PASSED|FAILED)", output, re.M)


def _failures(output: str) -> str:
    text = output[output.index("= FAILURES =") : output.index("short test summary")]
    return re.sub(r"ses_[0-9a-f]+|flowtest-[0-9a-f-]+|\(\d+ms\)|\d{4}-\d\d-\d\dT[\d:]+Z|:\d+/cgw", "X", text)


def test_concurrent_run_reports_like_a_serial_one(tmp_path: Path, sandbox: RunningSandbox) -> None:
    _suite(tmp_path, ["good", "bad", "good", "good", "bad", "good"] * 4)
    serial = _pytest(tmp_path, sandbox.url)
    concurrent = _pytest(tmp_path, sandbox.url, "--flowtest-concurrency=8")
    assert _outcomes(concurrent.stdout) == _outcomes(serial.stdout)
    assert len(_outcomes(serial.stdout)) == 24
    assert _failures(concurrent.stdout) == _failures(serial.stdout)
    assert "8 failed, 16 passed" in concurrent.stdout
    assert sandbox.open_sessions == 0


def test_exitfirst_stops_launching_new_conversations(tmp_path: Path, sandbox: RunningSandbox) -> None:
    # 300 ms each, 4 at a time: launching all 60 would take 4.5 s; the failure is known at once.
    _suite(tmp_path, ["bad"] + ["waiting"] * 59)
    before = sandbox.api.started
    done = _pytest(tmp_path, sandbox.url, "--flowtest-concurrency=4", "-x")
    assert "1 failed" in done.stdout
    started = sandbox.api.started - before
    assert started < 60, f"{started} conversations started after -x"
    assert sandbox.open_sessions == 0


@pytest.mark.signals
def test_ctrl_c_cancels_every_conversation_and_ends_their_sessions(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    _suite(tmp_path, ["slow"] * 6)
    before = sandbox.open_sessions
    process = start_pytest_with_logs(
        tmp_path,
        f"--flowtest-base-url={sandbox.url}",
        "--flowtest-concurrency=6",
        env={"FLOWTEST_API_KEY": DEFAULT_API_KEY},
    )
    assert process.stdout is not None
    started = 0
    for line in process.stdout:
        started += "/sessions -> 201" in line
        if started == 6:
            break
    assert sandbox.open_sessions == before + 6
    process.send_signal(signal.SIGINT)
    process.stdout.read()
    assert process.wait(timeout=60) == 2
    assert sandbox.open_sessions == before


def test_each_xdist_worker_runs_its_share_concurrently(tmp_path: Path) -> None:
    with running_sandbox(sandbox_config()) as sandbox:  # its own, to read the peak of this run alone
        _suite(tmp_path, ["good", "bad"] * 5 + ["waiting"] * 12)
        done = _pytest(tmp_path, sandbox.url, "--flowtest-concurrency=4", "-n", "2")
        assert "5 failed, 17 passed" in done.stdout
        assert sandbox.open_sessions == 0
        # One by one, two workers hold at most two sessions at once.
        assert sandbox.api.peak > 2


def _limited_pytest(
    folder: Path, url: str, soft: int, hard: int, *extra: str
) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    command = [*PYTEST, "--rootdir", str(folder), str(folder), f"--flowtest-base-url={url}", *extra]
    env = {**os.environ, "FLOWTEST_API_KEY": DEFAULT_API_KEY}
    return subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=120, preexec_fn=limit
    )


def test_a_concurrency_over_the_open_file_limit_runs_fewer_at_once_and_says_so(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    _suite(tmp_path, ["good"] * 120)
    done = _limited_pytest(tmp_path, sandbox.url, 160, 160, "--flowtest-concurrency=500", "-q")
    assert "120 passed" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    message = re.search(
        r"flowtest: 120 conversations at once need about (\d+) open files, but this process may open 160 "
        r"\(ulimit -n\); running (\d+) at a time\. "
        r"Raise the limit \(ulimit -n \1\) to run them all at once\.",
        done.stderr + done.stdout,
    )
    assert message is not None, done.stderr[-2000:]
    assert 0 < int(message.group(2)) < 120 < int(message.group(1))
    # With room under the hard limit, the soft one is raised and nothing is said.
    raised = _limited_pytest(tmp_path, sandbox.url, 160, 4096, "--flowtest-concurrency=500", "-q")
    assert "120 passed" in raised.stdout and "open files" not in raised.stdout + raised.stderr
