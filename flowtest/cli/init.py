"""``flowtest init``: scaffold a scenario suite, or add an example suite to one."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path

from flowtest.cli.options import Commands


def add(commands: Commands[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("init", help="scaffold a scenario suite (refuses to overwrite files)")
    parser.add_argument("dir", nargs="?", type=Path, default=Path("."), help="where (default: here)")
    parser.add_argument(
        "--example",
        action="append",
        default=[],
        metavar="NAME",
        help="add an example suite, with the flows and partials it uses (repeatable): support, "
        "flight-status, order-tracking, store-hours or rebooking (meaning checks: the semantic extra)",
    )
    parser.set_defaults(handler=_init)


def _init(args: argparse.Namespace) -> int:
    from flowtest.authoring.init import InitConflict, init

    try:
        written = init(args.dir, args.example)
    except InitConflict as exc:
        print(f"flowtest init: {exc}", file=sys.stderr)
        return 1
    for name in written:
        print(f"  wrote {name}")
    _say_what_the_examples_need(args.example)
    where = "here" if args.dir.resolve() == Path.cwd().resolve() else f"in {args.dir}"
    go = "" if where == "here" else f"cd {shlex.quote(str(args.dir))} && "  # as it can be pasted
    print(f"flowtest: suite ready {where}; run it and read its report: {go}{flowtest_command()} run")
    return 0


def _say_what_the_examples_need(examples: list[str]) -> None:
    """An example with meaning checks fails at collection without the semantic extra: say so now."""
    from flowtest.authoring.init import needing_semantic
    from flowtest.semantic import INSTALL_HINT, semantic_available

    needing = needing_semantic(examples)
    if needing and not semantic_available():
        names = ", ".join(needing)
        print(
            f"flowtest: the {names} example's `similar` checks need the semantic extra here: {INSTALL_HINT}"
        )


def flowtest_command() -> str:
    """flowtest as a new shell finds it: its name when the PATH has this one, else its path
    (a virtualenv not activated, such as the checkout's .venv after `make run`)."""
    beside = Path(sys.executable).parent / "flowtest"
    found = shutil.which("flowtest")
    if found is not None and (not beside.exists() or os.path.samefile(found, beside)):
        return "flowtest"
    if beside.exists():
        return shlex.quote(str(beside))
    return f"{shlex.quote(sys.executable)} -m flowtest.cli"
