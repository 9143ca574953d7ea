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
from flowtest.stopsignals import stopping_like_ctrl_c


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
    if args.out is not None:
        _check_out(args.out)  # before the recording, not after it
    recording = Recording(
        args.flow,
        args.name or _free_name(root, f"Recorded {args.flow} conversation"),
        start_variables(args.var),
        secret_names=frozenset(settings.secret_variables),
        known_secrets={settings.api_key: f"${{env.{API_KEY_VARIABLE}}}"} if settings.api_key else {},
    )
    shown = sys.stdout if args.out is not None else sys.stderr
    secrets = Redactor().with_values(recording.secret_values)
    inputs = _input_lines(args.inputs, shown, secrets)
    with contextlib.ExitStack() as stack:
        stack.enter_context(stopping_like_ctrl_c())  # SIGTERM, SIGHUP: the session is still ended
        config = record_client(settings, stack)
        client = stack.enter_context(FlowClient(config))
        prompt = lambda text: print(text, end="", file=shown, flush=True)  # noqa: E731
        lists = _recording_lists(root, args.out) if args.utterances else {}
        try:
            document = Recorder(client, recording, inputs, shown, prompt, lists).run()
        except KeyboardInterrupt:
            print(
                "flowtest record: stopped; nothing written (/quit ends a recording and writes it)",
                file=sys.stderr,
            )
            raise
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


def _check_out(out: Path) -> None:
    """A scenario can be written at ``out``: nothing there yet, and a folder that can take it."""
    if out.exists() or out.is_symlink():
        raise FlowtestError(f"{out} exists; flowtest record does not overwrite files (choose another --out)")
    folder = out.parent
    while not folder.exists():  # the folders record would create: the first that exists decides
        folder = folder.parent
    if not folder.is_dir():
        raise FlowtestError(f"{out}: cannot write there: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise FlowtestError(f"{out}: cannot write there: no permission to write in {folder}")


def _free_name(root: Path, wanted: str) -> str:
    """``wanted``, or ``wanted 2``, ``wanted 3``...: a name no scenario of the project has yet."""
    taken = scenario_names(root)
    name, number = wanted, 1
    while name in taken:
        number += 1
        name = f"{wanted} {number}"
    return name


def scenario_names(root: Path) -> set[str]:
    """The name of every scenario in the project's scenario files (those that read as YAML)."""
    import yaml

    names: set[str] = set()
    for path in _scenario_files(root):
        try:
            documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # validate reports it; a name in it cannot be read anyway
        names.update(str(d["name"]) for d in documents if isinstance(d, dict) and "name" in d)
    return names


def _scenario_files(root: Path) -> Iterator[Path]:
    from flowtest.scenario import is_scenario_file

    for folder, subfolders, files in os.walk(root):
        # Not into hidden folders (.git, .venv), node_modules or reports: no scenario lives there.
        subfolders[:] = [d for d in subfolders if not d.startswith(".") and d not in _NOT_SCENARIOS]
        yield from (Path(folder, name) for name in files if is_scenario_file(Path(name)))


_NOT_SCENARIOS = frozenset({"node_modules", "reports", "__pycache__"})


def _input_lines(path: Path | None, shown: TextIO, redactor: Redactor) -> Iterator[str]:
    """The user's lines; echoed when they do not come from a terminal, so the transcript reads well."""
    source = _read_inputs(path) if path is not None else _stdin_lines()  # --inputs: read now
    echo = path is not None or not sys.stdin.isatty()
    return _echoed(source, echo, shown, redactor)


def _echoed(source: Iterable[str], echo: bool, shown: TextIO, redactor: Redactor) -> Iterator[str]:
    for line in source:
        if echo:
            print(redactor.text(line.rstrip("\n")), file=shown, flush=True)
        yield line


def _read_inputs(path: Path) -> list[str]:
    """The lines of --inputs, read before the session starts: a file that cannot be read opens none."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise FlowtestError(f"{path}: {exc.strerror or exc}") from None
    try:
        return content.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        column = exc.start - content.rfind(b"\n", 0, exc.start)
        byte = content[exc.start]
        raise FlowtestError(
            f"{path}:{line}:{column}: not UTF-8 text (byte {byte:#04x}); save it as UTF-8"
        ) from None


def _stdin_lines() -> Iterator[str]:
    try:
        yield from sys.stdin
    except UnicodeDecodeError as exc:
        raise FlowtestError(f"standard input: not UTF-8 text (byte {exc.object[exc.start]:#04x})") from None


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
            max_response_bytes=settings.max_response_bytes,
        )
    from flowtest.sandbox.server import SandboxConfig, running_sandbox

    sandbox_config = SandboxConfig(flows_dir=settings.sandbox_flows, orgs=(settings.org,), port=0)
    try:
        sandbox = stack.enter_context(running_sandbox(sandbox_config))
    except FlowFilesError as exc:
        raise FlowtestError("the sandbox cannot start:\n" + "\n".join(str(e) for e in exc.errors)) from None
    return ClientConfig(
        sandbox.url,
        settings.org,
        DEFAULT_API_KEY,
        timeout=settings.timeout,
        max_response_bytes=settings.max_response_bytes,
    )
