"""What differs between two runs of one conversation: ids, dates, times, long numbers.

``record`` writes such parts of a bot text as regexes; the coverage inventory counts prompts
with them as placeholders. A module of its own: the inventory imports it at the end of a run,
and ``record``'s module brings the clients with it.
"""

from __future__ import annotations

import re

# Parts of a text that differ between runs; each becomes a regex of its kind (and, in the
# coverage inventory's prompts, a placeholder naming its kind).
_VOLATILE = [
    (
        re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
        r"[0-9a-fA-F-]{36}",
        "<id>",
    ),
    (
        re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"),
        r"\d{4}-\d{2}-\d{2}[0-9T:.+Z -]*",
        "<date>",
    ),
    (re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"), r"\d{1,2}/\d{1,2}/\d{2,4}", "<date>"),
    (re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b"), r"\d{1,2}:\d{2}(?::\d{2})?", "<time>"),
    (re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{12,}\b"), r"[0-9a-f]+", "<id>"),
    (re.compile(r"\b[A-Za-z]+_[0-9a-f]{12,}\b"), r"\w+", "<id>"),
    (re.compile(r"\b\d{6,}\b"), r"\d+", "<number>"),
]


def volatile_parts(text: str) -> list[tuple[int, int, str, str]]:
    """Where ``text`` holds values that change between runs: (start, end, regex, placeholder), in order."""
    pieces: list[tuple[int, int, str, str]] = []
    for pattern, replacement, placeholder in _VOLATILE:
        for match in pattern.finditer(text):
            if not any(start < match.end() and match.start() < end for start, end, _, _ in pieces):
                pieces.append((match.start(), match.end(), replacement, placeholder))
    return sorted(pieces)


def normalised(text: str) -> str:
    """The text with its ids, numbers, dates and times as placeholders: ``Ticket <id> is open``."""
    shown, cursor = "", 0
    for start, end, _, placeholder in volatile_parts(text):
        shown += text[cursor:start] + placeholder
        cursor = end
    return shown + text[cursor:]
