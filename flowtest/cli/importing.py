"""``flowtest import``: other tools' suites and production conversations as scenarios."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from flowtest.cli.options import Commands, project_root
from flowtest.errors import FlowtestError

if TYPE_CHECKING:
    from flowtest.authoring.botium import Flows
    from flowtest.authoring.transcripts import Planned


def add(commands: Commands[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("import", help="convert another tool's test suite into scenarios")
    sources = parser.add_subparsers(dest="source", required=True, metavar="FORMAT")
    botium = sources.add_parser(
        "botium",
        help="BotiumScript: *.convo.txt, *.pconvo.txt, *.utterances.txt, *.scriptingmemory.txt, YAML/JSON",
    )
    botium.add_argument(
        "src", type=Path, metavar="SRC", help="a Botium file, a suite folder or a whole repository"
    )
    botium.add_argument("--out", type=Path, required=True, help="folder for the scenarios (new files only)")
    botium.add_argument(
        "--flow",
        required=True,
        action="append",
        metavar="[PATH=]ID",
        help="the flowId the imported scenarios start; PATH=ID for those from a folder or file of SRC "
        "(the most specific wins; repeat it)",
    )
    botium.set_defaults(handler=_import_botium)
    transcripts = sources.add_parser(
        "transcripts",
        help="conversation logs (JSON lines or CSV: conversation, role, text) as one scenario each",
    )
    transcripts.add_argument(
        "files", type=Path, nargs="+", metavar="FILE", help="a .jsonl, .json or .csv log"
    )
    transcripts.add_argument("--flow", required=True, help="the flowId the scenarios start")
    transcripts.add_argument(
        "--out", type=Path, required=True, help="folder for the scenarios (new files only)"
    )
    transcripts.set_defaults(handler=_import_transcripts)


def _import_botium(args: argparse.Namespace) -> int:
    from flowtest.authoring.botium import import_botium, remove, write
    from flowtest.authoring.names import taken_names

    root = _project_of(args.out)
    base = args.src.resolve() if args.src.is_dir() else args.src.resolve().parent
    # Files name their Botium source as the suite does (from SRC); the terminal, from here.
    here = _from_here(base)
    imported = import_botium(args.src, args.out, _flows(args.flow, base), _displayer(base), taken_names(root))
    for problem in imported.problems:
        print(here(str(problem)), file=sys.stderr)
    if not imported.files:
        print(
            f"flowtest: {len(imported.problems)} Botium file(s) could not be read; nothing imported",
            file=sys.stderr,
        )
        return 1
    created = write(imported)
    # Never leave files that do not validate (a rerun would refuse them).
    if not _kept([args.out], root, lambda: remove(imported, created), "the imported files"):
        return 1
    counts = ", ".join(f"{count} {what}" for what, count in imported.counts.items())
    print(f"flowtest: imported {counts} into {args.out}")
    _section(f"{len(imported.renamed)} name(s) made unique (by folder, by file):", imported.renamed, here)
    _section(f"{len(imported.skipped)} file(s) skipped, not Botium scripts:", imported.skipped, here)
    _section(f"{len(imported.notes)} thing(s) without an equivalent, kept as comments:", imported.notes, here)
    if imported.problems:
        print(f"flowtest: {len(imported.problems)} problem(s) in the Botium files (above)", file=sys.stderr)
    return 1 if imported.problems else 0


def _project_of(out: Path) -> Path:
    """The project whose scenarios the imported ones join; the output folder when it is outside
    the project (includes must stay inside the project: the output folder is one)."""
    root = project_root(Path.cwd())
    return root if out.resolve().is_relative_to(root) else out.resolve()


def _kept(paths: list[Path], root: Path, undo: Callable[[], None], what: str) -> bool:
    """Whether the written ``paths`` validate; when they do not, ``undo`` the writing and say why."""
    from flowtest.authoring.validate import validate

    findings = [f for f in validate(paths, root, None, "first") if f.severity == "error"]
    if not findings:
        return True
    undo()
    for finding in findings:
        print(finding.text(), file=sys.stderr)
    print(f"flowtest: {what} do not validate (above), so none were kept", file=sys.stderr)
    return False


def _section(title: str, lines: Sequence[object], here: Callable[[str], str]) -> None:
    if lines:
        print(title)
        for line in lines:
            print(f"  {here(str(line))}")


def _flows(values: list[str], base: Path) -> Flows:
    """``--flow ID`` and ``--flow PATH=ID`` (PATH inside SRC) as the import's choice of flows."""
    from flowtest.authoring.botium import Flows

    default: str | None = None
    by_path: list[tuple[Path, str]] = []
    for value in values:
        where, equals, flow = value.rpartition("=")
        if not equals:
            if default is not None and default != flow:
                raise FlowtestError(
                    f"--flow {flow}: a second default flow (the first is {default}); use PATH=ID"
                )
            default = flow
            continue
        path = (base / where).resolve()
        if not flow or not where or not path.exists():
            raise FlowtestError(f"--flow {value}: {where or 'PATH'} is not a folder or file of {base}")
        by_path.append((path, flow))
    return Flows(default, tuple(by_path))


def _import_transcripts(args: argparse.Namespace) -> int:
    from flowtest.authoring.transcripts import plan, read_logs

    root = _project_of(args.out)
    read = read_logs(args.files, _shown)
    for error in read.errors:
        print(error, file=sys.stderr)
    planned = plan(read.conversations, args.flow, args.out, root)
    written = _write_new(planned)
    if written and not _kept(written, root, lambda: _unlink(written), "the scenarios"):
        return 1
    conversations = sum(len(scenario.seen) for scenario in planned)
    print(f"flowtest: {len(planned)} scenario(s) from {conversations} conversation(s) into {args.out}")
    for scenario in planned:
        also = f" (and {len(scenario.seen) - 1} more alike)" if len(scenario.seen) > 1 else ""
        print(f"  {scenario.path}: {scenario.name}{also}")
    if read.errors:
        print(
            f"flowtest: {len(read.errors)} line(s) could not be read (above); "
            "their conversations were left out",
            file=sys.stderr,
        )
    return 1 if read.errors else 0


def _write_new(planned: Sequence[Planned]) -> list[Path]:
    written: list[Path] = []
    for scenario in planned:
        scenario.path.parent.mkdir(parents=True, exist_ok=True)
        with scenario.path.open("x", encoding="utf-8") as file:  # "x": never over a file
            file.write(scenario.text)
        written.append(scenario.path)
    return written


def _unlink(paths: list[Path]) -> None:
    for path in paths:
        path.unlink()


def _shown(path: Path) -> str:
    """A path as the user gave it, relative to here when it is below."""
    cwd = Path.cwd().resolve()
    absolute = path.resolve()
    return str(absolute.relative_to(cwd)) if absolute.is_relative_to(cwd) else str(path)


def _from_here(base: Path) -> Callable[[str], str]:
    """A line starting with a path relative to ``base``, as a path from the current folder."""
    cwd = Path.cwd().resolve()
    prefix = "" if base == cwd else str(base.relative_to(cwd) if base.is_relative_to(cwd) else base)
    return lambda line: os.path.join(prefix, line) if prefix else line


def _displayer(base: Path) -> Callable[[Path], str]:
    """Source paths as the Botium suite names them: relative to its folder."""

    def display(path: Path) -> str:
        absolute = path.resolve()
        return str(absolute.relative_to(base)) if absolute.is_relative_to(base) else str(path)

    return display
