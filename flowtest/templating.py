"""``${NAME}`` templates in scenario strings. Names are looked up, never evaluated.

``${name}``, ``${name.field}``, ``${env.NAME}``, ``${run_id}``, ``${scenario_id}``, ``${uuid}``,
and the values generated while a conversation runs (``${random.N}``, ``${now.FIELD}``:
flowtest.generated);
``$${`` writes a literal ``${``. A string that is exactly one ``${...}`` keeps the
value's JSON type.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from flowtest import generated
from flowtest.errors import FlowtestError

_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+)*$")
BUILTINS = frozenset({"run_id", "scenario_id", "uuid"})


class TemplateError(FlowtestError, ValueError):
    """A reference that cannot be resolved; the message names it."""


@dataclass(frozen=True)
class Bindings:
    """What ``${...}`` can see while one conversation runs."""

    values: Mapping[str, Any]
    env: Mapping[str, str]
    unset: Mapping[str, str] = field(default_factory=dict)  # name -> why it holds no value

    def lookup(self, reference: str) -> Any:
        root, _, rest = reference.partition(".")
        if root == "env":
            if rest not in self.env:
                raise TemplateError(f"environment variable {rest} is not set (used as ${{env.{rest}}})")
            return self.env[rest]
        if root not in self.values and root in generated.NAMES:
            return generated.value(reference, self.values)
        if root not in self.values:
            raise TemplateError(self.unset.get(root, f"unknown template name '{root}'"))
        return _field(self.values[root], reference)


def _field(value: Any, reference: str) -> Any:
    """The field a dotted ``reference`` names inside ``value``, the value of its root name."""
    root, _, rest = reference.partition(".")
    for part in rest.split(".") if rest else ():
        if not isinstance(value, dict) or part not in value:
            raise TemplateError(f"${{{reference}}}: '{part}' not found in {root}")
        value = value[part]
    return value


def references(text: str) -> Iterator[str]:
    """Every ``${...}`` reference in ``text`` (escapes skipped)."""
    for match in _REFERENCE.finditer(text):
        if match.group(1) is not None:
            yield match.group(1).strip()


def reference_problem(reference: str, known: frozenset[str]) -> str | None:
    """Why a reference cannot be bound at collection time, or None."""
    if not _NAME.match(reference):
        return f"'${{{reference}}}' is not a name (templates name values, they do not compute)"
    root, _, rest = reference.partition(".")
    if root == "env":
        return None if rest else "'${env}' needs a variable name, as in ${env.API_USER}"
    if root in known or root in BUILTINS:
        return None
    if root in generated.NAMES:
        return generated.problem(reference)
    close = difflib.get_close_matches(root, sorted(known | BUILTINS), n=1)
    hint = f", did you mean '{close[0]}'?" if close else ""
    return f"unknown template name '{root}'{hint}"


def render(value: Any, bindings: Bindings) -> Any:
    """``value`` with every template in its strings replaced (lists and mappings too); a
    string that is exactly one ``${...}`` becomes the value itself, of any JSON type."""
    if isinstance(value, str):
        return _render_string(value, bindings)
    if isinstance(value, dict):
        return {key: render(item, bindings) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, bindings) for item in value]
    return value


def render_text(text: str, bindings: Bindings) -> str:
    """``text`` with its templates replaced, as text (what a user step sends): a value that is
    not text is written as JSON ({"a": 1}, true, null), never as Python writes it."""
    return as_text(_render_string(text, bindings))


def _render_string(text: str, bindings: Bindings) -> Any:
    if "$" not in text:
        return text
    whole = _REFERENCE.fullmatch(text)
    if whole is not None and whole.group(1) is not None:
        return bindings.lookup(whole.group(1).strip())
    return _REFERENCE.sub(lambda m: _substitute(m, bindings), text)


def render_pattern(pattern: str, bindings: Bindings) -> str:
    """A regex with each ``${NAME}`` inserted literally (escaped), whatever its value."""
    if "$" not in pattern:
        return pattern
    return _REFERENCE.sub(lambda m: _substitute(m, bindings, re.escape), pattern)


def _substitute(match: re.Match[str], bindings: Bindings, escape: Callable[[str], str] = str) -> str:
    if match.group(1) is None:
        return "${"
    return escape(as_text(bindings.lookup(match.group(1).strip())))


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def bind_partial(value: Any, with_values: Mapping[str, Any]) -> Any:
    """Bind a partial's ``with:`` names, leaving every other reference for run time."""
    if isinstance(value, str):
        return _bind_text(value, with_values, str)
    if isinstance(value, dict):
        return {key: _bind_item(key, item, with_values) for key, item in value.items()}
    if isinstance(value, list):
        return [bind_partial(item, with_values) for item in value]
    return value


def _bind_item(key: str, item: Any, with_values: Mapping[str, Any]) -> Any:
    if key == "regex" and isinstance(item, str):  # a value inside a pattern is literal text
        return _bind_text(item, with_values, re.escape, whole_keeps_type=False)
    return bind_partial(item, with_values)


def _bind_text(
    text: str, with_values: Mapping[str, Any], escape: Callable[[str], str], whole_keeps_type: bool = True
) -> Any:
    whole = _REFERENCE.fullmatch(text)
    bound = whole is not None and whole.group(1) is not None and whole.group(1).strip() in with_values
    if whole_keeps_type and bound and whole is not None:
        return with_values[whole.group(1).strip()]

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None or name.strip() not in with_values:
            return match.group(0)
        return escape(as_text(with_values[name.strip()])).replace("${", "$${")

    return _REFERENCE.sub(replace, text)
