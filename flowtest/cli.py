"""The ``flowtest`` command."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import itertools
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO, TypeVar

from flowtest import __version__
from flowtest.client import ClientConfig
from flowtest.config import (
    API_KEY_VARIABLE,
    DEFAULT_ALLURE_REPORT,
    DEFAULT_ALLURE_RESULTS,
    Settings,
    positive_rate,
    read_pyproject,
    resolve,
)
from flowtest.durations import parse_duration
from flowtest.errors import ConfigError, FlowtestError
from flowtest.load import INSTALL_HINT, PATHS_VARIABLE, locustfile_path
from flowtest.redact import Redactor
from flowtest.sandbox import DEFAULT_API_KEY, DEFAULT_PORT
from flowtest.sandbox.flows import FlowFilesError
from flowtest.schemas import load_schema, partial_schema

# Each command imports what it uses when it runs (the server, the HTTP client, the
# report builder, the importers): `flowtest validate` need not load uvicorn or httpx.

logger = logging.getLogger(__name__)
T = TypeVar("T")
N = TypeVar("N", int, float)


def _argument(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type from a parser that raises ValueError with a readable message."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _number_in(text: str, kind: type[N], low: N, high: N, what: str) -> N:
    """``text`` as a number of ``kind`` from ``low`` to ``high``, else a ValueError saying so."""
    try:
        value = kind(text)
    except ValueError:
        value = kind(low - 1)
    if not low <= value <= high:
        raise ValueError(f"expected {what} from {low:g} to {high:g}, got {text!r}")
    return value


def share(text: str) -> float:
    """A share from 0 to 1, such as 0.05."""
    return _number_in(text, float, 0.0, 1.0, "a share")


def port(text: str) -> int:
    """A TCP port, 0 to 65535 (0 picks a free one)."""
    return _number_in(text, int, 0, 65535, "a port")


def api_key(text: str) -> str:
    if not text.strip():
        raise ValueError("the API key cannot be empty: clients would be let in with no key")
    return text


_port = _argument(port)
_api_key = _argument(api_key)
_duration = _argument(parse_duration)
_rate = _argument(positive_rate)
_share = _argument(share)


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("serve", help="run the sandbox server (the API contract on loopback)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--flows",
        type=Path,
        default=Path("scenarios/flows"),
        help="folder of *.flow.yaml files (default scenarios/flows)",
    )
    parser.add_argument(
        "--org",
        action="append",
        dest="orgs",
        metavar="ORG",
        help="organization the key opens (repeatable; default demo)",
    )
    parser.add_argument(
        "--api-key",
        type=_api_key,
        default=DEFAULT_API_KEY,
        help="the API key clients must send (default: the development key)",
    )
    parser.add_argument("--session-ttl", type=_duration, default=3600.0, help="session lifetime (default 1h)")
    parser.add_argument("--latency", type=_duration, default=0.0, help="added to every answer, e.g. 50ms")
    parser.add_argument("--error-rate", type=_share, default=0.0, help="share of requests answered 503")
    parser.add_argument("--rate-limit", type=_rate, default=None, help="requests per second, e.g. 20/s")
    parser.add_argument("--max-sessions", type=int, default=10_000, help="live sessions at most")
    parser.add_argument("--seed", type=int, default=None, help="seed for --error-rate")
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from flowtest.sandbox.app import Faults, Limits
    from flowtest.sandbox.server import SandboxConfig, serve

    config = SandboxConfig(
        flows_dir=args.flows,
        orgs=tuple(args.orgs or ["demo"]),
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        limits=Limits(session_ttl=args.session_ttl, max_sessions=args.max_sessions),
        faults=Faults(args.latency, args.error_rate, args.rate_limit, args.seed),
    )

    def announce(url: str) -> None:
        orgs = ", ".join(config.orgs)
        key = "the development key " + DEFAULT_API_KEY if args.api_key == DEFAULT_API_KEY else "--api-key"
        print(f"flowtest sandbox listening on {url} (org {orgs}; API key: {key})", flush=True)

    try:
        serve(config, announce)
    except FlowFilesError as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        count = len(exc.errors)
        print(
            f"flowtest: the sandbox did not start: {count} problem(s) in flow files",
            file=sys.stderr,
        )
        return 2
    return 0


def _add_report(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("report", help="turn Allure results into one HTML file (Allure 3, npm)")
    parser.add_argument(
        "--results",
        type=Path,
        default=DEFAULT_ALLURE_RESULTS,
        help=f"Allure results folder (default {DEFAULT_ALLURE_RESULTS})",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_ALLURE_REPORT,
        help=f"report folder (default {DEFAULT_ALLURE_REPORT})",
    )
    parser.add_argument(
        "--quality-gate", action="store_true", help="fail (exit 1) when more tests failed than --max-failures"
    )
    parser.add_argument("--max-failures", type=int, default=0, help="for --quality-gate (default 0)")
    parser.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from flowtest.reporting.html_report import ReportPaths, build_report, quality_gate

    root = Path.cwd()
    paths = ReportPaths(root, (root / args.results).resolve(), (root / args.output).resolve())
    index = build_report(paths)
    print(f"flowtest: report written to {paths.shown(index)}")
    if not args.quality_gate:
        return 0
    passed, message = quality_gate(paths, args.max_failures)
    print(f"flowtest: {message}")
    return 0 if passed else 1


def project_root(start: Path) -> Path:
    """The nearest folder holding pyproject.toml, else ``start``."""
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return start


def _settings(root: Path) -> Settings:
    return resolve({}, os.environ, read_pyproject(root), root)


def _add_validate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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

    root = project_root(Path.cwd())
    paths = args.paths or [root / "scenarios"]
    settings = _settings(root)
    flows = args.flows if args.flows is not None else settings.sandbox_flows
    findings = validate(paths, root, flows, settings.utterances)
    for finding in findings:
        print(finding.github() if args.format == "github" else finding.text())
    errors = sum(finding.severity == "error" for finding in findings)
    warnings = len(findings) - errors
    checked = len(find_files(paths))
    print(f"flowtest: {checked} file(s) checked, {errors} error(s), {warnings} warning(s)", file=sys.stderr)
    return 1 if errors else 0


def _add_schema(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def _add_record(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def _start_variables(pairs: list[str]) -> dict[str, Any]:
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
        _start_variables(args.var),
        secret_names=frozenset(settings.secret_variables),
        known_secrets={settings.api_key: f"${{env.{API_KEY_VARIABLE}}}"} if settings.api_key else {},
    )
    shown = sys.stdout if args.out is not None else sys.stderr
    secrets = Redactor().with_values(recording.secret_values)
    inputs = _input_lines(args.inputs, shown, secrets)
    with contextlib.ExitStack() as stack:
        config = _record_client(settings, stack)
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


def _record_client(settings: Settings, stack: contextlib.ExitStack) -> ClientConfig:
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


def _add_import(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("import", help="convert another tool's test suite into scenarios")
    sources = parser.add_subparsers(dest="source", required=True, metavar="FORMAT")
    botium = sources.add_parser(
        "botium",
        help="BotiumScript: *.convo.txt, *.pconvo.txt, *.utterances.txt, *.scriptingmemory.txt, YAML/JSON",
    )
    botium.add_argument("src", type=Path, help="a Botium file or a folder of them")
    botium.add_argument("--out", type=Path, required=True, help="folder for the scenarios (new files only)")
    botium.add_argument("--flow", required=True, help="the flowId every imported scenario starts")
    botium.set_defaults(handler=_import_botium)


def _import_botium(args: argparse.Namespace) -> int:
    from flowtest.authoring.botium import import_botium, remove, write
    from flowtest.authoring.validate import validate

    root = project_root(Path.cwd())
    out = args.out.resolve()
    if not out.is_relative_to(root):
        root = out  # includes must stay inside the project: the output folder is one
    base = args.src.resolve() if args.src.is_dir() else args.src.resolve().parent
    # Files name their Botium source as the suite does (from SRC); the terminal, from here.
    here = _from_here(base)
    imported = import_botium(args.src, args.out, args.flow, _displayer(base))
    for problem in imported.problems:
        print(here(str(problem)), file=sys.stderr)
    created = write(imported)
    findings = [f for f in validate([args.out], root, None, "first") if f.severity == "error"]
    if findings:
        remove(imported, created)  # never leave files that do not validate (a rerun would refuse them)
        for finding in findings:
            print(finding.text(), file=sys.stderr)
        print(
            "flowtest: the imported files do not validate, so none were kept (a bug: please report it)",
            file=sys.stderr,
        )
        return 1
    counts = ", ".join(f"{count} {what}" for what, count in imported.counts.items())
    print(f"flowtest: imported {counts} into {args.out}")
    if imported.notes:
        print(f"{len(imported.notes)} thing(s) without an equivalent, kept as comments:")
        for note in imported.notes:
            print(f"  {here(str(note))}")
    if imported.problems:
        print(f"flowtest: {len(imported.problems)} Botium file(s) could not be read", file=sys.stderr)
    return 1 if imported.problems else 0


def _from_here(base: Path) -> Callable[[str], str]:
    """A line starting with a path relative to ``base``, as a path from the current folder."""
    cwd = Path.cwd().resolve()
    prefix = "" if base == cwd else str(base.relative_to(cwd) if base.is_relative_to(cwd) else base)
    return lambda line: os.path.join(prefix, line) if prefix else line


def _displayer(base: Path) -> Callable[[Path], str]:
    """Source paths as the Botium suite names them: relative to its folder."""

    def display(path: Path) -> str:
        absolute = path.resolve()
        return str(absolute.relative_to(base)) if absolute.is_relative_to(base) else str(path)

    return display


def _add_init(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


LOAD_USAGE = """usage: flowtest load [PATHS ...] [LOCUST OPTIONS]

