"""LLM answers on disk, so a rerun against an unchanged bot asks nothing and answers the same.

One small JSON file per question, named by the SHA-256 of what was asked (the kind, the
model, the prompt's version, the question). Files are written to a temporary name and
renamed, so concurrent conversations and pytest-xdist workers never read half a file;
two that ask the same question at once both write the same answer. The folder is created
on the first answer written: a run that asks nothing writes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from flowtest.redact import Redactor

logger = logging.getLogger(__name__)

Record = dict[str, Any]
FORMAT = 1  # part of every key: a change of the files' layout or of a prompt starts afresh


class _Abandoned(Exception):
    """The call that others waited for was cancelled with its conversation."""


def cache_key(kind: str, question: Mapping[str, Any]) -> str:
    text = orjson.dumps({"format": FORMAT, "kind": kind, **question}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(text).hexdigest()


class AnswerCache:
    """Answers by question: in memory for this run, on disk across runs.

    ``refresh`` ignores what earlier runs wrote (and overwrites it); answers received in this
    run are still reused within it. Identical questions asked at once make one call.
    """

    def __init__(self, folder: Path | None, redactor: Redactor, refresh: bool = False) -> None:
        self.folder = folder  # None: in memory only
        self.redactor = redactor
        self.refresh = refresh
        self._known: dict[str, Record] = {}
        self._asking: dict[str, asyncio.Future[Record]] = {}

    async def answer(
        self,
        kind: str,
        question: Mapping[str, Any],
        ask: Callable[[], Awaitable[Record]],
        valid: Callable[[Record], bool] = lambda record: True,
        secrets: Redactor | None = None,
    ) -> tuple[Record, bool]:
        """The answer to ``question`` and whether it came from the cache; ``ask`` makes it otherwise.

        ``valid`` tells a usable stored answer from a file edited by hand or by another version;
        ``secrets`` masks the conversation's secret values (a bot text may repeat one) in the file.
        """
        key = cache_key(kind, question)
        while True:
            known = self._known.get(key)
            if known is not None:
                return known, True
            if not self.refresh:
                stored = self._read(kind, key, valid)
                if stored is not None:
                    self._known[key] = stored
                    return stored, True
            asking = self._asking.get(key)
            if asking is None:
                return await self._ask(kind, key, question, ask, secrets), False
            try:
                return await asyncio.shield(asking), True
            except _Abandoned:
                continue  # the conversation that asked was cancelled: ask again

    async def _ask(
        self,
        kind: str,
        key: str,
        question: Mapping[str, Any],
        ask: Callable[[], Awaitable[Record]],
        secrets: Redactor | None,
    ) -> Record:
        future: asyncio.Future[Record] = asyncio.get_running_loop().create_future()
        self._asking[key] = future
        try:
            # A model can repeat what it was shown: secrets stay out of answers, like everywhere else.
            record: Record = self.redactor.value(await ask())
        except BaseException as exc:
            cancelled = isinstance(exc, asyncio.CancelledError)
            future.set_exception(_Abandoned() if cancelled else exc)
            future.exception()  # retrieved: the waiters get it, the loop does not log it unseen
            raise
        finally:
            del self._asking[key]
        self._known[key] = record
        future.set_result(record)
        # Creating a file costs milliseconds on some disks: off the loop, the conversations go on.
        entry = {"question": dict(question), "answer": record}
        if secrets is not None:
            entry = secrets.value(entry)
        await asyncio.get_running_loop().run_in_executor(None, self._write, kind, key, entry)
        return record

    def path(self, kind: str, key: str) -> Path | None:
        return None if self.folder is None else self.folder / kind / key[:2] / f"{key}.json"

    def _read(self, kind: str, key: str, valid: Callable[[Record], bool]) -> Record | None:
        path = self.path(kind, key)
        if path is None:
            return None
        try:
            stored = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, orjson.JSONDecodeError) as exc:
            logger.warning("flowtest: ignoring an unreadable LLM cache file %s (%s)", path, exc)
            return None
        answer = stored.get("answer") if isinstance(stored, dict) else None
        if isinstance(answer, dict) and valid(answer):
            return answer
        logger.warning("flowtest: ignoring an LLM cache file that holds no usable answer: %s", path)
        return None

    def _write(self, kind: str, key: str, entry: Record) -> None:
        path = self.path(kind, key)
        if path is None:
            return
        content = orjson.dumps(self.redactor.value(entry), option=orjson.OPT_INDENT_2)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(content)
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            # The answer is good; only the next run pays for the call again.
            logger.warning("flowtest: cannot write the LLM cache file %s (%s)", path, exc)
