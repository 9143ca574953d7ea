"""The Allure results folder of a run: claimed before the run, and a run that lost results fails.

Before: the path must be a folder flowtest may empty (not a file, not a symbolic link), no
other run may be writing it (two runs on one folder each set the other's files aside), and
it must be creatable; each refusal is one line. After: a result file that could not be
written (a full disk) fails the run with one line, instead of "results in ..." over a
report that is missing scenarios.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from filelock import BaseFileLock

    from flowtest.reporting.writer import ReportWriter

SETTING = "set allure_results in [tool.flowtest] (or --flowtest-allure-results) to a folder of its own"
_WORKER_KEY = "flowtest_unwritten_results"  # a worker's failures, handed to the xdist controller


def refuse(message: str) -> pytest.UsageError:
    return pytest.UsageError(f"flowtest: {message}")


def check_path(results: Path) -> None:
    """The results path is flowtest's to empty: a folder or nothing, and no link to elsewhere."""
    if results.is_symlink():
        raise refuse(
            f"the Allure results path {results} is a symbolic link; flowtest empties that folder "
            f"before each run and does not follow a link to do it: {SETTING}"
        )
    if results.exists() and not results.is_dir():
        problem = f"the Allure results path {results} is a file, not a folder; it is left alone"
        raise refuse(f"{problem}: {SETTING}")


def lock(results: Path) -> BaseFileLock:
    """This run's hold on ``results``, beside it (the folder itself is set aside and emptied)."""
    from filelock import FileLock, Timeout

    make_folder(results.parent, results)
    held = FileLock(results.parent / f".{results.name}.lock", timeout=0)
    try:
        held.acquire()
    except Timeout:
        raise refuse(
            f"another flowtest run is writing the Allure results in {results}; wait for it to end, "
            "or give this run a folder of its own (allure_results in [tool.flowtest], or "
            "--flowtest-allure-results)"
        ) from None
    except OSError as exc:
        raise refuse(f"cannot lock the Allure results folder {results}: {exc.strerror or exc}") from None
    return held


def make_folder(folder: Path, results: Path | None = None) -> None:
    """Create ``folder`` (the results folder, or the one it goes in); a refusal names the results."""
    shown = results or folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        in_the_way = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if in_the_way is not None and not in_the_way.is_dir():
            detail = f"{in_the_way} is a file, not a folder"
        else:
            detail = exc.strerror or str(exc)
            if exc.filename is not None and Path(exc.filename) != shown:
                detail += f" ({exc.filename})"
        raise refuse(f"cannot create the Allure results folder {shown}: {detail}") from None


class ResultsWatch:
    """A pytest plugin: fails the run whose results could not all be written, and says so."""

    def __init__(self, results: Path, writer: ReportWriter | None, held: BaseFileLock | None) -> None:
        self.results = results
        self.writer = writer
        self.held = held
        self.failures: list[str] = []

    # The innermost wrapper: around flowtest's own sessionfinish (the last files), inside
    # pytest's summary and xdist's hand-over of the worker's output, which come after it.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Any:
        try:
            outcome = yield
        except OSError as exc:  # environment.properties, written last
            self.failures.append(f"{exc.filename or 'environment.properties'}: {exc.strerror or exc}")
            outcome = None
        if self.writer is not None:
            self.failures = [*self.writer.failures, *self.failures]
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[_WORKER_KEY] = self.failures
        elif self.failures and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return outcome

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """xdist's controller: a worker's results that could not be written fail the run too."""
        self.failures.extend(getattr(node, "workeroutput", {}).get(_WORKER_KEY, ()))

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.held is not None:
            self.held.release()
        if self.failures and not hasattr(config, "workerinput"):
            first = self.failures[0]
            message = (
                f"flowtest: error: {len(self.failures)} Allure result file(s) could not be written "
                f"(first: {first}), so the results in {self.results} are incomplete: the run fails"
            )
            terminal = config.pluginmanager.get_plugin("terminalreporter")
            if terminal is not None:
                terminal.write_line(message)
            else:
                print(message, file=sys.stderr)
