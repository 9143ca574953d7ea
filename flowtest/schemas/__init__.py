"""The JSON Schemas of flowtest's file formats: the single source of truth for each format."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jsonschema_rs

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator


@cache
def load_schema(name: str) -> dict[str, Any]:
    """``scenario`` or ``flow``: the schema as a dict."""
    text = resources.files(__name__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def partial_schema() -> dict[str, Any]:
    """The schema of *.partial.yaml files: the scenario schema's own partial definition."""
    scenario = load_schema("scenario")
    return {
        "$schema": scenario["$schema"],
        "$id": "https://flowtest.dev/schemas/partial.schema.json",
        "title": "flowtest partial",
        "description": "A reusable conversation fragment for include: (*.partial.yaml).",
        "$defs": scenario["$defs"],
        "$ref": "#/$defs/partial",
    }


@cache
def validator(name: str) -> Draft202012Validator:
    """The reference validator: slow, but its errors say exactly what and where.

    Imported and built only for a document the fast check refused (see ``fast_check``):
    a run of valid files never loads jsonschema.
    """
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(name), format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def fast_check(name: str) -> Callable[[Any], bool]:
    """A quick yes/no for the common case of a valid file (jsonschema-rs, ~100x faster).

    Only a "no" is worth the reference validator's time, which then explains it
    (or finds nothing, where the two regex dialects disagree: then it is valid).
    """
    checker = jsonschema_rs.validator_for(load_schema(name), validate_formats=True)
    is_valid: Callable[[Any], bool] = checker.is_valid
    return is_valid
