"""``flowtest record``: drive a live session from the terminal, then write the scenario that replays it.

Bot messages become expectations, statuses become status checks, the final variables
become variables checks. Values that change from run to run (ids, dates, times, long
numbers) become regex matchers instead of literals.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import yaml

from flowtest.authoring.validate import LONG_EXACT_TEXT
from flowtest.authoring.varying import volatile_parts
from flowtest.client import FlowClient, TurnResult
from flowtest.client.protocol import lost_start_warning
from flowtest.contract import AWAITING_INPUT, EXTERNAL_ID, TERMINAL_STATUSES
from flowtest.errors import ApiError, FlowtestError, ProtocolError, TransportError
from flowtest.stopsignals import deferred
from flowtest.trace import buttons, message_line

HELP = "commands: /transfer success|failed|hangup [reason], /utterance NAME, /vars, /end, /quit, /help"


def text_matcher(text: str) -> Any:
    """The text itself, or {regex: ...} with its volatile parts generalised."""
    pieces = volatile_parts(text)
    if not pieces:
        if len(text) > LONG_EXACT_TEXT:
            # What validate would flag as brittle: keep the opening words, which carry the intent.
            return {"contains": escape_template(_opening(text))}
        return escape_template(text)
    regex, cursor = "^", 0
    for start, end, replacement, _ in pieces:
        regex += _literal(text[cursor:start]) + replacement
        cursor = end
    return {"regex": escape_template(regex + _literal(text[cursor:]) + "$")}


def _opening(text: str) -> str:
    """The first sentence when it is short enough, else the words that fit in LONG_EXACT_TEXT."""
    sentence = re.match(r"(.+?[.!?])(?:\s|$)", text)
    if sentence is not None and len(sentence.group(1)) <= LONG_EXACT_TEXT:
        return sentence.group(1)
    cut = text[:LONG_EXACT_TEXT]
    return cut.rsplit(" ", 1)[0] if " " in cut else cut


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
    for path, value in _leaves(variables, prefix):
        yield path, value_matcher(value)


def _leaves(variables: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for key, value in variables.items():
        simple = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) is not None
        path = f"{prefix}.{key}" if simple else f"{prefix}[{json.dumps(key)}]"
        if isinstance(value, dict) and value:
            yield from _leaves(value, path)
        else:
            yield path, value


def message_checks(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``message:`` checks for what a message carries besides its type and text: card, buttons, payload."""
    checks: dict[str, Any] = {}
    for key in ("title", "subtitle"):
        if isinstance(raw.get(key), str):
            checks[f"$.{key}"] = text_matcher(raw[key])
    found = buttons(raw)
    if found is not None:
        checks[found[0]] = [escape_template(label) for label in found[1]]
    if isinstance(raw.get("payload"), Mapping):
        checks.update(variable_checks(raw["payload"], "$.payload"))
    return checks


