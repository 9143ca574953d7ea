"""validate, schema, record and init, run as a user runs them: subprocesses on real files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from flowtest import __version__
from flowtest.authoring.record import text_matcher
from flowtest.schemas import load_schema, partial_schema
from tests.conftest import FLOWS, FLOWTEST, ROOT, run_pytest


def run(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLOWTEST_BASE_URL": "", "FLOWTEST_API_KEY": ""}
    return subprocess.run(
        [*FLOWTEST, *args], cwd=cwd, input=stdin, capture_output=True, text=True, env=env, timeout=120
    )


def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(f'[tool.flowtest]\nsandbox_flows = "{FLOWS}"\n')
    (tmp_path / "scenarios").mkdir()
    return tmp_path


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text)


# -- validate -------------------------------------------------------------------------

HEAD = "name: n\nflow: flight-status\nconversation:\n"


def test_validate_reports_every_kind_of_problem_with_its_place(tmp_path: Path) -> None:
    root = project(tmp_path)
    s = root / "scenarios"
    write(s, "ok.scenario.yaml", HEAD + "  - bot: {contains: help}\n")
    write(s, "flow-id.scenario.yaml", "name: n\nflow: flight-stauts\nconversation:\n  - bot: hi\n")
    write(s, "after-transfer.scenario.yaml", HEAD + "  - status: awaiting_transfer\n  - user: hello\n")
    write(
        s,
        "after-end.scenario.yaml",
        HEAD + "  - end: true\n  - user: hi\n  - user: hi\n    error: {status: 404}\n  - bot: x\n",
    )
    write(s, "long.scenario.yaml", HEAD + "  - bot: " + "x" * 90 + "\n")
    write(s, "typo.scenario.yaml", HEAD + "  - bot: {contians: x}\n")
    write(s, "bad.partial.yaml", "conversation:\n  - usr: hi\n")
    write(s, "broken.flow.yaml", "id: b\nstart: a\nnodes:\n  a: {next: z}\n")
    for path in s.glob("*.scenario.yaml"):  # one name each: a name used twice is an error of its own
        path.write_text(path.read_text().replace("name: n\n", f"name: {path.stem}\n", 1))
    done = run("validate", cwd=root)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "scenarios/after-end.scenario.yaml:5:5: error: step 2: the session was ended by 'end'; "
        "only user/transfer steps expecting an 'error', status and wait can follow",
        "scenarios/after-end.scenario.yaml:8:5: error: step 4: the session was ended by 'end'; "
        "only user/transfer steps expecting an 'error', status and wait can follow",
        "scenarios/after-transfer.scenario.yaml:5:5: error: step 2: "
        "a user step needs awaiting_input, but the step before asserts awaiting_transfer",
        "scenarios/bad.partial.yaml:2:5: error: step 1: unknown key 'usr', did you mean 'user'?",
        "scenarios/broken.flow.yaml:4:13: error: nodes.a.next: no node named 'z'",
        "scenarios/flow-id.scenario.yaml:2:7: error: flow: no flow 'flight-stauts' in the flows folder, "
        "did you mean 'flight-status'?",
        "scenarios/long.scenario.yaml:4:5: warning: step 1: exact match on a 90-character bot text "
        "breaks on any rewording; consider {contains: ...} or {regex: ...}",
        "scenarios/typo.scenario.yaml:4:11: error: step 1, bot: unknown matcher 'contians', "
        "did you mean 'contains'?",
    ]
    assert done.stderr == "flowtest: 8 file(s) checked, 7 error(s), 1 warning(s)\n"


def test_validate_github_annotations_and_a_clean_exit(tmp_path: Path) -> None:
    root = project(tmp_path)
    write(root / "scenarios", "typo.scenario.yaml", HEAD + "  - bot: {contians: x}\n")
    done = run("validate", "--format", "github", cwd=root)
    assert done.stdout == (
        "::error file=scenarios/typo.scenario.yaml,line=4,col=11::step 1, bot: "
        "unknown matcher 'contians', did you mean 'contains'?\n"
    )
    (root / "scenarios" / "typo.scenario.yaml").unlink()
    write(root / "scenarios", "ok.scenario.yaml", HEAD + "  - bot: hi\n")
    assert run("validate", cwd=root).returncode == 0


def test_the_example_suite_validates() -> None:
    done = run("validate", cwd=ROOT)
    assert done.returncode == 0, done.stdout
    assert done.stdout == ""


def test_validate_imports_no_server_and_no_http_client(tmp_path: Path) -> None:
    """Each command imports what it uses: validating files needs neither uvicorn nor httpx."""
    root = project(tmp_path)
    write(root / "scenarios", "ok.scenario.yaml", HEAD + "  - bot: hi\n")
    script = (
        "import sys\nfrom flowtest.cli import main\ncode = main(['validate'])\n"
        "loaded = {name.partition('.')[0] for name in sys.modules}\n"
        "print(sorted(loaded & {'uvicorn', 'starlette', 'httpx', 'aiohttp'}))\nsys.exit(code)\n"
    )
    env = {**os.environ, "FLOWTEST_BASE_URL": "", "FLOWTEST_API_KEY": ""}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "[]\n"


# -- schema ---------------------------------------------------------------------------


def test_schema_prints_and_writes_the_schemas_the_loader_uses(tmp_path: Path) -> None:
    assert json.loads(run("schema", cwd=tmp_path).stdout) == load_schema("scenario")
    assert json.loads(run("schema", "--kind", "flow", cwd=tmp_path).stdout) == load_schema("flow")
    done = run("schema", "--kind", "partial", "-o", "s/partial.json", cwd=tmp_path)
    assert done.stdout == "flowtest: partial schema written to s/partial.json\n"
    assert json.loads((tmp_path / "s" / "partial.json").read_text()) == partial_schema()


def test_committed_copies_match_their_source() -> None:
    committed = json.loads((ROOT / "flowtest" / "schemas" / "partial.schema.json").read_text())
    assert committed == partial_schema()
    templates = ROOT / "flowtest" / "authoring" / "templates"
    for name in ("package.json", "package-lock.json", "allurerc.mjs"):
        assert (templates / name).read_text() == (ROOT / name).read_text(), name


def test_example_files_point_editors_at_the_schema() -> None:
    for path in (ROOT / "scenarios").rglob("*.scenario.yaml"):
        assert path.read_text().startswith(
            "# yaml-language-server: $schema=../../flowtest/schemas/scenario"
        ), path


# -- record ---------------------------------------------------------------------------

FLIGHT_INPUTS = "I'd like to check my flight status\nba 117\nyes\n/transfer failed no agents\n"


def test_record_from_inputs_writes_a_scenario_that_validates_and_passes(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "inputs.txt").write_text(FLIGHT_INPUTS)
    done = run(
        "record",
        "--flow",
        "flight-status",
        "--var",
        "customerName=Ada",
        "--inputs",
        "inputs.txt",
        "--out",
        "scenarios/flight.scenario.yaml",
        cwd=root,
    )
    assert done.returncode == 0, done.stderr
    recorded = yaml.safe_load((root / "scenarios" / "flight.scenario.yaml").read_text())
    assert recorded["start"] == {"variables": {"customerName": "Ada"}}
    assert recorded["conversation"][:4] == [
        {"bot": "Hi Ada, how can I help?"},
        {"status": "awaiting_input"},
        {"user": "I'd like to check my flight status"},
        {"bot": "Sure. What is your flight number?"},
    ]
    assert {"transfer": "failed", "reason": "no agents"} in recorded["conversation"]
    assert recorded["conversation"][-1]["variables"]["$.flightNumber"] == "BA117"
    assert run("validate", cwd=root).returncode == 0
    tests = run_pytest(root)
    assert "1 passed" in tests.stdout, tests.stdout


def test_record_interactively_through_standard_input(tmp_path: Path) -> None:
    root = project(tmp_path)
    done = run(
        "record",
        "--flow",
        "order-tracking",
        "--out",
        "scenarios/o.scenario.yaml",
        cwd=root,
        stdin="/help\n/vars\n123456\n/end\n",
    )
    assert done.returncode == 0, done.stderr
    transcript = done.stdout.splitlines()
    assert transcript[:3] == [
        "bot> Welcome to order tracking.",
        "bot> Please type your order number.",
        "[awaiting_input]",
    ]
    assert "you> /help" in transcript
    assert any(line.startswith("commands: /transfer") for line in transcript)
    assert "bot> Order 123456 has shipped with ParcelCo. Anything else? (yes/no)" in transcript
    recorded = yaml.safe_load((root / "scenarios" / "o.scenario.yaml").read_text())
    assert recorded["conversation"][-1] == {"end": True}
    assert {"bot": {"regex": r"^Order \d+ has shipped with ParcelCo\. Anything else\? \(yes/no\)$"}} in (
        recorded["conversation"]
    )
    tests = run_pytest(root)
    assert "1 passed" in tests.stdout, tests.stdout


def test_record_refuses_to_overwrite(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "x.scenario.yaml").write_text("keep me")
    done = run("record", "--flow", "store-hours", "--out", "x.scenario.yaml", cwd=root, stdin="")
    assert done.returncode == 2
    assert (
        done.stderr == "flowtest: error: x.scenario.yaml exists; flowtest record does not overwrite files "
        "(choose another --out)\n"
    )
    assert (root / "x.scenario.yaml").read_text() == "keep me"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Your flight leaves at 14:30.", {"regex": r"^Your flight leaves at \d{1,2}:\d{2}(?::\d{2})?\.$"}),
        (
            "Booked for 2026-11-25, ref 98765432",
            {"regex": r"^Booked for \d{4}-\d{2}-\d{2}[0-9T:.+Z -]*, ref \d+$"},
        ),
        ("Session ses_4f9a1c2b3d4e5f60 open", {"regex": r"^Session \w+ open$"}),
        ("Plain text, ${not a template}", "Plain text, $${not a template}"),
        ("Flight BA117", "Flight BA117"),
    ],
)
def test_values_that_change_between_runs_become_regexes(text: str, expected: object) -> None:
    matcher = text_matcher(text)
    assert matcher == expected
    if isinstance(matcher, dict):
        assert re.search(matcher["regex"], text)


# -- init -----------------------------------------------------------------------------


def test_init_scaffolds_a_suite_that_validates_and_passes(tmp_path: Path) -> None:
    done = run("init", "suite", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    suite = tmp_path / "suite"
    for name in (
        "pyproject.toml",
        "scenarios/flows/hello.flow.yaml",
        "scenarios/hello/greeting.scenario.yaml",
        ".github/workflows/flowtest.yml",
        "scenarios/README.md",
        ".flowtest/scenario.schema.json",
    ):
        assert (suite / name).is_file(), name
    workflow = yaml.safe_load((suite / ".github/workflows/flowtest.yml").read_text())
    steps = workflow["jobs"]["flowtest"]["steps"]
    assert any(step.get("uses", "").startswith("actions/upload-artifact") for step in steps)
    assert run("validate", cwd=suite).returncode == 0
    tests = run_pytest(suite)
    assert "1 passed" in tests.stdout, tests.stdout


def test_init_refuses_to_overwrite_and_adds_to_an_existing_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mine"\n')
    assert run("init", cwd=tmp_path).returncode == 0
    text = (tmp_path / "pyproject.toml").read_text()
    assert text.startswith('[project]\nname = "mine"\n') and "[tool.flowtest]" in text
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    again = run("init", cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr.startswith(
        "flowtest init: these exist, nothing was written: scenarios/flows/hello.flow.yaml"
    )
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_validate_a_path_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    done = run("validate", "scenaros", cwd=project(tmp_path))
    assert done.returncode == 1
    assert done.stdout == "scenaros:1:1: error: no such file or folder\n"


def _workflow_steps(suite: Path) -> list[dict[str, Any]]:
    workflow = yaml.safe_load((suite / ".github/workflows/flowtest.yml").read_text())
    return [step for step in workflow["jobs"]["flowtest"]["steps"] if "run" in step]


def _step_env(step: dict[str, Any], **values: str) -> dict[str, str]:
    """The step's env as GitHub Actions gives it when no repository variable or secret is set."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.update({name: "" for name in step.get("env", {})})
    return {**env, **values}


