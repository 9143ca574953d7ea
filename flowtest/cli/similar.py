"""``flowtest similar``: the meaning similarity of texts, to choose a `min` for `similar`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flowtest.cli.options import Commands, argument, project_root, settings_at, share


def add(commands: Commands[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "similar",
        help="print the meaning similarity (0 to 1) of texts, to choose a threshold for `similar`",
        description="Print the similarity of each TEXT to REFERENCE, as the `similar` check computes "
        "it, and whether it reaches the threshold.",
    )
    parser.add_argument("reference", metavar="REFERENCE", help="the text a scenario would give to `similar`")
    parser.add_argument("texts", metavar="TEXT", nargs="+", help="a reply to score against REFERENCE")
    parser.add_argument("--model", default=None, help="the model (default: the similar_model setting)")
    parser.add_argument(
        "--min",
        dest="minimum",
        metavar="MIN",
        type=argument(share),
        default=None,
        help="the threshold to compare with (default: the similar_min setting)",
    )
    parser.set_defaults(handler=_similar)


def _similar(args: argparse.Namespace) -> int:
    from flowtest.semantic import Similarity

    settings = settings_at(project_root(Path.cwd()))
    minimum = settings.similar_min if args.minimum is None else args.minimum
    similarity = Similarity(args.model if args.model is not None else settings.similar_model)
    try:
        similarity.prepare([args.reference, *args.texts])  # one batch
        for text in args.texts:
            score = similarity.score(text, [args.reference]).score
            verdict = ">=" if score >= minimum else "< "
            print(f"{score:.3f}  {verdict} {minimum:g}  {text}")
        print(f"flowtest: model {similarity.embedder.name}, min {minimum:g}", file=sys.stderr)
    finally:
        similarity.close()
    return 0
