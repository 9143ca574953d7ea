"""Report files: plain dicts and lists made JSON (orjson) and written, each in a few system calls.

Each file is written in place when it is handed over: the results are read once the run
is over, so a temporary file and a rename would buy nothing. Writing on the pytest thread
costs less than handing the files to a thread of their own: with thousands of
conversations at once that thread fell behind and its queue of results grew (peak RSS
618 MB instead of 563 MB at 10,000), and passing the GIL back and forth cost more CPU than
the writes.

The last run's files are reused rather than deleted and created anew (``set_aside``): on
ext4, creating a file shortly after thousands were deleted costs up to a millisecond of
kernel time (the inode allocator steps over every recently freed inode), more than the
whole rest of a conversation's report. Renaming an old file into place does not allocate,
and writing over it and cutting it to length rewrites blocks it already has.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import orjson

logger = logging.getLogger(__name__)

_FLAGS = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


# What an Allure results folder holds: result, container and attachment files (named by a
# UUID, by any tool), the files a CI step or a report adds beside them, hidden files (.gitkeep).
_ALLURE_FILE = re.compile(
    r".+-(?:result\.json|container\.json|globals\.json|attachment(?:\..*)?)"
    r"|environment\.properties|executor\.json|categories\.json|history|\.[^/]*"
)


def stranger(folder: Path) -> str | None:
    """The name of an entry of ``folder`` that is not an Allure result (a hidden folder is
    not one either), or None. A folder holding one is not emptied: it is not the results'
    own (``allure_results = "."`` names the project itself)."""
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                hidden_folder = entry.name.startswith(".") and entry.is_dir(follow_symlinks=False)
                if hidden_folder or _ALLURE_FILE.fullmatch(entry.name) is None:
                    return entry.name
    except OSError:  # missing, or not a folder: nothing in it to lose
        return None
    return None


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


class ReportWriter:
    """Writes JSON files into one folder, reusing the files of a folder set aside."""

    def __init__(self, folder: Path, reuse: Path | None = None) -> None:
        self._folder = os.fspath(folder)  # joined as text: pathlib costs more than the write
        self._reuse = reuse
        self._spares: list[str] | None = None
        self.failures: list[str] = []

    def write(self, data: Any, file_name: str, indent: bool = False) -> None:
        """Write a JSON value (or ready bytes) as ``file_name``."""
        path = os.path.join(self._folder, file_name)
        try:
            body = data if isinstance(data, bytes) else json_bytes(data, indent)
            write_file(path, body, reused=self._recycle(path))
        except (OSError, ValueError) as exc:
            # A full disk (or a value JSON cannot hold) loses the file, not the run; the warning
            # says which. Nothing is left under the file's name: a reused file would still hold
            # the last run's result (shown as this run's), a cut one is not JSON.
            with contextlib.suppress(OSError):
                os.unlink(path)
            logger.warning("could not write the report file %s: %s", file_name, exc)
            self.failures.append(f"{file_name}: {exc}")

    def close(self) -> None:
        """Delete the old files that were not reused."""
        if self._reuse is not None:
            shutil.rmtree(self._reuse, ignore_errors=True)
            self._reuse = self._spares = None

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
