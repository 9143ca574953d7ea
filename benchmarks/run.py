"""flowtest benchmarks: conversations against the sandbox, a peer, and collection speed.

    make bench                                         # every part, with the defaults below
    .venv/bin/python benchmarks/run.py --only many     # one part (or several: --only many,scale)
    .venv/bin/python benchmarks/run.py --only many --conversations 200 --repeat 1

Starts `flowtest serve` in its own process, generates five-turn scenarios, and prints
what each way of running them costs, all measured in this run (the machine is shared:
only ratios within one run mean something; runs are interleaved and repeated, and
the median is printed):

serial   One by one at 0 latency: the marginal wall time per request of a raw httpx
         loop (the floor) and of flowtest. Marginal = (run with 2N - run with N) /
         N conversations' requests, so start-up and collection cancel out.
many     N conversations at the given latency, all at once: a bare aiohttp script
         doing the same requests (benchmarks/bare_aiohttp.py), pytest's own floor (the
         same N files collected by a ten-line YAML plugin whose items do nothing),
         flowtest with Allure results off, and flowtest with them on (as users run
         it); optionally xdist.
scale    10x N conversations in one process against N, Allure on: linear wall time,
         peak RSS, every conversation passes; and the message when the open-file
         limit is below the concurrency asked for.
peer     Tavern, in a virtualenv of its own the benchmark creates, on the same
         conversations against the same server, against flowtest.
caller   The same conversations driven by a rule-driven caller (caller: + goal:) against the
         scripted ones, one by one at 0 latency through the runner in this process: what a
         caller's turn (rule matching) costs against a scripted turn.
language What this round's language costs, N conversations at the given latency, Allure on:
         every bot step as `similar` against the same run with `contains` (a distinct text
         per conversation), the model's load time and memory, and coverage on against off.
collect  Collecting and validating 10,000 scenario files, against PyYAML's C loader.
validate `flowtest validate` on 1,000 files.

Every flowtest row also reports the sessions still open on the server afterwards.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

KEY = "flowtest-sandbox-key"
TURNS = 5
REQUESTS = TURNS + 2  # Start Session, five Send Message, End Session
FLOW = """id: echo
start: greet
nodes:
  greet:
    say: Hello, say something.
    next: listen
  listen:
    ask: text
    next: answer
  answer:
    say: You said ${text}.
    next: listen
