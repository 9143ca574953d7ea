"""Selecting and checking scenarios: tags of broken files, -m, names as written, duplicates, partials."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import FLOWS, FLOWTEST, run_pytest


def _project(folder: Path, files: dict[str, str]) -> Path:
    (folder / "pyproject.toml").write_text(f'[tool.flowtest]\nsandbox_flows = "{FLOWS}"\n')
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def test_a_failure_inside_a_partial_points_at_the_partial_and_the_include_line(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        {
            "s/p.partial.yaml": (
                "conversation:\n  - bot: Hi ${name}, how can I help?\n  - status: completed\n"
            ),
            "s/a.scenario.yaml": (
                "name: Partial fails\nflow: flight-status\nstart:\n  variables: {customerName: Ada}\n"
                "conversation:\n  - include: p.partial.yaml\n    with: {name: Ada}\n"
            ),
        },
    )
    done = run_pytest(project)
    assert done.returncode == 1
    assert (
        'Scenario "Partial fails" failed at s/p.partial.yaml:3:5 '
        "(in a partial, included at s/a.scenario.yaml:6:5)"
    ) in done.stdout.splitlines()


GOOD = (
    "name: {name}\nflow: store-hours\nstrict: false\ntags: [{tags}]\nconversation:\n  - status: completed\n"
)


def test_a_file_that_is_not_even_yaml_is_still_selected_by_its_tags(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        {
            "ok.scenario.yaml": GOOD.format(name="Fine", tags="other"),
            "bad.scenario.yaml": "name: Broken smoke\ntags: [smoke, store]\nconversation: [\n",
            "schema.scenario.yaml": "name: Bad key\ntags:\n  - smoke\nflow: store-hours\nconversaton: []\n",
        },
    )
    done = run_pytest(project, "-m", "smoke")
    assert done.returncode == 1, done.stdout
    assert "2 failed, 1 deselected" in done.stdout
    assert "FAILED bad.scenario.yaml::Broken smoke (broken)" in done.stdout
    assert "FAILED schema.scenario.yaml::Bad key (broken)" in done.stdout


def test_a_mark_expression_naming_no_scenario_tag_warns_with_the_known_tags(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        {
            "a.scenario.yaml": GOOD.format(name="A", tags="smoke, store"),
            "b.scenario.yaml": GOOD.format(name="B", tags="flights"),
        },
    )
    done = run_pytest(project, "-m", "smok")
    assert done.returncode == 5
    assert (
        "FlowtestWarning: -m 'smok' names no tag of any scenario; the scenarios' tags: flights, smoke, store"
        in done.stdout
    )
    assert "FlowtestWarning" not in run_pytest(project, "-m", "smoke or flights").stdout


def test_one_scenario_by_its_name_as_written(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        {
            "a.scenario.yaml": GOOD.format(name="The caller hangs up (early)", tags="x"),
            "b.scenario.yaml": GOOD.format(name="Another one", tags="x"),
        },
    )
    done = run_pytest(project, "--flowtest-scenario", "The caller hangs up (early)", "-v")
    assert done.returncode == 0, done.stdout
    assert "1 passed, 1 deselected" in done.stdout
    assert "a.scenario.yaml::The caller hangs up (early) PASSED" in done.stdout
    wrong = run_pytest(project, "--flowtest-scenario", "Anther one")
    assert wrong.returncode == 4
    assert (
        "flowtest: --flowtest-scenario: no scenario is named 'Anther one', did you mean 'Another one'?"
        in wrong.stderr
    )


DUPLICATES = {
    "a.scenario.yaml": GOOD.format(name="Same name", tags="x"),
    "b.scenario.yaml": GOOD.format(name="Same name", tags="x"),
    "rows.scenario.yaml": (
        "name: Rows\nflow: flight-status\nexamples:\n  - {id: one, request: flight status}\n"
        "  - {id: one, request: my flight}\n  - {id: three}\nconversation:\n"
        "  - bot: {contains: help}\n  - user: ${request}\n"
    ),
}
DUPLICATE_ERRORS = [
    "b.scenario.yaml:1:1: name: 'Same name' is already the name of the scenario at a.scenario.yaml:1:1",
    "rows.scenario.yaml:5:5: examples[1]: id 'one' is already used by examples[0]",
    "rows.scenario.yaml:6:5: examples[2]: no value for 'request' (used as ${request} at rows.scenario.yaml:9:11)",
]


def test_duplicate_names_and_rows_and_a_row_missing_a_value_fail_at_collection(tmp_path: Path) -> None:
    project = _project(tmp_path, DUPLICATES)
    done = run_pytest(project, "--collect-only", "-q")
    assert "a.scenario.yaml::Same name\n" in done.stdout
    assert "b.scenario.yaml::Same name (broken)" in done.stdout
    assert "rows.scenario.yaml::Rows (broken)" in done.stdout
    ran = run_pytest(project)
    for error in DUPLICATE_ERRORS:
        assert error in ran.stdout.splitlines(), error


def test_validate_finds_the_same_duplicates(tmp_path: Path) -> None:
    project = _project(tmp_path, DUPLICATES)
    done = subprocess.run([*FLOWTEST, "validate", "."], cwd=project, capture_output=True, text=True)
    assert done.returncode == 1
    assert [line.replace(": error:", ":") for line in done.stdout.splitlines()] == DUPLICATE_ERRORS
