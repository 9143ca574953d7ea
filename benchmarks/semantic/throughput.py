"""What `similar` costs concurrent conversations, against `contains`, in one run.

    .venv/bin/python benchmarks/semantic/throughput.py [--conversations 1000] [--turns 5] [--repeat 3]

N conversations on one event loop, each `--turns` bot replies 50 ms apart (the latency of a
sandbox turn); each reply is distinct (the worst case: nothing comes from the cache) and is
checked by `Similarity.acheck` against one reference text, or by `in` (what `contains`
does). Prints the medians of wall time and CPU of both arms, their ratio, and the peak RSS
(the process's: model, vectors, conversations). No HTTP: this is the meaning check's own
cost, the floor under what the same run through flowtest adds.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

from flowtest.semantic import DEFAULT_MIN, Similarity

REFERENCE = "Flight BA117 is delayed by 40 minutes. Would you like to talk to an agent?"
LATENCY = 0.05


def reply(conversation: int, turn: int) -> str:
    return f"Flight BA{conversation} is delayed by {turn + 10} minutes. Shall I call agent {turn}?"


async def contains(text: str) -> bool:
    return "delayed" in text


def run(check: Callable[[str], Awaitable[bool]], conversations: int, turns: int) -> tuple[float, float]:
    async def conversation(n: int) -> None:
        for turn in range(turns):
            await asyncio.sleep(LATENCY)
            if not await check(reply(n, turn)):
                raise SystemExit(f"the check failed on {reply(n, turn)!r}")

    async def every() -> None:
        await asyncio.gather(*(conversation(n) for n in range(conversations)))

    wall, cpu = time.perf_counter(), time.process_time()
    asyncio.run(every())
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    load = time.perf_counter()
    Similarity().prepare([REFERENCE])  # the model, once per process, as at collection
    load = time.perf_counter() - load

    arms: dict[str, list[tuple[float, float]]] = {"contains": [], "similar": []}
    for _ in range(args.repeat):  # interleaved: the machine is shared
        arms["contains"].append(run(contains, args.conversations, args.turns))
        similarity = Similarity()  # a new run: nothing cached but the model
        similarity.prepare([REFERENCE])

        async def similar(text: str, similarity: Similarity = similarity) -> bool:
            verdict = await similarity.acheck(text, [REFERENCE], minimum=DEFAULT_MIN)
            return verdict.passed

        arms["similar"].append(run(similar, args.conversations, args.turns))
        similarity.close()
    wall = {arm: statistics.median(w for w, _ in runs) for arm, runs in arms.items()}
    cpu = {arm: statistics.median(c for _, c in runs) for arm, runs in arms.items()}
    texts = args.conversations * args.turns
    turn_ms = LATENCY * 1000
    print(f"{args.conversations} conversations x {args.turns} distinct replies, {turn_ms:.0f} ms a turn")
    print(f"model load: {load:.2f} s (once per process)")
    for arm in arms:
        print(f"{arm:9} wall {wall[arm]:.2f} s, CPU {cpu[arm]:.2f} s")
    extra = cpu["similar"] - cpu["contains"]
    print(
        f"similar / contains: wall {wall['similar'] / wall['contains']:.2f}x, CPU "
        f"{cpu['similar'] / cpu['contains']:.2f}x; {extra / texts * 1000:.2f} ms CPU per distinct reply"
    )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
