"""``flowtest import``: other tools' suites as scenarios."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from flowtest.cli.options import Commands, project_root


def add(commands: Commands[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("import", help="convert another tool's test suite into scenarios")
    sources = parser.add_subparsers(dest="source", required=True, metavar="FORMAT")
    botium = sources.add_parser(
        "botium",
        help="BotiumScript: *.convo.txt, *.pconvo.txt, *.utterances.txt, *.scriptingmemory.txt, YAML/JSON",
    )
    botium.add_argument("src", type=Path, help="a Botium file or a folder of them")
    botium.add_argument("--out", type=Path, required=True, help="folder for the scenarios (new files only)")
    botium.add_argument("--flow", required=True, help="the flowId every imported scenario starts")
    botium.set_defaults(handler=_import_botium)


def _import_botium(args: argparse.Namespace) -> int:
    from flowtest.authoring.botium import import_botium, remove, write
    from flowtest.authoring.validate import validate

    root = project_root(Path.cwd())
    out = args.out.resolve()
    if not out.is_relative_to(root):
        root = out  # includes must stay inside the project: the output folder is one
    base = args.src.resolve() if args.src.is_dir() else args.src.resolve().parent
    # Files name their Botium source as the suite does (from SRC); the terminal, from here.
    here = _from_here(base)
    imported = import_botium(args.src, args.out, args.flow, _displayer(base))
    for problem in imported.problems:
        print(here(str(problem)), file=sys.stderr)
    created = write(imported)
    findings = [f for f in validate([args.out], root, None, "first") if f.severity == "error"]
    if findings:
        remove(imported, created)  # never leave files that do not validate (a rerun would refuse them)
        for finding in findings:
            print(finding.text(), file=sys.stderr)
        print(
            "flowtest: the imported files do not validate, so none were kept (a bug: please report it)",
            file=sys.stderr,
        )
        return 1
    counts = ", ".join(f"{count} {what}" for what, count in imported.counts.items())
    print(f"flowtest: imported {counts} into {args.out}")
    if imported.notes:
        print(f"{len(imported.notes)} thing(s) without an equivalent, kept as comments:")
        for note in imported.notes:
            print(f"  {here(str(note))}")
    if imported.problems:
        print(f"flowtest: {len(imported.problems)} Botium file(s) could not be read", file=sys.stderr)
    return 1 if imported.problems else 0


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
