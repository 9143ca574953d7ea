"""The scenario language, as a table: one ``StepKind`` per key family.

``KINDS`` is the table the loader builds steps with, the runner runs them through and
the validator reads; ``flowtest/schemas/scenario.schema.json`` holds the same keys (a
test ties the two) and docs/scenarios.md a section per kind. A new kind is a class in
one of these modules (or a module of its own) plus its line here: see ARCHITECTURE.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowtest.scenario.model import Step
from flowtest.steps import bot, calls, checks, send
from flowtest.steps.base import StepKind
from flowtest.trace import Role

# In order of precedence: a step with bot: (or message:) and save: is a bot step.
KINDS: tuple[StepKind[Any], ...] = (*send.KINDS, *bot.KINDS, *checks.KINDS, *calls.KINDS)
STEP_KEYS = frozenset(key for kind in KINDS for key in kind.keys)
_BY_KEY = {key: kind for kind in KINDS for key in kind.keys}
_BY_MODEL: dict[type[Step], StepKind[Any]] = {kind.model: kind for kind in KINDS}
_ROLES = {name: kind.role for kind in KINDS for name in kind.names}


def kind_for(data: Mapping[str, Any]) -> StepKind[Any]:
    """The kind of a (schema-valid) step's YAML: its first key, unless another key takes precedence."""
    first = _BY_KEY.get(next(iter(data)))
    if first is not None and len(data) == 1:
        return first
    return next(kind for kind in KINDS if not kind.keys.isdisjoint(data))


def kind_of(step: Step) -> StepKind[Any]:
    """The kind that built ``step``, to run it."""
    return _BY_MODEL[type(step)]


def role_of_kind(name: str) -> Role:
    return _ROLES[name]
