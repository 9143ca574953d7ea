"""Botium texts as flowtest texts and matchers: the matching mode, ``$var`` and ``$functions``.

A bot text is compared as ``botium.json``'s SCRIPTING_MATCHING_MODE says (by default
``wildcardIgnoreCase``: anywhere in the message, ignoring case, ``*`` a wildcard). A
``$var`` is a scripting memory variable: a value the suite set (written in), a table
value or one captured before (``${var}``), or, in a bot text, a word to capture. A
``$function`` is a value Botium generates: a template where flowtest has one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

VARIABLE = re.compile(r"\$([A-Za-z]\w*)(\((?:[^)\\]|\\.)*\))?")

# Botium's scripting memory functions with a flowtest template: the value Botium generates
# when the text is used. ``${uuid}`` is one id per conversation attempt, ``${random.N}`` N
# digits drawn from it, ``${now.FIELD}`` the time when the step runs (flowtest.generated).
GENERATED = {
    "uniqid": "uuid",
    "random10": "random.10",
    "now": "now.iso",
    "now_EN": "now.iso",
    "now_DE": "now.iso",
    "now_ISO": "now.iso",
    "date": "now.date",
    "date_EN": "now.date",
    "date_DE": "now.date",
    "date_ISO": "now.date",
    "time": "now.time",
    "time_EN": "now.time",
    "time_DE": "now.time",
    "time_ISO": "now.time",
    "timestamp": "now.timestamp",
    "year": "now.year",
    "month": "now.month",
    "day_of_month": "now.day",
    "day_of_week": "now.weekday",
}
SAME_FORMAT = frozenset({"uniqid", "random10", "now_ISO", "date_ISO", "time_ISO", "time_DE", "timestamp"})
SAME_FORMAT |= {"year", "month", "day_of_month", "day_of_week"}
MAX_RANDOM_DIGITS = 32
# Functions whose value flowtest cannot predict within a bot text: any word there.
_UNPREDICTABLE = frozenset({"uniqid", "random", "random10", "timestamp"}) | {
    name for name in GENERATED if name.startswith(("now", "time"))
}
# Botium's functions without a template: sent as written, any word in a bot text.
FUNCTIONS = frozenset(
    {
        "date_add",
        "date_subtract",
        "tomorrow",
        "yesterday",
        "month_MM",
        "time_HH_MM",
        "time_HH",
        "time_H_A",
        "projectname",
        "testsessionname",
        "testcasename",
        "env",
        "cap",
        "msg",
        "func",
        "random",
    }
) | set(GENERATED)


@dataclass(frozen=True)
class Mode:
    """How a bot text is compared: ``op`` one of wildcard, wildcard_exact, contains, equals, regex, wer."""

    op: str
    ignore_case: bool

    @classmethod
    def of(cls, name: str) -> Mode:
        """Botium's MatchFunctions.getMatchFunction: an unknown mode compares exactly."""
        folded = name.replace("LowerCase", "IgnoreCase")
        ignore_case = folded.endswith("IgnoreCase")
        base = folded.removesuffix("IgnoreCase")
        ops = {
            "wildcard": "wildcard",
            "wildcardExact": "wildcard_exact",
            "include": "contains",
            "equals": "equals",
            "regexp": "regex",
            "wer": "wer",
        }
        return cls(ops.get(base, "equals"), ignore_case if base in ops else False)

    def options(self) -> dict[str, Any]:
        return {"ignore_case": True} if self.ignore_case else {}

    def utterance(self, name: str) -> dict[str, Any]:
        """Any phrase of a list, compared as the mode compares a text (``#bot UTT_NAME``)."""
        op = {"wildcard": "contains", "wildcard_exact": "equals", "wer": "fuzzy"}.get(self.op, self.op)
        return {op: {"utterance": name}, **self.options()}


@dataclass
class Memory:
    """What ``$name`` stands for in one convo, as it is read step by step."""

    enabled: bool = True  # SCRIPTING_ENABLE_MEMORY: off, a $word is text
    values: dict[str, str] = field(default_factory=dict)  # set by SET_SCRIPTING_MEMORY: the value
    bound: frozenset[str] = frozenset()  # a table's columns, a partial's with: names: ${name}
    captured: set[str] = field(default_factory=set)  # captured by an earlier bot text: ${name}

    def known(self, name: str) -> bool:
        return name in self.captured or name in self.bound

    def set_value(self, name: str, value: str) -> None:
        self.values[name] = value
        self.captured.discard(name)

    def clear(self, name: str) -> None:
        self.values.pop(name, None)
        self.captured.discard(name)
        self.bound = self.bound - {name}


Notify = Callable[[str], None]


def template_text(text: str) -> str:
    """Text that flowtest sends or compares as written: a ``${`` in it is not a template."""
    return text.replace("${", "$${")


