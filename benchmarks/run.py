"""flowtest benchmarks: conversations against the sandbox, and collection speed.

    make bench                                   # everything, with the defaults below
    .venv/bin/python benchmarks/run.py --conversations 200 --skip-xdist

Starts `flowtest serve` in its own process, generates five-turn scenarios, and prints
side by side what each way of running them costs, all measured in this run:

1. Serial overhead at 0 latency: the marginal wall time and CPU per request of a raw
   httpx loop doing the same requests (the floor) and of flowtest run one by one.
   Marginal = (run with 2N conversations - run with N) / (N conversations' requests),
   so interpreter start-up and collection cancel out.
2. N conversations at the given latency: the raw loop (estimated from 50 of them),
   flowtest with --flowtest-concurrency, and optionally pytest-xdist.
3. Collecting and validating 10,000 scenario files, against parsing them with
   PyYAML's C loader alone.
4. `flowtest validate` on 1,000 files.

Every run also reports the sessions still open on the server afterwards.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
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
PYTEST_FLAGS = [
    "-q",
    "-p",
    "no:cacheprovider",
    "-p",
    "no:allure_pytest",
    "-p",
    "no:schemathesis",
    "-p",
    "no:hypothesispytest",
]
# A user's Python writes bytecode; without it every run recompiles pytest's rewritten plugins.
ENV = {**os.environ, "FLOWTEST_API_KEY": KEY, "PYTHONDONTWRITEBYTECODE": ""}


@dataclass(frozen=True)
class Run:
    name: str
    wall: float
    cpu: float
    requests: int
    rss_mb: float = 0.0
    server_cpu: float = 0.0
    open_sessions: int = 0


def scenario(index: int) -> str:
    steps = ["  - bot: Hello, say something."]
    for turn in range(TURNS):
        steps += [f"  - user: message {turn} of {index}", f"  - bot: You said message {turn} of {index}."]
    return f"name: conversation {index}\nflow: echo\nconversation:\n" + "\n".join(steps) + "\n"


def write_suite(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (folder / f"c{index:05d}.scenario.yaml").write_text(scenario(index))
    return folder


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
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
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

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


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


def flowtest_run(name: str, sandbox: Sandbox, suite: Path, count: int, *extra: str) -> Run:
    command = [
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
    before, server = resource.getrusage(resource.RUSAGE_CHILDREN), sandbox.cpu()
    wall = time.perf_counter()
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, cwd=suite)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Run(
        name,
        wall,
        cpu,
        count * REQUESTS,
        after.ru_maxrss / 1024,
        sandbox.cpu() - server,
        sandbox.open_sessions(),
    )


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
        f"{'run':<38}{'wall':>9}{'req/s':>9}{'µs/req':>9}{'cpu µs/req':>12}{'srv µs/req':>12}"
        f"{'RSS MB':>8}{'wall ratio':>12}{'open':>6}"
    )
    for row in rows:
        per_request = row.wall / row.requests * 1e6
        ratio = row.wall / row.requests / (floor.wall / floor.requests)
        print(
            f"{row.name:<38}{row.wall:8.2f}s{row.requests / row.wall:9.0f}{per_request:9.0f}"
            f"{row.cpu / row.requests * 1e6:12.0f}{row.server_cpu / row.requests * 1e6:12.0f}"
            f"{row.rss_mb:8.0f}{ratio:11.2f}x{row.open_sessions:6d}"
        )


def serial_overhead(root: Path, flows: Path, count: int) -> None:
    print(
        f"\n1) serial, 0 latency: marginal cost of {count} more conversations ({count * REQUESTS} requests)"
    )
    small, large = write_suite(root / "serial-n", count), write_suite(root / "serial-2n", 2 * count)
    sandbox = Sandbox(flows, "0")
    try:
        raw_loop(sandbox, 20)  # warm the server up
        raw = raw_loop(sandbox, count)
        serial = marginal(
            "flowtest one by one (marginal)",
            flowtest_run("n", sandbox, small, count),
            flowtest_run("2n", sandbox, large, 2 * count),
        )
    finally:
        sandbox.stop()
    table([raw, serial], raw)


def many(root: Path, flows: Path, count: int, latency: str, concurrency: int, xdist: int) -> None:
    print(f"\n2) {count} conversations of {TURNS} turns at {latency} latency")
    suite = write_suite(root / "many", count)
    sandbox = Sandbox(flows, latency)
    try:
        sample = raw_loop(sandbox, 50)
        scale = count / 50
        raw = Run(
            f"raw httpx loop (50, scaled to {count})",
            sample.wall * scale,
            sample.cpu * scale,
            count * REQUESTS,
            sample.rss_mb,
            sample.server_cpu * scale,
            sample.open_sessions,
        )
        rows = [
            raw,
            flowtest_run(
                f"flowtest --flowtest-concurrency={concurrency}",
                sandbox,
                suite,
                count,
                f"--flowtest-concurrency={concurrency}",
            ),
        ]
        if xdist:
            workers = ("-n", str(xdist))
            rows.append(flowtest_run(f"pytest-xdist -n {xdist}, one by one", sandbox, suite, count, *workers))
            share = max(concurrency // xdist, 1)
            name = f"pytest-xdist -n {xdist}, concurrency {share} each"
            rows.append(
                flowtest_run(name, sandbox, suite, count, *workers, f"--flowtest-concurrency={share}")
            )
    finally:
        sandbox.stop()
    table(rows, raw)


def write_utterance_suite(folder: Path, count: int) -> Path:
    """The same suite in 100 folders, every scenario sending phrases of lists one and two levels up."""
    (folder / "top.utterances.yaml").parent.mkdir(parents=True, exist_ok=True)
    (folder / "top.utterances.yaml").write_text("HELLO: [hi, hello, hey]\n")
    for index in range(count):
        sub = folder / f"d{index % 100:03d}"
        if index < 100:
            sub.mkdir()
            (sub / "local.utterances.yaml").write_text(f"ASK{index}: [help me, I need help]\n")
        text = scenario(index).replace("  - user: message 0", "  - user: {utterance: HELLO}\n  - user: x")
        text = text.replace("conversation:", "utterances: first\nconversation:")
        text += f"  - user: {{utterance: ASK{index % 100}}}\n"
        (sub / f"c{index:05d}.scenario.yaml").write_text(text)
    return folder


def collect_only(folder: Path, count: int) -> float:
    command = [sys.executable, "-m", "pytest", str(folder), "--collect-only", *PYTEST_FLAGS]
    start = time.perf_counter()
    done = subprocess.run(
        [*command, "--rootdir", str(folder)], capture_output=True, text=True, cwd=folder, env=ENV
    )
    collected = time.perf_counter() - start
    if f"{count} tests collected" not in done.stdout:
        raise SystemExit(f"collection failed:\n{done.stdout[-2000:]}")
    return collected


def collection(root: Path, count: int) -> None:
    import yaml

    print(f"\n3) collecting and validating {count} scenario files")
    folder = write_suite(root / "collect", count)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    start = time.perf_counter()
    for path in folder.glob("*.scenario.yaml"):
        yaml.load(path.read_text(), Loader=loader)  # the C *safe* loader
    floor = time.perf_counter() - start
    collected = collect_only(folder, count)
    with_lists = collect_only(write_utterance_suite(root / "collect-utterances", count), count)
    print(f"PyYAML C loader alone:                  {floor:6.2f}s")
    print(f"pytest --collect-only (whole process):  {collected:6.2f}s  ({collected / floor:.1f}x the parse)")
    print(
        f"the same, each sending two utterance lists from 100 folders: {with_lists:6.2f}s "
        f"({with_lists / collected:.2f}x)"
    )


def validate_speed(root: Path, count: int) -> None:
    print(f"\n4) flowtest validate on {count} scenario files")
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
    print(f"whole process: {elapsed:.2f}s, of which interpreter and imports: {startup:.2f}s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--latency", default="50ms")
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--serial", type=int, default=300, help="conversations for the serial overhead run")
    parser.add_argument("--xdist", type=int, default=4, help="workers for the xdist row (0: skip)")
    parser.add_argument("--collect", type=int, default=10_000, help="files for the collection benchmark")
    parser.add_argument("--validate", type=int, default=1000, help="files for the validate benchmark")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        flows = root / "flows"
        flows.mkdir()
        (flows / "echo.flow.yaml").write_text(FLOW)
        serial_overhead(root, flows, args.serial)
        many(root, flows, args.conversations, args.latency, args.concurrency, args.xdist)
        collection(root, args.collect)
        validate_speed(root, args.validate)


if __name__ == "__main__":
    main()
