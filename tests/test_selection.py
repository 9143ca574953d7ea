"""Selecting and checking scenarios: tags of broken files, -m, names as written, duplicates, partials."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import FLOWS, run_pytest


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
