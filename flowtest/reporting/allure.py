"""Allure results from the trace: labels, one step per conversation step, attachments, retries.

Used only when allure-pytest is installed and writing results. Steps are built from
the trace with their recorded timings (the conversation may have run before the
pytest item, see concurrency), through allure-commons' own model and hooks.
"""

from __future__ import annotations

import json
import platform
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import allure
import orjson
import pytest
from allure_commons import plugin_manager
from allure_commons.model2 import Attachment, Parameter, StatusDetails, TestResult, TestStepResult
from allure_pytest.utils import allure_full_name, get_history_id

from flowtest import __version__
from flowtest.client import Exchange
from flowtest.redact import Redactor
from flowtest.reporting.transcript import transcript_html
from flowtest.reporting.writer import BackgroundWriter
from flowtest.scenario.model import Case
from flowtest.trace import Category, Outcome, Result, StepRecord, Trace

_NO_SECRETS = Redactor()
_STATUS = {
    Outcome.PASSED: "passed",
    Outcome.FAILED: "failed",
    Outcome.BROKEN: "broken",
    Outcome.SKIPPED: "skipped",
}

CATEGORIES = [
    {
        "name": category.value[0].upper() + category.value[1:],
        "messageRegex": f"(?s).*\\[{category.value}\\].*",
        "matchedStatuses": ["failed", "broken"],
    }
    for category in Category
    if category is not Category.INTERRUPTED
]


class AllureScenarioReporter:
    """Writes one scenario's Allure data into the test result allure-pytest keeps open."""

    def __init__(self, config: pytest.Config) -> None:
        self.listener: Any = config.pluginmanager.get_plugin("allure_listener")
        self.writer = BackgroundWriter(_report_attached_data)

    @property
    def active(self) -> bool:
        return self.listener is not None

    def _current(self) -> TestResult | None:
        result: TestResult | None = self.listener.allure_logger.get_test(None)
        return result

    def report(self, item: pytest.Item, case: Case, result: Result, redactor: Redactor = _NO_SECRETS) -> None:
        test = self._current()
        if test is None:
            return
        self._describe(item, case)
        for key, value in redactor.value(dict(case.row)).items():  # a secret column is masked
            text = value if isinstance(value, str) else json.dumps(value)
            test.parameters.append(Parameter(name=str(key), value=text))  # as written, unquoted
        random_pick = case.scenario.utterance_mode == "random"
        for name, phrase in case.phrases.items():
            # A random pick changes from run to run: shown, but kept out of the test's history id.
            test.parameters.append(Parameter(name=f"utterance {name}", value=phrase, excluded=random_pick))
        final = result.final
        test.steps.extend(_steps(final, self._attach))
        allure.attach(transcript_html(final), name="transcript", attachment_type=allure.attachment_type.HTML)
        test.attachments.extend(_exchanges(final, self._attach))
        history_id = get_history_id(allure_full_name(item), test.parameters, {})
        for earlier in result.attempts[:-1]:
            plugin_manager.hook.report_result(result=_attempt_result(test, earlier, history_id, self._attach))

    def _attach(self, name: str, data: Any) -> Attachment:
        """A JSON attachment, written by the background writer (see ``flush``)."""
        file_name = f"{uuid.uuid4()}-attachment.json"
        self.writer.submit(_json_bytes(data), file_name)
        return Attachment(name=name, source=file_name, type="application/json")

    def flush(self) -> None:
        """Wait for every attachment handed to the writer; before the results are read."""
        self.writer.close()

    def mark_flaky(self, result: Result) -> None:
        test = self._current()
        if test is not None and result.flaky:
            message = f"flaky: passed on attempt {len(result.attempts)}"
            test.statusDetails = StatusDetails(flaky=True, message=message)

    def _describe(self, item: pytest.Item, case: Case) -> None:
        allure.dynamic.title(case.scenario.name)


def static_marks(case: Case) -> list[pytest.MarkDecorator]:
    """Labels, suites, links and description as allure-pytest marks, set at collection.

    As marks they reach the result even when the test never runs (skip).
    """
    scenario = case.scenario
    path = Path(scenario.path)
    marks = [allure.parent_suite(path.parent.name or "."), allure.suite(path.name.split(".")[0])]
    marks.extend(allure.label(name, value) for name, value in scenario.labels.items())
    marks.extend(
        allure.link(link.url, link_type=link.type, name=link.name or link.url) for link in scenario.links
    )
    if scenario.description:
        marks.append(allure.description(scenario.description))
    return marks


