"""``flowtest scaffold --uncovered``: draft scenarios for the edges no passing scenario took."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from flowtest.cli.options import Commands, project_root, settings_at
from flowtest.errors import FlowtestError

DEFAULT_COVERAGE = Path("reports/coverage.json")
DEFAULT_OUT = Path("scenarios/drafts")


def add(commands: Commands[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "scaffold", help="write draft scenarios for what the last run's scenarios did not reach"
    )
    parser.add_argument(
        "--uncovered",
        action="store_true",
        required=True,
        help="one draft per edge that reports/coverage.json lists as missing",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"folder for the drafts (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--coverage",
        type=Path,
        default=DEFAULT_COVERAGE,
        help=f"the last run's coverage file (default {DEFAULT_COVERAGE}, written by --flowtest-coverage)",
    )
    parser.add_argument("--flows", type=Path, default=None, help="flows folder (default: sandbox_flows)")
    parser.add_argument(
        "--max-turns", type=int, default=12, help="longest walk tried to reach an edge (default 12)"
    )
    parser.set_defaults(handler=_scaffold)


def _scaffold(args: argparse.Namespace) -> int:
    from flowtest.authoring.scaffold import drafts, missing_edges
    from flowtest.sandbox.flows import load_flow_set
    from flowtest.scenario.loader import ScenarioLoader

    root = project_root(Path.cwd())
    settings = settings_at(root)
    coverage_file = root / args.coverage
    if not coverage_file.is_file():
        raise FlowtestError(
            f"{args.coverage}: no coverage file; run the scenarios with --flowtest-coverage first"
        )
    try:
        coverage = json.loads(coverage_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FlowtestError(f"{args.coverage}: cannot read it: {exc}") from None
    if not isinstance(coverage, dict):
        raise FlowtestError(f"{args.coverage}: not a coverage file (expected flows by id)")
    loader = ScenarioLoader(root)
    flows_dir = root / args.flows if args.flows is not None else settings.sandbox_flows
    found = load_flow_set(flows_dir, loader.outside, loader.display)
    wanted = missing_edges(coverage)
    written = skipped = 0
    for draft in drafts(found.flows, wanted, root / args.out, args.max_turns):
        shown = loader.display(draft.path)
        where = f"{draft.flow}: {draft.edge.key}"
        if draft.text is None:
            print(f"flowtest: {where}: no walk of at most {args.max_turns} turns reaches it; not drafted")
        elif draft.path.exists():
            skipped += 1
            print(f"flowtest: {shown} exists; not overwritten")
        else:
            draft.path.parent.mkdir(parents=True, exist_ok=True)
            draft.path.write_text(draft.text, encoding="utf-8")
            written += 1
            print(f"flowtest: wrote {shown}")
    for flow_id in sorted({item.flow for item in wanted} - set(found.flows)):
        print(
            f"flowtest: {flow_id}: not in {loader.display(flows_dir)} (or broken); not drafted",
            file=sys.stderr,
        )
    print(f"flowtest: {written} draft(s) written, {skipped} left as they were", file=sys.stderr)
    return 0
