"""Scenario files: the model and the loader that validates and builds it.

This package's own namespace stays import-light: the pytest plugin asks it, for every
file pytest sees, whether the file is a scenario.
"""

from __future__ import annotations

from pathlib import Path

SCENARIO_SUFFIXES = (".scenario.yaml", ".scenario.yml")


def is_scenario_file(path: Path) -> bool:
    return path.name.endswith(SCENARIO_SUFFIXES)