def test_init_workflow_installs_this_version_under_its_own_name_or_what_flowtest_install_says(
    tmp_path: Path,
) -> None:
    assert run("init", cwd=tmp_path).returncode == 0
    install = _workflow_steps(tmp_path)[0]
    shown = "pip() { printf '%s\\n' \"$@\"; }\n" + install["run"]
    pinned = subprocess.run(["bash", "-c", shown], env=_step_env(install), capture_output=True, text=True)
    assert pinned.stdout == f"install\npytest-flowtest=={__version__}\n"
    local = _step_env(install, FLOWTEST_INSTALL=str(ROOT))
    from_checkout = subprocess.run(["bash", "-c", shown], env=local, capture_output=True, text=True)
    assert from_checkout.stdout == f"install\n{ROOT}\n"
    readme = (tmp_path / "scenarios/README.md").read_text()
    assert f'`pip install "pytest-flowtest=={__version__}"`' in readme


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None, reason="needs Node.js and npm")
def test_init_workflow_steps_after_the_install_pass_as_written(tmp_path: Path) -> None:
    assert run("init", cwd=tmp_path).returncode == 0
    for step in _workflow_steps(tmp_path)[1:]:
        done = subprocess.run(
            ["bash", "-c", step["run"]], cwd=tmp_path, env=_step_env(step), capture_output=True, text=True
        )
        assert done.returncode == 0, (step["run"], done.stdout[-2000:], done.stderr[-2000:])
    assert (tmp_path / "reports/allure-report/index.html").is_file()


