"""flowtest benchmarks: conversations per second against the sandbox, and collection speed.

    python benchmarks/run.py                       # the defaults below
    python benchmarks/run.py --conversations 200 --latency 50ms --skip-xdist

Starts `flowtest serve` in its own process with the given latency, generates N
five-turn scenarios, and prints side by side: a raw httpx loop doing the same
requests (the serial floor), flowtest serial, flowtest with --flowtest-concurrency,
and optionally pytest-xdist; then the collection benchmark. Every figure is
measured in this run, and ratios are against the raw loop measured alongside.
"""

from __future__ import annotations

import argparse
import json
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


@dataclass(frozen=True)
class Figures:
    name: str
    wall: float
    requests: int
    cpu: float
    peak_rss_mb: float
    open_sessions: int | None = None

    def row(self, floor: Figures | None) -> str:
        per_request = self.cpu / self.requests * 1e6
        ratio = f"{self.wall / floor.wall:6.2f}x" if floor else "   1.00x"
        cpu_ratio = f"{per_request / (floor.cpu / floor.requests * 1e6):5.2f}x" if floor else " 1.00x"
        left = "-" if self.open_sessions is None else str(self.open_sessions)
        return (
            f"{self.name:<34}{self.wall:9.2f}s{self.requests / self.wall:10.0f}/s"
            f"{per_request:10.0f}µs{self.peak_rss_mb:9.0f}MB   {ratio}  {cpu_ratio}  {left:>5}"
        )


def scenario(index: int) -> str:
    steps = ["  - bot: Hello, say something."]
    for turn in range(TURNS):
        steps += [f"  - user: message {turn} of {index}", f"  - bot: You said message {turn} of {index}."]
    return f"name: conversation {index}\nflow: echo\nconversation:\n" + "\n".join(steps) + "\n"


def write_suite(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (folder / f"c{index:05d}.scenario.yaml").write_text(scenario(index))


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

    def open_sessions(self) -> int:
        return int(httpx.get(f"{self.url}/_sandbox/stats").json()["liveSessions"])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def raw_loop(url: str, count: int) -> Figures:
    """The floor: the same requests with one httpx.Client, nothing checked."""
    headers = {"Authorization": f"Bearer {KEY}"}
    root = f"{url}/cgw/process/v1/orgs/demo"
    cpu, wall = time.process_time(), time.perf_counter()
    with httpx.Client(headers=headers) as client:
        for index in range(count):
            session = client.post(f"{root}/flows/echo/sessions", json={}).json()["sessionId"]
            for turn in range(TURNS):
                client.post(
                    f"{root}/sessions/{session}/messages", json={"text": f"message {turn} of {index}"}
                )
            client.delete(f"{root}/sessions/{session}")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Figures("raw httpx loop (serial floor)", wall, count * (TURNS + 2), cpu, rss)


def pytest_run(name: str, suite: Path, url: str, count: int, *extra: str) -> Figures:
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(suite),
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:allure_pytest",
        "-p",
        "no:schemathesis",
        f"--flowtest-base-url={url}",
        "--rootdir",
        str(suite),
        *extra,
    ]
    # A user's Python writes bytecode; without it every run recompiles pytest's rewritten plugins.
    env = {**os.environ, "FLOWTEST_API_KEY": KEY, "PYTHONDONTWRITEBYTECODE": ""}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=suite)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Figures(name, wall, count * (TURNS + 2), cpu, after.ru_maxrss / 1024)


def collection(folder: Path, count: int) -> tuple[float, float]:
    """(seconds to parse the files with PyYAML alone, seconds for pytest --collect-only)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    start = time.perf_counter()
    for path in folder.glob("*.scenario.yaml"):
        yaml.load(path.read_text(), Loader=loader)  # noqa: S506 - the C safe loader
    floor = time.perf_counter() - start
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(folder),
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:allure_pytest",
        "-p",
        "no:schemathesis",
        "--rootdir",
        str(folder),
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder)
    collected = time.perf_counter() - start
    if f"{count} tests collected" not in done.stdout:
        raise SystemExit(f"collection failed:\n{done.stdout[-2000:]}")
    return floor, collected


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--serial-conversations", type=int, default=200, help="for the 0-latency serial run")
    parser.add_argument("--latency", default="50ms")
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--collect", type=int, default=10_000, help="files for the collection benchmark")
    parser.add_argument("--skip-xdist", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        flows = root / "flows"
        flows.mkdir()
        (flows / "echo.flow.yaml").write_text(FLOW)
        header = f"{'run':<34}{'wall':>10}{'req/s':>12}{'cpu/req':>12}{'peak RSS':>11}   {'wall ×':>7}  {'cpu ×':>6}  {'open':>5}"

        print(f"\n1) serial overhead, 0 latency, {args.serial_conversations} conversations of {TURNS} turns")
        suite = root / "serial"
        write_suite(suite, args.serial_conversations)
        sandbox = Sandbox(flows, "0")
        try:
            floor = raw_loop(sandbox.url, args.serial_conversations)
            rows = [floor, pytest_run("flowtest serial", suite, sandbox.url, args.serial_conversations)]
            rows[-1] = Figures(**{**rows[-1].__dict__, "open_sessions": sandbox.open_sessions()})
        finally:
            sandbox.stop()
        print(header)
        for row in rows:
            print(row.row(floor if row is not floor else None))

        print(f"\n2) {args.conversations} conversations of {TURNS} turns at {args.latency} latency")
        suite = root / "many"
        write_suite(suite, args.conversations)
        sandbox = Sandbox(flows, args.latency)
        try:
            floor = raw_loop(sandbox.url, min(args.conversations, 50))
            per_conversation = floor.wall / min(args.conversations, 50)
            floor = Figures(
                f"raw httpx loop (est. {args.conversations})",
                per_conversation * args.conversations,
                args.conversations * (TURNS + 2),
                floor.cpu * args.conversations / min(args.conversations, 50),
                floor.peak_rss_mb,
            )
            rows = []
            concurrent = pytest_run(
                f"flowtest concurrency {args.concurrency}",
                suite,
                sandbox.url,
                args.conversations,
                f"--flowtest-concurrency={args.concurrency}",
            )
            rows.append(Figures(**{**concurrent.__dict__, "open_sessions": sandbox.open_sessions()}))
            if not args.skip_xdist:
                xdist = pytest_run(
                    "pytest-xdist -n 4 (serial workers)", suite, sandbox.url, args.conversations, "-n", "4"
                )
                rows.append(Figures(**{**xdist.__dict__, "open_sessions": sandbox.open_sessions()}))
        finally:
            sandbox.stop()
        print(header)
        print(floor.row(None))
        for row in rows:
            print(row.row(floor))

        print(f"\n3) collection of {args.collect} scenario files")
        folder = root / "collect"
        write_suite(folder, args.collect)
        floor_s, collected = collection(folder, args.collect)
        print(f"PyYAML C loader alone (floor): {floor_s:.2f}s")
        print(
            f"pytest --collect-only (load, validate, items): {collected:.2f}s  = {collected / floor_s:.1f}x the floor"
        )
        print(json.dumps({"collect_seconds": round(collected, 2)}))


if __name__ == "__main__":
    main()
