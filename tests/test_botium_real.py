"""flowtest import botium on real Botium material (tests/fixtures/botium: botium-core's and
botium-bindings' samples and test convos), per suite and as a whole tree, run unedited
against sandbox flows that answer as their bots did (tests/fixtures/botium-flows)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_pytest
from tests.test_authoring import project, run
from tests.test_botium_import_edges import _import

REAL = ROOT / "tests" / "fixtures" / "botium"
BROKEN = ROOT / "tests" / "fixtures" / "botium-broken"
FLOWS = ROOT / "tests" / "fixtures" / "botium-flows"
LOGICHOOKS = "test/scripting/logichooks/convos"

# Each Botium project (a folder with its botium.json), and the flows its bots are in the sandbox.
SUITES: dict[str, tuple[str, ...]] = {
    "botium-core/samples/connectors/custom": ("myapi",),
    "botium-core/samples/extensions/asserterHooks": ("car-dashboard",),
    "botium-core/samples/extensions/logichooks": ("echo",),
    "botium-core/samples/scripting/convofiles": ("car-dashboard",),
    "botium-bindings/samples/hello": ("echo",),
    "botium-core/test/convo": ("login",),
    "botium-core/test/scripting/logichooks": (
        "mirror",
        "convos/conditional_steps_time_based.convo.txt=opening-hours",
        "convos/conditional_steps_business_hours.convo.txt=business-hours",
        "convos/conditional_steps_multiple_condition_groups.convo.txt=mirror-twice",
    ),
    "botium-core/test/scripting/matching": ("mirror",),
    "botium-core/test/scripting/scriptingmemory": ("mirror",),
    "botium-core/test/scripting/userinputs": ("mirror",),
}
# The whole repository at once: a default flow, and one for each folder or file that differs.
TREE_FLOWS = (
    "echo",
    "botium-core/samples/connectors/custom=myapi",
    "botium-core/samples/extensions/asserterHooks=car-dashboard",
    "botium-core/samples/scripting/convofiles=car-dashboard",
    "botium-core/test/convo=login",
    "botium-core/test/scripting=mirror",
    f"botium-core/{LOGICHOOKS}/conditional_steps_time_based.convo.txt=opening-hours",
    f"botium-core/{LOGICHOOKS}/conditional_steps_business_hours.convo.txt=business-hours",
    f"botium-core/{LOGICHOOKS}/conditional_steps_multiple_condition_groups.convo.txt=mirror-twice",
)
# botium-bindings' hello sample demonstrates a failing convo: its echo bot throws on "fail".
EXPECTED_FAILURE = "should fail because delivery failure"
TESTS = 25  # 23 convos; UTT_AFFIRMATIVE (3 phrases) makes one of them 3 tests


def _sandbox_project(tmp_path: Path) -> Path:
    root = project(tmp_path)
    (root / "pyproject.toml").write_text(f'[tool.flowtest]\nsandbox_flows = "{FLOWS}"\n')
    return root


def _flows(flows: tuple[str, ...]) -> list[str]:
    return [argument for flow in flows for argument in ("--flow", flow)]


def _outcomes(output: str) -> tuple[list[str], list[str]]:
    passed = re.findall(r"::(.+?) PASSED", output)
    failed = re.findall(r"::(.+?) FAILED", output)
    return passed, failed


def test_each_suite_imports_on_its_own_and_all_run_green(tmp_path: Path) -> None:
    root = _sandbox_project(tmp_path)
    for number, (suite, flows) in enumerate(SUITES.items()):
        out = f"scenarios/{number}"
        done = run("import", "botium", str(REAL / suite), "--out", out, *_flows(flows), cwd=root)
        assert (done.returncode, done.stderr) == (0, ""), suite  # the command validates what it writes
    tests = run_pytest(root, "-v", "scenarios", env={"FLOWTEST_BASE_URL": ""})
    passed, failed = _outcomes(tests.stdout)
    assert failed == [EXPECTED_FAILURE], tests.stdout
    assert len(passed) == TESTS - 1, tests.stdout
    # Its bot fails the flow on "fail": no answer, and botium.json's 2 retries (RETRY_CONVO_NUMRETRIES).
    assert (
        "step 2 (scenarios/4/spec/convo/should_fail_delivery.scenario.yaml:9): "
        "expected a bot message ($.type: exists), but the turn has no more messages" in tests.stdout
    )
    assert "(failed in all 3 attempts; the last one is shown)" in tests.stdout


def test_a_whole_repository_imports_at_once_names_made_unique_and_runs_green(tmp_path: Path) -> None:
    root = _sandbox_project(tmp_path)
    done = run("import", "botium", str(REAL), "--out", "scenarios", *_flows(TREE_FLOWS), cwd=root)
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert (
        lines[0]
        == "flowtest: imported 23 scenario(s), 6 partial(s), 2 utterance list(s), 1 table(s) into scenarios"
    )
    assert lines[1] == "15 name(s) made unique (by folder, by file):"
    shown = str(REAL)
    assert (
        f"  {shown}/botium-core/samples/extensions/asserterHooks/convos/txt/restaurant.convo.txt:1: convo "
        "'restaurant' is named 'restaurant (botium-core/samples/extensions/asserterHooks/convos/txt)'"
    ) in lines
    assert (  # three convos of one folder named alike: their files tell them apart
        f"  {shown}/botium-core/test/scripting/userinputs/convos/buttonTwoArgs.convo.txt:1: convo "
        "'button' is named 'button (botium-core/test/scripting/userinputs/convos/buttonTwoArgs)'"
    ) in lines
    tests = run_pytest(root, "-v", env={"FLOWTEST_BASE_URL": ""})
    passed, failed = _outcomes(tests.stdout)
    assert failed == [EXPECTED_FAILURE], tests.stdout
    assert len(passed) == TESTS - 1
    assert "restaurant (botium-core/samples/scripting/convofiles/convos/txt)" in passed


def test_what_botium_meant_is_what_the_scenarios_say(tmp_path: Path) -> None:
    root = _sandbox_project(tmp_path)
    done = run("import", "botium", str(REAL), "--out", "scenarios", *_flows(TREE_FLOWS), cwd=root)
    assert done.returncode == 0, done.stderr
    out = root / "scenarios" / "botium-core"
    txt = (out / "samples/scripting/convofiles/convos/txt/restaurant.scenario.yaml").read_text()
    # #bot HELLO, an utterance list: contains any of its phrases, ignoring case.
    assert "  - user: hi\n  - bot: {contains: {utterance: HELLO}, ignore_case: true}\n" in txt
    assert "ignore_messages: [typing]  # Botium's connectors drop typing indicators\n" in txt
    assert (
        "  - bot: {contains: 'What day/time did you want to go to the restaurant?', ignore_case: true}\n"
        "  - wait: 1000ms\n" in txt
    )
    hooks = (out / "samples/extensions/asserterHooks/convos/txt/restaurant.scenario.yaml").read_text()
    # A custom asserter (botium.json ASSERTERS) is a comment, never glued into the text.
    assert (
        "  # botium (line 27): DUMMY $count|arg2: a custom asserter (botium.json): its code is not imported\n"
        in hooks
    )
    assert "  - bot: {regex: 'Super! I''ve found (?P<count>\\S+) locations for you\\. Which one" in hooks
    memory = (out / "test/convo/convos/partialconvo/withscriptingmemory/main.scenario.yaml").read_text()
    # SET_SCRIPTING_MEMORY: the value, bound in the partial convo that sends it.
    assert "  - include: login.partial.yaml\n    with: {password: '123456'}\n" in memory
    login = (out / "test/convo/convos/partialconvo/withscriptingmemory/login.partial.yaml").read_text()
    assert "  - user: ${password}\n" in login
    groups = (out / f"{LOGICHOOKS}/conditional_steps_multiple_condition_groups.scenario.yaml").read_text()
    # A group of conditional steps: one message, any of the steps (never two steps to pass).
    assert (
        "  - bot: {any_of: [{contains: hello Duplicate, ignore_case: true}, "
        "{contains: hello should not assert, ignore_case: true}]}\n"
    ) in groups
    regex = (out / "test/scripting/matching/convos/regex.scenario.yaml").read_text()
    assert "(flowtest import botium, matching mode regexp)" in regex
    assert "  - bot: {regex: my account balance is \\$\\d+.}\n" in regex  # case-sensitive, as regexp is
    simple = (out / "test/scripting/scriptingmemory/convosSimpleText/buy.scenario.yaml").read_text()
    assert "  - user: ${productName} ${customer}\n" in simple  # the line's trailing space is not sent
    button = (out / "test/scripting/userinputs/convos/buttonScript.scenario.yaml").read_text()
    assert "  - user: 'Button: ${hello} ${world}'\n" in button


def test_the_suites_own_mistakes_are_named_as_such(tmp_path: Path) -> None:
    """A cycle of includes, an include of nothing: what is wrong in the Botium files, one line each."""
    root = _sandbox_project(tmp_path)
    done = run("import", "botium", str(BROKEN), "--out", "scenarios", "--flow", "echo", cwd=root)
    assert done.returncode == 1
    partials = f"{BROKEN}/botium-core/test/convo/convos/partialconvo"
    assert done.stderr.splitlines() == [
        f"{partials}/circular/second.pconvo.txt:3:1: #include first: a cycle: first > second > first; "
        "Botium refuses it too: left out",
        f"{partials}/notfound/main.convo.txt:3:1: #include notexists: no partial convo of that name "
        "in the suite: left out",
        "flowtest: 2 problem(s) in the Botium files (above)",
    ]
    assert "bug" not in done.stdout + done.stderr
    assert run("validate", cwd=root).returncode == 0


def test_a_partial_convo_that_includes_itself(tmp_path: Path) -> None:
    files = {
        "loop.pconvo.txt": "loop\n\n#bot\nagain\nINCLUDE loop\n",
        "main.convo.txt": "main\n\n#include loop\n",
    }
    code, _, stderr = _import(project(tmp_path), files)
    assert (code, stderr.splitlines()[0]) == (
        1,
        "botium/loop.pconvo.txt:3:1: #include loop: loop includes itself; Botium refuses it too: left out",
    )


READ = (
    "*.convo.txt, *.pconvo.txt, *.utterances.txt, *.scriptingmemory.txt, "
    "or YAML/JSON with convos, partialConvos, utterances or scriptingMemory"
)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, f"an empty folder: no Botium files ({READ}) to import"),
        (
            {"test_api.tavern.yaml": "test_name: Get status\nstages:\n  - name: status\n"},
            f"no Botium files in this folder ({READ}) (1 YAML/JSON file(s) are not Botium): nothing imported",
        ),
    ],
)
def test_a_folder_without_botium_files_says_so(tmp_path: Path, files: dict[str, str], message: str) -> None:
    root = project(tmp_path)
    src = tmp_path / "suite"
    src.mkdir()
    for name, text in files.items():
        (src / name).write_text(text)
    done = run("import", "botium", "suite", "--out", "scenarios", "--flow", "echo", cwd=root)
    assert (done.returncode, done.stderr) == (2, f"flowtest: error: suite: {message}\n")
    assert list((root / "scenarios").iterdir()) == []


def test_files_that_are_not_botium_are_skipped_with_a_line(tmp_path: Path) -> None:
    root = project(tmp_path)
    src = tmp_path / "repo"
    (src / "api").mkdir(parents=True)
    (src / "api" / "test_status.tavern.yaml").write_text(
        "---\ntest_name: Status\nstages:\n  - name: get\n---\ntest_name: Other\nstages: []\n"
    )
    (src / "package.json").write_text('{"name": "bot"}')
    (src / "hello.convo.txt").write_text("hello\n\n#me\nhello\n\n#bot\nYou said: hello\n")
    done = run("import", "botium", "repo", "--out", "scenarios", "--flow", "echo", cwd=root)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[1:] == [
        "2 file(s) skipped, not Botium scripts:",
        "  repo/api/test_status.tavern.yaml: not a Botium file (no convos, partialConvos, utterances, "
        "scriptingMemory)",
        "  repo/package.json: not a Botium file (no convos, partialConvos, utterances, scriptingMemory)",
    ]


def test_the_flow_of_a_path_that_is_not_in_the_source_is_refused(tmp_path: Path) -> None:
    root = project(tmp_path)
    src = tmp_path / "suite"
    src.mkdir()
    (src / "a.convo.txt").write_text("a\n\n#me\nhi\n")
    done = run("import", "botium", "suite", "--out", "s", "--flow", "nowhere=echo", cwd=root)
    assert done.stderr == f"flowtest: error: --flow nowhere=echo: nowhere is not a folder or file of {src}\n"
    done = run("import", "botium", "suite", "--out", "s", "--flow", "a.convo.txt=echo", cwd=root)
    assert (done.returncode, done.stderr) == (0, "")
    other = src / "b.convo.txt"
    other.write_text("b\n\n#me\nhi\n")
    done = run("import", "botium", "suite", "--out", "t", "--flow", "a.convo.txt=echo", cwd=root)
    assert done.stderr == (
        "flowtest: error: no --flow for b.convo.txt: give --flow ID for every scenario, "
        "or --flow PATH=ID for its folder or file\n"
    )
