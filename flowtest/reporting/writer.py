"""Report files serialised and written on a thread of their own, so the pytest thread never waits on them.

With many conversations in flight the loop thread keeps the GIL busy; every system call
the pytest thread makes (open, write, close, for each file) gives the GIL away and waits
to get it back, and the items' results queue up behind it. Here the pytest thread only
hands over plain dicts and lists; they are turned into JSON (orjson) and written while
the conversations still wait on the network, and ``close`` waits for the last of them.
Each file is written in place: the results are read once the run is over, so a temporary
file and a rename would buy nothing.

The last run's files are reused rather than deleted and created anew (``set_aside``): on
ext4, creating a file shortly after thousands were deleted costs up to a millisecond of
kernel time (the inode allocator steps over every recently freed inode), more than the
whole rest of a conversation's report. Renaming an old file into place does not allocate.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import threading
from pathlib import Path
from typing import Any

import orjson

logger = logging.getLogger(__name__)

_DONE = None
# Files handed over and not yet written, at most: when the last conversations of a big run
# finish together, items report faster than files are written, and 10,000 conversations
# queued 17,000 results and attachments (+120 MB) before this bound.
_BACKLOG = 512
_FLAGS = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


def set_aside(folder: Path) -> Path | None:
    """Empty ``folder`` by moving it aside whole; the files there are a writer's to reuse.

    None when there was nothing to move (or it cannot be moved: then it is deleted).
    """
    aside = folder.with_name(f".{folder.name}.previous")
    shutil.rmtree(aside, ignore_errors=True)  # left by a run that was killed
    try:
        folder.rename(aside)
    except FileNotFoundError:
        return None
    except OSError:  # a mount point, say
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return aside


class BackgroundWriter:
    """Writes JSON files into one folder, in the order they were handed over."""

    def __init__(self, folder: Path, reuse: Path | None = None) -> None:
        self._folder = os.fspath(folder)  # joined as text: pathlib costs more than the write
        self._reuse = reuse
        self._spares: list[str] | None = None
        self._queue: queue.Queue[tuple[Any, str, bool] | None] = queue.Queue(_BACKLOG)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.failures: list[str] = []

    def submit(self, data: Any, file_name: str, indent: bool = False) -> None:
        """Hand over a JSON value (or ready bytes); it must not change afterwards. Waits while
        the writer is ``_BACKLOG`` files behind."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="flowtest-report-writer", daemon=True)
                self._thread.start()
        self._queue.put((data, file_name, indent))

    def close(self) -> None:
        """Wait until every file handed over is written; delete the old files not reused."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_DONE)
            thread.join()
        if self._reuse is not None:
            shutil.rmtree(self._reuse, ignore_errors=True)
            self._reuse = self._spares = None

    def _run(self) -> None:
        while (job := self._queue.get()) is not _DONE:
            data, file_name, indent = job
            try:
                body = data if isinstance(data, bytes) else json_bytes(data, indent)
                path = os.path.join(self._folder, file_name)
                write_file(path, body, reused=self._recycle(path))
            except Exception as exc:  # whatever it is: the thread lives on, or submit() would wait forever
                # A full disk (or a value JSON cannot hold) loses the file, not the run; the warning
                # says which.
                logger.warning("could not write the report file %s: %s", file_name, exc)
                self.failures.append(f"{file_name}: {exc}")

    def _recycle(self, path: str) -> bool:
        """Put one of the last run's files at ``path``, if one is left, to be overwritten."""
        if self._reuse is None:
            return False
        if self._spares is None:
            self._spares = _own_files(self._reuse)
        while self._spares:
            try:
                os.rename(self._spares.pop(), path)
                return True
            except FileNotFoundError:
                continue
            except OSError:
                self._spares.clear()
        return False


def _own_files(folder: Path) -> list[str]:
    """The files of ``folder`` that only it holds: overwriting a link, symbolic or hard, would
    overwrite whatever else it names."""
    try:
        with os.scandir(folder) as entries:
            return [
                entry.path
                for entry in entries
                if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_nlink == 1
            ]
    except OSError:
        return []


def json_bytes(data: Any, indent: bool = False) -> bytes:
    """UTF-8 JSON; orjson is several times faster than json, and this runs for every file."""
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    try:
        return orjson.dumps(data, option=option, default=str)
    except (orjson.JSONEncodeError, TypeError):  # an integer beyond 64 bits, say
        return json.dumps(data, indent=2 if indent else None, ensure_ascii=False, default=str).encode()


def write_file(path: str, body: bytes, reused: bool = False) -> None:
    """Write ``body`` to ``path``; a reused file is written over, then cut to length, which
    costs less than emptying it first (its blocks are rewritten, not freed and allocated)."""
    descriptor = os.open(path, _FLAGS if reused else _FLAGS | os.O_TRUNC, 0o666)
    try:
        view = memoryview(body)
        while view:
            view = view[os.write(descriptor, view) :]
        if reused:
            os.ftruncate(descriptor, len(body))
    finally:
        os.close(descriptor)
