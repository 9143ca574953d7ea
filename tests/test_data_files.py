"""Utterance lists and data tables: read from files beside the scenarios, run against the sandbox."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from flowtest.errors import SourceError
from flowtest.scenario.tables import read_table
from flowtest.scenario.utterances import read_lists
from tests.conftest import FLOWS, run_pytest
from tests.test_authoring import run

GREETING = "  - bot: {contains: how can I help}\n"
LISTS = """\
ASK_STATUS:
  - flight status please
  - what is my flight status
  - is my flight on time
DECLINE: [no thanks, nope]
"""


def suite(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(f'[tool.flowtest]\nsandbox_flows = "{FLOWS}"\n')
    folder = tmp_path / "scenarios" / "flights"
    (folder / "nested").mkdir(parents=True)
    (folder / "phrases.utterances.yaml").write_text(LISTS)
    return folder


def scenario(name: str, head: str, *steps: str) -> str:
    return f"name: {name}\nflow: flight-status\n{head}conversation:\n" + GREETING + "".join(steps)


ASK_AND_DECLINE = (
    "  - user: {utterance: ASK_STATUS}\n",
    '  - bot: {regex: "(?i)flight number"}\n',
    "  - user: ${typed}\n",
    "  - bot: Flight ${stored} is delayed by 40 minutes. Would you like to talk to an agent?\n",
    "  - user: {utterance: DECLINE}\n",
    "  - bot: Goodbye.\n",
)


def test_tables_and_lists_from_parent_folders_make_one_test_each(tmp_path: Path) -> None:
    folder = suite(tmp_path)
    (folder / "numbers.csv").write_text("id,typed,stored\nlower,ba 117,BA117\nclean,LH400,LH400\n")
    (folder / "numbers.json").write_text('[{"typed": "ba 117", "stored": "BA117"}]')
    (folder / "nested" / "csv.scenario.yaml").write_text(
        scenario("csv", "examples: ../numbers.csv\nutterances: first\n", *ASK_AND_DECLINE)
    )
    (folder / "nested" / "json.scenario.yaml").write_text(
        scenario("json", "examples: ../numbers.json\n", *ASK_AND_DECLINE)
    )
    done = run_pytest(tmp_path, "-v", env={"FLOWTEST_BASE_URL": ""})
    assert done.returncode == 0, done.stdout
    passed = sorted(re.findall(r"::(\S+) PASSED", done.stdout))
    assert passed == [
        "csv[clean]",
        "csv[lower]",
        *(f"json[0-ASK_STATUS-{a}-DECLINE-{d}]" for a in (1, 2, 3) for d in (1, 2)),
    ]


def test_bot_utterance_matches_any_phrase_and_names_the_list_when_none_does(tmp_path: Path) -> None:
    folder = suite(tmp_path)
    (folder / "replies.utterances.yaml").write_text("BYE: [Goodbye., See you.]\nWRONG: [Farewell, Ciao]\n")
    steps = [
        "  - user: flight status please\n",
        '  - bot: {regex: "(?i)flight number"}\n',
        "  - user: BA117\n",
        "  - bot: {contains: delayed}\n",
        "  - user: no thanks\n",
    ]
    (folder / "bye.scenario.yaml").write_text(
        scenario("bye", "", *steps, "  - bot: {utterance: BYE}\n")
        + "---\n"
        + scenario("wrong", "", *steps, "  - bot: {utterance: WRONG}\n")
    )
    done = run_pytest(tmp_path, "-v", env={"FLOWTEST_BASE_URL": ""})
    assert "bye PASSED" in done.stdout
    assert "wrong FAILED" in done.stdout
    assert 'expected: a phrase of WRONG (any of: "Farewell" | "Ciao")' in done.stdout
    assert 'actual: "Goodbye."' in done.stdout


def test_random_picks_from_a_printed_seed_that_replays(tmp_path: Path) -> None:
    folder = suite(tmp_path)
    phrases = "PHRASE:\n" + "".join(f"  - flight status please{'!' * n}\n" for n in range(20))
    (folder / "many.utterances.yaml").write_text(phrases)
    (folder / "random.scenario.yaml").write_text(
        scenario("random", "utterances: random\n", "  - user: {utterance: PHRASE}\n", "  - bot: x\n")
    )

    def sent(*args: str) -> tuple[str, str]:
        done = run_pytest(tmp_path, *args, env={"FLOWTEST_BASE_URL": ""})
        seed = re.search(
            r"flowtest: utterances: random, seed (\d+) \(replay with --flowtest-seed \1\)", done.stdout
        )
        text = re.search(r"user +(flight status please!*) ", done.stdout)
        assert seed is not None and text is not None, done.stdout
        return seed.group(1), text.group(1)

    seed, first = sent("--alluredir", str(tmp_path / "allure"))
    assert sent("--flowtest-seed", seed) == (seed, first)
    properties = (tmp_path / "allure" / "environment.properties").read_text().splitlines()
    assert f"utterance seed={seed}" in properties
    (result,) = [json.loads(p.read_text()) for p in (tmp_path / "allure").glob("*-result.json")]
    assert {"name": "utterance PHRASE", "value": first, "excluded": True} in result["parameters"]
    picks = {sent("--flowtest-seed", str(other))[1] for other in range(5)}
    assert len(picks) > 1  # five seeds over twenty phrases: not all the same pick


def test_mistakes_in_tables_and_lists_break_only_the_scenarios_using_them(tmp_path: Path) -> None:
    folder = suite(tmp_path)
    (folder / "bad.csv").write_text("id,typed,stored\nok,a,A\nshort,b\n")
    (folder / "nested" / "dup.utterances.yaml").write_text(
        "DECLINE: [nah]\nBIG: ["
        + ", ".join(f"p{i}" for i in range(9))
        + "]\nBIG2: ["
        + ", ".join(f"q{i}" for i in range(8))
        + "]\n"
    )
    (folder / "nested" / "broken.scenario.yaml").write_text(
        scenario("table", "examples: ../bad.csv\n")
        + "---\n"
        + scenario("typo", "", "  - user: {utterance: ASK_STATUSS}\n")
        + "---\n"
        + scenario("twice", "", "  - user: {utterance: DECLINE}\n")
        + "---\n"
        + scenario("cap", "", "  - user: {utterance: BIG}\n  - user: {utterance: BIG2}\n")
        + "---\n"
        + scenario("fine", "", "  - user: {utterance: ASK_STATUS}\n", '  - bot: {regex: "(?i)number"}\n')
    )
    done = run_pytest(tmp_path, "-q", env={"FLOWTEST_BASE_URL": ""})
    assert "4 failed, 3 passed" in done.stdout
    expected = [
        "scenarios/flights/bad.csv:3:1: this row has 2 value(s), the header has 3",
        "scenarios/flights/nested/broken.scenario.yaml:11:23: step 2, user.utterance: no utterance "
        "list 'ASK_STATUSS' in the *.utterances.yaml files of this folder or the folders above it, "
        "did you mean 'ASK_STATUS'?",
        "scenarios/flights/nested/dup.utterances.yaml:1:1: utterance list 'DECLINE' is already defined at "
        "scenarios/flights/phrases.utterances.yaml:5:1; a name is defined once in a folder and the folders "
        "above it",
        "scenarios/flights/nested/broken.scenario.yaml:23:11: step 2, user: utterances: all makes "
        "72 tests (BIG: 9 phrases, BIG2: 8 phrases), more than 64; "
        "use utterances: first or utterances: random",
    ]
    for line in expected:
        assert line in done.stdout.splitlines(), done.stdout
    validated = run("validate", cwd=tmp_path)
    assert sorted(validated.stdout.splitlines()) == sorted(
        re.sub(r"^(\S+?:\d+:\d+): ", r"\1: error: ", line) for line in expected
    )


# -- tables on their own --------------------------------------------------------------


def table(tmp_path: Path, name: str, text: str) -> list[dict[str, object]]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return [dict(row) for row in read_table(path, name)]


def test_csv_header_names_the_keys_whatever_the_separator(tmp_path: Path) -> None:
    assert table(tmp_path, "a.csv", '\ufeffid;text\nx;"a; b"\n\ny;c\n') == [
        {"id": "x", "text": "a; b"},
        {"id": "y", "text": "c"},
    ]
    assert table(tmp_path, "b.csv", "id\ttext\n1\t2\n") == [{"id": "1", "text": "2"}]
    assert table(tmp_path, "c.yaml", "- {id: 1, n: 2}\n- {id: 2, n: [3]}\n") == [
        {"id": 1, "n": 2},
        {"id": 2, "n": [3]},
    ]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "a.csv",
            'id,text\nx,"multi\nline"\ny,z,extra\n',
            "a.csv:4:1: this row has 3 value(s), the header has 2",
        ),
        ("b.csv", "id,,text\n", "b.csv:1:1: column 2 of the header has no name"),
        ("c.csv", "id,text,id\n", "c.csv:1:1: the header names column 'id' twice"),
        ("d.csv", "id,text\n", "d.csv:1:1: the table has no rows"),
        ("e.csv", "id,text\nx,1\nx,2\n", "e.csv:3:1: id 'x' is already used by the row at line 2"),
        ("f.yaml", "a: 1\n", "f.yaml:1:1: a table file holds one list of rows (mappings of name: value)"),
        ("g.json", '[{"a": 1}, 2]', "g.json:1:12: row 2 is not a mapping of name: value"),
        (
            "h.json",
            '[{"a": 1]',
            "h.json:1:9: invalid YAML: did not find expected ',' or '}' "
            "(while parsing a flow mapping opened at line 1)",
        ),
    ],
)
def test_a_bad_table_is_one_line_at_the_row_at_fault(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    with pytest.raises(SourceError) as caught:
        table(tmp_path, name, text)
    assert str(caught.value) == message


def test_record_writes_utterance_steps_when_asked(tmp_path: Path) -> None:
    folder = suite(tmp_path)
    done = run(
        "record",
        "--flow",
        "flight-status",
        "--utterances",
        "--out",
        "scenarios/flights/nested/recorded.scenario.yaml",
        cwd=tmp_path,
        stdin="/utterance NOPE\n/utterance ASK_STATUS\nba 117\nnope\n",
    )
    assert done.returncode == 0, done.stderr
    assert "no utterance list 'NOPE'; lists: ASK_STATUS, DECLINE" in done.stdout
    text = (folder / "nested" / "recorded.scenario.yaml").read_text()
    assert "- user:\n    utterance: ASK_STATUS\n" in text
    assert "- user:\n    utterance: DECLINE\n" in text  # typed, and a phrase of DECLINE
    assert "- user: ba 117\n" in text
    tests = run_pytest(tmp_path, env={"FLOWTEST_BASE_URL": ""})
    assert "6 passed" in tests.stdout, tests.stdout  # 3 phrases x 2 phrases


def test_a_broken_list_file_fails_each_scenario_using_lists_once_and_hides_no_duplicate(
    tmp_path: Path,
) -> None:
    folder = suite(tmp_path)
    (folder / "phrases.utterances.yaml").write_text(LISTS + "CONFIRM: [yes]\nBAD NAME: [x]\n")
    (folder / "nested" / "more.utterances.yaml").write_text("DECLINE: [nah]\n")
    (folder / "nested" / "x.scenario.yaml").write_text(
        scenario("duplicate", "strict: false\n", "  - user: {utterance: DECLINE}\n")
        + "---\n"
        + scenario("two lists", "", "  - user: {utterance: ASK_STATUS}\n  - user: {utterance: CONFIRM}\n")
        + "---\n"
        + scenario("no lists", "")
    )
    done = run_pytest(tmp_path, "-q", env={"FLOWTEST_BASE_URL": ""})
    assert "2 failed, 1 passed" in done.stdout, done.stdout
    error = (
        "scenarios/flights/phrases.utterances.yaml:7:1: "
        "'BAD NAME' is not a list name (letters, digits, _ . -)"
    )
    assert done.stdout.splitlines().count(error) == 2, done.stdout  # once for each failed scenario
    assert run("validate", cwd=tmp_path).stdout.splitlines() == [error.replace(":7:1: ", ":7:1: error: ")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("B: []\n", "a.utterances.yaml:1:4: B: the list is empty: give it at least one phrase"),
        ("B: hello\n", "a.utterances.yaml:1:4: B: expected a list of phrases"),
    ],
)
def test_an_empty_list_is_not_called_a_missing_one(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "a.utterances.yaml"
    path.write_text(text)
    with pytest.raises(SourceError) as raised:
        read_lists(path, "a.utterances.yaml")
    assert str(raised.value) == message
