"""What each run did, kept compact under ``reports/runs/``, and what changed between two runs.

``RunLog`` is a reporter: it takes each finished conversation (``conversation``) and
writes one JSON file per run when the run ends (``finish``), keeping the last ``keep``
runs. A record holds, per test: its name and node id, its outcome, and per step the
title, the bot texts that arrived, the session status after it, the variables a Get
Session saw and the call's latency. Traces reach reporters with secrets masked already.

``diff_runs`` compares two such records: tests newly failing and newly passing, and
for tests in both, the steps whose bot texts, status, variables or latency changed.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from flowtest.client import codec
from flowtest.durations import format_duration
from flowtest.errors import FlowtestError
from flowtest.scenario.model import Case
from flowtest.trace import Outcome, Result, StepRecord

if TYPE_CHECKING:
    from flowtest.session import ConversationPool

FORMAT = 1
RUNS_FOLDER = Path("reports") / "runs"
KEEP_RUNS = 20
MAX_TEXT = 500  # a bot text longer than this is kept cut: enough to see what changed
_RUN_FILE = re.compile(r"^\d{8}T\d{6}(?:\.\d+)?Z-[\w.-]+\.json$")


class RunLogError(FlowtestError):
    """A run record that cannot be found or read; the message names it."""


def step_record(step: StepRecord) -> dict[str, Any]:
    """One step, as compact as comparing runs needs."""
    record: dict[str, Any] = {"title": step.title, "kind": step.kind, "outcome": step.outcome.value}
    if step.where:
        record["where"] = step.where  # "step 2": as the failures and validate count
    if step.received:
        record["bot"] = [text[:MAX_TEXT] for text in step.received]
    if step.status_after is not None:
        record["status"] = step.status_after
    # Latency: the answer to what the step sent (Start Session, Send Message), retries and all;
    # variables: what the step's Get Session saw. Read off the calls, whatever the step's kind.
    turns = [exchange.duration for exchange in step.exchanges if exchange.method == "POST"]
    if turns:
        record["latency_ms"] = round(sum(turns) * 1000, 1)
    variables = _variables(step)
    if variables is not None:
        record["variables"] = variables
    if step.failure is not None:
        record["failure"] = step.failure.message[:MAX_TEXT]
    return record


def _variables(step: StepRecord) -> dict[str, Any] | None:
    for exchange in reversed(step.exchanges):
        body = exchange.response_json if exchange.method == "GET" else None
        if isinstance(body, dict) and isinstance(body.get("variables"), dict):
            return dict(body["variables"])
    return None


def case_record(case: Case, result: Result, nodeid: str | None = None) -> dict[str, Any]:
    trace = result.final
    location = case.scenario.location
    record = {
        "name": case.name,
        "nodeid": nodeid or f"{location.path}::{case.name}",
        "file": location.path,
        "line": location.line,
        "flow": trace.flow,
        "outcome": result.outcome.value,  # with repeat: whether enough runs passed
        "attempts": len(result.attempts),
        "flaky": result.flaky,
        "steps": [step_record(step) for step in trace.steps],
    }
    if result.runs:  # the steps are the run a report shows first: the first that failed, else the last
        record["runs"] = {"passed": result.passed_runs, "of": len(result.runs), "pass_rate": result.pass_rate}
    return record


@dataclass
class RunLog:
    """The reporter: one record per conversation, one file per run.

    A reporter on flowtest's hooks calls ``conversation`` for each finished case (with the
    pytest item's node id) and ``finish`` once, with the folder runs are kept in. Under
    pytest-xdist each worker's ``tests`` go to the controller, which ``absorb``s them and
    finishes.

    Each record is kept as its JSON text: thousands of small dicts held to the end of the run
    made the collector's passes after it walk them all (5% of a 1000-conversation run's CPU).
    """

    run_id: str
    keep: int = KEEP_RUNS
    started: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc))
    tests: list[tuple[str, bytes]] = field(default_factory=list)  # (node id, the record as JSON)

    def conversation(self, case: Case, result: Result, nodeid: str | None = None) -> None:
        record = case_record(case, result, nodeid)
        self.tests.append((record["nodeid"], codec.dumps(record)))  # sized to its length

    def absorb(self, tests: Iterable[Mapping[str, Any] | bytes]) -> None:
        """Records another process made (a worker's ``tests``, or records read back)."""
        for test in tests:
            record = orjson.loads(test) if isinstance(test, bytes) else dict(test)
            self.tests.append((str(record["nodeid"]), codec.dumps(record)))

    def finish(self, path: Path) -> Path | None:
        """Write the run's record into the folder ``path`` and drop all but the last ``keep`` runs.

        Returns the file written; None when no conversation ran (nothing to compare).
        """
        if not self.tests:
            return None
        finished = datetime.datetime.now(datetime.timezone.utc)
        stamp = self.started.strftime("%Y%m%dT%H%M%S.%fZ")
        head = {
            "format": FORMAT,
            "run_id": self.run_id,
            "started": self.started.isoformat(),
            "finished": finished.isoformat(),
        }
        tests = b",".join(record for _, record in sorted(self.tests, key=lambda test: test[0]))
        path.mkdir(parents=True, exist_ok=True)
        target = path / f"{stamp}-{_safe(self.run_id)}.json"
        target.write_bytes(orjson.dumps(head)[:-1] + b',"tests":[' + tests + b"]}")
        for old in run_files(path)[: -self.keep] if self.keep > 0 else ():
            old.unlink(missing_ok=True)
        return target


WORKER_KEY = "flowtest_run_records"  # what an xdist worker hands its controller


class RunLogReporter:
    """A ``RunLog`` on flowtest's hooks (flowtest.plugin.hooks): register it as a plugin.

    Without workers it writes the run's record when the run's conversations are over. Under
    pytest-xdist, each worker hands its records to the controller (``workeroutput``), and
    the controller, registered with ``controller=True``, writes the one record of the run.
    """

    def __init__(self, folder: Path, keep: int = KEEP_RUNS, controller: bool = False) -> None:
        self.folder, self.controller = folder, controller
        self.log = RunLog("run", keep)

    def pytest_flowtest_conversation(self, item: pytest.Item, case: Case, result: Result) -> None:
        self.log.conversation(case, result, item.nodeid)

    def pytest_flowtest_run_finished(self, config: pytest.Config, pool: ConversationPool) -> None:
        self.log.run_id = pool.run_id
        output = getattr(config, "workeroutput", None)
        if output is not None:
            output[WORKER_KEY] = {"run_id": pool.run_id, "tests": [record for _, record in self.log.tests]}
            return
        self.log.finish(self.folder)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        handed = getattr(node, "workeroutput", {}).get(WORKER_KEY)
        if isinstance(handed, dict):
            if not self.log.tests:
                self.log.run_id = str(handed.get("run_id", self.log.run_id))
            self.log.absorb(handed.get("tests", []))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.controller:
            self.log.finish(self.folder)


def _safe(text: str) -> str:
    return re.sub(r"[^\w.-]+", "-", text) or "run"


def run_files(folder: Path) -> list[Path]:
    """The run records in ``folder``, oldest first (their names start with the time)."""
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if _RUN_FILE.match(path.name))