Runs the scenarios under PATHS (default: scenarios) as a Locust load test: each scenario
is a task (its tags are Locust tags, its weight: the task weight), each iteration a new
session. Every other option is Locust's own, for example:
  flowtest load scenarios --headless -u 50 -r 10 -t 1m -H https://api.example.com
  flowtest load scenarios --master --expect-workers 2 --headless -u 200 -r 20 -t 5m -H URL
  flowtest load scenarios --worker --master-host 10.0.0.5
  flowtest load scenarios --tags smoke --csv reports/load --html reports/load.html
The API key comes from FLOWTEST_API_KEY on every machine. See `locust --help`."""


def _add_load(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # Listed for --help only: main() hands `load` and its arguments to Locust before argparse.
    commands.add_parser("load", help="run the scenarios as a Locust load test (the load extra)")


def load(argv: Sequence[str]) -> int:
    """Replace this process with Locust running flowtest's locustfile on the scenarios."""
    paths = list(itertools.takewhile(lambda arg: not arg.startswith("-"), argv))
    rest = list(argv[len(paths) :])
    if rest[:1] in (["-h"], ["--help"]):
        print(LOAD_USAGE)
        return 0
    if importlib.util.find_spec("locust") is None:
        print(f"flowtest load needs Locust, an optional extra: {INSTALL_HINT}", file=sys.stderr)
        return 2
    missing = [path for path in paths if not Path(path).exists()]
    if missing:
        print(f"flowtest: error: {', '.join(missing)}: no such file or folder", file=sys.stderr)
        return 2
    env = {**os.environ, PATHS_VARIABLE: os.pathsep.join(paths or ["scenarios"])}
    command = [sys.executable, "-m", "locust", "-f", locustfile_path(), *rest]
    sys.stdout.flush()
    os.execve(sys.executable, command, env)
    return 0  # pragma: no cover  (execve does not return)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flowtest", description=__doc__)
    parser.add_argument("--version", action="version", version=f"flowtest {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(commands)
    _add_report(commands)
    _add_validate(commands)
    _add_schema(commands)
    _add_record(commands)
    _add_init(commands)
    _add_import(commands)
    _add_load(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="flowtest: %(message)s")
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["load"]:
        return load(arguments[1:])
    args = build_parser().parse_args(arguments)
    try:
        return int(args.handler(args))
    except FlowtestError as exc:
        return _error(str(exc))
    except OSError as exc:
        # A path the user gave that cannot be written or read (a folder where a file goes, a
        # file where a folder goes): one line naming it, as the shell's tools say it.
        where = f"{exc.filename}: " if exc.filename is not None else ""
        return _error(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        return 130


def _error(message: str) -> int:
    # What a server said may hold the key it was sent (an echoed Authorization header).
    redactor = Redactor().with_values([os.environ.get(API_KEY_VARIABLE)])
    print(f"flowtest: error: {redactor.text(message)}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
