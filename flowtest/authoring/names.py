"""Scenario names already taken in a project: a written scenario must not repeat one.

pytest collects every scenario of the project in one run, and two with one name are an
error there (Allure would merge them), so the writers (import botium, import transcripts)
choose a name no scenario under the project root has yet.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from flowtest.scenario import is_scenario_file

_SKIPPED = frozenset({"node_modules", ".venv", "venv"})


def taken_names(root: Path) -> set[str]:
    """The names of the scenarios under ``root`` (files that cannot be read count for nothing)."""
    names: set[str] = set()
    if not root.is_dir():
        return names
    for path in root.rglob("*.scenario.y*ml"):
        if _searched(path.relative_to(root)) and is_scenario_file(path):
            names.update(_names_in(path))
    return names


def _searched(relative: Path) -> bool:
    """Not hidden, nor in a virtual environment or dependencies."""
    return not any(part.startswith(".") or part in _SKIPPED for part in relative.parts)


def _names_in(path: Path) -> list[str]:
    try:
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    return [str(doc["name"]) for doc in documents if isinstance(doc, dict) and "name" in doc]


def free_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name (2)``...: the first that ``taken`` lacks (which then holds it)."""
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name} ({number})", number + 1
    taken.add(candidate)
    return candidate
