"""``flowtest validate``: check files without calling any API."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flowtest.cli.options import Commands, project_root, settings_at


def add(commands: Commands[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("validate", help="check scenario, partial and flow files (no API calls)")
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders (default: scenarios)")
    parser.add_argument(
        "--flows",
        type=Path,
        default=None,
        help="flows folder to check flow ids against (default: sandbox_flows)",
    )
    parser.add_argument(
        "--format",
        choices=["text", "github"],
        default="text",
        help="github: GitHub Actions annotations on the pull request",
    )
    parser.set_defaults(handler=_validate)


def _validate(args: argparse.Namespace) -> int:
    from flowtest.authoring.validate import find_files, validate
    from flowtest.matchers.meaning import MeaningServices

    root = project_root(Path.cwd())
    paths = args.paths or [root / "scenarios"]
    settings = settings_at(root)
    flows = args.flows if args.flows is not None else settings.sandbox_flows
    # The judge's endpoint is the run's configuration, not a file's: validate asks no LLM.
    meaning = MeaningServices(settings.similar_model, settings.similar_min)
    findings = validate(paths, root, flows, settings.utterances, meaning)
    for finding in findings:
        print(finding.github() if args.format == "github" else finding.text())
    errors = sum(finding.severity == "error" for finding in findings)
    warnings = len(findings) - errors
    checked = len(find_files(paths))
    print(f"flowtest: {checked} file(s) checked, {errors} error(s), {warnings} warning(s)", file=sys.stderr)
    return 1 if errors else 0
