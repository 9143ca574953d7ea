"""The text a designer reads when a scenario fails: where, what was expected, the transcript."""

from __future__ import annotations

import json
from collections.abc import Iterator

from flowtest.durations import format_duration
from flowtest.trace import Outcome, Result, StepRecord, Trace

_WIDTH = 6
MAX_LINE = 2000  # characters of one line shown; a 10 MB bot message must not become 10 MB of output


def failure_text(result: Result, verbose: bool = False) -> str:
    trace = result.final
    failed = trace.failed_step
    lines = [_headline(trace, failed)]
    if failed is not None and failed.failure is not None:
        lines.append(failed.failure.message)
        if failed.failure.expected is not None:
            lines.extend(_labelled("expected", failed.failure.expected))
        if failed.failure.actual is not None:
            lines.extend(_labelled("actual", failed.failure.actual))
    if len(result.attempts) > 1:
        lines.append(f"(failed in all {len(result.attempts)} attempts; the last one is shown)")
    lines.append("")
    lines.append(f"Transcript (flow {trace.flow}, org {trace.org}, session {trace.session_id or 'none'}):")
    lines.extend(transcript_lines(trace))
    lines.extend(f"warning: {warning}" for warning in trace.warnings)
    if verbose:
        lines.append("")
        lines.append("Exchanges (secrets redacted):")
        lines.extend(_exchanges(trace))
    return "\n".join(capped(line) for line in lines)


def capped(line: str, limit: int = MAX_LINE) -> str:
    """The line, or its start and how much was cut."""
    if len(line) <= limit:
        return line
    return f"{line[:limit]}... ({len(line) - limit:,} more characters not shown)"


def _headline(trace: Trace, failed: StepRecord | None) -> str:
    where = failed.location if failed is not None and failed.location is not None else trace.location
    text = f'Scenario "{trace.case_name}" failed at {where}'
    if failed is not None and failed.location is not None and failed.location.path != trace.location.path:
        text += f" (in a partial; the scenario is {trace.location})"
    return text


def _labelled(label: str, value: str) -> list[str]:
    first, *rest = value.split("\n")
    pad = " " * (len(label) + 4)
    return [f"  {label}: {first}", *(pad + line for line in rest)]


def transcript_lines(trace: Trace) -> Iterator[str]:
    for step in trace.steps:
        if step.kind == "user" and step.sent is not None:
            yield f"  {'user':<{_WIDTH}}{step.sent}  ({format_duration(step.duration)})"
        elif step.kind == "transfer" and step.sent is not None:
            yield f"  {'↪':<{_WIDTH}}transfer {step.sent}  ({format_duration(step.duration)})"
        elif step.kind == "end":
            yield f"  {'':<{_WIDTH}}[End Session]"
        for text in step.received:
            yield f"  {'bot':<{_WIDTH}}{text}"
        if step.status_after != step.status_before and step.kind not in ("teardown", "end"):
            yield f"  {'':<{_WIDTH}}[status: {step.status_after}]"
        if step.failure is not None:
            yield f"  ✗ {step.where or step.kind}: {step.title}"
        elif step.outcome is Outcome.SKIPPED:
            yield f"  ○ {step.where or step.kind}: {step.title}"


def _exchanges(trace: Trace) -> Iterator[str]:
    for step in trace.steps:
        for exchange in step.exchanges:
            status = exchange.status if exchange.status is not None else exchange.error
            yield f"  {exchange.method} {exchange.url} -> {status} ({format_duration(exchange.duration)})"
            if exchange.request_json is not None:
                yield f"    request:  {json.dumps(exchange.request_json, ensure_ascii=False)}"
            if exchange.response_json is not None:
                yield f"    response: {json.dumps(exchange.response_json, ensure_ascii=False)}"
