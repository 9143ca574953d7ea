"""The text a designer reads when a scenario fails: where, what was expected, the transcript."""

from __future__ import annotations

import json
from collections.abc import Iterator

from flowtest.durations import format_duration
from flowtest.trace import Outcome, Result, Role, StepRecord, Trace, status_shown, step_label, unknown_role

_WIDTH = 6
MAX_LINE = 2000  # characters of one line shown; a 10 MB bot message must not become 10 MB of output
MAX_MESSAGES = 20  # a step's messages shown; an answer of 100,000 messages must not be 100,000 lines
MAX_TRANSCRIPT = 200  # transcript lines shown: the first ones, and the last ones, where it failed


def result_failure(result: Result) -> tuple[str, str | None, str]:
    """(headline, category, details) of a result that did not pass."""
    failed = result.final.failed_step
    details = failure_text(result)
    rate = f"{result.rate}; " if result.runs else ""
    if failed is None or failed.failure is None:
        return rate + result.final.case_name, None, details
    return capped(rate + failed.failure.message), failed.failure.category.value, details


def failure_text(result: Result, verbose: bool = False) -> str:
    trace = result.final
    failed = trace.failed_step
    lines = [_headline(trace, failed)]
    if result.runs:
        lines.extend(run_lines(result))
    for step in trace.failed_steps:  # more than one when checks were soft
        lines.extend(_failure_lines(step))
    if len(result.attempts) > 1:
        lines.append(f"(failed in all {len(result.attempts)} attempts; the last one is shown)")
    lines.append("")
    lines.append(f"Transcript (flow {trace.flow}, org {trace.org}, session {trace.session_id or 'none'}):")
    lines.extend(_bounded(list(transcript_lines(trace))))
    lines.extend(f"warning: {warning}" for warning in trace.warnings)
    if verbose:
        lines.append("")
        lines.append("Exchanges (secrets redacted):")
        lines.extend(_exchanges(trace))
    return "\n".join(capped(line) for line in lines)


def run_lines(result: Result) -> Iterator[str]:
    """With ``repeat``: the rate, then each run in a line; the run shown below is the first that failed."""
    yield f"{result.rate}: {result.needed_runs} needed"
    for number, run in enumerate(result.runs, 1):
        trace, failed = run.final, run.final.failed_step
        session = f"session {trace.session_id or 'none'}"
        retried = f", {len(run.attempts)} attempts" if len(run.attempts) > 1 else ""
        if failed is None or failed.failure is None:
            yield f"  run {number}: passed ({session}{retried})"
        else:
            yield f"  run {number}: {trace.outcome.value} ({session}{retried}): {failed.failure.message}"
    shown = next(number for number, run in enumerate(result.runs, 1) if run.attempts is result.attempts)
    yield f"Run {shown}, the first that did not pass:"


def _failure_lines(step: StepRecord) -> Iterator[str]:
    if step.failure is None:
        return
    yield step.failure.message
    if step.failure.expected is not None:
        yield from _labelled("expected", step.failure.expected)
    if step.failure.actual is not None:
        yield from _labelled("actual", step.failure.actual)


def _bounded(lines: list[str]) -> list[str]:
    """The transcript's first lines and its last ones (where it failed), at most MAX_TRANSCRIPT."""
    if len(lines) <= MAX_TRANSCRIPT:
        return lines
    head, tail = MAX_TRANSCRIPT // 4, MAX_TRANSCRIPT - MAX_TRANSCRIPT // 4
    gap = f"  [... {len(lines) - head - tail:,} transcript lines not shown]"
    return [*lines[:head], gap, *lines[-tail:]]


def capped(line: str, limit: int = MAX_LINE) -> str:
    """The line, or its start and how much was cut."""
    if len(line) <= limit:
        return line
    return f"{line[:limit]}... ({len(line) - limit:,} more characters not shown)"


def _headline(trace: Trace, failed: StepRecord | None) -> str:
    where = failed.location if failed is not None and failed.location is not None else trace.location
    text = f'Scenario "{trace.case_name}" failed at {where}'
    if trace.row is not None:
        text += f", with the example row at {trace.row.path}:{trace.row.line}"
    count = len(trace.failed_steps)
    if count > 1:
        text += f" (and {count - 1} more failure{'s' if count > 2 else ''} after it: soft checks)"
    if failed is not None and failed.included_from is not None:
        text += f" (in a partial, included at {failed.included_from})"
    elif failed is not None and failed.location is not None and failed.location.path != trace.location.path:
        text += f" (in a partial; the scenario is {trace.location})"
    return text


def _labelled(label: str, value: str) -> list[str]:
    first, *rest = value.split("\n")
    pad = " " * (len(label) + 4)
    return [f"  {label}: {first}", *(pad + line for line in rest)]


def transcript_lines(trace: Trace) -> Iterator[str]:
    for step in trace.steps:
        yield from _step_lines(step)


def _step_lines(step: StepRecord) -> Iterator[str]:
    """A step as the terminal shows it: by its role, whatever its kind."""
    match step.role:
        case Role.SEND:
            if step.sent is not None:
                yield _sent_line(step)
        case Role.CALL:
            if step.failure is None:
                yield f"  {'':<{_WIDTH}}[{step.title}]"
        case Role.CHECK | Role.LIFECYCLE:
            pass
        case unknown:
            unknown_role(unknown)
    for text in step.received[:MAX_MESSAGES]:
        yield f"  {'bot':<{_WIDTH}}{text}"
    if len(step.received) > MAX_MESSAGES:
        yield f"  {'':<{_WIDTH}}[... {len(step.received) - MAX_MESSAGES:,} more messages not shown]"
    if status_shown(step):
        yield f"  {'':<{_WIDTH}}[status: {step.status_after}]"
    where = step_label(step.where, step.location, step.included_from) or step.kind
    if step.failure is not None:
        yield f"  ✗ {where}: {step.title}"
    elif step.outcome is Outcome.SKIPPED:
        yield f"  ○ {where}: {step.title}"


def _sent_line(step: StepRecord) -> str:
    """What the caller sent, and why when the record says (the caller's rule that answered, a refusal)."""
    why = f"  [{step.note}]" if step.note else ""
    return f"  {step.kind:<{_WIDTH - 1}} {step.sent}  ({format_duration(step.duration)}){why}"


def _exchanges(trace: Trace) -> Iterator[str]:
    for step in trace.steps:
        for exchange in step.exchanges:
            status = exchange.status if exchange.status is not None else exchange.error
            yield f"  {exchange.method} {exchange.url} -> {status} ({format_duration(exchange.duration)})"
            if exchange.request_json is not None:
                yield f"    request:  {json.dumps(exchange.request_json, ensure_ascii=False)}"
            if exchange.response_json is not None:
                yield f"    response: {json.dumps(exchange.response_json, ensure_ascii=False)}"


def passes_now(reason: str) -> str:
    """A known issue (xfail) whose scenario passed: fixed, most likely, and its xfail stale."""
    return f"Known issue{f' {reason}' if reason else ''} passes now: remove its xfail"
