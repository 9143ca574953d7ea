"""``flowtest import botium``: a BotiumScript suite as flowtest scenarios, partials, lists and tables.

Reading (``script``, ``capabilities``) follows botium-core's compilers; translating
(``convert``, ``texts``) keeps Botium's meaning; this module plans the output of a whole
tree: one flow per folder or file, names made unique, each include and utterance name
resolved to the nearest definition. Nothing is written unless every output path is free.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flowtest.authoring.botium import capabilities
from flowtest.authoring.botium.capabilities import Capabilities, governing, read_capabilities
from flowtest.authoring.botium.convert import (
    Context,
    Note,
    Options,
    PartialRef,
    Written,
    convo_file,
    included_names,
    set_names,
    table_file,
    used_names,
    utterances_file,
)
from flowtest.authoring.botium.script import (
    Convo,
    Memory,
    NotBotium,
    Script,
    Utterances,
    read_file,
    source_kind,
)
from flowtest.authoring.botium.texts import Mode
from flowtest.authoring.names import free_name
from flowtest.errors import FlowtestError, Location, SourceError
from flowtest.scenario.utterances import NAME as LIST_NAME

_OTHER_FORMATS = (".xlsx", ".xlsm", ".convo.csv", ".pconvo.csv", ".utterances.csv", ".md", ".markdown")
_NOT_SEARCHED = frozenset({"node_modules"})  # dependencies, not the suite
WHAT_IS_READ = (
    "*.convo.txt, *.pconvo.txt, *.utterances.txt, *.scriptingmemory.txt, "
    "or YAML/JSON with convos, partialConvos, utterances or scriptingMemory"
)


@dataclass
class Imported:
    files: list[Written] = field(default_factory=list)
    problems: list[SourceError] = field(default_factory=list)  # what is wrong in the Botium source
    notes: list[Note] = field(default_factory=list)  # what has no equivalent (kept as comments)
    skipped: list[Note] = field(default_factory=list)  # files that are not Botium scripts
    renamed: list[Note] = field(default_factory=list)  # names made unique
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Flows:
    """The flowId of each imported scenario: the most specific ``PATH=ID`` holding its file,
    else ``default``."""

    default: str | None
    by_path: tuple[tuple[Path, str], ...] = ()  # absolute paths

    def for_source(self, path: Path) -> str | None:
        absolute = path.resolve()
        matches = [(where, flow) for where, flow in self.by_path if absolute.is_relative_to(where)]
        if not matches:
            return self.default
        return max(matches, key=lambda match: len(match[0].parts))[1]


def import_botium(
    src: Path,
    out: Path,
    flows: Flows | str,
    display: Callable[[Path], str],
    taken: Iterable[str] = (),
) -> Imported:
    """Read ``src`` (a file or a folder), plan every output file under ``out``; write nothing yet.

    ``taken``: the names of the project's scenarios, which no imported one may repeat.
    """
    if not src.exists():
        raise FlowtestError(f"{src}: no such file or folder")
    flows = Flows(flows) if isinstance(flows, str) else flows
    result = Imported()
    base = src if src.is_dir() else src.parent
    files = _files(src)
    found = _capabilities(src, files, display, result)
    script = Script()
    for path in files:
        _read(path, script, governing(path, found), display, result)
    if not (script.convos or script.utterances or script.memories):
        if result.problems:
            return result
        raise FlowtestError(_nothing_read(src, files, result))
    _Planner(script, base, out, flows, found, display, result, set(taken)).plan()
    return result


def _files(src: Path) -> list[Path]:
    if not src.is_dir():
        return [src]
    return sorted(
        path
        for path in src.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") or part in _NOT_SEARCHED for part in path.relative_to(src).parts)
    )


def _capabilities(
    src: Path, files: list[Path], display: Callable[[Path], str], result: Imported
) -> dict[Path, Capabilities]:
    """Each folder's botium.json (and the one above ``src``, when it is inside a project)."""
    found: dict[Path, Capabilities] = {}
    above = capabilities.above(src.resolve())
    if above is not None:
        try:
            found[above.parent] = read_capabilities(above, str(above))
        except SourceError as exc:
            result.problems.append(exc)
    for path in files:
        if path.name == capabilities.FILE_NAME:
            try:
                found[path.resolve().parent] = read_capabilities(path, display(path))
            except SourceError as exc:
                result.problems.append(exc)
    return found


