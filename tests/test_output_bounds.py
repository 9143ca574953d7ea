"""What a failure shows stays readable whatever the bot sends, and names what the designer wrote:
bounded by count (100,000 messages), the example row's file:line, an optional group set to nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

from flowtest.sandbox import DEFAULT_API_KEY
from flowtest.sandbox.server import RunningSandbox
from tests.conftest import failure_sections, run_pytest
from tests.faultserver import FaultServer, Reply, fault_server, turn

FLOOD = 100_000


def _flooded(folder: Path, server: FaultServer) -> subprocess.CompletedProcess[str]:
    for index in range(3):
        (folder / f"f{index}.scenario.yaml").write_text(
            f"name: flood {index}\nflow: echo\nconversation:\n  - bot: Hello\n  - user: hi\n  - bot: never\n"
        )
    return run_pytest(
        folder,
        f"--flowtest-base-url={server.url}",
        f"--junitxml={folder / 'junit.xml'}",
        "-p",
        "no:allure_pytest",
        env={"FLOWTEST_API_KEY": "k" * 12},
        timeout=300,
    )


def test_an_answer_of_100000_messages_gives_a_bounded_failure_text_and_junit(tmp_path: Path) -> None:
    messages = [{"type": "text", "text": f"line {n} " + "x" * 100} for n in range(FLOOD)]  # 13 MB
    with fault_server(FaultServer(send=Reply(body=lambda sid, body: turn(sid, messages=messages)))) as server:
        done = _flooded(tmp_path, server)
        assert server.open_sessions == []
    assert "3 failed" in done.stdout
    assert len(done.stdout) < 300_000, len(done.stdout)  # 33 MB before
    assert (tmp_path / "junit.xml").stat().st_size < 300_000
    text = failure_sections(done.stdout)["flood 0"]
    assert f"[... {FLOOD - 20:,} more messages not shown]" in text
    assert text.splitlines()[1] == "step 3 (f0.scenario.yaml:6): bot message 1 of the turn does not match"


def test_a_failure_names_the_example_row_it_ran_with(tmp_path: Path, sandbox: RunningSandbox) -> None:
    (tmp_path / "numbers.csv").write_text("id,number\nshort,BA117\nlong,BA9999\n")
    (tmp_path / "rows.scenario.yaml").write_text(
        "name: rows\nflow: flight-status\nexamples: numbers.csv\nconversation:\n"
        "  - bot: {contains: help}\n  - user: flight\n  - bot: {contains: number}\n  - user: ${number}\n"
        "  - bot: {contains: BA117}\n"
    )
    done = run_pytest(
        tmp_path,
        f"--flowtest-base-url={sandbox.url}",
        "-p",
        "no:allure_pytest",
        env={"FLOWTEST_API_KEY": DEFAULT_API_KEY},
    )
    assert "1 failed, 1 passed" in done.stdout, done.stdout
    assert failure_sections(done.stdout)["rows[long]"].splitlines()[0] == (
        'Scenario "rows[long]" failed at rows.scenario.yaml:9:5, with the example row at numbers.csv:3'
    )


def test_an_optional_group_that_took_no_part_is_set_to_nothing(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    (tmp_path / "group.scenario.yaml").write_text(
        "name: group\nflow: flight-status\nconversation:\n"
        '  - bot: {regex: "(?P<greeting>Hi)? there(?P<promo>, promo)?"}\n'
        "  - user: ${promo}\n"
    )
    done = run_pytest(
        tmp_path,
        f"--flowtest-base-url={sandbox.url}",
        "-p",
        "no:allure_pytest",
        env={"FLOWTEST_API_KEY": DEFAULT_API_KEY},
    )
    assert failure_sections(done.stdout)["group"].splitlines()[1] == (
        "step 2 (group.scenario.yaml:5): ${promo} is set to nothing: the group (?P<promo>...) of the regex "
        "at step 1 (group.scenario.yaml:4) took no part in the match"
    )


def test_the_html_transcript_draws_at_most_a_hundred_messages_a_step() -> None:
    from flowtest.errors import Location
    from flowtest.reporting.transcript import transcript_html
    from flowtest.trace import Outcome, StepRecord, Trace

    lines = tuple(f"line {n}" for n in range(1000))
    raw = tuple({"type": "text", "text": line} for line in lines)
    step = StepRecord(
        "start", "Start Session: f", None, None, 0.0, 0.0, None, "awaiting_input", Outcome.PASSED
    )
    step = StepRecord(**{**{f: getattr(step, f) for f in step.__slots__}, "received": lines, "messages": raw})
    html = transcript_html(Trace("c", "f", "demo", Location("x", 1, 1), (step,), "s"))
    assert html.count("class='bubble'") == 100 and "900 more messages not shown" in html
