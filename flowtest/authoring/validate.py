"""``flowtest validate``: check scenario, partial and flow files without calling any API."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from flowtest.contract import TERMINAL_STATUSES
from flowtest.errors import Location, SourceError
from flowtest.matchers import Regex, Text, backtracking_risk, templated_pattern_problem
from flowtest.matchers.meaning import MeaningServices, Similar
from flowtest.sandbox.flows import FLOW_SUFFIX, FlowFilesError, load_flow_file, load_flow_set
from flowtest.scenario import is_scenario_file, model
from flowtest.scenario.loader import ScenarioLoader, duplicate_name, partial_errors
from flowtest.scenario.utterances import is_utterance_file, read_lists
from flowtest.steps import kind_of
from flowtest.steps.bot import BotStep
from flowtest.steps.checks import StatusStep
from flowtest.validation import describe_path, did_you_mean
from flowtest.yamlsource import Document, iter_paths

PARTIAL_SUFFIXES = (".partial.yaml", ".partial.yml")
LONG_EXACT_TEXT = 80


@dataclass(frozen=True)
class Finding:
    location: Location
    severity: str  # "error" or "warning"
    message: str

    def text(self) -> str:
        return f"{self.location}: {self.severity}: {self.message}"

    def github(self) -> str:
        """A GitHub Actions workflow command: shows on the pull request's diff."""
        kind = "error" if self.severity == "error" else "warning"
        message = self.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        where = self.location
        return f"::{kind} file={where.path},line={where.line},col={where.column}::{message}"


def find_files(paths: Iterable[Path]) -> list[Path]:
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.is_file() and _kind(p) is not None)
        elif path.exists():
            found.add(path)
    return sorted(found)


def _kind(path: Path) -> str | None:
    if is_scenario_file(path):
        return "scenario"
    if path.name.endswith(PARTIAL_SUFFIXES):
        return "partial"
    if path.name.endswith(FLOW_SUFFIX):
        return "flow"
    if is_utterance_file(path):
        return "utterances"
    return None


def validate(
    paths: Sequence[Path],
    root: Path,
    flows_dir: Path | None,
    utterance_mode: str = "all",
    meaning: MeaningServices | None = None,
) -> list[Finding]:
    """Every finding for the files under ``paths``, in file order."""
    loader = ScenarioLoader(root, utterance_mode, meaning=meaning)
    flow_ids = _flow_ids(flows_dir, loader)
    names: dict[str, Location] = {}  # scenario names across files: Allure would merge two alike
    findings = [
        Finding(Location(str(path), 1, 1), "error", "no such file or folder")
        for path in paths
        if not path.exists()
    ]
    for path in find_files(paths):
        kind = _kind(path)
        if kind == "scenario":
            findings.extend(_scenario_findings(loader, path, flow_ids, names))
        elif kind == "partial":
            outside = loader.outside(path, loader.display(path))
            errors = [outside] if outside is not None else partial_errors(path, loader.display(path))
            findings.extend(_errors(errors))
        elif kind == "flow":
            findings.extend(_flow_findings(loader, path))
        elif kind == "utterances":
            findings.extend(_utterance_findings(loader, path))
        else:
            location = Location(loader.display(path), 1, 1)
            message = "not a *.scenario.yaml, *.partial.yaml, *.flow.yaml or *.utterances.yaml file"
            findings.append(Finding(location, "error", message))
    # A broken table or list is found once per scenario using it; it is one problem.
    return list(dict.fromkeys(findings))


def _flow_ids(flows_dir: Path | None, loader: ScenarioLoader) -> frozenset[str] | None:
    if flows_dir is None or not flows_dir.is_dir():
        return None
    # Broken flow files are reported on their own when validated; their ids are still flows.
    found = load_flow_set(flows_dir, loader.outside, loader.display)
    return frozenset(found.flows) | frozenset(found.broken)


def _errors(errors: Iterable[SourceError]) -> Iterator[Finding]:
    for error in errors:
        yield Finding(error.location, "error", error.detail)


def _utterance_findings(loader: ScenarioLoader, path: Path) -> Iterator[Finding]:
    display = loader.display(path)
    outside = loader.outside(path, display)
    if outside is not None:
        yield from _errors([outside])
        return
    try:
        read_lists(path, display)
    except SourceError as exc:
        yield from _errors([exc])
        return
    library = loader.utterance_finder.library(path.resolve().parent)
    yield from _errors(error for error in library.duplicates.values() if error.location.path == display)


def _flow_findings(loader: ScenarioLoader, path: Path) -> Iterator[Finding]:
    display = loader.display(path)
    outside = loader.outside(path, display)
    if outside is not None:  # not read, so nothing of it is echoed
        yield from _errors([outside])
        return
    try:
        flow = load_flow_file(path, display)
    except FlowFilesError as exc:
        yield from _errors(exc.errors)
        return
    if flow.document is not None:
        yield from _flow_patterns(flow.document)


