"""The Allure results folder: a run that could not write its results fails and says so; one
folder is written by one run at a time; a path flowtest may not empty is refused in one line.

Real pytest subprocesses against the fault-injecting server; a full disk is a tiny tmpfs when
this machine lets the tests mount one, else a file size limit on the pytest process.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PYTEST, run_pytest
from tests.faultserver import FaultServer, Reply, fault_server
from tests.test_session_faults import KEY, MODES, run_against, wait_until, write_scenarios

INCOMPLETE = "Allure result file(s) could not be written (first: "


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with fault_server() as running:
        yield running


def results_of(folder: Path) -> list[Path]:
    return sorted(folder.glob("*-result.json"))


def use_results(project: Path, results: Path) -> None:
    (project / "pyproject.toml").write_text(f'[tool.flowtest]\nallure_results = "{results}"\n')


def project_writing(tmp_path: Path, results: Path, scenarios: int = 1) -> Path:
    """A project of ``scenarios`` scenarios whose Allure results go to ``results``."""
    project = tmp_path / "project"
    project.mkdir()
    write_scenarios(project, scenarios)
    use_results(project, results)
    return project


# -- a full disk ----------------------------------------------------------------------------


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path | None]:
    """A folder on a 64 KiB tmpfs filled to the last block (None: this machine mounts none)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        yield None
        return
    try:
        with (mount / "filler").open("wb", buffering=0) as filler, contextlib.suppress(OSError):
            while True:  # until the disk is full
                filler.write(b"x" * 4096)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def _no_file_over_one_kilobyte() -> None:  # in the pytest process, before it starts
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write beyond the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, resource.RLIM_INFINITY))


@pytest.mark.parametrize("mode", ["serial", "xdist"])
def test_results_that_cannot_be_written_fail_the_run_in_one_line(
    tmp_path: Path, server: FaultServer, full_disk: Path | None, mode: str
) -> None:
    results = (full_disk or tmp_path) / "results"
    project = project_writing(tmp_path, results, 2)
    command = [*PYTEST, "--rootdir", str(project), str(project), f"--flowtest-base-url={server.url}"]
    done = subprocess.run(
        [*command, *MODES[mode]],
        cwd=project,
        env={**os.environ, "FLOWTEST_API_KEY": KEY},
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=None if full_disk is not None else _no_file_over_one_kilobyte,
    )
    assert "2 passed" in done.stdout, done.stdout + done.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    line = next((x for x in done.stdout.splitlines() if INCOMPLETE in x), "")
    assert line.startswith("flowtest: error: "), done.stdout
    assert line.endswith(f"so the results in {results} are incomplete: the run fails"), line
    assert ("No space left on device" if full_disk is not None else "File too large") in line
    assert "INTERNALERROR" not in done.stdout + done.stderr


# -- two runs on one folder ------------------------------------------------------------------


def test_a_second_run_on_a_folder_being_written_is_refused_and_the_first_keeps_its_results(
    tmp_path: Path, server: FaultServer
) -> None:
    release = threading.Event()
    server.send = lambda sid, body: Reply(hold=release) if body.get("text") == "hold" else Reply()
    first, second = tmp_path / "first", tmp_path / "second"
    for project in (first, second):
        project.mkdir()
        write_scenarios(project, 3)
        use_results(project, tmp_path / "shared-results")
    (first / "greet0.scenario.yaml").write_text(
        "name: Held\nflow: greet\nconversation:\n  - bot: Hello\n  - user: hold\n  - bot: 'You said: hold'\n"
    )
    command = [*PYTEST, "--rootdir", str(first), str(first), f"--flowtest-base-url={server.url}"]
    running = subprocess.Popen(
        command,
        cwd=first,
        env={**os.environ, "FLOWTEST_API_KEY": KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(server.holding.is_set)  # the first run is writing its results now
        refused = run_against(server, second)
    finally:
        release.set()
        output, _ = running.communicate(timeout=120)
    assert refused.returncode == 4, refused.stdout + refused.stderr  # pytest's usage error
    assert (
        f"flowtest: another flowtest run is writing the Allure results in {tmp_path / 'shared-results'}; "
        "wait for it to end, or give this run a folder of its own (allure_results in [tool.flowtest], "
        "or --flowtest-allure-results)"
    ) in refused.stderr
    assert "3 passed" in output, output
    assert len(results_of(tmp_path / "shared-results")) == 3  # none lost to the second run


# -- paths flowtest may not empty or cannot create --------------------------------------------

SETTING = "set allure_results in [tool.flowtest] (or --flowtest-allure-results) to a folder of its own"


@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_a_file_or_a_link_at_the_results_path_is_refused_and_left_alone(
    tmp_path: Path, server: FaultServer, kind: str
) -> None:
    results = tmp_path / "results"
    project = project_writing(tmp_path, results)
    if kind == "file":
        results.write_text("my notes")
        problem = "is a file, not a folder; it is left alone"
    else:
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / "keep.txt").write_text("mine")
        results.symlink_to(tmp_path / "elsewhere")
        problem = (
            "is a symbolic link; flowtest empties that folder before each run and does not follow a link"
        )
        problem += " to do it"
    done = run_against(server, project)
    assert done.returncode == 4, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"ERROR: flowtest: the Allure results path {results} {problem}: {SETTING}"
    ]
    assert server.opened == []
    if kind == "file":
        assert results.read_text() == "my notes"
    else:
        assert results.is_symlink() and (tmp_path / "elsewhere" / "keep.txt").read_text() == "mine"
    assert not (tmp_path / ".results.previous").exists()


@pytest.mark.parametrize("mode", ["serial", "xdist"])
def test_a_results_folder_that_cannot_be_created_is_one_line(
    tmp_path: Path, server: FaultServer, mode: str
) -> None:
    (tmp_path / "blocker").write_text("")
    results = tmp_path / "blocker" / "results"
    project = project_writing(tmp_path, results)
    done = run_pytest(
        project, f"--flowtest-base-url={server.url}", *MODES[mode], env={"FLOWTEST_API_KEY": KEY}
    )
    assert done.returncode == 4, done.stdout + done.stderr
    blocker = tmp_path / "blocker"
    message = (
        f"flowtest: cannot create the Allure results folder {results}: {blocker} is a file, not a folder"
    )
    assert message in done.stderr, done.stderr
    assert "INTERNALERROR" not in done.stdout + done.stderr and "Traceback" not in done.stderr
