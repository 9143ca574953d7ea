"""``flowtest init``: scaffold a scenario suite."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flowtest.cli.options import Commands


def add(commands: Commands[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("init", help="scaffold a scenario suite (refuses to overwrite files)")
    parser.add_argument("dir", nargs="?", type=Path, default=Path("."), help="where (default: here)")
    parser.set_defaults(handler=_init)


def _init(args: argparse.Namespace) -> int:
    from flowtest.authoring.init import InitConflict, init

    try:
        written = init(args.dir)
    except InitConflict as exc:
        print(f"flowtest init: {exc}", file=sys.stderr)
        return 1
    for name in written:
        print(f"  wrote {name}")
    print(f"flowtest: suite ready in {args.dir}; run: cd {args.dir} && pytest scenarios")
    return 0