Attach = Callable[[str, Any], Attachment]


def _attempt_result(final: TestResult, trace: Trace, history_id: str, attach: Attach) -> TestResult:
    """An earlier failed attempt, written as its own result: Allure shows it as a retry."""
    failed = trace.failed_step
    message = failed.failure.message if failed is not None and failed.failure is not None else None
    start = int(trace.steps[0].started_at * 1000) if trace.steps else None
    stop = int((trace.steps[-1].started_at + trace.steps[-1].duration) * 1000) if trace.steps else None
    return TestResult(
        name=final.name,
        fullName=final.fullName,
        uuid=str(uuid.uuid4()),
        historyId=history_id,
        testCaseId=final.testCaseId,
        status=_STATUS[trace.outcome],
        statusDetails=StatusDetails(message=message),
        steps=list(_steps(trace, attach)),
        attachments=_exchanges(trace, attach),
        parameters=[Parameter(name=p.name, value=p.value) for p in final.parameters],
        labels=list(final.labels),
        start=start,
        stop=stop,
    )


def _steps(trace: Trace, attach: Attach) -> Iterator[TestStepResult]:
    for record in trace.steps:
        yield _step(record, attach)


def _step(record: StepRecord, attach: Attach) -> TestStepResult:
    details = None
    if record.failure is not None:
        parts = [f"[{record.failure.category.value}] {record.failure.message}"]
        if record.failure.expected is not None:
            parts.append(f"expected: {record.failure.expected}")
        if record.failure.actual is not None:
            parts.append(f"actual: {record.failure.actual}")
        details = StatusDetails(message="\n".join(parts))
    return TestStepResult(
        name=record.title,
        status=_STATUS[record.outcome],
        statusDetails=details,
        start=int(record.started_at * 1000),
        stop=int((record.started_at + record.duration) * 1000),
        attachments=_failed_step_exchanges(record, attach),
    )


def _exchanges(trace: Trace, attach: Attach) -> list[Attachment]:
    """Every API call of the conversation, in order, in one attachment.

    One file per conversation rather than two per call: creating files is what the
    results cost (16 per five-turn conversation made a run with Allure 2-4x slower).
    """
    calls = [
        {"step": record.title, "request": request, "response": response}
        for record in trace.steps
        for request, response in map(_exchange, record.exchanges)
    ]
    return [attach("exchanges", calls)] if calls else []


def _failed_step_exchanges(record: StepRecord, attach: Attach) -> list[Attachment]:
    """The failing step's own calls, beside its failure, where a designer looks first."""
    if record.failure is None:
        return []
    attachments = []
    for exchange in record.exchanges:
        request, response = _exchange(exchange)
        short = exchange.url.split("/cgw/process/v1", 1)[-1]
        attachments.append(attach(f"{exchange.method} {short} request", request))
        attachments.append(attach(f"{exchange.status or 'no answer'} response", response))
    return attachments


def _exchange(exchange: Exchange) -> tuple[dict[str, Any], dict[str, Any]]:
    request = {
        "method": exchange.method,
        "url": exchange.url,
        "headers": dict(exchange.request_headers),
        "body": exchange.request_json,
    }
    response = {
        "status": exchange.status,
        "duration_ms": round(exchange.duration * 1000, 1),
        "body": exchange.response_json,
        "error": exchange.error,
    }
    return request, response


def _json_bytes(data: Any) -> bytes:
    """Indented UTF-8 JSON; orjson is several times faster than json and this runs per exchange."""
    try:
        return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str)
    except (orjson.JSONEncodeError, TypeError):  # an integer beyond 64 bits, say
        return json.dumps(data, indent=2, ensure_ascii=False, default=str).encode()


def _report_attached_data(body: bytes, file_name: str) -> None:
    plugin_manager.hook.report_attached_data(body=body, file_name=file_name)


def write_run_files(results_dir: Path, properties: dict[str, str]) -> None:
    """environment.properties and categories.json beside the results."""
    results_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"{key}={value}" for key, value in properties.items()]
    (results_dir / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (results_dir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2), encoding="utf-8")


def environment_properties(base_url: str | None, org: str, sandbox: bool) -> dict[str, str]:
    return {
        "flowtest": __version__,
        "python": platform.python_version(),
        "target": "sandbox" if sandbox else "live",
        "base_url": base_url or "embedded sandbox",
        "org": org,
    }