# -- reading and comparing ------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    path: Path
    run_id: str
    started: str
    tests: Mapping[str, Mapping[str, Any]]  # by node id

    @property
    def label(self) -> str:
        return f"{self.run_id} ({self.started[:19].replace('T', ' ')})"


def load_run(path: Path) -> Run:
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise RunLogError(f"{path}: {exc.strerror or exc}") from None
    except ValueError:
        raise RunLogError(f"{path}: not a flowtest run record (not JSON)") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("tests"), list):
        raise RunLogError(f"{path}: not a flowtest run record (format {FORMAT})")
    tests = {
        str(test["nodeid"]): test for test in data["tests"] if isinstance(test, dict) and "nodeid" in test
    }
    return Run(path, str(data.get("run_id", "?")), str(data.get("started", "")), tests)


def pick_runs(folder: Path, old: str | None, new: str | None) -> tuple[Path, Path]:
    """OLD and NEW as files: given paths, run ids (or their start), or by default the last two runs."""
    runs = run_files(folder)

    def find(given: str) -> Path:
        as_path = Path(given)
        if as_path.is_file():
            return as_path
        matches = [run for run in runs if run.stem.split("-", 1)[-1].startswith(given) or run.name == given]
        if len(matches) == 1:
            return matches[0]
        what = "no run" if not matches else f"{len(matches)} runs"
        raise RunLogError(f"{given}: {what} of that id in {folder} (and no such file)")

    if old is not None and new is not None:
        return find(old), find(new)
    if old is not None:  # one given: compare it with the last run
        if not runs:
            raise RunLogError(f"no runs kept in {folder}: run the scenarios first")
        return find(old), runs[-1]
    if len(runs) < 2:
        have = "one run" if runs else "no runs"
        raise RunLogError(f"{have} kept in {folder}: diff compares two (run the scenarios again)")
    return runs[-2], runs[-1]


