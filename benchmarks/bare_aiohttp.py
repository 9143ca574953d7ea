"""The floor for concurrent runs: the same requests as the benchmark's scenarios, nothing checked.

    python benchmarks/bare_aiohttp.py URL COUNT CONCURRENCY

One aiohttp session, at most CONCURRENCY conversations at once: Start Session, five
Send Message, End Session each, as the benchmark's echo scenarios do. Prints the
number of conversations that failed; exits 1 if any did.
"""

from __future__ import annotations

import asyncio
import json
import sys

import aiohttp

KEY = "flowtest-sandbox-key"
TURNS = 5


async def conversation(session: aiohttp.ClientSession, root: str, index: int) -> bool:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    async with session.post(f"{root}/flows/echo/sessions", data=b"{}", headers=headers) as response:
        started = await response.json()
    session_id = started["sessionId"]
    for turn in range(TURNS):
        body = json.dumps({"text": f"message {turn} of {index}"}).encode()
        async with session.post(f"{root}/sessions/{session_id}/messages", data=body, headers=headers) as r:
            answer = await r.json()
        if answer["messages"][0]["text"] != f"You said message {turn} of {index}.":
            return False
    async with session.delete(f"{root}/sessions/{session_id}", headers=headers) as response:
        await response.read()
    return True


async def main(url: str, count: int, concurrency: int) -> int:
    root = f"{url}/cgw/process/v1/orgs/demo"
    slots = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(index: int) -> bool:
            async with slots:
                try:
                    return await conversation(session, root, index)
                except (aiohttp.ClientError, asyncio.TimeoutError, KeyError):
                    return False

        passed = await asyncio.gather(*(one(index) for index in range(count)))
    failed = passed.count(False)
    print(f"{failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
