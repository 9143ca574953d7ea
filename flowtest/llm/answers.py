"""Reading what a model wrote: the JSON object in it, past reasoning blocks and code fences."""

from __future__ import annotations

import json
import re
from typing import Any

SHOWN = 300  # characters of an answer shown in a failure
_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_STARTS_TRIED = 20  # a rambling answer costs at most this many attempts to find an object


def capped(text: str, limit: int = SHOWN) -> str:
    """One line, at most ``limit`` characters: what a failure shows of an answer."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def spoken(text: str) -> str:
    """The answer without a reasoning model's <think> block or a Markdown code fence around it."""
    text = _THINKING.sub("", text).strip()
    return _FENCE.sub("", text).strip()


def json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (the whole of it, or one inside prose), or None."""
    text = spoken(text)
    decoder = json.JSONDecoder()
    start = text.find("{")
    for _ in range(_STARTS_TRIED):
        if start < 0:
            return None
        try:
            found, _end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            found = None
        if isinstance(found, dict):
            return found
        start = text.find("{", start + 1)
    return None
