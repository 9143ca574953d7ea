"""``flowtest record``: drive a live session and write the scenario that replays it."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from flowtest.cli.options import Commands, project_root
from flowtest.client import ClientConfig
from flowtest.config import API_KEY_VARIABLE, Settings, read_pyproject, resolve
from flowtest.errors import ConfigError, FlowtestError
from flowtest.redact import Redactor
from flowtest.sandbox import DEFAULT_API_KEY
from flowtest.sandbox.flows import FlowFilesError


def add(commands: Commands[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("record", help="drive a live session and write the scenario that replays it")
    parser.add_argument("--flow", required=True, help="the flowId to start")
    parser.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Start Session variable (repeatable; VALUE is JSON when it parses, else text)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the scenario here (default: print it)")
    parser.add_argument("--inputs", type=Path, default=None, help="read the user's lines from this file")
    parser.add_argument("--name", default=None, help="the scenario's name")
    parser.add_argument(
        "--base-url", default=None, help="the API (default: FLOWTEST_BASE_URL, else the sandbox)"
    )
    parser.add_argument("--org", default=None, help="organization id (default: FLOWTEST_ORG, else demo)")
    parser.add_argument(
        "--utterances",
        action="store_true",
        help="write user: {utterance: NAME} for lines that are a phrase of a list seen from --out's folder "
        "(and take /utterance NAME)",
    )
    parser.set_defaults(handler=_record)


def start_variables(pairs: list[str]) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise FlowtestError(f"--var {pair!r}: expected NAME=VALUE")
        try:
            variables[name] = json.loads(value)
        except ValueError:
            variables[name] = value
    return variables


def _record(args: argparse.Namespace) -> int:
    from flowtest.authoring.record import Recorder, Recording, dump, secret_env
    from flowtest.client import FlowClient

    root = project_root(Path.cwd())
    options = {"base_url": args.base_url, "org": args.org}
    settings = resolve(options, os.environ, read_pyproject(root), root)
    if args.out is not None and args.out.exists():
        raise FlowtestError(f"{args.out} exists; flowtest record does not overwrite files")
    recording = Recording(
        args.flow,
        args.name or f"Recorded {args.flow} conversation",
        start_variables(args.var),
        secret_names=frozenset(settings.secret_variables),
        known_secrets={settings.api_key: f"${{env.{API_KEY_VARIABLE}}}"} if settings.api_key else {},
    )
    shown = sys.stdout if args.out is not None else sys.stderr
    secrets = Redactor().with_values(recording.secret_values)
    inputs = _input_lines(args.inputs, shown, secrets)
    with contextlib.ExitStack() as stack:
        config = record_client(settings, stack)
        client = stack.enter_context(FlowClient(config))
        prompt = lambda text: print(text, end="", file=shown, flush=True)  # noqa: E731
        lists = _recording_lists(root, args.out) if args.utterances else {}
        document = Recorder(client, recording, inputs, shown, prompt, lists).run()
        source = config.effective_redactor.text(config.base_url)
        header = f"# Recorded with flowtest record from {source} ({datetime.date.today()}).\n"
        header += "".join(
            f"# Set {secret_env(name)} to replay: the secret variable {name} is read from it.\n"
            for name in sorted(recording.secret_names & set(recording.variables))
        )
    text = dump(document, header)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"flowtest: scenario written to {args.out}")
    return 0


def _recording_lists(root: Path, out: Path | None) -> dict[str, tuple[str, ...]]:
    """The utterance lists the recorded scenario will see (from its folder up to the project root)."""
    from flowtest.scenario.loader import ScenarioLoader

    folder = (out.parent if out is not None else Path.cwd()).resolve()
    library = ScenarioLoader(root).utterance_finder.library(folder)
    problems = [*library.broken, *library.duplicates.values()]
    if problems:
        raise FlowtestError(str(problems[0]))
    return {name: found.phrases for name, found in library.lists.items()}


def _input_lines(path: Path | None, shown: TextIO, redactor: Redactor) -> Iterator[str]:
    """The user's lines; echoed when they do not come from a terminal, so the transcript reads well."""
    if path is not None:
        source: Iterable[str] = path.read_text(encoding="utf-8").splitlines()
    else:
        source = sys.stdin
    echo = path is not None or not sys.stdin.isatty()
    for line in source:
        if echo:
            print(redactor.text(line.rstrip("\n")), file=shown, flush=True)
        yield line


def record_client(settings: Settings, stack: contextlib.ExitStack) -> ClientConfig:
    if settings.base_url:
        if not settings.api_key:
            raise ConfigError(
                f"{API_KEY_VARIABLE} is not set: the API at {settings.base_url} needs an API key"
            )
        return ClientConfig(
            settings.base_url,
            settings.org,
            settings.api_key,
            settings.auth_header,
            settings.auth_scheme,
            settings.timeout,
            settings.fields,
            redactor=Redactor(secret_keys=frozenset(settings.secret_variables)),
        )
    from flowtest.sandbox.server import SandboxConfig, running_sandbox

    sandbox_config = SandboxConfig(flows_dir=settings.sandbox_flows, orgs=(settings.org,), port=0)
    try:
        sandbox = stack.enter_context(running_sandbox(sandbox_config))
    except FlowFilesError as exc:
        raise FlowtestError("the sandbox cannot start:\n" + "\n".join(str(e) for e in exc.errors)) from None
    return ClientConfig(sandbox.url, settings.org, DEFAULT_API_KEY, timeout=settings.timeout)
