"""``flowtest explore``: walk a flow breadth-first and write one scenario per distinct path."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from flowtest.cli.options import Commands, argument, project_root
from flowtest.cli.record import record_client, start_variables
from flowtest.config import API_KEY_VARIABLE, Settings, read_pyproject, resolve
from flowtest.errors import FlowtestError

if TYPE_CHECKING:
    from flowtest.authoring.explore import Path_


def _count(text: str) -> int:
    number = int(text) if text.isdigit() else 0
    if number < 1:
        raise ValueError(f"expected a whole number from 1, got {text!r}")
    return number


def add(commands: Commands[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "explore", help="walk a flow breadth-first and write a scenario per distinct path"
    )
    parser.add_argument("--flow", required=True, help="the flowId to explore")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the folder for the scenarios (default: scenarios/explored/FLOW)",
    )
    parser.add_argument(
        "--base-url",
        default=None,
        help="explore this deployment in sessions (default: FLOWTEST_BASE_URL; without one, the "
        "sandbox flow is walked through its own engine)",
    )
    parser.add_argument("--org", default=None, help="organization id (default: FLOWTEST_ORG, else demo)")
    parser.add_argument(
        "--facts", type=Path, default=None, help="a YAML file of WORDS of a question: ANSWER or [ANSWERS]"
    )
    parser.add_argument("--budget", type=argument(_count), default=None, help="most sessions to start (50)")
    parser.add_argument("--depth", type=argument(_count), default=None, help="most moves in a path (10)")
    parser.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Start Session variable (repeatable)",
    )
    parser.set_defaults(handler=_explore)


def _explore(args: argparse.Namespace) -> int:
    from flowtest.authoring.explore import DEFAULT_BUDGET, DEFAULT_DEPTH

    root = project_root(Path.cwd())
    settings = resolve({"base_url": args.base_url, "org": args.org}, os.environ, read_pyproject(root), root)
    out = args.out if args.out is not None else root / "scenarios" / "explored" / args.flow
    writer = _Writer(out)
    depth = args.depth or DEFAULT_DEPTH
    if settings.base_url:
        return _live(args, settings, writer, args.budget or DEFAULT_BUDGET, depth)
    given = [name for name in ("facts", "budget", "var") if getattr(args, name)]
    if given:
        raise FlowtestError(
            f"--{given[0]} is for exploring a deployment (--base-url or FLOWTEST_BASE_URL); "
            "a sandbox flow is walked through its own engine"
        )
    return _graph(args.flow, root, settings, writer, depth)


def _live(args: argparse.Namespace, settings: Settings, writer: _Writer, budget: int, depth: int) -> int:
    from flowtest.authoring.explore import LiveExplorer, read_facts
    from flowtest.authoring.record import Recording
    from flowtest.client import FlowClient
    from flowtest.stopsignals import stopping_like_ctrl_c

    facts = read_facts(args.facts, str(args.facts)) if args.facts is not None else ()
    variables = start_variables(args.var)
    known = {settings.api_key: f"${{env.{API_KEY_VARIABLE}}}"} if settings.api_key else {}
    secret_names = frozenset(settings.secret_variables)

    def recording(name: str) -> Recording:
        return Recording(args.flow, name, dict(variables), secret_names=secret_names, known_secrets=known)

    with contextlib.ExitStack() as stack:
        config = record_client(settings, stack)
        client = stack.enter_context(FlowClient(config))
        writer.source = config.effective_redactor.text(config.base_url)
        explorer = LiveExplorer(client, args.flow, facts, recording, _say, budget, depth)
        with stopping_like_ctrl_c():  # SIGTERM, SIGHUP: the session under way is ended too
            done = explorer.explore(writer.write)
    left = f", {done.unexplored} left unexplored (raise --budget)" if done.unexplored else ""
    diverged = f", {done.diverged} went elsewhere when replayed" if done.diverged else ""
    sessions = f"{done.sessions} session{'' if done.sessions == 1 else 's'}"
    print(f"flowtest explore: {sessions}, {writer.summary()}{left}{diverged}")
    return 0


def _graph(flow_id: str, root: Path, settings: Settings, writer: _Writer, depth: int) -> int:
    from flowtest.authoring.explore import graph_paths
    from flowtest.sandbox.flows import load_flow_set
    from flowtest.scenario.loader import ScenarioLoader

    loader = ScenarioLoader(root)
    found = load_flow_set(settings.sandbox_flows, loader.outside, loader.display)
    if flow_id in found.broken:
        raise FlowtestError("\n".join(str(error) for error in found.broken[flow_id]))
    flow = found.flows.get(flow_id)
    if flow is None:
        known = ", ".join(sorted(found.flows)) or "none"
        raise FlowtestError(f"--flow {flow_id}: no such flow in {settings.sandbox_flows} (flows: {known})")
    writer.source = f"the sandbox flow {flow.path}"
    for path in graph_paths(flow, depth):
        writer.write(path)
    print(f"flowtest explore: {writer.summary()}")
    return 0


def _say(text: str) -> None:
    print(text, flush=True)


class _Writer:
    """Writes each path's scenario as it is found; never overwrites a file."""

    def __init__(self, out: Path) -> None:
        self.out, self.source = out, ""
        self.written: list[Path] = []
        self.cut = 0
        self.names: set[str] = set()

    def write(self, path: Path_) -> None:
        from flowtest.authoring.record import dump

        document = dict(path.document)
        name, number = path.name, 2
        while document["name"] in self.names:  # the same moves from other start variables
            document["name"] = f"{name} ({number})"
            number += 1
        self.names.add(document["name"])
        target = self.out / f"{len(self.written) + 1:02d}-{_slug(document['name'])}.scenario.yaml"
        header = f"# Explored with flowtest explore from {self.source} ({datetime.date.today()}).\n"
        self.out.mkdir(parents=True, exist_ok=True)
        try:
            with target.open("x", encoding="utf-8") as file:
                file.write(dump(document, header))
        except FileExistsError:
            raise FlowtestError(
                f"{target} exists; flowtest explore does not overwrite files "
                "(remove the folder, or choose another --out)"
            ) from None
        self.written.append(target)
        self.cut += path.cut
        print(f"flowtest: {target} ({path.status})", flush=True)

    def summary(self) -> str:
        cut = f" ({self.cut} stopped at the depth, still waiting)" if self.cut else ""
        count = len(self.written)
        return f"{count} path{'' if count == 1 else 's'} written to {self.out}{cut}"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower().split(":", 1)[-1]).strip("-")[:60] or "path"
