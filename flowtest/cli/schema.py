"""``flowtest schema``: the JSON Schemas of the file kinds."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from flowtest.cli.options import Commands
from flowtest.schemas import load_schema, partial_schema


def add(commands: Commands[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("schema", help="print the JSON Schema of scenario, partial or flow files")
    parser.add_argument("--kind", choices=["scenario", "partial", "flow"], default="scenario")
    parser.add_argument("--output", "-o", type=Path, default=None, help="write it to this file")
    parser.set_defaults(handler=_schema)


def _schema(args: argparse.Namespace) -> int:
    schema = partial_schema() if args.kind == "partial" else load_schema(args.kind)
    text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"flowtest: {args.kind} schema written to {args.output}")
    return 0
