"""The conversation as a self-contained HTML chat: bubbles, status separators, latencies.

Inline CSS only: no scripts and no external resources, so it renders in Allure's
attachment viewer and in any browser offline. Every text is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from flowtest.durations import format_duration
from flowtest.reporting.failure import passes_now
from flowtest.trace import Outcome, Result, Role, StepRecord, Trace, button_labels, status_shown, unknown_role

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;
background:#f4f5f7;color:#1f2328}
.chat{max-width:760px;margin:0 auto;padding:16px;display:flex;flex-direction:column;gap:6px}
h1{font-size:16px;margin:0 0 2px}
.meta{color:#57606a;font-size:12px;margin-bottom:10px}
.row{display:flex;flex-direction:column}
.row.user{align-items:flex-end}.row.bot{align-items:flex-start}
.bubble{max-width:75%;padding:8px 12px;border-radius:14px;white-space:pre-wrap;word-wrap:break-word}
.user .bubble{background:#0969da;color:#fff;border-bottom-right-radius:4px}
.bot .bubble{background:#fff;border:1px solid #d0d7de;border-bottom-left-radius:4px}
.who{font-size:11px;color:#57606a;margin:0 6px 2px}
.sep{align-self:center;font-size:12px;color:#57606a;background:#eaeef2;border-radius:10px;
padding:2px 10px;margin:4px 0}
.sep.transfer{background:#fff8c5}
.check{align-self:center;font-size:12px;color:#1a7f37}
.check.skipped{color:#57606a}
.bubble.typing{color:#57606a;letter-spacing:2px}.bubble.other{font-style:italic;color:#57606a}
.bubble.card{border-left:4px solid #0969da}.bubble.card .sub{color:#57606a;font-size:12px}
.chips{display:flex;flex-wrap:wrap;gap:4px;margin-top:4px}
.chip{border:1px solid #0969da;color:#0969da;border-radius:12px;padding:1px 10px;font-size:12px}
.fail{border:2px solid #cf222e;background:#ffebe9;border-radius:8px;padding:8px 12px;margin:6px 0}
.fail b{color:#cf222e}
.fail.known{border-color:#9a6700;background:#fff8c5}
.fail.known b{color:#9a6700}
.diff{display:grid;grid-template-columns:1fr 1fr;gap:10px;margin-top:6px}
.diff div{font-size:11px;color:#57606a;text-transform:uppercase}
.fail pre{margin:4px 0;white-space:pre-wrap;
font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
.warn{color:#9a6700;font-size:12px}
.about{max-width:760px;margin:8px auto;padding:0 16px}
body>.fail,.about+.fail{max-width:728px;margin:8px auto}
"""


def transcript_html(trace: Trace) -> str:
    """A whole page, for a browser."""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(trace.case_name)}</title><style>{_CSS}</style></head><body>"
        f"{_chat(trace)}</body></html>"
    )


def transcript_fragment(trace: Trace, description: str | None = None, known_issue: str | None = None) -> str:
    """The chat as an HTML fragment for a report's test page, led by the failure when there is one;
    ``known_issue`` (the xfail reason): that failure was expected, and is drawn as such.

    The style comes after the chat: HTML sanitizers (Allure 3's among them) drop a leading one.
    """
    intro = f"<p class='about'>{escape(description)}</p>" if description else ""
    failed = trace.failed_step
    known = _known(known_issue)
    lead = _failure_html(failed, anchor=False, known=known) if failed is not None else _fixed(known_issue)
    return f"{intro}{lead}{_chat(trace, known)}<style>{_CSS}</style>"


def _fixed(known_issue: str | None) -> str:
    """A known issue whose conversation passed: its xfail is stale, the page leads with that."""
    if known_issue is None:
        return ""
    return f"<div class='fail known'><b>⚠ {escape(passes_now(known_issue))}</b></div>"


def _known(reason: str | None) -> str | None:
    if reason is None:
        return None
    return f"Known issue ({reason}), expected to fail" if reason else "Known issue, expected to fail"


def result_fragment(result: Result, description: str | None = None, known_issue: str | None = None) -> str:
    """The case's conversation as a report's test page shows it; with ``repeat``, every run's,
    under the rate, the first that did not pass leading (drawn as expected when the rate held)."""
    if not result.runs:
        return transcript_fragment(result.final, description, known_issue)
    intro = f"<p class='about'>{escape(description)}</p>" if description else ""
    passed = result.outcome is Outcome.PASSED
    parts = [intro, f"<p class='about rate'>{escape(result.rate)}: {'passed' if passed else 'failed'}</p>"]
    failed = result.final.failed_step
    if failed is not None:
        known = "A run that did not pass (the pass rate allows it)" if passed else _known(known_issue)
        parts.append(_failure_html(failed, anchor=False, known=known))
    for number, run in enumerate(result.runs, 1):
        trace = run.final
        parts.append(f"<h2 class='about run'>run {number} of {len(result.runs)}: {trace.outcome.value}</h2>")
        parts.append(_chat(trace, None if passed else _known(known_issue)))
    return "".join(parts) + f"<style>{_CSS}</style>"