@dataclass(frozen=True)
class Change:
    test: str
    step: str  # "3. user: ba 117"
    what: str  # bot, status, variables, latency, steps
    before: str
    after: str


@dataclass(frozen=True)
class Diff:
    old: Run
    new: Run
    newly_failing: tuple[tuple[str, str], ...]  # (test, why it fails now)
    newly_passing: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changes: tuple[Change, ...]


def _passed(test: Mapping[str, Any]) -> bool:
    return test.get("outcome") == Outcome.PASSED.value


def _failing(test: Mapping[str, Any]) -> bool:
    return test.get("outcome") in (Outcome.FAILED.value, Outcome.BROKEN.value)


def diff_runs(old: Run, new: Run, latency_ms: float) -> Diff:
    """What changed from ``old`` to ``new``; latency counts when it moved by ``latency_ms`` or more."""
    failing: list[tuple[str, str]] = []
    passing: list[str] = []
    changes: list[Change] = []
    for nodeid, after in new.tests.items():
        before = old.tests.get(nodeid)
        if before is None:
            continue
        name = str(after.get("name", nodeid))
        if _failing(after) and not _failing(before):
            failing.append((name, _why(after)))
        elif _passed(after) and _failing(before):
            passing.append(name)
        changes.extend(_step_changes(name, before.get("steps", []), after.get("steps", []), latency_ms))
    added, removed = _only_in(new, old), _only_in(old, new)
    return Diff(old, new, tuple(failing), tuple(passing), added, removed, tuple(changes))


def _only_in(run: Run, other: Run) -> tuple[str, ...]:
    """The names of the tests ``run`` has and ``other`` has not."""
    return tuple(
        str(run.tests[nodeid].get("name", nodeid)) for nodeid in run.tests if nodeid not in other.tests
    )


def _why(test: Mapping[str, Any]) -> str:
    """The first line of the failure: it names the step and its file:line itself."""
    failed = next((step for step in test.get("steps", []) if step.get("failure")), None)
    if failed is None:
        return str(test.get("outcome", ""))
    return str(failed["failure"]).splitlines()[0] or str(failed.get("title", ""))


def _label(step: Mapping[str, Any]) -> str:
    """A step as a designer finds it: "step 2, user: tea"; Start and End Session by their title."""
    title = str(step.get("title", ""))
    return f"{step['where']}, {title}" if step.get("where") else title


def _step_changes(
    test: str, before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]], latency_ms: float
) -> Iterable[Change]:
    """Steps compared in order while their titles agree; past the first that differs, the
    steps are not the same ones and only that is said."""
    for old, new in zip(before, after, strict=False):
        label = _label(new)
        if old.get("title") != new.get("title"):
            if "teardown" not in (old.get("kind"), new.get("kind")):  # not one run stopping sooner
                yield Change(test, label, "steps", str(old.get("title", "")), str(new.get("title", "")))
            return
        yield from _same_step_changes(test, label, old, new, latency_ms)
    if len(before) != len(after):
        yield Change(
            test,
            "(the steps)",
            "steps",
            f"{len(before)} steps",
            f"{len(after)} steps",
        )


def _same_step_changes(
    test: str, label: str, old: Mapping[str, Any], new: Mapping[str, Any], latency_ms: float
) -> Iterable[Change]:
    """What changed in one step (same title): the bot's texts, the status, the variables, the latency."""
    if old.get("bot", []) != new.get("bot", []):
        yield Change(test, label, "bot", _texts(old.get("bot")), _texts(new.get("bot")))
    if old.get("status") != new.get("status"):
        yield Change(test, label, "status", str(old.get("status") or "-"), str(new.get("status") or "-"))
    if "variables" in old and "variables" in new and old["variables"] != new["variables"]:
        yield Change(test, label, "variables", *_variable_change(old["variables"], new["variables"]))
    if _moved(old.get("latency_ms"), new.get("latency_ms"), latency_ms):
        yield Change(test, label, "latency", _ms(old["latency_ms"]), _ms(new["latency_ms"]))