"""
PYTEST_FLAGS = ["-q", "-p", "no:cacheprovider", "-p", "no:schemathesis", "-p", "no:hypothesispytest"]
ALLURE_OFF = ("-p", "no:allure_pytest", "--flowtest-allure-results=")
# A user's Python writes bytecode; without it every run recompiles pytest's rewritten plugins.
ENV = {**os.environ, "FLOWTEST_API_KEY": KEY, "PYTHONDONTWRITEBYTECODE": ""}
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Run:
    name: str
    wall: float
    cpu: float
    requests: int
    rss_mb: float = 0.0
    server_cpu: float = 0.0
    open_sessions: int = 0
    failed: int = 0
    output: str = ""


@dataclass(frozen=True)
class Process:
    wall: float
    cpu: float
    rss_mb: float
    returncode: int
    output: str


def measure(command: Sequence[str], cwd: Path, nofile: int | None = None) -> Process:
    """Run a command; its own wall time, CPU and peak RSS (wait4, not the children's running max)."""

    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    with tempfile.TemporaryFile("w+") as out:
        wall = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=cwd, env=ENV, stdout=out, stderr=subprocess.STDOUT, text=True, preexec_fn=limit
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - wall
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    cpu = usage.ru_utime + usage.ru_stime
    return Process(wall, cpu, usage.ru_maxrss / 1024, process.returncode, output)


def scenario(index: int) -> str:
    steps = ["  - bot: Hello, say something."]
    for turn in range(TURNS):
        steps += [f"  - user: message {turn} of {index}", f"  - bot: You said message {turn} of {index}."]
    return f"name: conversation {index}\nflow: echo\nconversation:\n" + "\n".join(steps) + "\n"


def caller_scenario(index: int) -> str:
    """``scenario(index)`` driven by a caller: a rule per turn (the k-th turn tries k rules before
    the one that answers it), then a rule that hangs up, in place of the teardown's End Session."""
    said = ["Hello, say something.", *(f"You said message {turn} of {index}." for turn in range(TURNS))]
    rules = [f"    - when: {said[turn]}\n      say: message {turn} of {index}" for turn in range(TURNS)]
    rules.append(f"    - when: {said[TURNS]}\n      end: true")
    return (
        f"name: conversation {index}\nflow: echo\ncaller:\n  rules:\n"
        + "\n".join(rules)
        + f"\n  max_turns: {TURNS + 1}\ngoal:\n  - status: terminated\n"
    )


def write_suite(folder: Path, count: int, write: Callable[[int], str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (folder / f"c{index:05d}.scenario.yaml").write_text((write or scenario)(index))
    return folder


def checked_with(matcher: str) -> Callable[[int], str]:
    """The five-turn scenario with each answer checked by ``matcher`` (contains, similar)."""

    def write(index: int) -> str:
        steps = ["  - bot: {contains: Hello}"]
        for turn in range(TURNS):
            said = f"message {turn} of {index}"
            steps += [f"  - user: {said}", f'  - bot: {{{matcher}: "You said {said}."}}']
        return f"name: conversation {index}\nflow: echo\nconversation:\n" + "\n".join(steps) + "\n"

    return write


class Sandbox:
    def __init__(self, flows: Path, latency: str) -> None:
        command = [
            sys.executable,
            "-m",
            "flowtest.cli",
            "serve",
            "--port",
            "0",
            "--flows",
            str(flows),
            "--latency",
            latency,
            "--max-sessions",
            "100000",
        ]
        # The server's own log (tracebacks of clients that gave up) would drown the figures.
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - open as long as the server, closed in stop()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.process.stdout.readline() if self.process.stdout else ""
        match = re.search(r"(http://\S+)", line)
        if match is None:
            raise SystemExit(f"the sandbox did not start: {line!r}")
        self.url = match.group(1)

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def open_sessions(self) -> int:
        return int(httpx.get(f"{self.url}/_sandbox/stats").json()["liveSessions"])

    def errors(self) -> int:
        """How many tracebacks the server logged so far."""
        self.log.seek(0)
        return self.log.read().count("Traceback")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


def raw_loop(sandbox: Sandbox, count: int) -> Run:
    """The floor: the same requests with one httpx.Client, nothing checked or recorded."""
    root = f"{sandbox.url}/cgw/process/v1/orgs/demo"
    server, cpu, wall = sandbox.cpu(), time.process_time(), time.perf_counter()
    with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}) as client:
        for index in range(count):
            session = client.post(f"{root}/flows/echo/sessions", json={}).json()["sessionId"]
            for turn in range(TURNS):
                client.post(
                    f"{root}/sessions/{session}/messages", json={"text": f"message {turn} of {index}"}
                )
            client.delete(f"{root}/sessions/{session}")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Run(
        "raw httpx loop", wall, cpu, count * REQUESTS, rss, sandbox.cpu() - server, sandbox.open_sessions()
    )


def bare_aiohttp(sandbox: Sandbox, count: int, concurrency: int) -> Run:
    """The floor at concurrency: benchmarks/bare_aiohttp.py, a whole process like pytest's."""
    server = sandbox.cpu()
    command = [sys.executable, str(HERE / "bare_aiohttp.py"), sandbox.url, str(count), str(concurrency)]
    done = measure(command, HERE)
    failed = int(done.output.split()[0]) if done.output.split() else count
    return Run(
        "bare aiohttp script",
        done.wall,
        done.cpu,
        count * REQUESTS,
        done.rss_mb,
        sandbox.cpu() - server,
        sandbox.open_sessions(),
        failed,
    )


FLOOR_PLUGIN = """
import pytest, yaml

def pytest_collect_file(parent, file_path):
    if file_path.name.endswith(".scenario.yaml"):
        return YamlFile.from_parent(parent, path=file_path)

class YamlFile(pytest.File):
    def collect(self):
        document = yaml.load(self.path.read_text(), Loader=yaml.CSafeLoader)
        yield YamlItem.from_parent(self, name=document["name"])

class YamlItem(pytest.Item):
    def runtest(self):
        pass

    def reportinfo(self):
        return self.path, 0, self.name
"""


def pytest_floor(suite: Path, count: int) -> Run:
    """What pytest itself costs for these files and items, before any request: the floor of any plugin.

    The pytest documentation's YAML-collector pattern, in a folder beside the suite.
    """
    floor = suite.parent / f"{suite.name}-floor"
    if not floor.exists():
        floor.mkdir()
        (floor / "conftest.py").write_text(FLOOR_PLUGIN)
        for path in suite.glob("*.scenario.yaml"):
            (floor / path.name).symlink_to(path)
    plugins_off = ("-p", "no:flowtest", *ALLURE_OFF[:2])
    command = [sys.executable, "-m", "pytest", str(floor), *PYTEST_FLAGS, *plugins_off]
    done = measure([*command, "--rootdir", str(floor)], floor)
    if f"{count} passed" not in done.output:
        raise SystemExit(f"the pytest floor failed:\n{done.output[-2000:]}")
    return Run("pytest floor: the files as no-op items", done.wall, done.cpu, count * REQUESTS, done.rss_mb)


def pytest_command(sandbox: Sandbox, suite: Path, *extra: str) -> list[str]:
    """pytest on a generated suite against the benchmark's server, as a user runs it."""
    return [
        sys.executable,
        "-m",
        "pytest",
        str(suite),
        *PYTEST_FLAGS,
        f"--flowtest-base-url={sandbox.url}",
        "--rootdir",
        str(suite),
        *extra,
    ]


def flowtest_run(
    name: str, sandbox: Sandbox, suite: Path, count: int, *extra: str, check: bool = True, nofile: int = 0
) -> Run:
    command = pytest_command(sandbox, suite, *extra)
    server = sandbox.cpu()
    done = measure(command, suite, nofile or None)
    passed = re.search(r"(\d+) passed", done.output)
    failed = count - (int(passed.group(1)) if passed else 0)
    if check and (done.returncode != 0 or failed):
        raise SystemExit(f"{name} failed:\n{done.output[-4000:]}")
    return Run(
        name,
        done.wall,
        done.cpu,
        count * REQUESTS,
        done.rss_mb,
        sandbox.cpu() - server,
        sandbox.open_sessions(),
        failed,
        done.output,
    )


def allure_on(suite: Path) -> tuple[str, ...]:
    """Allure results as `make run` writes them: flowtest's own folder, emptied at the start."""
    return (f"--flowtest-allure-results={suite.parent / f'{suite.name}-allure-results'}",)


def marginal(name: str, small: Run, large: Run) -> Run:
    requests = large.requests - small.requests
    return Run(
        name,
        large.wall - small.wall,
        large.cpu - small.cpu,
        requests,
        large.rss_mb,
        large.server_cpu - small.server_cpu,
        large.open_sessions,
    )


def table(rows: list[Run], floor: Run) -> None:
    print(
        f"{'run':<44}{'wall':>9}{'req/s':>8}{'cpu s':>8}{'srv cpu':>9}"
        f"{'RSS MB':>8}{'wall ratio':>12}{'cpu ratio':>11}{'open':>6}{'failed':>8}"
    )
    for row in rows:
        ratio = row.wall / row.requests / (floor.wall / floor.requests)
        cpu_ratio = row.cpu / row.requests / (floor.cpu / floor.requests)
        print(
            f"{row.name:<44}{row.wall:8.2f}s{row.requests / row.wall:8.0f}{row.cpu:8.2f}{row.server_cpu:9.2f}"
            f"{row.rss_mb:8.0f}{ratio:11.2f}x{cpu_ratio:10.2f}x{row.open_sessions:6d}{row.failed:8d}"
        )


@dataclass(frozen=True)
class Line:
    """One row of the summary and of the README's table."""

    part: str
    what: str
    figure: str
    target: str = ""
    met: bool | None = None

    def markdown(self) -> str:
        verdict = {True: "met", False: "**not met**", None: ""}[self.met]
        return f"| {self.part} | {self.what} | {self.figure} | {self.target} | {verdict} |"


LINES: list[Line] = []  # what every part measured, in order: the summary at the end


def target(what: str, value: float, limit: float, unit: str = "x", figure: str = "", part: str = "") -> None:
    verdict = "ok" if value <= limit else "MISSED"
    digits = 3 if abs(value - limit) < 0.01 else 2  # 1.004x over a 1x target must not read 1.00x
    text = str(value) if isinstance(value, int) else f"{value:.{digits}f}"
    print(f"  {what:<68}{text:>9}{unit:<3} target <= {limit:g}{unit}  {verdict}")
    shown = f"{text}{unit}" + (f": {figure}" if figure else "")
    LINES.append(Line(part, what, shown, f"<= {limit:g}{unit}", value <= limit))


def figure(part: str, what: str, text: str) -> None:
    """A figure without a target of its own, for the summary."""
    print(f"  {what}: {text}")
    LINES.append(Line(part, what, text))


def medians(name: str, runs: list[Run]) -> Run:
    """The median of each figure over the repetitions."""
    return Run(
        name,
        statistics.median(r.wall for r in runs),
        statistics.median(r.cpu for r in runs),
        runs[0].requests,
        max(r.rss_mb for r in runs),
        statistics.median(r.server_cpu for r in runs),
        max(r.open_sessions for r in runs),
        max(r.failed for r in runs),
    )


def ratio(runs: dict[str, list[Run]], top: str, bottom: str, field: Callable[[Run], float]) -> float:
    """The median of the per-repetition ratios: each pair ran back to back, under the same load."""
    return statistics.median(field(a) / field(b) for a, b in zip(runs[top], runs[bottom], strict=True))


def serial_overhead(root: Path, flows: Path, count: int) -> None:
    print(f"\nserial) 0 latency: marginal cost of {count} more conversations ({count * REQUESTS} requests)")
    small, large = write_suite(root / "serial-n", count), write_suite(root / "serial-2n", 2 * count)
    sandbox = Sandbox(flows, "0")
    try:
        raw_loop(sandbox, 20)  # warm the server up
        raw = raw_loop(sandbox, count)
        serial = marginal(
            "flowtest one by one, Allure off (marginal)",
            flowtest_run("n", sandbox, small, count, *ALLURE_OFF),
            flowtest_run("2n", sandbox, large, 2 * count, *ALLURE_OFF),
        )
        reported = marginal(
            "flowtest one by one, Allure on (marginal)",
            flowtest_run("n", sandbox, small, count, *allure_on(small)),
            flowtest_run("2n", sandbox, large, 2 * count, *allure_on(large)),
        )
    finally:
        sandbox.stop()
    table([raw, serial, reported], raw)
    print("targets:")
    per_request = {run.name: run.wall / run.requests * 1e6 for run in (raw, serial, reported)}
    us = [f"{value:.0f} µs" for value in per_request.values()]
    target(
        "one by one at 0 latency, Allure on / raw httpx loop, wall per request",
        reported.wall / raw.wall,
        1.3,
        figure=f"{us[2]} per request (raw httpx loop {us[0]})",
        part="serial",
    )
    target(
        "the same, Allure off",
        serial.wall / raw.wall,
        1.3,
        figure=f"{us[1]} per request",
        part="serial",
    )


def runner_run(name: str, sandbox: Sandbox, suite: Path) -> Run:
    """The suite's conversations one by one through flowtest's runner in this process (no pytest):
    what a turn costs flowtest itself, apart from pytest's and the plugin's work per item."""
    import asyncio

    from flowtest.client import AsyncFlowClient, ClientConfig
    from flowtest.runner import RunContext, run_case
    from flowtest.scenario.loader import ScenarioLoader
    from flowtest.scenario.model import cases_of
    from flowtest.trace import Outcome

    loader = ScenarioLoader(suite)
    paths = sorted(suite.glob("*.scenario.yaml"))
    cases = [case for path in paths for found in loader.load_file(path).scenarios for case in cases_of(found)]

    async def conversations() -> Run:
        client = AsyncFlowClient(ClientConfig(sandbox.url, "demo", KEY))
        context, failed = RunContext("bench", "demo"), 0
        server, cpu, wall = sandbox.cpu(), time.process_time(), time.perf_counter()
        for case in cases:
            failed += (await run_case(case, client, context)).outcome is not Outcome.PASSED
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        await client.aclose()
        requests = len(cases) * REQUESTS
        return Run(name, wall, cpu, requests, 0, sandbox.cpu() - server, sandbox.open_sessions(), failed)

    return asyncio.run(conversations())


def caller_overhead(root: Path, flows: Path, count: int, repeat: int) -> None:
    print(
        f"\ncaller) {count} conversations of {TURNS} turns, scripted against a rule-driven caller (a rule "
        f"per turn, tried in order), one by one at 0 latency through the runner, median of {repeat}"
    )
    suites = {
        "scripted": write_suite(root / "scripted", count),
        "caller": write_suite(root / "caller", count, caller_scenario),
    }
    sandbox = Sandbox(flows, "0")
    runs: dict[str, list[Run]] = {key: [] for key in suites}
    try:
        raw_loop(sandbox, 20)  # warm the server up
        for _ in range(repeat):
            for key, suite in suites.items():
                runs[key].append(runner_run(key, sandbox, suite))
    finally:
        sandbox.stop()
    rows = {key: medians(results[0].name, results) for key, results in runs.items()}
    table(list(rows.values()), rows["scripted"])
    if any(row.failed for row in rows.values()):
        raise SystemExit("caller: conversations failed")
    print("targets (median of the per-repetition ratios):")
    for what, field in (("wall (rule matching, no similar)", _wall), ("client CPU", _cpu)):
        caller, scripted = (field(rows[key]) / rows[key].requests * 1e6 for key in ("caller", "scripted"))
        target(
            f"a caller's turn / a scripted turn, {what}",
            ratio(runs, "caller", "scripted", field),
            1.1,
            figure=f"{caller:.0f} µs against {scripted:.0f} µs per request",
            part="caller",
        )


def interleaved(
    sandbox: Sandbox, variants: dict[str, Callable[[], Run]], repeat: int, warm: int, concurrency: int
) -> dict[str, list[Run]]:
    """Each variant ``repeat`` times, interleaved (drift hits them all), after warming the server
    up; the server is stopped after. Every run, by variant: ratios are taken per repetition."""
    runs: dict[str, list[Run]] = {key: [] for key in variants}
    try:
        bare_aiohttp(sandbox, warm, concurrency)
        for _ in range(repeat):
            for key, run in variants.items():
                runs[key].append(run())
    finally:
        sandbox.stop()
    return runs


def many(
    root: Path, flows: Path, count: int, latency: str, concurrency: int, xdist: int, repeat: int
) -> None:
    print(
        f"\nmany) {count} conversations of {TURNS} turns at {latency} latency, concurrency {concurrency}, "
        f"median of {repeat} interleaved repetitions"
    )
    suite = write_suite(root / "many", count)
    sandbox = Sandbox(flows, latency)
    variants: dict[str, Callable[[], Run]] = {
        "bare": lambda: bare_aiohttp(sandbox, count, concurrency),
        "floor": lambda: pytest_floor(suite, count),
        "off": lambda: flowtest_run(
            "flowtest, Allure off",
            sandbox,
            suite,
            count,
            f"--flowtest-concurrency={concurrency}",
            *ALLURE_OFF,
        ),
        "on": lambda: flowtest_run(
            "flowtest, Allure on",
            sandbox,
            suite,
            count,
            f"--flowtest-concurrency={concurrency}",
            *allure_on(suite),
        ),
    }
    if xdist:
        share = max(concurrency // xdist, 1)
        variants["xdist"] = lambda: flowtest_run(
            f"xdist -n {xdist}, concurrency {share} each, Allure on",
            sandbox,
            suite,
            count,
            "-n",
            str(xdist),
            f"--flowtest-concurrency={share}",
            *allure_on(suite),
        )
    runs = interleaved(sandbox, variants, repeat, min(count, 100), concurrency)
    rows = {key: medians(results[0].name, results) for key, results in runs.items()}
    table(list(rows.values()), rows["bare"])
    print("targets (median of the per-repetition ratios):")
    bare, off, on = rows["bare"], rows["off"], rows["on"]
    what = f"{count} conversations at {latency}, {concurrency} at once"
    base = f"bare aiohttp script {bare.wall:.1f} s, {bare.cpu:.1f} s CPU"
    against_bare = (
        ("on", f"{what}, Allure on", f"{on.wall:.1f} s, peak RSS {on.rss_mb:.0f} MB; {base}", on),
        ("off", "Allure off", f"{off.wall:.1f} s", off),
    )
    for key, name, wall_figure, run in against_bare:
        for measure_name, field, shown in (("whole run wall", _wall, wall_figure), ("client CPU", _cpu, "")):
            target(
                f"{name} / bare aiohttp script, {measure_name}",
                ratio(runs, key, "bare", field),
                1.5,
                figure=shown or f"{run.cpu:.1f} s CPU",
                part="many",
            )
    target("Allure on / Allure off, wall", ratio(runs, "on", "off", _wall), 1.25, part="many")
    target("Allure on / Allure off, CPU", ratio(runs, "on", "off", _cpu), 1.25, part="many")
    floor = statistics.median(
        (f.cpu + b.cpu) / b.cpu for f, b in zip(runs["floor"], runs["bare"], strict=True)
    )
    figure(
        "many",
        "pytest alone (the same files as no-op items) plus the bare script, CPU",
        f"{floor:.2f}x the bare script's CPU, before any check or report: "
        f"flowtest Allure off adds {ratio(runs, 'off', 'bare', _cpu) - floor:+.2f}x to that",
    )
    for name, run in rows.items():
        if name == "xdist":
            figure("many", run.name, f"{run.wall:.1f} s, {run.cpu:.1f} s CPU")
    figure("many", "sessions left open on the server", str(max(run.open_sessions for run in rows.values())))


def _wall(run: Run) -> float:
    return run.wall


def _cpu(run: Run) -> float:
    return run.cpu


def language(root: Path, flows: Path, count: int, latency: str, repeat: int) -> None:
    print(
        f"\nlanguage) {count} conversations of {TURNS} turns at {latency}, all at once, Allure on, "
        f"median of {repeat} interleaved repetitions"
    )
    contains = write_suite(root / "contains", count, checked_with("contains"))
    similar = write_suite(root / "similar", count, checked_with("similar"))
    sandbox = Sandbox(flows, latency)
    at_once = f"--flowtest-concurrency={count}"
    variants: dict[str, Callable[[], Run]] = {
        "contains": lambda: flowtest_run(
            "bot steps: contains", sandbox, contains, count, at_once, *allure_on(contains)
        ),
        "similar": lambda: flowtest_run(
            "bot steps: similar", sandbox, similar, count, at_once, *allure_on(similar)
        ),
        "coverage": lambda: flowtest_run(
            "bot steps: contains, coverage on",
            sandbox,
            contains,
            count,
            at_once,
            "--flowtest-coverage",
            *allure_on(contains),
        ),
    }
    runs = interleaved(sandbox, variants, repeat, min(count, 100), count)
    rows = {key: medians(results[0].name, results) for key, results in runs.items()}
    table(list(rows.values()), rows["contains"])
    load = measure([sys.executable, "-c", MODEL_LOAD], HERE)
    print("targets (median of the per-repetition ratios):")
    target(
        "every bot step similar / contains, distinct texts, wall",
        ratio(runs, "similar", "contains", _wall),
        1.5,
        figure=f"{rows['similar'].wall:.1f} s against {rows['contains'].wall:.1f} s",
        part="language",
    )
    target("the same, CPU", ratio(runs, "similar", "contains", _cpu), 1.5, part="language")
    target(
        "similar's model: load, once per process", float(load.output.split()[-1]), 2.0, " s", part="language"
    )
    target(
        "similar: peak RSS over the same run with contains",
        round(rows["similar"].rss_mb - rows["contains"].rss_mb),
        250,
        " MB",
        part="language",
    )
    target("coverage on / off, wall", ratio(runs, "coverage", "contains", _wall), 1.05, part="language")


MODEL_LOAD = """
import time
from flowtest.semantic import Similarity
started = time.perf_counter()
Similarity().prepare(["What is your flight number?"])
print(f"{time.perf_counter() - started:.2f}")
"""


def scale(root: Path, flows: Path, count: int, factor: int, latency: str, repeat: int) -> None:
    large = count * factor
    print(
        f"\nscale) {large} conversations in one process against {count}, at {latency}, "
        f"all at once, Allure on, median of {repeat}"
    )
    small_suite, large_suite = write_suite(root / "scale-n", count), write_suite(root / "scale-10n", large)
    sandbox = Sandbox(flows, latency)
    runs: dict[str, list[Run]] = {"small": [], "large": []}
    try:
        for _ in range(repeat):
            for key, suite, n in (("small", small_suite, count), ("large", large_suite, large)):
                flags = (f"--flowtest-concurrency={n}", *allure_on(suite))
                runs[key].append(
                    flowtest_run(f"flowtest, {n} at once", sandbox, suite, n, *flags, check=False)
                )
        limited = open_file_limit(sandbox, small_suite, count)
    finally:
        sandbox.stop()
    rows = [medians(results[0].name, results) for results in runs.values()]
    table(rows, rows[0])
    print("targets:")
    small, big = rows
    target(f"{large} conversations at {latency} in one process: failed", big.failed, 0, "", part="scale")
    figure("scale", f"{large} conversations: wall, CPU", f"{big.wall:.0f} s, {big.cpu:.0f} s CPU")
    target(
        f"{large} / {count} conversations, wall per conversation",
        ratio(runs, "large", "small", _wall) / factor,
        1.0,
        figure=f"{big.wall:.0f} s against {small.wall:.1f} s",
        part="scale",
    )
    target(f"{large} conversations, peak RSS", round(big.rss_mb), 500, " MB", part="scale")
    figure("scale", f"open-file limit 256, {count} at once", limited)


def open_file_limit(sandbox: Sandbox, suite: Path, count: int) -> str:
    """What a user sees when ulimit -n is below the concurrency asked for."""
    run = flowtest_run(
        "nofile 256",
        sandbox,
        suite,
        count,
        f"--flowtest-concurrency={count}",
        *ALLURE_OFF,
        "-W",
        "always",
        check=False,
        nofile=256,
    )
    lines = [line.strip() for line in run.output.splitlines() if "open file" in line or "open-file" in line]
    summary = run.output.strip().splitlines()[-1] if run.output.strip() else "(no output)"
    return f"{summary}; {lines[0] if lines else 'no message about the limit'}"


TAVERN = ("tavern==3.7.1", "pytest>=8,<9", "pytest-xdist>=3.5")  # tavern 3.7 does not load on pytest 9
TAVERN_COMMON = "name: server\ndescription: the sandbox\nvariables:\n  base_url: {url}\n"
AUTH = f'headers: {{Authorization: "Bearer {KEY}"}}'


def tavern_test(index: int) -> str:
    """The same conversation as ``scenario(index)``, as a Tavern test: one stage per request."""
    root = "{base_url}/cgw/process/v1/orgs/demo"
    stages = [
        f'  - name: start\n    request:\n      url: "{root}/flows/echo/sessions"\n      method: POST\n'
        f"      {AUTH}\n      json: {{}}\n    response:\n      status_code: 201\n"
        '      json: {messages: [{text: "Hello, say something."}]}\n'
        "      save: {json: {session_id: sessionId}}"
    ]
    for turn in range(TURNS):
        text = f"message {turn} of {index}"
        stages.append(
            f'  - name: turn {turn}\n    request:\n      url: "{root}/sessions/{{session_id}}/messages"\n'
            f'      method: POST\n      {AUTH}\n      json: {{text: "{text}"}}\n    response:\n'
            f'      status_code: 200\n      json: {{messages: [{{text: "You said {text}."}}]}}'
        )
    stages.append(
        f'  - name: end\n    request:\n      url: "{root}/sessions/{{session_id}}"\n      method: DELETE\n'
        f"      {AUTH}\n    response:\n      status_code: 200"
    )
    head = (
        f"test_name: conversation {index}\nincludes:\n  - !include common.yaml\nstrict: [json:off]\nstages:\n"
    )
    return head + "\n".join(stages) + "\n"


def tavern_python() -> Path:
    """Tavern in a virtualenv of its own (created once, kept in the user's cache)."""
    folder = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "flowtest-bench" / "tavern"
    python = folder / "bin" / "python"
    stamp = folder / ".installed"
    if not stamp.exists() or stamp.read_text() != " ".join(TAVERN):
        print(f"  installing {', '.join(TAVERN)} into {folder} (once)")
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *TAVERN], check=True)
        stamp.write_text(" ".join(TAVERN))
    return python


