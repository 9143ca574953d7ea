"""Report files serialised and written on a thread of their own, so the pytest thread never waits on them.

With many conversations in flight the loop thread keeps the GIL busy; every system call
the pytest thread makes (open, write, close, for each file) gives the GIL away and waits
to get it back, and the items' results queue up behind it. Here the pytest thread only
hands over plain dicts and lists; they are turned into JSON (orjson) and written while
the conversations still wait on the network, and ``close`` waits for the last of them.
Each file is written in place with three system calls: the results are read once the run
is over, so a temporary file and a rename would buy nothing.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from pathlib import Path
from typing import Any

import orjson

logger = logging.getLogger(__name__)

_DONE = None
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


class BackgroundWriter:
    """Writes JSON files into one folder, in the order they were handed over."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._queue: queue.SimpleQueue[tuple[Any, str, bool] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.failures: list[str] = []

    def submit(self, data: Any, file_name: str, indent: bool = False) -> None:
        """Hand over a JSON value (or ready bytes); it must not change afterwards."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="flowtest-report-writer", daemon=True)
                self._thread.start()
        self._queue.put((data, file_name, indent))

    def close(self) -> None:
        """Wait until every file handed over is written."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_DONE)
            thread.join()

    def _run(self) -> None:
        while (job := self._queue.get()) is not _DONE:
            data, file_name, indent = job
            try:
                body = data if isinstance(data, bytes) else json_bytes(data, indent)
                write_file(self.folder / file_name, body)
            except (OSError, ValueError) as exc:
                # A full disk (or a value JSON cannot hold) loses the file, not the run; the warning
                # says which.
                logger.warning("could not write the report file %s: %s", file_name, exc)
                self.failures.append(f"{file_name}: {exc}")


def json_bytes(data: Any, indent: bool = False) -> bytes:
    """UTF-8 JSON; orjson is several times faster than json, and this runs for every file."""
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    try:
        return orjson.dumps(data, option=option, default=str)
    except (orjson.JSONEncodeError, TypeError):  # an integer beyond 64 bits, say
        return json.dumps(data, indent=2 if indent else None, ensure_ascii=False, default=str).encode()


def write_file(path: Path, body: bytes) -> None:
    descriptor = os.open(path, _FLAGS, 0o666)
    try:
        view = memoryview(body)
        while view:
            view = view[os.write(descriptor, view) :]
    finally:
        os.close(descriptor)
