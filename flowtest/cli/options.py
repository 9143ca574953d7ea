"""Argument types and helpers shared by the commands."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from flowtest.config import Settings, positive_rate, read_pyproject, resolve
from flowtest.durations import parse_duration

T = TypeVar("T")
N = TypeVar("N", int, float)
Commands = argparse._SubParsersAction  # the subparsers every command adds itself to


def argument(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type from a parser that raises ValueError with a readable message."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _number_in(text: str, kind: type[N], low: N, high: N, what: str) -> N:
    """``text`` as a number of ``kind`` from ``low`` to ``high``, else a ValueError saying so."""
    try:
        value = kind(text)
    except ValueError:
        value = kind(low - 1)
    if not low <= value <= high:
        raise ValueError(f"expected {what} from {low:g} to {high:g}, got {text!r}")
    return value


def share(text: str) -> float:
    """A share from 0 to 1, such as 0.05."""
    return _number_in(text, float, 0.0, 1.0, "a share")


def port(text: str) -> int:
    """A TCP port, 0 to 65535 (0 picks a free one)."""
    return _number_in(text, int, 0, 65535, "a port")


def at_least_one(text: str) -> int:
    """A whole number of 1 or more (a limit of 0 would refuse everything)."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise ValueError(f"expected a whole number of 1 or more, got {text!r}")
    return number


def positive_duration(text: str) -> float:
    """A duration above 0, such as 10m or 1h."""
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError(f"expected a duration above 0, such as 10m or 1h, got {text!r}")
    return seconds


def api_key(text: str) -> str:
    if not text.strip():
        raise ValueError("the API key cannot be empty: clients would be let in with no key")
    return text


port_type = argument(port)
api_key_type = argument(api_key)
duration_type = argument(parse_duration)
positive_duration_type = argument(positive_duration)
at_least_one_type = argument(at_least_one)
rate_type = argument(positive_rate)
share_type = argument(share)


def missing_paths(paths: list[str]) -> str | None:
    """The error for the paths given that do not exist, or None."""
    missing = [path for path in paths if not Path(path).exists()]
    return f"{', '.join(missing)}: no such file or folder" if missing else None


def project_root(start: Path) -> Path:
    """The nearest folder holding pyproject.toml, else ``start``."""
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return start


def settings_at(root: Path) -> Settings:
    return resolve({}, os.environ, read_pyproject(root), root)