def peer(root: Path, flows: Path, count: int, latency: str, workers: int) -> None:
    print(f"\npeer) Tavern on the same {count} conversations at {latency}, pytest-xdist -n {workers}")
    python = tavern_python()
    suite, tavern_suite = write_suite(root / "peer", count), root / "peer-tavern"
    tavern_suite.mkdir()
    for index in range(count):
        (tavern_suite / f"test_c{index:05d}.tavern.yaml").write_text(tavern_test(index))
    sandbox = Sandbox(flows, latency)
    try:
        (tavern_suite / "common.yaml").write_text(TAVERN_COMMON.format(url=sandbox.url))
        server = sandbox.cpu()
        command = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", str(workers), "."]
        done = measure(command, tavern_suite)
        passed = re.search(r"(\d+) passed", done.output)
        if passed is None or int(passed.group(1)) != count:
            raise SystemExit(f"Tavern failed:\n{done.output[-3000:]}")
        tavern = Run(
            f"Tavern 3.7, xdist -n {workers}",
            done.wall,
            done.cpu,
            count * REQUESTS,
            done.rss_mb,
            sandbox.cpu() - server,
            sandbox.open_sessions(),
        )
        flags = (f"--flowtest-concurrency={count}", *allure_on(suite))
        ours = flowtest_run(f"flowtest, {count} at once, Allure on", sandbox, suite, count, *flags)
    finally:
        sandbox.stop()
    table([tavern, ours], tavern)
    figure(
        "peer",
        f"Tavern 3.7 on the same {count} conversations, pytest-xdist -n {workers}, against flowtest "
        f"with the {count} at once, Allure on",
        f"Tavern {tavern.wall:.1f} s, flowtest {ours.wall:.1f} s: "
        f"flowtest {tavern.wall / ours.wall:.1f}x faster "
        f"(client CPU {ours.cpu / tavern.cpu:.2f}x Tavern's, whose includes its xdist workers)",
    )


