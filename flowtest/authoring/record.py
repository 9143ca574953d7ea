"""``flowtest record``: drive a live session from the terminal, then write the scenario that replays it.

Bot messages become expectations, statuses become status checks, the final variables
become variables checks. Values that change from run to run (ids, dates, times, long
numbers) become regex matchers instead of literals.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import yaml

from flowtest.client import TERMINAL_STATUSES, FlowClient, TurnResult
from flowtest.errors import ApiError, FlowtestError, ProtocolError

HELP = "commands: /transfer success|failed|hangup [reason], /vars, /end, /quit, /help"

# Parts of a text that differ between runs; each becomes a regex of its kind.
_VOLATILE = [
    (
        re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
        r"[0-9a-fA-F-]{36}",
    ),
    (
        re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"),
        r"\d{4}-\d{2}-\d{2}[0-9T:.+Z -]*",
    ),
    (re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"), r"\d{1,2}/\d{1,2}/\d{2,4}"),
    (re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b"), r"\d{1,2}:\d{2}(?::\d{2})?"),
    (re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{12,}\b"), r"[0-9a-f]+"),
    (re.compile(r"\b[A-Za-z]+_[0-9a-f]{12,}\b"), r"\w+"),
    (re.compile(r"\b\d{6,}\b"), r"\d+"),
]


def text_matcher(text: str) -> Any:
    """The text itself, or {regex: ...} with its volatile parts generalised."""
    pieces: list[tuple[int, int, str]] = []
    for pattern, replacement in _VOLATILE:
        for match in pattern.finditer(text):
            if not any(start < match.end() and match.start() < end for start, end, _ in pieces):
                pieces.append((match.start(), match.end(), replacement))
    if not pieces:
        return escape_template(text)
    regex, cursor = "^", 0
    for start, end, replacement in sorted(pieces):
        regex += _literal(text[cursor:start]) + replacement
        cursor = end
    return {"regex": escape_template(regex + _literal(text[cursor:]) + "$")}


def _literal(text: str) -> str:
    """Regex for exactly ``text``, escaping only what must be (re.escape also escapes spaces)."""
    return re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", text)


def value_matcher(value: Any) -> Any:
    if isinstance(value, str):
        return text_matcher(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)) and abs(value) >= 100_000:
        return {"type": "number"}  # long numbers are ids and timestamps
    if isinstance(value, (int, float)):
        return value
    return {"equals": escape_template(value)}


def escape_template(value: Any) -> Any:
    """Recorded text is literal: a "${" in it must not read as a template."""
    if isinstance(value, str):
        return value.replace("${", "$${")
    if isinstance(value, list):
        return [escape_template(item) for item in value]
    if isinstance(value, dict):
        return {key: escape_template(item) for key, item in value.items()}
    return value


def variable_checks(variables: Mapping[str, Any], prefix: str = "$") -> Iterator[tuple[str, Any]]:
    """One check per leaf value, with a JSONPath that reads back to it."""
    for key, value in variables.items():
        simple = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) is not None
        path = f"{prefix}.{key}" if simple else f"{prefix}[{json.dumps(key)}]"
        if isinstance(value, dict) and value:
            yield from variable_checks(value, path)
        else:
            yield path, value_matcher(value)


@dataclass
class Recording:
    flow: str
    name: str
    variables: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)
    status: str | None = None
    ended: bool = False

    def turn(self, turn: TurnResult) -> None:
        texts = [text_matcher(text) for text in turn.texts]
        if len(texts) == 1:
            self.steps.append({"bot": texts[0]})
        elif texts:
            self.steps.append({"bot": texts})
        if turn.status != self.status:
            self.steps.append({"status": turn.status})
        self.status = turn.status

    def scenario(self, final_variables: Mapping[str, Any] | None) -> dict[str, Any]:
        steps = list(self.steps)
        if final_variables:
            steps.append({"variables": dict(variable_checks(final_variables))})
        document: dict[str, Any] = {"name": self.name, "flow": self.flow}
        if self.variables:
            document["start"] = {"variables": escape_template(self.variables)}
        document["conversation"] = steps or [{"status": self.status}]
        return document


def dump(document: dict[str, Any], header: str) -> str:
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000, default_flow_style=False)
    return header + body


class Recorder:
    """The conversation loop: read a line, act, show what came back, remember it all."""

    def __init__(
        self,
        client: FlowClient,
        recording: Recording,
        lines: Iterable[str],
        out: TextIO,
        prompt: Callable[[str], None],
    ) -> None:
        self.client, self.recording, self.lines, self.out, self.prompt = client, recording, lines, out, prompt
        self.session_id: str | None = None

    def run(self) -> dict[str, Any]:
        try:
            turn = self.client.start_session(self.recording.flow, self.recording.variables)
        except ProtocolError as exc:
            # An answer flowtest cannot read may still name the session: end it.
            self.session_id = exc.session_id
            self.end_quietly()
            raise
        self.session_id = turn.session_id
        self.show(turn)
        try:
            self.loop()
            final = None if self.recording.ended else self.client.get_session(turn.session_id).variables
        finally:
            if not self.recording.ended:
                self.end_quietly()
        return self.recording.scenario(final)

    def loop(self) -> None:
        lines = iter(self.lines)
        while self.recording.status not in TERMINAL_STATUSES:
            self.prompt("you> " if self.recording.status == "awaiting_input" else "transfer> ")
            line = next(lines, None)
            if line is None or not self.act(line.rstrip("\n")):
                return

    def act(self, line: str) -> bool:
        """False when the recording should stop."""
        command, _, rest = line.strip().partition(" ")
        if command == "/quit":
            return False
        if command == "/help" or not line.strip():
            self.say(HELP)
        elif command == "/vars":
            variables = self.client.get_session(self._session()).variables
            self.say(json.dumps(variables, indent=2, ensure_ascii=False))
        elif command == "/end":
            self.client.end_session(self._session())
            self.recording.steps.append({"end": True})
            self.recording.ended = True
            self.say("[session ended]")
            return False
        elif command == "/transfer":
            self.transfer(rest)
        elif command.startswith("/"):
            self.say(f"unknown command {command}; {HELP}")
        else:
            self.send(line)
        return True

    def send(self, text: str) -> None:
        try:
            turn = self.client.send_text(self._session(), text)
        except ApiError as exc:
            self.say(f"refused: {exc.status} {exc.code or ''} {exc.api_message or ''}".rstrip())
            return
        self.recording.steps.append({"user": escape_template(text)})
        self.show(turn)

    def transfer(self, rest: str) -> None:
        result, _, reason = rest.strip().partition(" ")
        if result not in ("success", "failed", "hangup"):
            self.say("usage: /transfer success|failed|hangup [reason]")
            return
        try:
            turn = self.client.send_transfer(self._session(), result, reason.strip() or None)
        except ApiError as exc:
            self.say(f"refused: {exc.status} {exc.code or ''} {exc.api_message or ''}".rstrip())
            return
        step: dict[str, Any] = {"transfer": result}
        if reason.strip():
            step["reason"] = escape_template(reason.strip())
        self.recording.steps.append(step)
        self.show(turn)

    def show(self, turn: TurnResult) -> None:
        for text in turn.texts:
            self.say(f"bot> {text}")
        if turn.transfer:
            self.say(f"[transfer requested: {json.dumps(dict(turn.transfer), ensure_ascii=False)}]")
        self.say(f"[{turn.status}]")
        self.recording.turn(turn)

    def end_quietly(self) -> None:
        if self.session_id is None:
            return
        try:
            self.client.end_session(self.session_id)
        except ApiError as exc:
            if exc.status != 404:
                self.say(f"warning: End Session failed, session {self.session_id} may still be open: {exc}")
        except FlowtestError as exc:
            self.say(f"warning: End Session failed, session {self.session_id} may still be open: {exc}")

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _session(self) -> str:
        if self.session_id is None:
            raise RuntimeError("no session")  # run() starts one before the loop
        return self.session_id