def user_text(text: str, memory: Memory, note: Notify) -> str:
    """A text to send: functions and variables replaced by what flowtest knows of them."""
    if not memory.enabled:
        return template_text(text)

    def replace(match: re.Match[str]) -> str:
        name, call = match.group(1), match.group(2)
        generated = _generated(name, call, note)
        if generated is not None:
            return generated
        if name in FUNCTIONS:
            note(f"${name}{call or ''}: a Botium function without a flowtest template; sent as written")
            return match.group(0)
        value = _memory_value(name, call, memory, _as_is)
        if value is not None:
            return value
        note(f"${name}: set by no table, SET_SCRIPTING_MEMORY or earlier bot message; sent as written")
        return match.group(0)

    return _substitute(text, replace)


def _generated(name: str, call: str | None, note: Notify) -> str | None:
    if name == "env" and call:
        return "${env." + call[1:-1].strip() + "}"
    if name == "random" and call:
        digits = call[1:-1].strip()
        if digits.isdigit() and 0 < int(digits) <= MAX_RANDOM_DIGITS:
            return "${random." + str(int(digits)) + "}"
        return None
    if name in GENERATED and call is None:
        if name not in SAME_FORMAT:
            note(
                f"${name}: written as ${{{GENERATED[name]}}}, in ISO 8601 "
                "where Botium uses the locale's format"
            )
        return "${" + GENERATED[name] + "}"
    return None


def _substitute(text: str, replace: Callable[[re.Match[str]], str]) -> str:
    """``replace`` each $word of ``text``; the rest is literal (``${`` escaped)."""
    out, cursor = "", 0
    for match in VARIABLE.finditer(text):
        out += template_text(text[cursor : match.start()]) + replace(match)
        cursor = match.end()
    return out + template_text(text[cursor:])


def bot_matcher(text: str, mode: Mode, memory: Memory) -> dict[str, Any]:
    """A ``#bot`` text (or a text asserter's argument) compared as ``mode`` says."""
    if mode.op == "regex":
        return {"regex": _pattern(text, memory, star=False, regex=True), **mode.options()}
    if mode.op == "wer":
        return {"fuzzy": _plain(text, memory) or template_text(text)}
    star = mode.op in ("wildcard", "wildcard_exact")
    anchored = mode.op in ("wildcard_exact", "equals")
    plain = _plain(text, memory, star)
    if plain is not None:
        op = "equals" if anchored else "contains"
        return {op: plain, **mode.options()}
    pattern = _pattern(text, memory, star=star, regex=False)
    return {"regex": f"^{pattern}$" if anchored else pattern, **mode.options()}


def _plain(text: str, memory: Memory, star: bool = False) -> str | None:
    """The text with known values in, when it needs no pattern (no wildcard, nothing to capture)."""
    if star and "*" in text:
        return None
    if not memory.enabled:
        return template_text(text)
    pieces: list[str] = []

    def replace(match: re.Match[str]) -> str:
        value = _bot_value(match.group(1), match.group(2), memory, _as_is)
        if value is None:
            pieces.append(match.group(1))
            return ""
        return value

    result = _substitute(text, replace)
    return None if pieces else result


def _pattern(text: str, memory: Memory, star: bool, regex: bool) -> str:
    """A regex for the text: ``*`` any text (wildcard modes), an unknown ``$var`` a word to capture.

    In ``regex`` mode the text is a pattern already: only its ``$var``s are replaced.
    """
    literal = _as_is if regex else regex_literal
    out, cursor = "", 0
    tokens = (r"\*|" if star else "") + VARIABLE.pattern
    for match in re.finditer(tokens, text):
        out += literal(template_text(text[cursor : match.start()]))
        cursor = match.end()
        out += _token(match, memory, literal)
    return out + literal(template_text(text[cursor:]))


def _token(match: re.Match[str], memory: Memory, literal: Callable[[str], str]) -> str:
    if match.group(0) == "*":
        return ".*"
    if not memory.enabled:
        return literal(template_text(match.group(0)))
    name, call = match.group(1), match.group(2)
    value = _bot_value(name, call, memory, literal)
    if value is not None:
        return value
    if name in FUNCTIONS:
        return r"\S+"
    memory.captured.add(name)
    return f"(?P<{name}>\\S+)" + literal(template_text(call or ""))


def _bot_value(name: str, call: str | None, memory: Memory, literal: Callable[[str], str]) -> str | None:
    """What a ``$word`` in a bot text stands for when flowtest knows it; None for a word that
    matches any text (a function flowtest cannot predict, a variable to capture)."""
    if name == "env" and call:
        return "${env." + call[1:-1].strip() + "}"  # inserted literally at run time
    if call is None and name in GENERATED and name not in _UNPREDICTABLE:
        return "${" + GENERATED[name] + "}"
    if name in FUNCTIONS:
        return None
    return _memory_value(name, call, memory, literal)


def _memory_value(name: str, call: str | None, memory: Memory, literal: Callable[[str], str]) -> str | None:
    """A variable's value (as ``literal`` writes it) when the suite set it, ``${name}`` when it is bound."""
    if call is not None:
        return None
    if name in memory.values:
        return literal(template_text(memory.values[name]))
    if memory.known(name):
        return "${" + name + "}"
    return None


def _as_is(text: str) -> str:
    return text


def regex_literal(text: str) -> str:
    """A regex for exactly ``text`` (a ``$${`` escape stays as it is)."""
    return re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", text).replace(r"\$\$\{", "$${")
