"""The Makefile a new user runs first: `make run` installs no dev tools and always ends with the report."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FLOWS, ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
MAKE = shutil.which("make") or "make"


def test_make_run_installs_what_a_user_needs_and_make_test_the_dev_tools(tmp_path: Path) -> None:
    def planned(target: str) -> list[str]:
        command = [MAKE, "-n", "-B", "-C", str(ROOT), target, f"VENV={tmp_path / 'venv'}"]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        return [line for line in done.stdout.splitlines() if "pip install" in line]

    run = planned("run")
    # The examples use similar: a user who runs them installs the semantic extra too.
    assert any(line.endswith("pip install --quiet -e '.[semantic]'") for line in run), run
    assert not any("[dev]" in line for line in run), run
    assert any("'.[dev]'" in line for line in planned("test"))


def test_make_run_tries_the_report_after_a_failure_and_keeps_the_exit(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text(f'[tool.flowtest]\nsandbox_flows = "{FLOWS}"\n')
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "hours.scenario.yaml").write_text(
        "name: Hours\nflow: store-hours\nstrict: false\nconversation:\n  - bot: {contains: never said}\n"
    )
    venv = Path(sys.prefix)
    # This interpreter's environment stands in for .venv (-o: never reinstall it); without Node.js
    # on the PATH the report step fails on its own, and the run's failure is still the exit.
    env = {**os.environ, "PATH": str(venv / "bin")}
    command = [MAKE, "-s", "-o", f"{venv}/.installed-user", "run", f"VENV={venv}"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode != 0
    assert "1 failed" in done.stdout
    assert "flowtest report needs Node.js and npm on the PATH" in done.stderr
    assert done.stdout.splitlines()[-2:] == [
        "flowtest: no HTML report (see above); the Allure results are in reports/allure-results",
        "flowtest: the run failed (pytest exit 1); the report shows why",
    ]