def _flow_patterns(document: Document) -> Iterator[Finding]:
    """A flow's regexes (branch and say conditions, extract) that can take exponential time:
    the sandbox stops them after a second and ends that session in error."""
    for at, value in iter_paths(document.data):
        pattern = at[:1] == ("nodes",) and (at[-1] == "regex" or (at[-1] == "extract" and len(at) == 3))
        if pattern and isinstance(value, str):
            risk = backtracking_risk(value)
            if risk is not None:
                where = describe_path(at)
                yield Finding(document.location(at), "warning", f"{where}: regex {json.dumps(value)}: {risk}")


def _scenario_findings(
    loader: ScenarioLoader, path: Path, flow_ids: frozenset[str] | None, names: dict[str, Location]
) -> Iterator[Finding]:
    loaded = loader.load_file(path)
    for invalid in loaded.invalid:
        yield from _errors(invalid.errors)
    for scenario in loaded.scenarios:
        duplicate = duplicate_name(scenario, names)
        if duplicate is not None:
            yield from _errors([duplicate])
        if flow_ids is not None and scenario.flow not in flow_ids:
            hint = did_you_mean(scenario.flow, flow_ids)
            location = scenario.flow_location or scenario.location
            yield Finding(location, "error", f"flow: no flow '{scenario.flow}' in the flows folder{hint}")
        yield from _step_findings(scenario.steps)


def _step_findings(steps: Sequence[model.Step]) -> Iterator[Finding]:
    """Steps that cannot pass whatever the flow does, and checks that will break often."""
    ended = False
    for previous, step in zip((None, *steps), steps, strict=False):
        kind = kind_of(step)
        live = kind.touches_session(step)
        if ended and live:
            yield Finding(
                step.location,
                "error",
                f"{step.where}: the session was ended by 'end'; "
                "only user/transfer steps expecting an 'error', status and wait can follow",
            )
        elif kind.needs is not None and live and isinstance(previous, StatusStep):
            yield from _after_status(previous, step, kind.name, kind.needs)
        ended = ended or kind.ends_session
        if isinstance(step, BotStep):
            yield from _brittle(step)
            yield from _unlike_too_close(step)
        yield from _slow_patterns(step)


def _after_status(status: StatusStep, step: model.Step, kind: str, needed: str) -> Iterator[Finding]:
    """The runner's rule (a kind's ``needs``) against the status the step before asserts."""
    if needed not in status.statuses:
        found = " or ".join(status.statuses)
        refusal = " (add error: to expect a refusal)" if set(status.statuses) <= TERMINAL_STATUSES else ""
        yield Finding(
            step.location,
            "error",
            f"{step.where}: a {kind} step needs {needed}, but the step before asserts {found}{refusal}",
        )


def _slow_patterns(step: model.Step) -> Iterator[Finding]:
    """Regexes that can take exponential time on some bot text (at run time they are stopped),
    or that break with an empty value (at run time the step fails)."""
    for pattern in sorted(set(_patterns(step))):
        for risk in (backtracking_risk(pattern), templated_pattern_problem(pattern)):
            if risk is not None:
                yield Finding(step.location, "warning", f"{step.where}: regex {json.dumps(pattern)}: {risk}")


def _patterns(value: object) -> Iterator[str]:
    """Every regex pattern held by a step's matchers, however they nest."""
    if isinstance(value, Regex):
        yield value.pattern
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _patterns(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield from _patterns(getattr(value, item.name))


def _unlike_too_close(step: BotStep) -> Iterator[Finding]:
    """A similar text that would fail its own unlike texts: the reply could never pass."""
    for matcher in step.warmed:
        if isinstance(matcher, Similar) and matcher.unlike:
            conflicts = matcher.services.similarity().conflicts(matcher.texts, matcher.unlike, matcher.margin)
            for conflict in conflicts:
                yield Finding(
                    step.location,
                    "warning",
                    f"{step.where}: similar {json.dumps(conflict.similar)} and unlike "
                    f"{json.dumps(conflict.unlike)} score {conflict.score:.3f}, closer than the margin "
                    f"({matcher.margin:g}) lets a reply stand between them: reword one of them, or "
                    "check the fact that differs with contains or regex",
                )


def _brittle(step: BotStep) -> Iterator[Finding]:
    for matcher in step.matchers:
        if (
            isinstance(matcher, Text)
            and matcher.op == "is"
            and isinstance(matcher.text, str)
            and len(matcher.text) > LONG_EXACT_TEXT
        ):
            yield Finding(
                step.location,
                "warning",
                f"{step.where}: exact match on a {len(matcher.text)}-character "
                "bot text breaks on any rewording; consider {contains: ...} or {regex: ...}",
            )
