"""What the LLM client adds to a judged run, and what its cache saves.

    .venv/bin/python benchmarks/llm.py [--questions 1000] [--repeat 3]

Starts the rule-answering OpenAI-compatible server of the tests (tests/llmserver.py) in
a process of its own, then asks it QUESTIONS distinct judge questions, all at once
(the client keeps 16 in flight), in four ways, measured in this run (only ratios mean
something on a shared machine; rounds are interleaved and the median is printed):

bare     one aiohttp session POSTing the same request bodies and reading the content:
         the floor.
asked    flowtest's judge with no cache folder: the client, prompt, parsing, redaction.
written  the same with the cache folder (empty): one file created per answer.
disk     the same questions in a new client (a rerun): every answer read from the
         files, no call (the server's count is checked).
memory   the same questions again in that client: answers held for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowtest.llm.endpoint import Endpoint  # noqa: E402
from flowtest.llm.judge import judge_messages  # noqa: E402
from flowtest.llm.service import LLM  # noqa: E402

CRITERION = "asks for the ticket number"


def texts(count: int) -> list[str]:
    return [f"Thanks! What is the ticket number of request {n}?" for n in range(count)]


async def bare(url: str, count: int) -> float:
    bodies = [
        orjson.dumps({"model": "m", "messages": list(judge_messages(CRITERION, text)), "temperature": 0})
        for text in texts(count)
    ]
    slots = asyncio.Semaphore(16)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:

        async def one(body: bytes) -> None:
            async with slots, session.post(f"{url}/chat/completions", data=body) as response:
                orjson.loads(await response.read())

        await asyncio.gather(*(one(body) for body in bodies))
    return time.perf_counter() - started


async def judged(llm: LLM, count: int) -> float:
    started = time.perf_counter()
    verdicts = await asyncio.gather(*(llm.judge(CRITERION, text) for text in texts(count)))
    seconds = time.perf_counter() - started
    if not all(v.passed for v in verdicts):
        raise SystemExit("a verdict failed: the benchmark measured something else")
    return seconds


async def flowtest_rounds(url: str, count: int, cache: Path) -> dict[str, float]:
    uncached = LLM(Endpoint(url, "m"), None)
    first = LLM(Endpoint(url, "m"), cache)
    rerun = LLM(Endpoint(url, "m"), cache)
    try:
        asked = await judged(uncached, count)
        written = await judged(first, count)
        before = await calls(url)
        disk = await judged(rerun, count)
        memory = await judged(rerun, count)
        if await calls(url) != before:
            raise SystemExit("a cached answer made a call: the benchmark measured something else")
    finally:
        for llm in (uncached, first, rerun):
            await llm.aclose()
    return {"asked": asked, "written": written, "disk": disk, "memory": memory}


async def calls(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/calls") as response:
        return int((await response.json())["calls"])


def measure(url: str, count: int, repeat: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"bare": [], "asked": [], "written": [], "disk": [], "memory": []}
    for _ in range(repeat):
        times["bare"].append(asyncio.run(bare(url, count)))
        with tempfile.TemporaryDirectory() as folder:
            for name, seconds in asyncio.run(flowtest_rounds(url, count, Path(folder))).items():
                times[name].append(seconds)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.llmserver"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        times = measure(url, args.questions, args.repeat)
    finally:
        server.communicate("", timeout=30)
    floor = statistics.median(times["bare"])
    print(f"{args.questions} distinct judge questions, median of {args.repeat} rounds:")
    for name, rounds in times.items():
        seconds = statistics.median(rounds)
        per = seconds / args.questions * 1e6
        print(f"  {name:7} {seconds:7.3f} s  {per:8.0f} µs a question  {seconds / floor:5.2f}x bare")


if __name__ == "__main__":
    main()
