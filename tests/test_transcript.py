"""The HTML transcript, checked structurally: messages, the failing step, escaping."""

from __future__ import annotations

from dataclasses import replace
from html.parser import HTMLParser

from flowtest.errors import Location
from flowtest.reporting.transcript import transcript_html
from flowtest.trace import Category, Failure, Outcome, StepRecord, Trace


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.ids.extend(value or "" for name, value in attrs if name == "id")
        self.urls.extend(value or "" for name, value in attrs if name in ("src", "href"))

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


def _step(kind: str, title: str, **changes: object) -> StepRecord:
    base = StepRecord(kind, title, None, None, 0.0, 0.01, "awaiting_input", "awaiting_input", Outcome.PASSED)
    return replace(base, **changes)  # type: ignore[arg-type]


def _trace() -> Trace:
    failure = Failure(Category.CONVERSATION, "step 3: bot message 1 does not match", '"Bye"', '"Hello"')
    steps = (
        _step("start", "Start Session: f", status_before=None, received=("Hi <script>alert(1)</script>",)),
        _step("user", "user: hello & bye", sent="hello & bye", received=("Hello",)),
        _step(
            "bot",
            'bot: "Bye"',
            outcome=Outcome.FAILED,
            failure=failure,
            location=Location("x.scenario.yaml", 7, 5),
            where="step 3",
        ),
        _step("teardown", "End Session", status_after="terminated"),
    )
    return Trace("Case", "f", "demo", Location("x.scenario.yaml", 1, 1), steps, "ses_1")


def test_every_message_is_present_in_order() -> None:
    parser = _Collect()
    parser.feed(transcript_html(_trace()))
    texts = [t for t in parser.texts if t.strip()]
    order = [texts.index("Hi <script>alert(1)</script>"), texts.index("hello & bye"), texts.index("Hello")]
    assert order == sorted(order)


def test_the_failing_step_is_marked_with_expected_and_actual() -> None:
    html = transcript_html(_trace())
    parser = _Collect()
    parser.feed(html)
    assert parser.ids == ["failed-step"]
    assert "<pre class='expected'>&quot;Bye&quot;</pre>" in html
    assert "<pre class='actual'>&quot;Hello&quot;</pre>" in html
    assert "x.scenario.yaml:7:5" in html


def test_bot_text_is_escaped_and_the_page_is_self_contained() -> None:
    html = transcript_html(_trace())
    parser = _Collect()
    parser.feed(html)
    assert "script" not in parser.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert parser.urls == []
    assert "link" not in parser.tags
