"""flowtest import botium: data-driven convos, partials, drawn tables and files that are not convos."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowtest.authoring.botium import Imported, remove, write
from flowtest.authoring.botium.convert import Written
from flowtest.authoring.botium.script import Script, read_file
from flowtest.errors import SourceError
from tests.conftest import run_pytest
from tests.test_authoring import project, run

DELAYED = """\
Flight delay
The caller's flight number comes from the table.

#me
status of $typed

#bot
Flight $stored is delayed by $mins minutes.

#include greet
"""
GREET = "greet\n\n#me\nbye\n\n#bot\nBye $customer, have a good flight\n"
TABLE = """\
|header |$typed |$stored |$mins |$customer |
|case1  |ba117  |BA117   |20    |Ada        |
|case2  |lh400  |LH400   |5     |Grace      |
"""


def _import(root: Path, files: dict[str, str]) -> tuple[int, str, str]:
    src = root / "botium"
    src.mkdir()
    for name, text in files.items():
        (src / name).write_text(text)
    args = ("import", "botium", "botium", "--out", "scenarios/imported", "--flow", "flight-status")
    done = run(*args, cwd=root)
    return done.returncode, done.stdout, done.stderr


def test_table_values_in_bot_texts_and_partials_are_templates_and_a_drawn_table_reads(
    tmp_path: Path,
) -> None:
    root = project(tmp_path)
    code, _, stderr = _import(
        root, {"delay.convo.txt": DELAYED, "greet.pconvo.txt": GREET, "flights.scriptingmemory.txt": TABLE}
    )
    assert (code, stderr) == (0, "")
    out = root / "scenarios" / "imported"
    assert (out / "flights.csv").read_text() == (
        "id,typed,stored,mins,customer\ncase1,ba117,BA117,20,Ada\ncase2,lh400,LH400,5,Grace\n"
    )
    scenario = (out / "delay.scenario.yaml").read_text()
    assert "examples: flights.csv\n" in scenario
    delayed = "{contains: 'Flight ${stored} is delayed by ${mins} minutes.', ignore_case: true}"
    assert f"  - bot: {delayed}\n" in scenario
    partial = (out / "greet.partial.yaml").read_text()
    assert "  - bot: {contains: 'Bye ${customer}, have a good flight', ignore_case: true}\n" in partial
    assert run("validate", cwd=root).returncode == 0


def test_a_header_with_an_unnamed_column_is_one_located_error(tmp_path: Path) -> None:
    root = project(tmp_path)
    table = "|$typed |$stored |\ncase1|ba117|BA117|\n"
    code, _, stderr = _import(root, {"delay.convo.txt": DELAYED, "flights.scriptingmemory.txt": table})
    assert code == 1
    assert stderr.splitlines() == [
        "botium/flights.scriptingmemory.txt:1:18: "
        "scripting memory: column 4 of the header is empty: it names a variable",
        # The convo's own mistake, found too: it includes a partial convo the suite lacks.
        "botium/delay.convo.txt:10:1: #include greet: no partial convo of that name in the suite: left out",
        "flowtest: 2 problem(s) in the Botium files (above)",
    ]


def test_a_variable_named_id_is_a_located_error_not_output_that_fails_validation(tmp_path: Path) -> None:
    root = project(tmp_path)
    files = {"t.convo.txt": "T\n\n#me\nhi $id $c\n", "t.scriptingmemory.txt": "|$id|$c\none|1|2\n"}
    code, _, stderr = _import(root, files)
    assert code == 1
    assert stderr.splitlines() == [
        "botium/t.scriptingmemory.txt:1:1: scripting memory: a variable named $id would be the test case "
        "column of the flowtest table: rename it (and its uses)",
        "flowtest: 1 problem(s) in the Botium files (above)",
    ]
    assert run("validate", cwd=root).returncode == 0


def test_what_an_import_wrote_can_be_removed_whole(tmp_path: Path) -> None:
    """The command removes its output when it does not validate: no file, no folder it made."""
    (tmp_path / "out").mkdir()
    imported = Imported(
        files=[
            Written(tmp_path / "out" / "a" / "b" / "x.scenario.yaml", "x"),
            Written(tmp_path / "out" / "y", "y"),
        ]
    )
    created = write(imported)
    assert (tmp_path / "out" / "a" / "b" / "x.scenario.yaml").is_file()
    remove(imported, created)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_convo_file_without_sections_is_an_error_not_an_empty_scenario(tmp_path: Path) -> None:
    path = tmp_path / "notes.convo.txt"
    path.write_text("just text\nno sections\n")
    with pytest.raises(SourceError) as raised:
        read_file(path, "notes.convo.txt", Script())
    assert str(raised.value) == (
        "notes.convo.txt:1:1: no #me, #bot, #include, #begin or #end section: "
        "not a Botium convo (nothing imported)"
    )


def test_a_bot_section_of_asserters_without_equivalent_takes_any_message_even_without_text(
    tmp_path: Path,
) -> None:
    root = project(tmp_path)
    # The support flow greets after a typing indicator, which Botium never sees: TEXT_WER
    # takes the greeting, and the answer to "the weather" offers two of the topics again.
    convo = "Greeting\n\n#bot\nTEXT_WER\n\n#me\nthe weather\n\n#bot\nBUTTONS Technical support|Billing\n"
    code, _, stderr = _import(root, {"greeting.convo.txt": convo})
    assert (code, stderr) == (0, "")
    scenario = root / "scenarios" / "imported" / "greeting.scenario.yaml"
    text = scenario.read_text().replace("flow: flight-status", "flow: support")
    scenario.write_text(text)
    assert "  - message: {$.type: {exists: true}}\n" in text
    tests = run_pytest(root, "-v", env={"FLOWTEST_BASE_URL": ""})
    assert "Greeting PASSED" in tests.stdout, tests.stdout


def test_buttons_count_counts_a_message_without_buttons_as_none(tmp_path: Path) -> None:
    # Imported as $.buttons: {length: 0}, it failed on every plain text: "$.buttons: nothing".
    root = project(tmp_path)
    convo = "No buttons\n\n#bot\nBUTTONS_COUNT 3\n\n#me\nbilling\n\n#bot\nBUTTONS_COUNT 0\n"
    code, _, stderr = _import(root, {"count.convo.txt": convo})
    assert (code, stderr) == (0, "")
    scenario = root / "scenarios" / "imported" / "count.scenario.yaml"
    text = scenario.read_text().replace("flow: flight-status", "flow: support")
    scenario.write_text(text)
    assert "'$.buttons[*]': {length: 3}" in text and "'$.buttons[*]': {length: 0}" in text
    tests = run_pytest(root, "-v", env={"FLOWTEST_BASE_URL": ""})
    assert "No buttons PASSED" in tests.stdout, tests.stdout
