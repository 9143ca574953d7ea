"""Values flowtest generates while a conversation runs: ``${random.N}`` and ``${now.FIELD}``.

They stand for Botium's ``$random(N)``, ``$now``, ``$date``... (``$uniqid`` is
``${uuid}``). ``${random.N}`` is N digits drawn from the conversation attempt's id, so it
is the same wherever the attempt uses it and new in the next attempt; ``${now.FIELD}`` is
the time when the step runs, in ISO 8601 forms. They are names of values, as every
template is: nothing computes what a scenario writes.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

MAX_DIGITS = 64
# Texts, all of them: they go into messages and texts to match.
NOW_FIELDS: dict[str, Callable[[datetime.datetime], str]] = {
    "iso": lambda now: now.isoformat(timespec="seconds"),
    "date": lambda now: now.date().isoformat(),
    "time": lambda now: now.strftime("%H:%M:%S"),
    "timestamp": lambda now: str(int(now.timestamp() * 1000)),
    "year": lambda now: str(now.year),
    "month": lambda now: now.strftime("%B"),
    "day": lambda now: str(now.day),
    "weekday": lambda now: now.strftime("%A"),
}
NAMES = frozenset({"random", "now"})


def problem(reference: str) -> str | None:
    """Why ``random.X`` / ``now.X`` names no value, or None."""
    root, _, field = reference.partition(".")
    if root == "random":
        if not field.isdigit() or not 1 <= int(field) <= MAX_DIGITS:
            return f"'${{{reference}}}': random takes a number of digits, 1 to {MAX_DIGITS}: ${{random.10}}"
        return None
    if field not in NOW_FIELDS:
        return f"'${{{reference}}}': now has {', '.join(NOW_FIELDS)}: ${{now.date}}"
    return None


def value(
    reference: str, values: Mapping[str, Any], clock: Callable[[], datetime.datetime] | None = None
) -> str:
    """The value of ``random.N`` or ``now.FIELD`` for the conversation whose bound ``values`` these are."""
    root, _, field = reference.partition(".")
    if root == "random":
        return _digits(_seed(values), int(field))
    now = (clock or _local_now)()
    return NOW_FIELDS[field](now)


def _local_now() -> datetime.datetime:
    return datetime.datetime.now().astimezone()


def _seed(values: Mapping[str, Any]) -> str:
    """The attempt's id when the run binds one (``uuid``), else the test's own ids."""
    if "uuid" in values:
        return str(values["uuid"])
    return f"{values.get('run_id', '')}/{values.get('scenario_id', '')}"


def _digits(seed: str, count: int) -> str:
    digest = hashlib.sha256(seed.encode()).digest() + hashlib.sha256(seed.encode() + b"+").digest()
    return "".join(str(byte % 10) for byte in digest[:count])
