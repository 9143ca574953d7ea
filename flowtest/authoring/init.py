"""``flowtest init``: scaffold a suite that runs, validates, records and reports from day one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from flowtest import DISTRIBUTION, __version__
from flowtest.errors import FlowtestError
from flowtest.schemas import load_schema, partial_schema

_TEMPLATES = resources.files("flowtest.authoring").joinpath("templates")

# (where it goes, which template)
_FILES = (
    ("scenarios/flows/hello.flow.yaml", "flows/hello.flow.yaml"),
    ("scenarios/hello/greeting.scenario.yaml", "greeting.scenario.yaml"),
    ("scenarios/README.md", "README.md"),
    (".github/workflows/flowtest.yml", "workflow.yml"),
    ("package.json", "package.json"),
    ("package-lock.json", "package-lock.json"),
    ("allurerc.mjs", "allurerc.mjs"),
)


def requirement() -> str:
    """What the files init writes install: this distribution, pinned to the version writing them."""
    return f"{DISTRIBUTION}=={__version__}"


class InitConflict(FlowtestError):
    """Files that init would write already exist; nothing was written."""


@dataclass(frozen=True)
class Planned:
    path: Path
    text: str


def plan(target: Path) -> list[Planned]:
    planned = [Planned(target / dest, _template(src)) for dest, src in _FILES]
    schemas = {"scenario": load_schema("scenario"), "partial": partial_schema(), "flow": load_schema("flow")}
    for kind, schema in schemas.items():
        planned.append(
            Planned(target / ".flowtest" / f"{kind}.schema.json", json.dumps(schema, indent=2) + "\n")
        )
    return planned


def _template(name: str) -> str:
    return _TEMPLATES.joinpath(name).read_text(encoding="utf-8").replace("@REQUIREMENT@", requirement())


def init(target: Path) -> list[str]:
    """Write the suite; refuse (InitConflict) before writing anything if a file exists."""
    planned = plan(target)
    existing = [str(p.path.relative_to(target)) for p in planned if p.path.exists()]
    pyproject = target / "pyproject.toml"
    has_section = pyproject.is_file() and "[tool.flowtest]" in pyproject.read_text(encoding="utf-8")
    if has_section:
        existing.append("pyproject.toml ([tool.flowtest])")
    if existing:
        raise InitConflict("these exist, nothing was written: " + ", ".join(existing))
    written = []
    for item in planned:
        item.path.parent.mkdir(parents=True, exist_ok=True)
        item.path.write_text(item.text, encoding="utf-8")
        written.append(str(item.path.relative_to(target)))
    section = _TEMPLATES.joinpath("pyproject-section.toml").read_text(encoding="utf-8")
    if pyproject.is_file():
        with pyproject.open("a", encoding="utf-8") as handle:
            handle.write(section)
        written.append("pyproject.toml ([tool.flowtest] added)")
    else:
        pyproject.write_text(section.lstrip(), encoding="utf-8")
        written.append("pyproject.toml")
    return written
