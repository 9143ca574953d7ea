"""The language's table against its grammar and its docs: a key the table has, the schema and the
reference have too (a new step kind or matcher that forgets one fails here, not in a user's hands)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from flowtest.matchers import MATCHERS
from flowtest.steps import KINDS, STEP_KEYS, kind_for

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "flowtest" / "schemas" / "scenario.schema.json").read_text(encoding="utf-8"))
DOCS = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
LOADER_STEP_KEYS = {"include", "with"}  # the loader splices partials: no step kind of its own
LOADER_MATCHER_KEYS = {"utterance"}  # the loader expands {utterance: NAME} into the list's phrases


def _required_keys(definition: dict[str, object]) -> set[str]:
    return {key for option in definition["oneOf"] for key in option["required"]}  # type: ignore[attr-defined,index]


def test_the_step_kinds_are_the_schemas_step_keys() -> None:
    step = SCHEMA["$defs"]["step"]
    assert _required_keys(step) - LOADER_STEP_KEYS == STEP_KEYS
    assert set(step["x-one-of-keys"]["keys"]) - LOADER_STEP_KEYS == STEP_KEYS


def test_every_key_a_kind_takes_is_in_the_schema_and_no_other() -> None:
    taken = {key for kind in KINDS for key in kind.keys | kind.modifiers}
    assert taken | LOADER_STEP_KEYS == set(SCHEMA["$defs"]["step"]["properties"])


def test_every_step_kind_has_its_row_in_the_reference() -> None:
    steps = DOCS.split("## Steps", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)`", steps, re.MULTILINE))
    assert STEP_KEYS | {"include"} <= documented


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_a_step_is_built_by_the_kind_its_action_key_names(kind: object) -> None:
    for key in kind.keys:  # type: ignore[attr-defined]
        assert kind_for({key: None}) is kind
    assert kind_for({"save": {}, "bot": "x"}).name == "bot"  # save beside bot stores from the message


def test_the_matchers_are_the_schemas_matcher_keys() -> None:
    assert set(MATCHERS) == _required_keys(SCHEMA["$defs"]["matcher_object"]) - LOADER_MATCHER_KEYS


def test_each_option_goes_with_the_matchers_that_declare_it() -> None:
    dependent = SCHEMA["$defs"]["matcher_object"]["dependentSchemas"]
    for option, rule in dependent.items():
        allowed = {key for choice in rule.get("anyOf", [rule]) for key in choice["required"]}
        assert allowed == {key for key, kind in MATCHERS.items() if option in kind.options}, option


def test_every_matcher_has_its_row_in_the_reference() -> None:
    matchers = DOCS.split("## Matchers", 1)[1].split("\n## ", 1)[0]
    documented = {
        key
        for row in re.findall(r"^\|([^|]+)\|", matchers, re.MULTILINE)
        for key in re.findall(r"`([a-z_]+)`", row)
    }
    assert set(MATCHERS) <= documented