def write_utterance_suite(folder: Path, count: int, literal: bool = False) -> Path:
    """The suite in 100 folders, each scenario sending phrases of lists one and two levels up.

    ``literal``: the same files sending plain texts instead, the baseline for what lists cost.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "top.utterances.yaml").write_text("HELLO: [hi, hello, hey]\n")
    for index in range(count):
        sub = folder / f"d{index % 100:03d}"
        if index < 100:
            sub.mkdir()
            (sub / "local.utterances.yaml").write_text(f"ASK{index}: [help me, I need help]\n")
        hello, ask = (
            ("hi", "help me") if literal else ("{utterance: HELLO}", f"{{utterance: ASK{index % 100}}}")
        )
        text = scenario(index).replace("  - user: message 0", f"  - user: {hello}\n  - user: x")
        text = text.replace("conversation:", "utterances: first\nconversation:")
        (sub / f"c{index:05d}.scenario.yaml").write_text(f"{text}  - user: {ask}\n")
    return folder


def collect_only(folder: Path, count: int) -> Process:
    command = [sys.executable, "-m", "pytest", str(folder), "--collect-only", *PYTEST_FLAGS, *ALLURE_OFF]
    done = measure([*command, "--rootdir", str(folder)], folder)
    if f"{count} tests collected" not in done.output:
        raise SystemExit(f"collection failed:\n{done.output[-2000:]}")
    return done


def collection(root: Path, count: int) -> None:
    import yaml

    print(f"\ncollect) collecting and validating {count} scenario files")
    folder = write_suite(root / "collect", count)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    start, start_cpu = time.perf_counter(), time.process_time()
    for path in folder.glob("*.scenario.yaml"):
        yaml.load(path.read_text(), Loader=loader)  # the C *safe* loader
    floor, floor_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    collected = collect_only(folder, count)
    literal = collect_only(write_utterance_suite(root / "collect-texts", count, literal=True), count).wall
    with_lists = collect_only(write_utterance_suite(root / "collect-utterances", count), count).wall
    # On a shared machine wall times swing with the load; CPU times much less.
    print(f"PyYAML C loader alone:                  {floor:6.2f}s  (CPU {floor_cpu:.2f}s)")
    wall, cpu = collected.wall, collected.cpu
    print(
        f"pytest --collect-only (whole process):  {wall:6.2f}s  ({wall / floor:.1f}x the parse; "
        f"CPU {cpu:.2f}s, {cpu / floor_cpu:.1f}x the parse's CPU)"
    )
    print(f"in 100 folders, sending two texts:      {literal:6.2f}s")
    print(
        f"the same sending two utterance lists:   {with_lists:6.2f}s  ({with_lists / literal:.2f}x the texts)"
    )
    target(
        f"collecting and validating {count} scenario files, whole process",
        wall,
        3.0,
        " s",
        figure=f"{cpu:.2f} s CPU; PyYAML's C loader alone {floor:.2f} s",
        part="collect",
    )
    figure(
        "collect",
        "the same files in 100 folders, sending two utterance lists instead of texts",
        f"{with_lists / literal:.2f}x",
    )


def validate_speed(root: Path, count: int) -> None:
    print(f"\nvalidate) flowtest validate on {count} scenario files")
    folder = write_suite(root / "validate", count)
    command = [sys.executable, "-m", "flowtest.cli", "validate", str(folder)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=root, env=ENV)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"validate failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import flowtest.cli"], check=True, env=ENV)
    startup = time.perf_counter() - start
    figure(
        "validate",
        f"`flowtest validate` on {count} files, whole process",
        f"{elapsed:.2f} s, of which interpreter and imports {startup:.2f} s",
    )


def footprint(runs: int) -> None:
    """What the installed plugin costs a project without scenarios (benchmarks/plugin_footprint.py)."""
    from plugin_footprint import BASELINE, measure_arms

    print(f"\nfootprint) pytest --collect-only on a one-test project, median of {runs} alternating runs")
    medians = measure_arms(runs)
    for name, median in medians.items():
        print(f"  {name:<36} {median * 1000:7.0f} ms  {median / medians[BASELINE]:5.2f}x")
    installed = medians["flowtest installed"]
    target(
        "a project without scenarios, flowtest installed / -p no:flowtest",
        installed / medians[BASELINE],
        1.15,
        figure=f"{installed * 1000:.0f} ms against {medians[BASELINE] * 1000:.0f} ms",
        part="footprint",
    )


PARTS = ("footprint", "serial", "caller", "many", "language", "scale", "peer", "collect", "validate")
README_START = "<!-- benchmarks/run.py --readme: start -->"
README_END = "<!-- benchmarks/run.py --readme: end -->"


def summary(parts: set[str], readme: Path | None) -> None:
    """Every target and figure, as the README's table; with --readme, written into it."""
    header = ["| part | what | figure | target | |", "| --- | --- | --- | --- | --- |"]
    rows = [line.markdown() for line in LINES]
    print("\nsummary (the README's table):")
    print("\n".join(header + rows))
    if readme is None:
        return
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        raise SystemExit(f"{readme} has no {README_START} ... {README_END} block to regenerate")
    before, rest = text.split(README_START, 1)
    block, after = rest.split(README_END, 1)
    # Rows of the parts not run this time stay as they were.
    kept = [row for row in block.splitlines() if row.startswith("| ") and row.split(" | ")[0][2:] in PARTS]
    kept = [row for row in kept if row.split(" | ")[0][2:] not in parts]
    order = {part: index for index, part in enumerate(PARTS)}
    merged = sorted(kept + rows, key=lambda row: order[row.split(" | ")[0][2:]])
    stamp = time.strftime("%Y-%m-%d")
    measured = ", ".join(sorted(parts, key=order.get))
    note = f"\nParts {measured} last measured {stamp} on {os.cpu_count()} cores.\n\n"
    readme.write_text(
        before + README_START + note + "\n".join(header + merged) + "\n" + README_END + after,
        encoding="utf-8",
    )
    print(f"\n{readme}: the table between the {README_START} marks is regenerated")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(PARTS), help=f"parts to run, of {', '.join(PARTS)}")
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--latency", default="50ms")
    parser.add_argument("--concurrency", type=int, default=0, help="default: all conversations at once")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of the 'many' part (medians)")
    parser.add_argument("--scale", type=int, default=10, help="the 'scale' part runs this many times more")
    parser.add_argument("--scale-repeat", type=int, default=1, help="repetitions of the 'scale' part")
    parser.add_argument("--serial", type=int, default=300, help="conversations for the serial overhead run")
    parser.add_argument("--xdist", type=int, default=0, help="workers for an xdist row in 'many' (0: none)")
    parser.add_argument("--peer-conversations", type=int, default=200, help="conversations for Tavern")
    parser.add_argument("--peer-workers", type=int, default=8, help="pytest-xdist workers for Tavern")
    parser.add_argument("--collect", type=int, default=10_000, help="files for the collection benchmark")
    parser.add_argument("--validate", type=int, default=1000, help="files for the validate benchmark")
    parser.add_argument("--footprint-runs", type=int, default=15, help="runs per arm of the footprint part")
    parser.add_argument("--readme", type=Path, help="write the summary into this README's benchmark table")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if parts - set(PARTS):
        parser.error(f"unknown part(s): {', '.join(sorted(parts - set(PARTS)))}; known: {', '.join(PARTS)}")
    concurrency = args.concurrency or args.conversations
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        flows = root / "flows"
        flows.mkdir()
        (flows / "echo.flow.yaml").write_text(FLOW)
        if "footprint" in parts:
            footprint(args.footprint_runs)
        if "serial" in parts:
            serial_overhead(root, flows, args.serial)
        if "caller" in parts:
            caller_overhead(root, flows, args.serial, max(args.repeat, 5))
        if "many" in parts:
            many(root, flows, args.conversations, args.latency, concurrency, args.xdist, args.repeat)
        if "language" in parts:
            language(root, flows, args.conversations, args.latency, args.repeat)
        if "scale" in parts:
            scale(root, flows, args.conversations, args.scale, args.latency, args.scale_repeat)
        if "peer" in parts:
            peer(root, flows, args.peer_conversations, args.latency, args.peer_workers)
        if "collect" in parts:
            collection(root, args.collect)
        if "validate" in parts:
            validate_speed(root, args.validate)
    summary(parts, args.readme)


if __name__ == "__main__":
    main()
