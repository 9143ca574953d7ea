"""``flowtest import botium``: a BotiumScript suite as flowtest scenarios, partials, lists and tables.

Reading (``script``) follows botium-core's compilers; translating (``convert``)
keeps Botium's meaning. Nothing is written unless every output path is free.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flowtest.authoring.botium.convert import (
    Note,
    Table,
    Written,
    _Context,
    convo_file,
    list_names,
    table_file,
    utterances_file,
)
from flowtest.authoring.botium.script import Convo, Memory, Script, read_file, source_kind
from flowtest.errors import FlowtestError, Location, SourceError

_OTHER_FORMATS = (".xlsx", ".xlsm", ".convo.csv", ".pconvo.csv", ".utterances.csv", ".md", ".markdown")
_VARIABLE = re.compile(r"\$[A-Za-z]\w+")


@dataclass
class Imported:
    files: list[Written] = field(default_factory=list)
    problems: list[SourceError] = field(default_factory=list)  # source files that could not be read
    notes: list[Note] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def import_botium(src: Path, out: Path, flow: str, display: Callable[[Path], str]) -> Imported:
    """Read ``src`` (a file or a folder), plan every output file under ``out``; write nothing yet."""
    if not src.exists():
        raise FlowtestError(f"{src}: no such file or folder")
    result = Imported()
    script = Script()
    base = src if src.is_dir() else src.parent
    files = sorted(p for p in src.rglob("*") if p.is_file()) if src.is_dir() else [src]
    for path in files:
        if source_kind(path) is None:
            if path.name.lower().endswith(_OTHER_FORMATS):
                result.notes.append(
                    Note(
                        display(path),
                        "Excel, CSV and Markdown scripts are not read; "
                        "save them as BotiumScript text or YAML first",
                    )
                )
            continue
        try:
            read_file(path, display(path), script)
        except SourceError as exc:
            result.problems.append(exc)
    _plan(script, base, out, flow, display, result)
    return result


def _plan(
    script: Script, base: Path, out: Path, flow: str, display: Callable[[Path], str], result: Imported
) -> None:
    names = list_names(script)
    used: set[Path] = set()
    if script.utterances:
        result.files.append(utterances_file(script, names, _free(out / "botium.utterances.yaml", used)))
    tables: list[tuple[Memory, Path]] = []
    for memory in script.memories:
        if "$id" in memory.variables:  # the table's id column holds the case names
            result.problems.append(
                SourceError(
                    Location(display(memory.path), 1, 1),
                    "scripting memory: a variable named $id would be the test case column "
                    "of the flowtest table: rename it (and its uses)",
                )
            )
            continue
        if memory.cases:
            path = _free(_mirror(memory.path, base, out, ".csv"), used)
            tables.append((memory, path))
            result.files.append(table_file(memory, path))
    partials = {
        convo.name: _free(out / "partials" / f"{_slug(convo.name)}.partial.yaml", used)
        for convo in script.convos
        if convo.partial
    }
    by_file: dict[Path, list[Convo]] = {}
    for convo in script.convos:
        by_file.setdefault(convo.path, []).append(convo)
    variables = _Variables({convo.name: convo for convo in script.convos if convo.partial})
    for source, convos in by_file.items():
        scenarios = [convo for convo in convos if not convo.partial]
        if scenarios:
            path = _free(_mirror(source, base, out, ".scenario.yaml"), used)
            context = _context(script, flow, partials, display(source), path.parent)
            chosen = {
                id(convo): table
                for convo in scenarios
                if (table := _table_for(convo, tables, context, variables))
            }
            result.files.append(convo_file(scenarios, path, context, chosen))
        for convo in convos:
            if convo.partial:
                target = partials[convo.name]
                context = _context(script, flow, partials, display(source), target.parent)
                # A partial's table values come from the scenario that includes it (its examples).
                table = _table_for(convo, tables, context, variables)
                result.files.append(convo_file([convo], target, context, {id(convo): table} if table else {}))
    for written in result.files:
        result.notes.extend(written.notes)
    result.counts = {
        "scenario(s)": sum(len([c for c in convos if not c.partial]) for convos in by_file.values()),
        "partial(s)": len(partials),
        "utterance list(s)": len(script.utterances),
        "table(s)": len(tables),
    }


def _context(script: Script, flow: str, partials: dict[str, Path], source: str, here: Path) -> _Context:
    names = list_names(script)
    sizes = {names[utterances.name]: len(utterances.phrases) for utterances in script.utterances}
    return _Context(flow, names, partials, here, source=source, sizes=sizes)


@dataclass
class _Variables:
    """The ``$var`` names a convo uses, with those of the partial convos it includes."""

    partials: dict[str, Convo]

    def used(self, convo: Convo, seen: frozenset[str] = frozenset()) -> set[str]:
        names = {name for step in convo.steps for name in _VARIABLE.findall(_texts(step))}
        for included in _included(convo):
            partial = self.partials.get(included)
            if partial is not None and included not in seen:
                names |= self.used(partial, seen | {included})
        return names


def _included(convo: Convo) -> list[str]:
    names: list[str] = []
    for step in convo.steps:
        if step.sender == "include":
            names.extend([step.channel] if step.channel else (step.text or "").splitlines())
        names.extend(hook.args[0] for hook in step.hooks if hook.name == "INCLUDE" and hook.args)
    return [name.strip() for name in names if name.strip()]


def _table_for(
    convo: Convo, tables: list[tuple[Memory, Path]], context: _Context, variables: _Variables
) -> Table | None:
    """The scripting memory table whose variables the convo uses (Botium runs it once per case)."""
    used = variables.used(convo)
    matching = [(memory, path) for memory, path in tables if used & set(memory.variables)]
    matching.sort(key=lambda table: -len(used & set(table[0].variables)))  # the most used first
    if not matching:
        return None
    memory, path = matching[0]
    for other, _ in matching[1:]:
        context.notes.append(
            Note(
                f"{context.source}:{convo.line}",
                f"also uses variables of {other.path.name}: "
                "flowtest binds one table per scenario; those stay as written",
            )
        )
    return path, frozenset(memory.variables)


def _texts(step: object) -> str:
    text = getattr(step, "text", None) or ""
    hooks = getattr(step, "hooks", ())
    return " ".join([text, *(arg for hook in hooks for arg in hook.args)])


def _mirror(source: Path, base: Path, out: Path, suffix: str) -> Path:
    relative = source.relative_to(base) if source.is_relative_to(base) else Path(source.name)
    stem = relative.name
    for known in (
        ".scriptingmemory.txt",
        ".convo.txt",
        *(f"{kind}{ext}" for kind in (".convo", "") for ext in (".yaml", ".yml", ".json")),
    ):
        if stem.lower().endswith(known):
            stem = stem[: -len(known)]
            break
    return out / relative.parent / f"{stem}{suffix}"


def _free(path: Path, used: set[Path]) -> Path:
    """``path``, or ``name-2...`` when another output of this import already took it."""
    candidate, number = path, 2
    while candidate in used:
        head, dot, tail = path.name.partition(".")
        candidate = path.with_name(f"{head}-{number}{dot}{tail}")
        number += 1
    used.add(candidate)
    return candidate


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "partial"


def write(imported: Imported) -> list[Path]:
    """Write every planned file; refuses (writing nothing) when one already exists.

    Returns the folders it created, for ``remove``.
    """
    taken = [written.path for written in imported.files if written.path.exists()]
    if taken:
        raise FlowtestError(
            f"{taken[0]} exists; flowtest import does not overwrite files (choose another --out)"
        )
    created: list[Path] = []
    for written in imported.files:
        folders = (written.path.parent, *written.path.parent.parents)
        missing = [folder for folder in folders if not folder.exists()]
        written.path.parent.mkdir(parents=True, exist_ok=True)
        created.extend(missing)
        written.path.write_text(written.text, encoding="utf-8")
    return created


def remove(imported: Imported, created: list[Path]) -> None:
    """Undo ``write``: its files, then the folders it created (deepest first)."""
    for written in imported.files:
        written.path.unlink(missing_ok=True)
    for folder in sorted(set(created), key=lambda path: len(path.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


__all__ = ["Imported", "Location", "Note", "import_botium", "remove", "write"]
