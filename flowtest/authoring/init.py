"""``flowtest init``: scaffold a suite that runs, validates, records and reports from day one.

``--example NAME`` adds one of the example suites the package carries (``flowtest/examples``
is the checkout's ``scenarios/``): its scenarios, the flows they run and the partials they
include, so the examples the docs cite run in a designer's own folder.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from flowtest import DISTRIBUTION, __version__
from flowtest.errors import FlowtestError
from flowtest.schemas import load_schema, partial_schema
from flowtest.yamlsource import iter_paths, load_documents

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable  # importlib.abc's until Python 3.11

_TEMPLATES = resources.files("flowtest.authoring").joinpath("templates")
EXAMPLES = resources.files("flowtest").joinpath("examples")
_NOT_EXAMPLES = ("flows", "shared")  # what the examples share, not examples of their own
# The examples point editors at the checkout's schemas; a suite has its own in .flowtest/.
_SCHEMA_LINK = re.compile(r"^(# yaml-language-server: \$schema=)(?:\.\./)+flowtest/schemas/", re.MULTILINE)

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
# What a run leaves in the suite: reports, the Allure install (53 MB), a virtualenv, caches.
GITIGNORE = ("reports/", "node_modules/", ".venv/", ".pytest_cache/", "__pycache__/")
# pytest without flowtest collects nothing and says "no tests ran": this makes it say why.
REQUIRED_PLUGINS = f'required_plugins = ["{DISTRIBUTION}"]'
_PYTEST_SECTION = "[tool.pytest.ini_options]"


def requirement(extras: str = "") -> str:
    """What the files init writes install: this distribution, pinned to the version writing them,
    with ``extras`` ("semantic") when the suite's examples need them."""
    return f"{DISTRIBUTION}{f'[{extras}]' if extras else ''}=={__version__}"


class InitConflict(FlowtestError):
    """Files that init would write already exist; nothing was written."""


@dataclass(frozen=True)
class Planned:
    path: Path
    text: str


def plan(target: Path, extras: str = "") -> list[Planned]:
    planned = [Planned(target / dest, _template(src, extras)) for dest, src in _FILES]
    schemas = {"scenario": load_schema("scenario"), "partial": partial_schema(), "flow": load_schema("flow")}
    for kind, schema in schemas.items():
        planned.append(
            Planned(target / ".flowtest" / f"{kind}.schema.json", json.dumps(schema, indent=2) + "\n")
        )
    return planned


def _template(name: str, extras: str = "") -> str:
    return _TEMPLATES.joinpath(name).read_text(encoding="utf-8").replace("@REQUIREMENT@", requirement(extras))


def needing_semantic(examples: Iterable[str]) -> list[str]:
    """The examples whose scenarios check meaning with `similar`: they need the semantic extra."""
    return [
        name
        for name in examples
        if name in example_names()
        and any(
            "similar:" in entry.read_text(encoding="utf-8")
            for entry in EXAMPLES.joinpath(name).iterdir()
            if entry.is_file()
        )
    ]


def example_names() -> list[str]:
    """The example suites the package carries, by folder name."""
    return sorted(
        entry.name for entry in EXAMPLES.iterdir() if entry.is_dir() and entry.name not in _NOT_EXAMPLES
    )


def plan_example(target: Path, name: str) -> list[Planned]:
    """The example's files, the flows its scenarios run and the partials they include."""
    if name not in example_names():
        raise FlowtestError(f"no example named {name!r}; the examples: {', '.join(example_names())}")
    own = [f"{name}/{entry.name}" for entry in EXAMPLES.joinpath(name).iterdir() if entry.is_file()]
    needed = _with_what_they_name(own)
    return [Planned(target / "scenarios" / relative, _example_text(relative)) for relative in sorted(needed)]


def _with_what_they_name(files: list[str]) -> set[str]:
    """The files, the flows and partials they name, what those name, and so on."""
    flows = _flow_files()
    wanted = list(files)
    seen: set[str] = set()
    while wanted:
        relative = wanted.pop()
        if relative not in seen:
            seen.add(relative)
            wanted.extend(_named_files(relative, flows))
    return seen


def _named_files(relative: str, flows: dict[str, str]) -> Iterator[str]:
    """The example files a scenario or partial names: its flow's file, the partials it includes."""
    for kind, value in _references(relative):
        if kind == "flow" and value in flows:
            yield flows[value]
        elif kind == "include":
            yield posixpath.normpath(posixpath.join(posixpath.dirname(relative), value))


def _example(relative: str) -> Traversable:
    return EXAMPLES.joinpath(*relative.split("/"))


def _example_text(relative: str) -> str:
    return _SCHEMA_LINK.sub(r"\1../../.flowtest/", _example(relative).read_text(encoding="utf-8"), count=1)


