"""`flowtest init` as a designer meets it: .gitignore, required_plugins, its last line, the examples."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from tests.conftest import FLOWTEST, ROOT, run_pytest


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLOWTEST_BASE_URL": "", "FLOWTEST_API_KEY": "", **(env or {})}
    return subprocess.run([*FLOWTEST, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120)


ON_PATH = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # as activated


def test_init_keeps_what_runs_produce_out_of_git_and_says_what_to_run_next(tmp_path: Path) -> None:
    here = run("init", cwd=tmp_path, env=ON_PATH)
    assert here.returncode == 0, here.stderr
    assert (
        here.stdout.splitlines()[-1] == "flowtest: suite ready here; run it and read its report: flowtest run"
    )
    assert (tmp_path / ".gitignore").read_text() == (
        "# What flowtest runs produce (flowtest init)\n"
        "reports/\nnode_modules/\n.venv/\n.pytest_cache/\n__pycache__/\n"
    )
    there = run("init", "my suite", cwd=tmp_path / "scenarios", env=ON_PATH)
    assert there.stdout.splitlines()[-1] == (
        "flowtest: suite ready in my suite; run it and read its report: cd 'my suite' && flowtest run"
    )


def test_the_last_line_names_flowtest_by_its_path_when_a_new_shell_would_not_find_it(tmp_path: Path) -> None:
    # The checkout's .venv after `make run`, not activated: `flowtest run` would be "not found".
    done = run("init", "suite", cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    flowtest = Path(sys.executable).parent / "flowtest"
    assert done.stdout.splitlines()[-1] == (
        f"flowtest: suite ready in suite; run it and read its report: cd suite && {flowtest} run"
    )


def test_a_gitignore_that_exists_gets_only_the_lines_it_lacks(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.log\nnode_modules\n")
    done = run("init", cwd=tmp_path)
    assert "  wrote .gitignore (reports/, .venv/, .pytest_cache/, __pycache__/ added)" in done.stdout
    assert (tmp_path / ".gitignore").read_text() == (
        "*.log\nnode_modules\nreports/\n.venv/\n.pytest_cache/\n__pycache__/\n"
    )


def test_pytest_without_flowtest_says_it_is_missing_instead_of_no_tests_ran(tmp_path: Path) -> None:
    assert run("init", cwd=tmp_path).returncode == 0
    assert tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"] == {
        "required_plugins": ["pytest-flowtest"]
    }
    assert run_pytest(tmp_path).returncode == 0
    # A pytest that does not load flowtest: another interpreter's, or one told to load no plugin.
    without = run_pytest(tmp_path, env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert without.returncode != 0
    assert "ERROR: Missing required plugins: pytest-flowtest" in without.stderr + without.stdout
    assert "no tests ran" not in without.stdout


def test_required_plugins_joins_a_pytest_section_that_exists(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "mine"\n\n[tool.pytest.ini_options]\naddopts = "-q"\n'
    )
    done = run("init", cwd=tmp_path)
    assert "  wrote pyproject.toml ([tool.flowtest] and required_plugins added)" in done.stdout
    config = tomllib.loads((tmp_path / "pyproject.toml").read_text())
    assert config["tool"]["pytest"]["ini_options"] == {
        "addopts": "-q",
        "required_plugins": ["pytest-flowtest"],
    }
    assert config["tool"]["flowtest"]["sandbox_flows"] == "scenarios/flows"
    assert config["project"] == {"name": "mine"}


def test_init_with_an_example_runs_it_in_the_designers_own_folder(tmp_path: Path) -> None:
    done = run("init", "--example", "support", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    support = sorted(p.name for p in (tmp_path / "scenarios" / "support").iterdir())
    assert support == sorted(p.name for p in (ROOT / "scenarios" / "support").iterdir())
    assert (tmp_path / "scenarios/flows/support.flow.yaml").read_text() == (
        (ROOT / "scenarios/flows/support.flow.yaml")
        .read_text()
        .replace("../../flowtest/schemas/", "../../.flowtest/")
    )
    assert (
        (tmp_path / "scenarios/support/buttons.scenario.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=../../.flowtest/scenario.schema.json\n")
    )
    assert not (tmp_path / "scenarios/flows/flight-status.flow.yaml").exists()  # only the flows it runs
    assert run("validate", cwd=tmp_path).returncode == 0
    tests = run_pytest(tmp_path)
    assert "8 passed" in tests.stdout, tests.stdout  # hello, and support's seven


def test_an_example_with_meaning_checks_installs_the_semantic_extra_in_ci(tmp_path: Path) -> None:
    # Installed without it, the rebooking example's first CI run failed at collection.
    from flowtest import __version__

    meaning, plain = tmp_path / "meaning", tmp_path / "plain"
    for folder, example in ((meaning, "rebooking"), (plain, "support")):
        folder.mkdir()
        done = run("init", "--example", example, cwd=folder)
        assert done.returncode == 0, done.stderr
        assert "semantic extra" not in done.stdout  # installed here: nothing to say
    workflow = (meaning / ".github/workflows/flowtest.yml").read_text()
    assert f'pip install "${{FLOWTEST_INSTALL:-pytest-flowtest[semantic]=={__version__}}}"' in workflow
    assert (
        f'pip install "${{FLOWTEST_INSTALL:-pytest-flowtest=={__version__}}}"'
        in (plain / ".github/workflows/flowtest.yml").read_text()
    )
    assert f"pytest-flowtest[semantic]=={__version__}" in (meaning / "scenarios/README.md").read_text()


def test_examples_join_a_suite_that_exists_with_the_partials_they_include(tmp_path: Path) -> None:
    assert run("init", cwd=tmp_path).returncode == 0
    assert run("init", "--example", "flight-status", cwd=tmp_path).returncode == 0
    done = run("init", "--example", "order-tracking", "--example", "flight-status", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "  wrote scenarios/shared/order-lookup.partial.yaml" in done.stdout
    assert "flight-status" not in done.stdout  # already there, as it would be written: left alone
    assert sorted(p.name for p in (tmp_path / "scenarios/shared").iterdir()) == [
        "greeting.partial.yaml",
        "order-lookup.partial.yaml",
    ]
    tests = run_pytest(tmp_path)
    assert tests.returncode == 0, tests.stdout
    assert re.search(r"\b19 passed, 1 skipped, 1 xfailed\b", tests.stdout), tests.stdout


def test_an_example_never_overwrites_and_an_unknown_name_lists_them(tmp_path: Path) -> None:
    assert run("init", cwd=tmp_path).returncode == 0
    (tmp_path / "scenarios/flows/support.flow.yaml").write_text("id: support\n")
    done = run("init", "--example", "support", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (
        1,
        "flowtest init: these exist, nothing was written: scenarios/flows/support.flow.yaml\n",
    )
    assert not (tmp_path / "scenarios/support").exists()
    unknown = run("init", "--example", "suport", cwd=tmp_path)
    assert (unknown.returncode, unknown.stderr) == (
        2,
        "flowtest: error: no example named 'suport'; the examples: flight-status, order-tracking, "
        "rebooking, store-hours, support\n",
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package as pip builds it from this checkout."""
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)]
    subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    (built,) = out.glob("*.whl")
    return built


