"""flowtest load against a plain Locust script and against flowtest's own concurrency mode.

    make bench-load
    .venv/bin/python benchmarks/load.py --users 20 --seconds 10

Starts `flowtest serve` (0 latency) in its own process and runs, one after the other,
the same five-turn conversation (Start Session, five Send Message, End Session):

1. one flowtest Locust process (`flowtest load --headless`), which also checks every
   bot message;
2. one plain Locust process, a FastHttpUser sending the same requests and checking
   nothing: the floor flowtest load is measured against;
3. pytest with --flowtest-concurrency USERS, marginal over N and 2N conversations so
   that start-up and collection cancel out;
4. bare aiohttp (benchmarks/bare_aiohttp.py), USERS conversations at once, only the
   echoed text checked: the floor of the asyncio side, whose HTTP client flowtest load shares.

It prints requests per second and client CPU per request of each, the ratios to the
plain Locust script, full conversations per second (what the sandbox sustains with the
cheapest client sharing its machine), and the sessions left open on the server.
"""

from __future__ import annotations

import argparse
import csv
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import ENV, FLOW, REQUESTS, Sandbox, pytest_command, scenario, write_suite

PLAIN = """
from locust import FastHttpUser, constant, task

HEADERS = {"Authorization": "Bearer flowtest-sandbox-key"}
ROOT = "/cgw/process/v1/orgs/demo"


class Plain(FastHttpUser):
    wait_time = constant(0)

    @task
    def conversation(self):
        answer = self.client.post(f"{ROOT}/flows/echo/sessions", json={}, headers=HEADERS,
                                  name="echo: Start Session")
        session = answer.json()["sessionId"]
        for turn in range(5):
            self.client.post(f"{ROOT}/sessions/{session}/messages", json={"text": f"message {turn} of 0"},
                             headers=HEADERS, name=f"echo: turn {turn + 1} (user)")
        self.client.delete(f"{ROOT}/sessions/{session}", headers=HEADERS, name="echo: End Session")
"""


@dataclass(frozen=True)
class Figure:
    name: str
    requests: int
    seconds: float
    cpu: float
    failures: int = 0
    open_sessions: int = 0

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_per_request_us(self) -> float:
        return self.cpu / self.requests * 1e6


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def locust_run(name: str, command: list[str], sandbox: Sandbox, folder: Path, seconds: int) -> Figure:
    prefix = folder / name.replace(" ", "-")
    full = [*command, "--headless", "--only-summary", "-t", f"{seconds}s", "-H", sandbox.url]
    cpu, already_open = _children_cpu(), sandbox.open_sessions()
    done = subprocess.run([*full, "--csv", str(prefix)], env=ENV, capture_output=True, text=True, cwd=folder)
    cpu = _children_cpu() - cpu
    with open(f"{prefix}_stats.csv", newline="") as file:
        total = next(row for row in csv.DictReader(file) if row["Name"] == "Aggregated")
    requests, failures = int(total["Request Count"]), int(total["Failure Count"])
    if requests == 0:
        raise SystemExit(f"{name} sent nothing:\n{done.stderr[-3000:]}")
    rate = float(total["Requests/s"])
    left_open = sandbox.open_sessions() - already_open
    return Figure(name, requests, requests / rate, cpu, failures, left_open)


def concurrency_run(sandbox: Sandbox, folder: Path, count: int, users: int) -> Figure:
    """pytest --flowtest-concurrency: (2N conversations - N) so start-up and collection cancel out."""
    runs, already_open = [], sandbox.open_sessions()
    for size in (count, 2 * count):
        suite = write_suite(folder / f"suite-{size}", size)
        command = pytest_command(sandbox, suite, f"--flowtest-concurrency={users}")
        cpu, wall = _children_cpu(), time.perf_counter()
        done = subprocess.run(command, env=ENV, capture_output=True, text=True, cwd=suite)
        wall, cpu = time.perf_counter() - wall, _children_cpu() - cpu
        if done.returncode != 0:
            raise SystemExit(f"pytest failed:\n{done.stdout[-3000:]}")
        runs.append((wall, cpu))
    (small_wall, small_cpu), (large_wall, large_cpu) = runs
    requests = count * REQUESTS
    return Figure(
        f"pytest --flowtest-concurrency {users}",
        requests,
        large_wall - small_wall,
        large_cpu - small_cpu,
        0,
        sandbox.open_sessions() - already_open,
    )


def bare_aiohttp_run(sandbox: Sandbox, count: int, users: int) -> Figure:
    """The asyncio floor: one aiohttp session, the same requests, only the echo checked (whole process)."""
    script = Path(__file__).with_name("bare_aiohttp.py")
    cpu, wall, already_open = _children_cpu(), time.perf_counter(), sandbox.open_sessions()
    done = subprocess.run(
        [sys.executable, str(script), sandbox.url, str(count), str(users)], capture_output=True
    )
    wall, cpu = time.perf_counter() - wall, _children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"bare aiohttp failed: {done.stdout[-2000:]!r} {done.stderr[-2000:]!r}")
    left_open = sandbox.open_sessions() - already_open
    return Figure(f"bare aiohttp, {users} at once", count * REQUESTS, wall, cpu, 0, left_open)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=20, help="Locust users, and the pytest concurrency")
    parser.add_argument("--seconds", type=int, default=10, help="each Locust run's --run-time")
    parser.add_argument(
        "--conversations", type=int, default=500, help="N for the pytest row (4N for bare aiohttp)"
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        flows = folder / "flows"
        flows.mkdir()
        (flows / "echo.flow.yaml").write_text(FLOW)
        suite = folder / "load-suite"
        suite.mkdir()
        (suite / "echo.scenario.yaml").write_text(scenario(0))
        (folder / "plain_locustfile.py").write_text(PLAIN)
        users = ["-u", str(options.users), "-r", str(options.users)]
        sandbox = Sandbox(flows, "0")
        try:
            ours = locust_run(
                "flowtest load",
                [sys.executable, "-m", "flowtest.cli", "load", str(suite), *users],
                sandbox,
                folder,
                options.seconds,
            )
            plain = locust_run(
                "plain Locust FastHttpUser",
                [sys.executable, "-m", "locust", "-f", str(folder / "plain_locustfile.py"), *users],
                sandbox,
                folder,
                options.seconds,
            )
            pytest_row = concurrency_run(sandbox, folder, options.conversations, options.users)
            bare = bare_aiohttp_run(sandbox, options.conversations * 4, options.users)
        finally:
            sandbox.stop()
    print(f"\n{options.users} users, 0 latency, one client process each, sandbox on the same machine\n")
    header = ("client", "requests/s", "vs plain", "CPU/request", "failures", "left open")
    print("{:42} {:>11} {:>9} {:>12} {:>9} {:>9}".format(*header))
    for figure in (ours, plain, pytest_row, bare):
        print(
            f"{figure.name:42} {figure.per_second:11.0f} {figure.per_second / plain.per_second:8.2f}x "
            f"{figure.cpu_per_request_us:9.0f} µs {figure.failures:9d} {figure.open_sessions:9d}"
        )
    conversations = plain.per_second / REQUESTS
    print(f"\nsandbox: {conversations:.0f} full conversations/s ({REQUESTS} requests each) at 0 latency")
    print(f"flowtest load vs pytest --flowtest-concurrency: {ours.per_second / pytest_row.per_second:.2f}x")


if __name__ == "__main__":
    main()