def _moved(before: Any, after: Any, threshold: float) -> bool:
    if not isinstance(before, (int, float)) or not isinstance(after, (int, float)):
        return False
    return abs(after - before) >= threshold


def _texts(texts: Any) -> str:
    if not texts:
        return "-"
    return " / ".join(str(text) for text in texts)


def _variable_change(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, str]:
    keys = [
        key for key in dict.fromkeys([*before, *after]) if before.get(key, _NONE) != after.get(key, _NONE)
    ]
    return (
        ", ".join(f"{key}={_value(before, key)}" for key in keys),
        ", ".join(f"{key}={_value(after, key)}" for key in keys),
    )


_NONE = object()


def _value(variables: Mapping[str, Any], key: str) -> str:
    if key not in variables:
        return "(none)"
    return json.dumps(variables[key], ensure_ascii=False)


def _ms(value: Any) -> str:
    return format_duration(float(value) / 1000)


# -- showing it ----------------------------------------------------------------------------------

_CELL = 60


def render_text(diff: Diff) -> str:
    lines = [f"flowtest diff: {diff.old.label} -> {diff.new.label}"]
    if not (diff.newly_failing or diff.newly_passing or diff.changes or diff.added or diff.removed):
        lines.append("nothing changed")
        return "\n".join(lines) + "\n"
    for title, rows in _sections(diff):
        lines.append("")
        lines.append(f"{title} ({len(rows) - 1})")
        lines.extend(_table(rows))
    return "\n".join(lines) + "\n"


def _sections(diff: Diff) -> list[tuple[str, list[tuple[str, ...]]]]:
    sections: list[tuple[str, list[tuple[str, ...]]]] = []
    if diff.newly_failing:
        sections.append(("Newly failing", [("test", "failure"), *diff.newly_failing]))
    if diff.newly_passing:
        sections.append(("Newly passing", [("test",), *((name,) for name in diff.newly_passing)]))
    if diff.changes:
        rows = [(c.test, c.step, c.what, c.before, c.after) for c in diff.changes]
        sections.append(("Changed steps", [("test", "step", "what", "before", "after"), *rows]))
    if diff.added:
        sections.append(("Only in the new run", [("test",), *((name,) for name in diff.added)]))
    if diff.removed:
        sections.append(("Only in the old run", [("test",), *((name,) for name in diff.removed)]))
    return sections


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    # The last column (a failure, the text after) is the one read: it may run longer.
    cut = [
        tuple(_cut(cell, _CELL if i < len(row) - 1 else 2 * _CELL) for i, cell in enumerate(row))
        for row in rows
    ]
    widths = [max(len(row[i]) for row in cut) for i in range(len(cut[0]))]
    out = []
    for number, row in enumerate(cut):
        out.append(
            "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
        if number == 0:
            out.append("  " + "  ".join("-" * width for width in widths))
    return out


def _cut(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render_markdown(diff: Diff) -> str:
    """For a pull-request comment."""
    lines = [f"### flowtest: what changed from `{diff.old.run_id}` to `{diff.new.run_id}`", ""]
    summary = [
        f"{len(diff.newly_failing)} newly failing",
        f"{len(diff.newly_passing)} newly passing",
        f"{len(diff.changes)} changed step(s)",
    ]
    lines.append(", ".join(summary) + f" ({len(diff.new.tests)} tests in the new run).")
    for title, rows in _sections(diff):
        lines.extend(["", f"**{title} ({len(rows) - 1})**", ""])
        lines.append("| " + " | ".join(rows[0]) + " |")
        lines.append("|" + "---|" * len(rows[0]))
        lines.extend("| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows[1:])
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    escaped = " ".join(str(text).split()).replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    return escaped if len(escaped) <= 2 * _CELL else escaped[: 2 * _CELL - 1] + "…"