def _read(
    path: Path, script: Script, caps: Capabilities, display: Callable[[Path], str], result: Imported
) -> None:
    if path.name == capabilities.FILE_NAME:
        return
    if source_kind(path) is None:
        if path.name.lower().endswith(_OTHER_FORMATS):
            result.skipped.append(
                Note(
                    display(path),
                    "Excel, CSV and Markdown scripts are not read; "
                    "save them as BotiumScript text or YAML first",
                )
            )
        return
    try:
        read_file(path, display(path), script, caps.custom)
    except NotBotium as exc:
        result.skipped.append(Note(display(path), str(exc)))
    except SourceError as exc:
        result.problems.append(exc)


def _nothing_read(src: Path, files: list[Path], result: Imported) -> str:
    if not src.is_dir():
        return f"{src}: not a Botium file ({WHAT_IS_READ})"
    if not files:
        return f"{src}: an empty folder: no Botium files ({WHAT_IS_READ}) to import"
    others = f" ({len(result.skipped)} YAML/JSON file(s) are not Botium)" if result.skipped else ""
    return f"{src}: no Botium files in this folder ({WHAT_IS_READ}){others}: nothing imported"


# -- planning ------------------------------------------------------------------------------


def _by_file(convos: list[Convo]) -> dict[Path, list[Convo]]:
    by_file: dict[Path, list[Convo]] = {}
    for convo in convos:
        by_file.setdefault(convo.path, []).append(convo)
    return by_file


def _clashes(convos: list[Convo], names: dict[int, str]) -> list[list[Convo]]:
    """The groups of convos that share a name."""
    groups: dict[str, list[Convo]] = {}
    for convo in convos:
        groups.setdefault(names[id(convo)], []).append(convo)
    return [group for group in groups.values() if len(group) > 1]


def _shared(a: Path, b: Path) -> int:
    """How many leading folders two files share: the nearer a definition, the more."""
    count = 0
    for left, right in zip(a.resolve().parent.parts, b.resolve().parent.parts, strict=False):
        if left != right:
            break
        count += 1
    return count


