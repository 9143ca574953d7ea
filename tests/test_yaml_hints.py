"""YAML mistakes a designer makes get PyYAML's words and a hint saying what to do, on one line.

Each file is checked twice, as a designer meets it: `flowtest validate` and a pytest run, which
print the same ``path:line:column: message`` line.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import FLOWS, FLOWTEST, run_pytest

HEAD = "name: NAME\nflow: support\nconversation:\n"

# file name -> (content, the line validate prints for it); the texts are the C loader's.
MISTAKES = {
    "tab": (
        HEAD + "\t- bot: {contains: help}\n",
        "tab.scenario.yaml:4:1: error: invalid YAML: a tab in the indentation; "
        "hint: indent with spaces, YAML does not allow tabs there",
    ),
    "tab-after-spaces": (
        HEAD + "  - bot: {contains: help}\n  \t- user: Billing\n",
        "tab-after-spaces.scenario.yaml:5:3: error: invalid YAML: a tab in the indentation; "
        "hint: indent with spaces, YAML does not allow tabs there",
    ),
    "step-under-step": (
        HEAD + "  - user: hello\n      - bot: {contains: help}\n",
        "step-under-step.scenario.yaml:5:7: error: invalid YAML: mapping values are not allowed in this "
        "context; hint: this line is indented further than line 4: line it up with line 4 "
        "(a new step's '-' goes in the same column as the step before)",
    ),
    "dash-under-step": (
        HEAD + "  - bot: {contains: help}\n    - user: Billing\n",
        "dash-under-step.scenario.yaml:5:5: error: invalid YAML: did not find expected key; "
        "hint: this line is indented further than line 4: line it up with line 4 "
        "(a new step's '-' goes in the same column as the step before)",
    ),
    "key-under-text": (
        HEAD + "  - user: Billing\n      bot: Connecting you to billing.\n",
        "key-under-text.scenario.yaml:5:7: error: invalid YAML: mapping values are not allowed in this "
        "context; hint: this line is indented further than line 4: line it up with line 4 "
        "(a new step's '-' goes in the same column as the step before)",
    ),
    "colon-in-text": (
        HEAD + "  - bot: Sorry: no agents\n",
        "colon-in-text.scenario.yaml:4:15: error: invalid YAML: mapping values are not allowed in this "
        "context; hint: quote the text: ': ' inside an unquoted text starts a mapping (bot: \"Sorry: no agents\")",
    ),
    "jsonpath-key": (
        HEAD + "  - message: {$.type: quick_replies, $.buttons[*].title: [Billing]}\n",
        "jsonpath-key.scenario.yaml:4:38: error: invalid YAML: did not find expected alphabetic or "
        'numeric character; hint: quote a JSONPath with [ or * inside {...} ("$.buttons[*].title"), '
        "or write one key per line",
    ),
    "jsonpath-index": (
        HEAD + "  - message: {$.buttons[1].payload: tech}\n",
        "jsonpath-index.scenario.yaml:4:15: error: invalid YAML: did not find expected ',' or '}'; "
        'hint: quote a JSONPath with [ or * inside {...} ("$.buttons[1].payload"), or write one key per line',
    ),
    "no-space-after-colon": (
        HEAD + "  - bot: {contains: help}\n  - user:Billing\n",
        "no-space-after-colon.scenario.yaml:5:5: error: step 2: expected a mapping, got 'user:Billing'; "
        "YAML needs a space after the colon: 'user: Billing'",
    ),
}


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hints")
    (root / "pyproject.toml").write_text(f'[tool.flowtest]\nsandbox_flows = "{FLOWS}"\n')
    for name, (text, _) in MISTAKES.items():
        (root / f"{name}.scenario.yaml").write_text(text.replace("NAME", name))
    return root


def test_validate_gives_each_mistake_its_hint_on_one_line(suite: Path) -> None:
    done = subprocess.run([*FLOWTEST, "validate", "."], cwd=suite, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert sorted(done.stdout.splitlines()) == sorted(line for _, line in MISTAKES.values())


def test_pytest_shows_the_same_hint(suite: Path) -> None:
    done = run_pytest(suite)
    for _, line in MISTAKES.values():
        assert line.replace(": error:", ":", 1) in done.stdout


def test_a_quoted_path_and_block_style_need_no_hint(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(f'[tool.flowtest]\nsandbox_flows = "{FLOWS}"\n')
    (tmp_path / "ok.scenario.yaml").write_text(
        HEAD.replace("NAME", "ok")
        + '  - message: {"$.type": typing}\n'
        + "  - bot: Hi Ada! What can I help you with?\n"
        + "    message:\n"
        + "      $.buttons[*].title: [Billing, Technical support, Talk to a person]\n"
        + "  - user: Billing\n"
        + "  - bot: {contains: billing}\n"
    )
    done = subprocess.run([*FLOWTEST, "validate", "."], cwd=tmp_path, capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, ""), done.stdout
