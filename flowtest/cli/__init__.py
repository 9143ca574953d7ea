"""The ``flowtest`` command: one module per command, each adding itself to the parser.

Each command imports what it uses when it runs (the server, the HTTP client, the report
builder, the importers): `flowtest validate` need not load uvicorn or httpx. A new
command is a module with ``add(commands)`` plus its line in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from flowtest import __version__
from flowtest.cli import (
    diff,
    explore,
    importing,
    init,
    load,
    record,
    report,
    run,
    scaffold,
    schema,
    serve,
    similar,
    validate,
)
from flowtest.config import API_KEY_VARIABLE
from flowtest.errors import FlowtestError
from flowtest.redact import Redactor
from flowtest.stopsignals import exit_status

COMMANDS = (
    run,
    serve,
    report,
    validate,
    schema,
    record,
    explore,
    init,
    importing,
    load,
    similar,
    scaffold,
    diff,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowtest", description="Declarative tests for conversational flows."
    )
    parser.add_argument("--version", action="version", version=f"flowtest {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="flowtest: %(message)s")
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        # Each hands its arguments to another program (Locust, pytest), before argparse.
        if arguments[:1] == ["load"]:
            return load.run(arguments[1:])
        if arguments[:1] == ["run"]:
            return run.main(arguments[1:])
        args = build_parser().parse_args(arguments)
        return int(args.handler(args))
    except FlowtestError as exc:
        return _error(str(exc))
    except OSError as exc:
        # A path the user gave that cannot be written or read (a folder where a file goes, a
        # file where a folder goes): one line naming it, as the shell's tools say it.
        where = f"{exc.filename}: " if exc.filename is not None else ""
        return _error(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt as stopped:  # Ctrl-C, or SIGTERM / SIGHUP where a command watches them
        return exit_status(stopped)


def _error(message: str) -> int:
    # What a server said may hold the key it was sent (an echoed Authorization header).
    redactor = Redactor().with_values([os.environ.get(API_KEY_VARIABLE)])
    print(f"flowtest: error: {redactor.text(message)}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
