"""The Allure coverage page (placeholder until drawn)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flowtest.coverage.data import FlowSummary


def write_allure_page(results: Path, graphs: Mapping[str, Any], summaries: Sequence[FlowSummary]) -> None:
    return None
