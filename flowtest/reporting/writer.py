"""Report files written on a thread of their own, so the pytest thread never waits on the disk.

With many conversations in flight the loop thread keeps the GIL busy; every system call
the pytest thread makes (open, write, rename, for each attachment) gives the GIL away
and waits to get it back, and the items' results queue up behind it. Here the pytest
thread only hands over ready bytes; the files are written while the conversations
still wait on the network, and ``close`` waits for the last of them.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

Write = Callable[[bytes, str], None]
_DONE = None


class BackgroundWriter:
    def __init__(self, write: Write) -> None:
        self._write = write
        self._queue: queue.SimpleQueue[tuple[bytes, str] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.failures: list[str] = []

    def submit(self, body: bytes, file_name: str) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="flowtest-report-writer", daemon=True)
                self._thread.start()
        self._queue.put((body, file_name))

    def close(self) -> None:
        """Wait until every file handed over is written."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_DONE)
            thread.join()

    def _run(self) -> None:
        while (job := self._queue.get()) is not _DONE:
            body, file_name = job
            try:
                self._write(body, file_name)
            except OSError as exc:
                # A full disk loses the attachment, not the run; the warning says which.
                logger.warning("could not write the report file %s: %s", file_name, exc)
                self.failures.append(f"{file_name}: {exc}")