def test_the_installed_package_carries_the_examples_the_docs_cite(wheel: Path, tmp_path: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    examples = {
        f"flowtest/examples/{p.relative_to(ROOT / 'scenarios')}" for p in (ROOT / "scenarios").rglob("*.*")
    }
    assert examples <= names
    docs = " ".join(p.read_text() for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
    cited = set(re.findall(r"[\w-]+\.(?:flow|scenario|partial|utterances)\.yaml", docs))
    shipped = {Path(name).name for name in names if name.startswith("flowtest/examples/")}
    assert {"support.flow.yaml", "buttons.scenario.yaml", "loose-texts.scenario.yaml"} <= cited
    assert {name for name in cited if list((ROOT / "scenarios").rglob(name))} <= shipped
    # flowtest init --example from the installed package, not from this checkout.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    suite = tmp_path / "suite"
    suite.mkdir()
    env = {"PYTHONPATH": str(site)}
    done = run("init", "--example", "store-hours", cwd=suite, env=env)
    assert done.returncode == 0, done.stderr
    where = subprocess.run(
        [sys.executable, "-c", "import flowtest; print(flowtest.__file__)"],
        cwd=suite,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(site))
    assert (suite / "scenarios/flows/store-hours.flow.yaml").is_file()
    assert len(list((suite / "scenarios/store-hours").iterdir())) == 2