def _chat(trace: Trace, known: str | None = None) -> str:
    parts = [
        "<div class='chat'>",
        f"<h1>{escape(trace.case_name)}</h1>",
        f"<div class='meta'>flow {escape(trace.flow)} · org {escape(trace.org)} · "
        f"session {escape(trace.session_id or 'none')} · attempt {trace.attempt}{_row(trace)}</div>",
    ]
    for step in trace.steps:
        parts.extend(_step_html(step, known))
    parts.extend(f"<div class='warn'>warning: {escape(text)}</div>" for text in trace.warnings)
    parts.append("</div>")
    return "".join(parts)


MAX_MESSAGES = 100  # a step's messages drawn; an answer of 100,000 messages stays a readable page


def _row(trace: Trace) -> str:
    row = trace.row
    return "" if row is None else f" · example row {escape(row.path)}:{row.line}"


def _step_html(step: StepRecord, known: str | None = None) -> list[str]:
    """A step as the chat shows it: by its role, whatever its kind."""
    parts = _lead_html(step)
    shown = step.received[:MAX_MESSAGES]
    if len(step.messages) == len(step.received):
        parts.extend(_message_html(line, raw) for line, raw in zip(shown, step.messages, strict=False))
    else:
        parts.extend(_bubble("bot", "bot", text) for text in shown)
    if len(step.received) > MAX_MESSAGES:
        parts.append(f"<div class='sep'>{len(step.received) - MAX_MESSAGES:,} more messages not shown</div>")
    if status_shown(step) and step.status_after:
        parts.append(f"<div class='sep'>status: {escape(step.status_after)}</div>")
    if step.outcome is Outcome.PASSED and step.role is Role.CHECK:
        parts.append(f"<div class='check'>✓ {escape(step.title)}</div>")
    elif step.outcome is Outcome.SKIPPED:
        parts.append(f"<div class='check skipped'>○ {escape(step.title)}</div>")
    if step.failure is not None:
        parts.append(_failure_html(step, known=known))
    return parts


def _lead_html(step: StepRecord) -> list[str]:
    """What comes before the messages a step received: what the caller sent, or the call made."""
    latency = f" · {format_duration(step.duration)}"
    match step.role:
        case Role.SEND:
            why = f" · {step.note}" if step.note else ""  # the caller's rule that answered, a refusal
            return [_bubble("user", step.kind + latency + why, step.sent)] if step.sent is not None else []
        case Role.CALL if step.failure is None:
            return [f"<div class='sep'>{escape(step.title)}</div>"]
        case Role.LIFECYCLE if step.failure is None:
            return [f"<div class='sep'>{escape(step.title)}{latency}</div>"]
        case Role.CALL | Role.LIFECYCLE | Role.CHECK:
            return []
        case unknown:
            unknown_role(unknown)


def _bubble(side: str, label: str, text: str) -> str:
    return (
        f"<div class='row {side}'><span class='who'>{escape(label)}</span>"
        f"<div class='bubble'>{escape(text)}</div></div>"
    )


def _message_html(line: str, raw: Mapping[str, Any]) -> str:
    """A bot message as a chat shows it: a bubble, a card, buttons as chips, a typing indicator."""
    kind, text, title = raw.get("type"), raw.get("text"), raw.get("title")
    if kind == "typing":
        inner = "<div class='bubble typing' title='typing'>•••</div>"
    elif isinstance(title, str):
        subtitle = raw.get("subtitle")
        sub = f"<div class='sub'>{escape(subtitle)}</div>" if isinstance(subtitle, str) else ""
        body = f"<div>{escape(text)}</div>" if isinstance(text, str) else ""
        inner = f"<div class='bubble card'><b>{escape(title)}</b>{sub}{body}</div>"
    elif isinstance(text, str):
        inner = f"<div class='bubble'>{escape(text)}</div>"
    else:
        inner = f"<div class='bubble other'>{escape(line)}</div>"
    labels = button_labels(raw)
    chips = "".join(f"<span class='chip'>{escape(label)}</span>" for label in labels)
    buttons = f"<div class='chips'>{chips}</div>" if labels else ""
    label = "bot" if kind in (None, "text") else f"bot · {kind}"
    return f"<div class='row bot'><span class='who'>{escape(label)}</span>{inner}{buttons}</div>"


def _failure_html(step: StepRecord, anchor: bool = True, known: str | None = None) -> str:
    """The failed step's box; ``known``: a heading saying why this failure was expected."""
    failure = step.failure
    if failure is None:
        return ""
    where = f"{step.location} " if step.location else ""
    if step.included_from is not None:
        where += f"(included at {step.included_from}) "
    if step.location and f"{step.location.path}:{step.location.line})" in failure.message:
        where = ""  # the message leads with "step 3 (file:6)" already
    marker = " id='failed-step'" if anchor else ""
    heading = (
        f"<div class='fail known'{marker}><b>⚠ {escape(known)}: "
        if known
        else f"<div class='fail'{marker}><b>✗ "
    )
    parts = [
        f"{heading}{escape(step.title)}</b>",
        f"<div>{escape(where)}{escape(failure.message)}</div>",
    ]
    if failure.expected is not None or failure.actual is not None:
        expected, actual = escape(failure.expected or ""), escape(failure.actual or "")
        parts.append(
            f"<div class='diff'><section><div>expected</div><pre class='expected'>{expected}</pre></section>"
            f"<section><div>actual</div><pre class='actual'>{actual}</pre></section></div>"
        )
    parts.append("</div>")
    return "".join(parts)