def secret_env(name: str) -> str:
    """The environment variable a recorded scenario reads a secret variable from."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


@dataclass
class Recording:
    flow: str
    name: str
    variables: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)
    status: str | None = None
    ended: bool = False
    phrases: dict[str, str] = field(default_factory=dict)  # a phrase sent as {utterance: NAME} -> NAME
    # Variables (JSONPaths of leaves) that a phrase sent from a list set or changed: another
    # phrase of the list may set them otherwise, so the scenario checks only that they exist.
    phrase_dependent: set[str] = field(default_factory=set)
    secret_names: frozenset[str] = frozenset()
    known_secrets: Mapping[str, str] = field(default_factory=dict)  # value -> template (the API key)

    @property
    def secret_values(self) -> dict[str, str]:
        """Each secret's value -> the ${env.NAME} written in its place."""
        found = {
            str(value): f"${{env.{secret_env(name)}}}"
            for name, value in self.variables.items()
            if name in self.secret_names and value not in (None, "")
        }
        return {**self.known_secrets, **found}

    def literal(self, text: str) -> str:
        """Text the user typed, as a scenario writes it: no template, no secret."""
        text = escape_template(text)
        for secret, template in self.secret_values.items():
            text = text.replace(secret, template)
        return text

    def _text(self, text: str) -> Any:
        """A bot text's matcher, with each secret value read from the environment instead."""
        secrets = self.secret_values
        marks = {f"\x00{index}\x00": template for index, template in enumerate(secrets.values())}
        for mark, secret in zip(marks, secrets, strict=True):
            text = text.replace(secret, mark)
        matcher = text_matcher(text)
        for mark, template in marks.items():
            matcher = _replace(matcher, mark, template)
        return matcher

    def _value_check(self, path: str, value: Any) -> Any:
        if isinstance(value, str) and value in self.phrases:
            return {"utterance": self.phrases[value]}
        if path in self.phrase_dependent:
            return {"exists": True}
        if isinstance(value, str) and value in self.secret_values:
            return self._text(value)
        return value_matcher(value)

    def phrase_changed(self, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        """The variables as they were before and after a phrase from a list was sent."""
        old = dict(_leaves(before, "$"))
        missing = object()
        self.phrase_dependent.update(
            path for path, value in _leaves(after, "$") if old.get(path, missing) != value
        )

    def turn(self, turn: TurnResult) -> None:
        texts: list[Any] = []  # consecutive plain texts become one bot step
        for message in turn.messages:
            checks = message_checks(message.raw)
            if message.text is not None and not checks:
                texts.append(self._text(message.text))
                continue
            self._texts(texts)
            step: dict[str, Any] = {"bot": self._text(message.text)} if message.text is not None else {}
            step["message"] = {"$.type": message.type, **checks}
            self.steps.append(step)
        self._texts(texts)
        if turn.transfer:
            self.steps.append({"turn": dict(variable_checks(turn.transfer, "$.transfer"))})
        if turn.status != self.status:
            self.steps.append({"status": turn.status})
        self.status = turn.status

    def _texts(self, texts: list[Any]) -> None:
        if texts:
            self.steps.append({"bot": texts[0] if len(texts) == 1 else list(texts)})
            texts.clear()

    def scenario(self, final_variables: Mapping[str, Any] | None) -> dict[str, Any]:
        steps = list(self.steps)
        if final_variables:
            steps.append({"variables": self._final_checks(final_variables)})
        document: dict[str, Any] = {"name": self.name, "flow": self.flow}
        if self.variables:
            document["start"] = {"variables": self._start_variables()}
        document["conversation"] = steps or [{"status": self.status}]
        for secret, template in self.secret_values.items():  # wherever else one hides
            document = _replace(document, secret, template)
        return document

    def _final_checks(self, final_variables: Mapping[str, Any]) -> dict[str, Any]:
        """One check per final variable. A secret's value is not written: the check says only
        that it is there. A value that is a phrase sent from a list differs in each test of it:
        any phrase will do."""
        checks = {
            path: self._value_check(path, value)
            for path, value in _leaves(final_variables, "$")
            if path.removeprefix("$.") not in self.secret_names
        }
        checks.update({f"$.{k}": {"exists": True} for k in final_variables if k in self.secret_names})
        return checks

    def _start_variables(self) -> dict[str, Any]:
        """The variables the session started with; a secret's read from the environment."""
        return {
            name: f"${{env.{secret_env(name)}}}" if name in self.secret_names else escape_template(value)
            for name, value in self.variables.items()
        }


def _replace(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {key: _replace(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace(item, old, new) for item in value]
    return value


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
        lists: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.client, self.recording, self.lines, self.out, self.prompt = client, recording, lines, out, prompt
        self.session_id: str | None = None
        self.prompted = False  # a prompt waits for its line: what is said next starts a line of its own
        # Utterance lists, when asked for: a typed phrase of one is written as {utterance: NAME}.
        self.lists = dict(lists or {})

    def run(self) -> dict[str, Any]:
        # Our own id for the session, so that one whose answer is lost can still be found.
        external_id = f"flowtest-record-{uuid.uuid4().hex[:12]}"
        try:
            # Stopped mid-call, the session's id would be lost with its answer: the stop waits
            # for the answer (bounded by the timeout), then the session is ended.
            with deferred(lambda: self.warn("stopping once Start Session answers, to end its session")):
                turn = self.client.start_session(
                    self.recording.flow, self.recording.variables, {EXTERNAL_ID: external_id}
                )
                self.session_id = turn.session_id
        except ProtocolError as exc:
            # An answer flowtest cannot read may still name the session: end it.
            self.session_id = exc.session_id
            if exc.session_id is None:
                self.warn(lost_start_warning(external_id))
            self.end_quietly()
            raise
        except TransportError as exc:
            if exc.request_sent:
                self.warn(lost_start_warning(external_id))
            raise
        except KeyboardInterrupt:  # stopped while Start Session was on its way
            self.end_quietly()
            raise
        try:  # from here on, a stop (even while the greeting prints) ends the session
            self.show(turn)
            self.loop()
            final = None if self.recording.ended else self.client.get_session(turn.session_id).variables
        finally:
            if not self.recording.ended:
                self.end_quietly()
        return self.recording.scenario(final)

    def loop(self) -> None:
        lines = iter(self.lines)
        while self.recording.status not in TERMINAL_STATUSES:
            self.prompt("you> " if self.recording.status == AWAITING_INPUT else "transfer> ")
            self.prompted = True
            line = next(lines, None)
            self.prompted = line is None  # a line typed ends with its newline; none read, none came
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
        elif command == "/utterance":
            self.utterance(rest.strip())
        elif command.startswith("/"):
            self.say(f"unknown command {command}; {HELP}")
        else:
            self.send(line)
        return True

    def send(self, text: str, utterance: str | None = None) -> None:
        name = utterance or next((n for n, phrases in self.lists.items() if text.strip() in phrases), None)
        before = self._variables() if name else None
        try:
            turn = self.client.send_text(self._session(), text)
        except ApiError as exc:
            self._refused(exc)
            return
        if name:
            self._phrase_sent(text, name, before)
        self.recording.steps.append({"user": {"utterance": name} if name else self.recording.literal(text)})
        self.show(turn)

    def _phrase_sent(self, text: str, name: str, before: Mapping[str, Any] | None) -> None:
        """A phrase of list ``name`` was sent: the variables it changed depend on the phrase."""
        self.recording.phrases[text.strip()] = name
        after = self._variables()
        if before is not None and after is not None:
            self.recording.phrase_changed(before, after)

    def _refused(self, exc: ApiError) -> None:
        self.say(f"refused: {exc.status} {exc.code or ''} {exc.api_message or ''}".rstrip())

    def _variables(self) -> Mapping[str, Any] | None:
        """The session's variables now; None when Get Session is refused (then nothing is learnt)."""
        try:
            return self.client.get_session(self._session()).variables
        except ApiError:
            return None

    def utterance(self, name: str) -> None:
        """Send the first phrase of a list; the scenario then sends each of them."""
        if name not in self.lists:
            known = ", ".join(sorted(self.lists)) or "none (record --utterances reads them)"
            self.say(f"no utterance list '{name}'; lists: {known}")
            return
        self.say(f"you> {self.lists[name][0]}")
        self.send(self.lists[name][0], name)

    def transfer(self, rest: str) -> None:
        result, _, reason = rest.strip().partition(" ")
        if result not in ("success", "failed", "hangup"):
            self.say("usage: /transfer success|failed|hangup [reason]")
            return
        try:
            turn = self.client.send_transfer(self._session(), result, reason.strip() or None)
        except ApiError as exc:
            self._refused(exc)
            return
        step: dict[str, Any] = {"transfer": result}
        if reason.strip():
            step["reason"] = self.recording.literal(reason.strip())
        self.recording.steps.append(step)
        self.show(turn)

    def show(self, turn: TurnResult) -> None:
        for message in turn.messages:
            self.say(f"bot> {message_line(message.type, message.text, message.raw)}")
        if turn.transfer:
            self.say(f"[transfer requested: {json.dumps(dict(turn.transfer), ensure_ascii=False)}]")
        self.say(f"[{turn.status}]")
        self.recording.turn(turn)

    def end_quietly(self) -> None:
        if self.session_id is None:
            return
        # Another Ctrl-C, SIGTERM or SIGHUP now would leave the session open: it waits.
        with deferred(lambda: self.warn("still ending the session before stopping")):
            try:
                self.client.end_session(self.session_id)
                self.say(f"[session {self.session_id} ended]")
            except ApiError as exc:
                if exc.status != 404:
                    self.say(
                        f"warning: End Session failed, session {self.session_id} may still be open: {exc}"
                    )
            except FlowtestError as exc:
                self.say(f"warning: End Session failed, session {self.session_id} may still be open: {exc}")

    def say(self, text: str) -> None:
        lead, self.prompted = "\n" if self.prompted else "", False
        print(lead + self._redacted(text), file=self.out, flush=True)

    def warn(self, text: str) -> None:
        """A warning, on standard error whatever the transcript goes to."""
        print(f"flowtest: warning: {self._redacted(text)}", file=sys.stderr, flush=True)

    def _redacted(self, text: str) -> str:
        redactor = self.client.config.effective_redactor.with_values(self.recording.secret_values)
        return redactor.text(text)

    def _session(self) -> str:
        if self.session_id is None:
            raise RuntimeError("no session")  # run() starts one before the loop
        return self.session_id