LONG_FLOW = """id: long-notice
start: notice
nodes:
  notice:
    say: >-
      Thanks for calling the help line. Our agents are busy helping other callers right now,
      so please stay on the line and we will be with you as soon as we can.
    end: true
"""


def test_validate_does_not_warn_about_what_record_just_wrote(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "long.flow.yaml").write_text(LONG_FLOW)
    (tmp_path / "pyproject.toml").write_text('[tool.flowtest]\nsandbox_flows = "flows"\n')
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "inputs.txt").write_text("")
    out = "scenarios/long.scenario.yaml"
    done = run("record", "--flow", "long-notice", "--inputs", "inputs.txt", "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    recorded = yaml.safe_load((tmp_path / out).read_text())
    assert recorded["conversation"][0] == {"bot": {"contains": "Thanks for calling the help line."}}
    checked = run("validate", cwd=tmp_path)
    assert (checked.returncode, checked.stdout) == (0, ""), checked.stdout
    assert "0 warning(s)" in checked.stderr
    assert run_pytest(tmp_path).returncode == 0


def test_the_readme_installs_this_version_under_its_own_name() -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"pip install pytest-flowtest=={__version__} " in readme
    assert "pip install flowtest" not in readme
    assert re.findall(r"(?<!pytest-)flowtest\[\w+\]", readme) == []  # extras of the unrelated PyPI project
    assert f"pytest-flowtest[load]=={__version__}" in readme


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("schema", "--output", "scenarios"), "flowtest: error: scenarios: Is a directory\n"),
        (("init", "pyproject.toml"), "flowtest: error: pyproject.toml/scenarios/flows: Not a directory\n"),
        (
            ("import", "botium", "botium", "--out", "pyproject.toml", "--flow", "flight-status"),
            "flowtest: error: pyproject.toml: File exists\n",
        ),
    ],
)
def test_an_output_path_that_cannot_be_written_is_one_line_not_a_traceback(
    tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    # A folder where a file goes, a file where a folder goes: what a newcomer types first.
    root = project(tmp_path)
    (root / "botium").mkdir()
    write(root / "botium", "greet.convo.txt", "greet\n#me\nhi\n#bot\nhello\n")
    done = run(*args, cwd=root)
    assert (done.returncode, done.stderr) == (2, expected)