def _flow_files() -> dict[str, str]:
    """Each example flow's id, and its file."""
    flows: dict[str, str] = {}
    for entry in EXAMPLES.joinpath("flows").iterdir():
        if entry.name.endswith(".flow.yaml"):
            relative = f"flows/{entry.name}"
            for document in load_documents(entry.read_text(encoding="utf-8"), relative):
                if isinstance(document.data, dict) and isinstance(document.data.get("id"), str):
                    flows[document.data["id"]] = relative
    return flows


def _references(relative: str) -> Iterator[tuple[str, str]]:
    """('flow', id) and ('include', path) for what a scenario or partial file names."""
    if not relative.endswith((".scenario.yaml", ".partial.yaml")):
        return
    for document in load_documents(_example(relative).read_text(encoding="utf-8"), relative):
        for at, value in iter_paths(document.data):
            if at and at[-1] in ("flow", "include") and isinstance(value, str):
                yield str(at[-1]), value


def init(target: Path, examples: Iterable[str] = ()) -> list[str]:
    """Write the suite (or, in a suite that has one, add the examples); refuse (InitConflict)
    before writing anything if a file it would write exists with other content."""
    pyproject = target / "pyproject.toml"
    has_section = pyproject.is_file() and "[tool.flowtest]" in pyproject.read_text(encoding="utf-8")
    examples = list(examples)
    scaffold = not (examples and has_section)
    planned = _planned(target, examples, scaffold)
    _refuse_conflicts(target, planned, pyproject_conflicts=scaffold and has_section)
    written = [_write(target, item) for item in planned]
    if scaffold:
        written.append(_write_pyproject(pyproject))
        written.append(_write_gitignore(target / ".gitignore"))
    return written


def _planned(target: Path, examples: list[str], scaffold: bool) -> list[Planned]:
    """The suite's files (when ``scaffold``) and each example's, but those already there as they are."""
    planned = plan(target, "semantic" if needing_semantic(examples) else "") if scaffold else []
    extra = [item for name in examples for item in plan_example(target, name)]
    planned.extend(item for item in extra if not _already(item))
    return planned


def _refuse_conflicts(target: Path, planned: list[Planned], pyproject_conflicts: bool) -> None:
    existing = [str(p.path.relative_to(target)) for p in planned if p.path.exists()]
    if pyproject_conflicts:
        existing.append("pyproject.toml ([tool.flowtest])")
    if existing:
        raise InitConflict("these exist, nothing was written: " + ", ".join(existing))


def _write(target: Path, item: Planned) -> str:
    item.path.parent.mkdir(parents=True, exist_ok=True)
    item.path.write_text(item.text, encoding="utf-8")
    return str(item.path.relative_to(target))


def _already(item: Planned) -> bool:
    """The same file with the same text: a partial two examples share, an example added twice."""
    return item.path.is_file() and item.path.read_text(encoding="utf-8") == item.text


def _write_pyproject(pyproject: Path) -> str:
    """[tool.flowtest], and pytest's required_plugins; added to a pyproject that exists."""
    section = _TEMPLATES.joinpath("pyproject-section.toml").read_text(encoding="utf-8")
    if not pyproject.is_file():
        pyproject.write_text(f"{section.lstrip()}\n{_PYTEST_SECTION}\n{REQUIRED_PLUGINS}\n", encoding="utf-8")
        return "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    added = ["[tool.flowtest]"]
    if _PYTEST_SECTION not in text:
        section += f"\n{_PYTEST_SECTION}\n{REQUIRED_PLUGINS}\n"
        added.append("required_plugins")
    elif "required_plugins" not in text:
        text = text.replace(_PYTEST_SECTION, f"{_PYTEST_SECTION}\n{REQUIRED_PLUGINS}", 1)
        added.append("required_plugins")
    separator = "" if not text or text.endswith("\n") else "\n"
    pyproject.write_text(text + separator + section, encoding="utf-8")
    return f"pyproject.toml ({' and '.join(added)} added)"


def _write_gitignore(path: Path) -> str:
    """What a run produces, kept out of git; lines a .gitignore already has are not repeated."""
    if not path.is_file():
        lines = "\n".join(GITIGNORE)
        path.write_text(f"# What flowtest runs produce (flowtest init)\n{lines}\n", encoding="utf-8")
        return ".gitignore"
    text = path.read_text(encoding="utf-8")
    present = {line.strip() for line in text.splitlines()}
    missing = [line for line in GITIGNORE if line not in present and line.rstrip("/") not in present]
    if not missing:
        return ".gitignore (already complete)"
    separator = "" if not text or text.endswith("\n") else "\n"
    path.write_text(text + separator + "\n".join(missing) + "\n", encoding="utf-8")
    return f".gitignore ({', '.join(missing)} added)"
