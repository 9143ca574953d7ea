"""Turn JSON Schema violations into one readable line each, pointing at the YAML source.

The schemas carry a few annotations of ours that only shape messages:
``x-noun`` (what the keys of an object are called: "key", "matcher"),
``x-expected`` (what a value should look like), ``x-message`` (a fixed
message for a composite rule), ``x-one-of-keys`` (keys of which exactly
one must be present) and ``x-misplaced`` (a hint for a key written in the
wrong mapping).
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flowtest.errors import SourceError
from flowtest.yamlsource import Document, JsonPath

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError


# A list whose items a designer counts from 1, by these names, as failures do ("step 8").
_COUNTED = {"conversation": "step", "steps": "step", "goal": "goal step", "rules": "rule"}


@functools.lru_cache(maxsize=4096)  # the same few paths (step 3) for every file collected
def describe_path(at: JsonPath) -> str:
    """``step 4, bot.contains`` style: steps and rules counted from 1 as designers count them in
    the file (and as the failures of a run name them); other lists keep their ``[index]``."""
    words: list[str] = []
    text = ""
    parts = list(at)
    index = 0
    while index < len(parts):
        part = parts[index]
        following = parts[index + 1] if index + 1 < len(parts) else None
        if isinstance(part, str) and part in _COUNTED and isinstance(following, int):
            if text:
                words.append(text)
            words.append(f"{_COUNTED[part]} {following + 1}")
            text, index = "", index + 2
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
        index += 1
    if text:
        words.append(text)
    return ", ".join(words)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f", did you mean '{close[0]}'?" if close else ""


def schema_errors(
    document: Document,
    validator: Callable[[], Draft202012Validator],
    fast_check: Callable[[Any], bool] | None = None,
) -> list[SourceError]:
    """Every violation of the document, in file order, one SourceError each.

    ``validator`` makes (or returns the cached) reference validator: called only when
    ``fast_check`` says no, so that valid files never import jsonschema.
    """
    if fast_check is not None and fast_check(document.data):
        return []
    found: dict[str, SourceError] = {}
    for error in validator().iter_errors(document.data):
        for source_error in _describe(document, error):
            found.setdefault(str(source_error), source_error)
    return sorted(found.values(), key=lambda e: (e.location.line, e.location.column))


def _describe(document: Document, error: ValidationError) -> list[SourceError]:
    at: JsonPath = tuple(error.absolute_path)
    where = f"{describe_path(at)}: " if at else ""  # a file's own keys need no path before them
    schema = error.schema if isinstance(error.schema, dict) else {}
    handler = _HANDLERS.get(str(error.validator))
    if "x-message" in schema and error.validator != "additionalProperties":
        return [SourceError(document.location(at), f"{where}{schema['x-message']}")]
    if handler is not None:
        return handler(document, error, at, where, schema)
    return [SourceError(document.location(at), f"{where}{error.message}")]


def _unknown_keys(
    document: Document, error: ValidationError, at: JsonPath, where: str, schema: dict[str, Any]
) -> list[SourceError]:
    known = list(schema.get("properties", {}))
    noun = schema.get("x-noun", "key")
    misplaced = schema.get("x-misplaced", {})
    instance = error.instance if isinstance(error.instance, dict) else {}
    return [
        SourceError(
            document.key_location((*at, key)),
            f"{where}unknown {noun} '{key}'"
            + (f" ({misplaced[key]})" if key in misplaced else "")
            + (did_you_mean(key, known) or _comma_hint(instance, key)),
        )
        for key in instance
        if key not in known
    ]


def _comma_hint(instance: dict[str, Any], key: str) -> str:
    # {contains: a, b} is YAML for {contains: a, b: null}: the text needed quotes.
    if instance[key] is None and len(instance) > 1:
        return ' (a comma inside {...} starts a new key: put the text in quotes, as in {contains: "a, b"})'
    return ""


def _missing_keys(
    document: Document, error: ValidationError, at: JsonPath, where: str, schema: dict[str, Any]
) -> list[SourceError]:
    instance = error.instance if isinstance(error.instance, dict) else {}
    missing = [key for key in schema.get("required", []) if key not in instance]
    return [SourceError(document.location(at), f"{where}missing required key '{key}'") for key in missing]


def _one_of(
    document: Document, error: ValidationError, at: JsonPath, where: str, schema: dict[str, Any]
) -> list[SourceError]:
    one_key = schema.get("x-one-of-keys")
    if one_key is not None and isinstance(error.instance, dict):
        keys, what = one_key["keys"], one_key["what"]
        present = [key for key in keys if key in error.instance]
        if not present and set(error.instance) - set(schema.get("properties", {})):
            return []  # the unknown key is reported on its own, with a did-you-mean
        if not present:
            message = f"{what} needs one of: {', '.join(keys)}"
        else:
            message = f"{what} takes exactly one of {', '.join(keys)}; found {', '.join(present)}"
            message += f" ({one_key['note']})" if "note" in one_key else ""
        return [SourceError(document.location(at), f"{where}{message}")]
    return _branches(document, error, at, where, schema)


def _branches(
    document: Document, error: ValidationError, at: JsonPath, where: str, schema: dict[str, Any]
) -> list[SourceError]:
    branch = _branch_meant(error, at, schema)
    if branch is not None:
        return _describe(document, branch)
    message = _expected(schema, error.instance)
    if isinstance(error.instance, str):
        message += did_you_mean(error.instance, _branch_choices(error))
    return [SourceError(document.location(at), f"{where}{message}")]


def _branch_meant(error: ValidationError, at: JsonPath, schema: dict[str, Any]) -> ValidationError | None:
    """The error of the branch meant for this kind of value (not every branch's type mismatch), or
    None when the choice itself should be described."""
    relevant = [e for e in error.context or [] if not _is_type_mismatch(e, at)]
    if not relevant:
        return None
    deepest = max(relevant, key=lambda e: len(e.absolute_path))
    # A plain value that fits no branch, when the choice says in words what it takes: those
    # words, not the branch's ("expected text" for a duration written "soon").
    worded = "x-expected" in schema and not isinstance(error.instance, (dict, list))
    if worded and tuple(deepest.absolute_path) == at:
        return None
    return deepest


def _branch_choices(error: ValidationError) -> list[str]:
    """Every value the branches list (their enums): what a mistyped text may have meant."""
    schemas = [e.schema for e in error.context or [] if isinstance(e.schema, dict)]
    return [str(value) for sub in schemas for value in sub.get("enum", [])]


def _is_type_mismatch(error: ValidationError, at: JsonPath) -> bool:
    return tuple(error.absolute_path) == at and error.validator in ("type", "const", "enum")


def _bad_value(
    document: Document, error: ValidationError, at: JsonPath, where: str, schema: dict[str, Any]
) -> list[SourceError]:
    message = _expected(schema, error.instance)
    if error.validator == "enum" and isinstance(error.instance, str):
        message += did_you_mean(error.instance, [str(v) for v in schema.get("enum", [])])
    return [SourceError(document.location(at), f"{where}{message}")]


def _colon_hint(instance: Any) -> str:
    # "- user:Ada" is one text to YAML: a key needs a space after its colon.
    if isinstance(instance, str):
        key, colon, value = instance.partition(":")
        if colon and key.isidentifier() and value and not value[0].isspace():
            return f"; YAML needs a space after the colon: '{key}: {value}'"
    return ""


def _expected(schema: dict[str, Any], instance: Any) -> str:
    expected = _expected_words(schema) or "a different value"
    return f"expected {expected}, got {_show(instance)}{_colon_hint(instance)}"


def _expected_words(schema: dict[str, Any]) -> Any:
    """What the schema says a value should be: its own words, else its enum, const or type."""
    if schema.get("x-expected") is not None:
        return schema["x-expected"]
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return " or ".join(_TYPE_WORDS.get(str(k), str(k)) for k in kinds)
    return None


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return repr(value)


_TYPE_WORDS = {
    "string": "text",
    "object": "a mapping",
    "array": "a list",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _bad_format(
    document: Document, error: ValidationError, at: JsonPath, where: str, schema: dict[str, Any]
) -> list[SourceError]:
    """A regex that does not compile: Python's reason and where in the pattern, not only "not a regex"."""
    import re

    if schema.get("format") == "regex" and isinstance(error.instance, str):
        try:
            re.compile(error.instance)
        except re.error as exc:
            place = f" at position {exc.pos + 1}" if exc.pos is not None else ""
            message = f"{where}not a valid regex: {exc.msg}{place} of {json.dumps(error.instance)}"
            return [SourceError(document.location(at), message)]
    return [SourceError(document.location(at), f"{where}{error.message}")]


_HANDLERS = {
    "format": _bad_format,
    "additionalProperties": _unknown_keys,
    "required": _missing_keys,
    "oneOf": _one_of,
    "anyOf": _branches,
    "type": _bad_value,
    "enum": _bad_value,
    "const": _bad_value,
    "pattern": _bad_value,
}