@dataclass
class _Planner:
    script: Script
    base: Path
    out: Path
    flows: Flows
    found: dict[Path, Capabilities]
    display: Callable[[Path], str]
    result: Imported
    taken: set[str]  # scenario names the project has
    used: set[Path] = field(default_factory=set)
    lists: dict[int, str] = field(default_factory=dict)  # id(Utterances) -> flowtest list name
    partial_paths: dict[int, Path] = field(default_factory=dict)  # id(partial Convo) -> output path
    tables: list[tuple[Memory, Path]] = field(default_factory=list)

    def plan(self) -> None:
        if self.script.utterances:
            self._lists()
        self._tables()
        partials = self._partials()
        cyclic = self._cycles(partials)
        needs = self._needs(partials, cyclic)
        names = self._names()
        self._missing_flows()
        for source, convos in _by_file(self.script.convos).items():
            scenarios = [convo for convo in convos if not convo.partial]
            if scenarios:
                self._scenario_file(source, scenarios, names, needs)
            for convo in (c for c in convos if c.partial):
                self._partial_file(source, convo, needs, cyclic.get(id(convo), {}))
        for written in self.result.files:
            self.result.notes.extend(written.notes)
        self.result.counts = self._counts()

    def _partials(self) -> list[Convo]:
        """The partial convos, each with its output path (taken before any scenario file's)."""
        partials = [convo for convo in self.script.convos if convo.partial]
        for convo in partials:
            self.partial_paths[id(convo)] = self._free(self._partial_path(convo))
        return partials

    def _counts(self) -> dict[str, int]:
        return {
            "scenario(s)": sum(not convo.partial for convo in self.script.convos),
            "partial(s)": len(self.partial_paths),
            "utterance list(s)": len(set(self.lists.values())),
            "table(s)": len(self.tables),
        }

    def _scenario_file(
        self, source: Path, scenarios: list[Convo], names: dict[int, str], needs: dict[int, frozenset[str]]
    ) -> None:
        """The scenarios of one Botium file, as one scenario file."""
        path = self._free(_mirror(source, self.base, self.out, ".scenario.yaml"))
        context = self._context(source, path, needs)
        documents = [(convo, self._options(convo, names[id(convo)], context)) for convo in scenarios]
        self.result.files.append(convo_file(documents, path, context, self._header(source)))
        self.result.problems.extend(context.problems)

    def _partial_file(
        self, source: Path, convo: Convo, needs: dict[int, frozenset[str]], cyclic: Mapping[str, str]
    ) -> None:
        """One partial convo, as a partial file of its own."""
        target = self.partial_paths[id(convo)]
        context = self._context(source, target, needs, cyclic)
        context.needs = needs.get(id(convo), frozenset())
        options = Options(convo.name, table_variables=self._table_of(convo, context)[1])
        self.result.files.append(convo_file([(convo, options)], target, context, self._header(source)))
        self.result.problems.extend(context.problems)

    # -- names and places --------------------------------------------------------------------

    def _free(self, path: Path) -> Path:
        """``path``, or ``name-2...`` when another output of this import already took it."""
        candidate, number = path, 2
        while candidate in self.used:
            head, dot, tail = path.name.partition(".")
            candidate = path.with_name(f"{head}-{number}{dot}{tail}")
            number += 1
        self.used.add(candidate)
        return candidate

    def _partial_path(self, convo: Convo) -> Path:
        if source_kind(convo.path) == "pconvo":
            return _mirror(convo.path, self.base, self.out, ".partial.yaml")
        folder = _mirror(convo.path, self.base, self.out, "").parent
        return folder / f"{_slug(convo.name)}.partial.yaml"

    def _lists(self) -> None:
        """One list per Botium name; a name defined again with other phrases gets a suffix."""
        written: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        entries: list[tuple[str, tuple[str, ...]]] = []
        for utterances in sorted(self.script.utterances, key=lambda u: str(u.path)):
            seen = written.setdefault(utterances.name, [])
            same = next((name for name, phrases in seen if phrases == utterances.phrases), None)
            if same is None:
                same = _list_name(utterances.name) + (f"_{len(seen) + 1}" if seen else "")
                if seen:
                    self.result.renamed.append(
                        Note(
                            self.display(utterances.path),
                            f"utterance list {utterances.name} is also defined elsewhere with other phrases: "
                            f"written as {same}, used by the convos nearest to this file",
                        )
                    )
                seen.append((same, utterances.phrases))
                entries.append((same, utterances.phrases))
            self.lists[id(utterances)] = same
        self.result.files.append(utterances_file(entries, self._free(self.out / "botium.utterances.yaml")))

    def _names(self) -> dict[int, str]:
        """Each scenario's name: Botium's, qualified by its folder (then file) where two share it,
        and made unlike the project's other scenarios."""
        convos = [convo for convo in self.script.convos if not convo.partial]
        names = self._qualified(convos)
        for convo in convos:
            names[id(convo)] = free_name(names[id(convo)], self.taken)
            if names[id(convo)] != convo.name:
                self.result.renamed.append(
                    Note(
                        f"{self.display(convo.path)}:{convo.line}",
                        f"convo {convo.name!r} is named {names[id(convo)]!r}",
                    )
                )
        return names

    def _qualified(self, convos: list[Convo]) -> dict[int, str]:
        """Botium's names, with the folder, else the file, else a number where two convos share one."""
        names = {id(convo): convo.name for convo in convos}
        for qualify in (self._folder_of, self._file_of, None):
            clashes = _clashes(convos, names)
            if not clashes:
                break
            for group in clashes:
                for number, convo in enumerate(group, 1):
                    names[id(convo)] = f"{convo.name} ({qualify(convo) if qualify else number})"
        return names

    def _folder_of(self, convo: Convo) -> str:
        folder = Path(self.display(convo.path)).parent.as_posix()
        return folder if folder != "." else Path(self.display(convo.path)).name

    def _file_of(self, convo: Convo) -> str:
        shown = Path(self.display(convo.path))
        return (shown.parent / _mirror(shown, shown.parent, Path(), "").name).as_posix()

    def _missing_flows(self) -> None:
        missing = [
            self.display(convo.path)
            for convo in self.script.convos
            if not convo.partial and self.flows.for_source(convo.path) is None
        ]
        if missing:
            raise FlowtestError(
                f"no --flow for {missing[0]}"
                + (f" and {len(missing) - 1} other file(s)" if len(missing) > 1 else "")
                + ": give --flow ID for every scenario, or --flow PATH=ID for its folder or file"
            )

    # -- includes and scripting memory --------------------------------------------------------

    def _partial(self, name: str, near: Path) -> Convo | None:
        candidates = [convo for convo in self.script.convos if convo.partial and convo.name == name]
        if not candidates:
            return None
        return max(candidates, key=lambda convo: _shared(convo.path, near))

    def _cycles(self, partials: list[Convo]) -> dict[int, dict[str, str]]:
        """Per partial, the names it includes that lead back to itself (Botium refuses those), and how."""
        cyclic: dict[int, dict[str, str]] = {}
        state: dict[int, str] = {}
        stack: list[Convo] = []

        def visit(convo: Convo) -> None:
            state[id(convo)] = "open"
            stack.append(convo)
            for name, _ in included_names(convo):
                target = self._partial(name, convo.path)
                if target is None:
                    continue
                if state.get(id(target)) == "open":
                    loop = [c.name for c in stack[[id(c) for c in stack].index(id(target)) :]]
                    why = (
                        f"{name} includes itself"
                        if target is convo
                        else f"a cycle: {' > '.join([*loop, name])}"
                    )
                    cyclic.setdefault(id(convo), {})[name] = why
                elif id(target) not in state:
                    visit(target)
            stack.pop()
            state[id(convo)] = "done"

        for convo in partials:
            if id(convo) not in state:
                visit(convo)
        return cyclic

    def _needs(self, partials: list[Convo], cyclic: dict[int, dict[str, str]]) -> dict[int, frozenset[str]]:
        """Per partial, the names set by SET_SCRIPTING_MEMORY elsewhere that it (or what it
        includes) reads: its includers bind them."""
        settable = set().union(*(set_names(convo) for convo in self.script.convos))
        needs: dict[int, frozenset[str]] = {}

        def of(convo: Convo, seen: frozenset[int]) -> frozenset[str]:
            if id(convo) in needs:
                return needs[id(convo)]
            found = used_names(convo) & settable
            for name, _ in included_names(convo):
                target = self._partial(name, convo.path)
                if target is not None and id(target) not in seen and name not in cyclic.get(id(convo), ()):
                    found |= of(target, seen | {id(target)})
            needs[id(convo)] = frozenset(found)
            return needs[id(convo)]

        for convo in partials:
            of(convo, frozenset({id(convo)}))
        return needs

    def _all_used(self, convo: Convo, seen: frozenset[int] = frozenset()) -> set[str]:
        names = used_names(convo)
        for name, _ in included_names(convo):
            target = self._partial(name, convo.path)
            if target is not None and id(target) not in seen:
                names |= self._all_used(target, seen | {id(convo), id(target)})
        return names

    # -- tables --------------------------------------------------------------------------

    def _tables(self) -> None:
        for memory in self.script.memories:
            if "$id" in memory.variables:  # the table's id column holds the case names
                self.result.problems.append(
                    SourceError(
                        Location(self.display(memory.path), 1, 1),
                        "scripting memory: a variable named $id would be the test case column "
                        "of the flowtest table: rename it (and its uses)",
                    )
                )
                continue
            if memory.cases:
                path = self._free(_mirror(memory.path, self.base, self.out, ".csv"))
                self.tables.append((memory, path))
                self.result.files.append(table_file(memory, path))

    def _table_of(self, convo: Convo, context: Context) -> tuple[Path | None, frozenset[str]]:
        """The scripting memory table whose variables the convo uses (Botium runs it once per case)."""
        used = {f"${name}" for name in self._all_used(convo)}
        matching = [(memory, path) for memory, path in self.tables if used & set(memory.variables)]
        matching.sort(
            key=lambda table: (-len(used & set(table[0].variables)), -_shared(table[0].path, convo.path))
        )
        if not matching:
            return None, frozenset()
        memory, path = matching[0]
        for other, _ in matching[1:]:
            context.note(
                convo.line,
                f"also uses variables of {other.path.name}: "
                "flowtest binds one table per scenario; those stay as written",
            )
        return path, frozenset(memory.variables)

    # -- per file ------------------------------------------------------------------------

    def _context(
        self,
        source: Path,
        target: Path,
        needs: dict[int, frozenset[str]],
        cyclic: Mapping[str, str] | None = None,
    ) -> Context:
        caps = governing(source.resolve(), self.found)

        def lists(text: str) -> str | None:
            candidates = [u for u in self.script.utterances if u.name == text.strip()]
            if not candidates:
                return None
            return self.lists[id(max(candidates, key=lambda u: _shared(u.path, source)))]

        def partials(name: str) -> PartialRef | None:
            target_convo = self._partial(name, source)
            if target_convo is None:
                return None
            return PartialRef(self.partial_paths[id(target_convo)], needs.get(id(target_convo), frozenset()))

        sizes = {self.lists[id(u)]: len(u.phrases) for u in self.script.utterances}
        return Context(
            flow=self.flows.for_source(source) or "",
            mode=Mode.of(caps.matching_mode),
            lists=lists,
            partials=partials,
            here=target.parent,
            source=self.display(source),
            memory_enabled=caps.memory is not False,
            sizes=sizes,
            cyclic=dict(cyclic or {}),
        )

    def _options(self, convo: Convo, name: str, context: Context) -> Options:
        caps = governing(convo.path.resolve(), self.found)
        table, variables = self._table_of(convo, context)
        expansion = caps.expansion if caps.expansion != "all" else None
        return Options(name, table, variables, expansion, caps.retries, caps.all_failures)

    def _header(self, source: Path) -> str:
        caps = governing(source.resolve(), self.found)
        mode = (
            ""
            if caps.matching_mode == capabilities.DEFAULT_MATCHING_MODE
            else f", matching mode {caps.matching_mode}"
        )
        return f"# Imported from Botium: {self.display(source)} (flowtest import botium{mode}).\n"


def _list_name(name: str) -> str:
    """A Botium utterance name as a flowtest list name (the same, unless a character is not allowed)."""
    cleaned = name if LIST_NAME.match(name) else re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return cleaned.lstrip(".-") or "UTTERANCE"


def _mirror(source: Path, base: Path, out: Path, suffix: str) -> Path:
    relative = source.relative_to(base) if source.is_relative_to(base) else Path(source.name)
    stem = relative.name
    for known in (
        ".scriptingmemory.txt",
        ".convo.txt",
        ".pconvo.txt",
        *(f"{kind}{ext}" for kind in (".convo", ".pconvo", "") for ext in (".yaml", ".yml", ".json")),
    ):
        if stem.lower().endswith(known):
            stem = stem[: -len(known)]
            break
    return out / relative.parent / f"{stem}{suffix}"


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


def remove(imported: Imported, created: Iterable[Path]) -> None:
    """Undo ``write``: its files, then the folders it created (deepest first)."""
    for written in imported.files:
        written.path.unlink(missing_ok=True)
    for folder in sorted(set(created), key=lambda path: len(path.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


__all__ = ["Flows", "Imported", "Location", "Note", "Utterances", "import_botium", "remove", "write"]
