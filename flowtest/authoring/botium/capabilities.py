"""``botium.json``: the capabilities of a Botium project that change what its convos mean.

Read: the matching mode (how a bot text is compared), whether scripting memory is on,
the utterance expansion mode, retries, whether every failed check is reported, and the
names of custom asserters, logic hooks and user inputs (Botium reads a section line
starting with one of them as that, not as text). A convo is governed by the nearest
``botium.json`` in its folder or above it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowtest.errors import Location, SourceError
from flowtest.yamlsource import read_text

FILE_NAME = "botium.json"
DEFAULT_MATCHING_MODE = "wildcardIgnoreCase"
# Botium's MatchFunctions: each mode compares like this (an unknown one is "equals").
MATCHING_MODES = frozenset(
    {
        "regexp",
        "regexpIgnoreCase",
        "wildcard",
        "wildcardIgnoreCase",
        "wildcardLowerCase",
        "wildcardExact",
        "wildcardExactIgnoreCase",
        "include",
        "includeIgnoreCase",
        "includeLowerCase",
        "equals",
        "equalsIgnoreCase",
        "wer",
    }
)
EXPANSION_MODES = frozenset({"all", "first", "random"})


@dataclass(frozen=True)
class Registry:
    """Names a project registers besides Botium's own (``ASSERTERS``, ``LOGIC_HOOKS``, ``USER_INPUTS``)."""

    asserters: frozenset[str] = frozenset()
    logic_hooks: frozenset[str] = frozenset()
    user_inputs: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Capabilities:
    path: Path | None = None  # None: Botium's defaults, no botium.json governs the file
    matching_mode: str = DEFAULT_MATCHING_MODE
    memory: bool | None = None  # SCRIPTING_ENABLE_MEMORY as written; None when not written
    expansion: str | None = None  # SCRIPTING_UTTEXPANSION_MODE as written
    retries: int = 0  # RETRY_CONVO_NUMRETRIES
    all_failures: bool = False  # SCRIPTING_ENABLE_MULTIPLE_ASSERT_ERRORS: go on after a failed check
    custom: Registry = field(default_factory=Registry)


DEFAULTS = Capabilities()


def read_capabilities(path: Path, display: str) -> Capabilities:
    """One botium.json; a file that is not one is a located SourceError."""
    text = read_text(path, display)
    try:
        data = json.loads(text)
    except ValueError as exc:
        line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        raise SourceError(Location(display, line, column), f"not valid JSON: {exc.args[0]}") from None
    botium = data.get("botium") if isinstance(data, dict) else None
    caps = botium.get("Capabilities") if isinstance(botium, dict) else None
    if not isinstance(caps, dict):
        return Capabilities(path)
    mode = caps.get("SCRIPTING_MATCHING_MODE", DEFAULT_MATCHING_MODE)
    expansion = caps.get("SCRIPTING_UTTEXPANSION_MODE")
    retries = caps.get("RETRY_CONVO_NUMRETRIES", 0)
    memory = caps.get("SCRIPTING_ENABLE_MEMORY")
    return Capabilities(
        path,
        matching_mode=str(mode) if mode else DEFAULT_MATCHING_MODE,
        memory=_flag(memory),
        expansion=str(expansion) if expansion in EXPANSION_MODES else None,
        retries=retries if isinstance(retries, int) and retries > 0 else 0,
        all_failures=_flag(caps.get("SCRIPTING_ENABLE_MULTIPLE_ASSERT_ERRORS")) is True,
        custom=Registry(
            _refs(caps.get("ASSERTERS")), _refs(caps.get("LOGIC_HOOKS")), _refs(caps.get("USER_INPUTS"))
        ),
    )


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _refs(entries: Any) -> frozenset[str]:
    if not isinstance(entries, list):
        return frozenset()
    return frozenset(
        str(entry["ref"]) for entry in entries if isinstance(entry, Mapping) and entry.get("ref")
    )


def governing(path: Path, found: Mapping[Path, Capabilities]) -> Capabilities:
    """The capabilities of the nearest botium.json in ``path``'s folder or above it."""
    for folder in path.parents:
        if folder in found:
            return found[folder]
    return DEFAULTS


def above(src: Path, stop_at: Iterable[Path] = ()) -> Path | None:
    """The botium.json of the nearest folder above ``src`` (a suite imported from inside its project)."""
    stops = set(stop_at)
    for folder in src.parents:
        candidate = folder / FILE_NAME
        if candidate.is_file():
            return candidate
        if folder in stops or (folder / ".git").exists():
            return None
    return None
