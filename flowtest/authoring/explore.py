"""``flowtest explore``: walk a flow breadth-first and write one scenario per distinct path.

Against a deployment (any base URL) it plays the caller in real sessions: at each turn it
presses every button offered, answers a question from the ``facts`` file (the first entry
whose words the bot's turn holds: each of its answers is a path of its own) and, at a
transfer, gives each transfer result. Each path is replayed in a session of its own from the
start, breadth-first, up to a ``budget`` of sessions and a ``depth`` of moves; every session
it starts is ended, whatever happens. A sandbox flow can instead be walked through its own
engine (every branch arm, every transfer result: flowtest.sandbox.explore), without sessions.

Scenarios are written as ``flowtest record`` writes them (flowtest.authoring.record): the
bot's messages as checks, volatile values as regexes, statuses, the final variables.
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowtest.authoring.record import Recording
from flowtest.client import FlowClient, TurnResult
from flowtest.client.protocol import lost_start_warning
from flowtest.contract import AWAITING_INPUT, AWAITING_TRANSFER, EXTERNAL_ID, TRANSFER_RESULTS
from flowtest.errors import ApiError, FlowtestError, Location, ProtocolError, SourceError, TransportError
from flowtest.stopsignals import deferred
from flowtest.trace import offered
from flowtest.yamlsource import Document, load_documents, read_text

DEFAULT_BUDGET = 50
DEFAULT_DEPTH = 10
_WAITING = (AWAITING_INPUT, AWAITING_TRANSFER)


@dataclass(frozen=True)
class Move:
    """What the explorer does at a turn: ``press`` (sends the payload), ``say`` or ``transfer``."""

    kind: str
    text: str  # what is sent: the button's payload, the answer, the transfer result
    label: str  # how the path is named: the button's title, the answer, "transfer failed"


@dataclass(frozen=True)
class Fact:
    """An entry of the facts file: when the bot's turn holds ``words`` (any case), each answer."""

    words: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Path_:
    """A path explored to its end (or as far as depth and the budget let it go), as a scenario."""

    moves: tuple[Move, ...]
    document: dict[str, Any] = field(repr=False)
    status: str
    cut: bool = False  # it stopped at the depth, still waiting for the caller

    @property
    def name(self) -> str:
        return str(self.document["name"])


@dataclass
class Exploration:
    paths: list[Path_] = field(default_factory=list)
    sessions: int = 0
    unexplored: int = 0  # paths left in the queue when the budget ran out
    diverged: int = 0  # paths whose replay went elsewhere (the bot did not offer the same moves)


def read_facts(path: Path, display: str) -> tuple[Fact, ...]:
    """The facts file: a mapping of WORDS (of the bot's question) to an answer or a list of them."""
    (document,) = load_documents(read_text(path, display), display)[:1] or (None,)
    if document is None or not isinstance(document.data, dict) or not document.data:
        raise SourceError(Location(display, 1, 1), "a facts file maps words of a question to answers")
    return tuple(_fact(document, words, answers) for words, answers in document.data.items())


def _fact(document: Document, words: Any, answers: Any) -> Fact:
    listed = answers if isinstance(answers, list) else [answers]
    if not listed or not all(_answer(answer) for answer in listed):
        message = f"{words}: expected an answer or a list of answers, got {answers!r}"
        raise SourceError(document.location((words,)), message)
    return Fact(str(words).casefold(), tuple(str(answer) for answer in listed))


def _answer(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def moves(turn: TurnResult, facts: tuple[Fact, ...]) -> tuple[Move, ...]:
    """Every move worth trying after this turn, each once (a button and an answer that send the
    same text: one path)."""
    if turn.status == AWAITING_TRANSFER:
        return tuple(Move("transfer", result, f"transfer {result}") for result in TRANSFER_RESULTS)
    if turn.status != AWAITING_INPUT:
        return ()
    found: dict[str, Move] = {}
    for move in (*_presses(turn), *_answers(turn, facts)):
        found.setdefault(move.text, move)
    return tuple(found.values())


def _presses(turn: TurnResult) -> Iterator[Move]:
    for message in turn.messages:
        yield from (Move("press", payload, title) for title, payload in offered(message.raw))


def _answers(turn: TurnResult, facts: tuple[Fact, ...]) -> Iterator[Move]:
    """The answers of the first fact whose words the turn's texts hold."""
    said = " ".join(message.text for message in turn.messages if message.text).casefold()
    fact = next((fact for fact in facts if fact.words in said), None)
    for answer in fact.answers if fact is not None else ():
        yield Move("say", answer, _quoted(answer))


Say = Callable[[str], None]


class LiveExplorer:
    """Explores a flow in real sessions, one per path, breadth-first; ends every session it starts."""

    def __init__(
        self,
        client: FlowClient,
        flow: str,
        facts: tuple[Fact, ...],
        recording: Callable[[str], Recording],
        say: Say,
        budget: int = DEFAULT_BUDGET,
        depth: int = DEFAULT_DEPTH,
    ) -> None:
        self.client, self.flow, self.facts, self.say = client, flow, facts, say
        self.recording, self.budget, self.depth = recording, budget, depth

    def explore(self, found: Callable[[Path_], None]) -> Exploration:
        """Explore, handing each distinct path to ``found`` as soon as it is (a Ctrl-C keeps those)."""
        done = Exploration()
        queue: deque[tuple[Move, ...]] = deque([()])
        seen: set[str] = set()
        while queue and done.sessions < self.budget:
            path = queue.popleft()
            done.sessions += 1
            walked = self._walk(path)
            if walked is None:
                done.diverged += 1
                continue
            turn, document = walked
            following = moves(turn, self.facts) if len(path) < self.depth else ()
            if following:
                queue.extend((*path, move) for move in following)
                continue
            key = repr(document["conversation"])
            if key not in seen:  # two paths the bot answered alike: one scenario
                seen.add(key)
                done.paths.append(Path_(path, document, turn.status, cut=turn.status in _WAITING))
                found(done.paths[-1])
        done.unexplored = len(queue)
        return done

    def _walk(self, path: tuple[Move, ...]) -> tuple[TurnResult, dict[str, Any]] | None:
        """Replay ``path`` in a new session; its last turn and its scenario, or None when it diverged."""
        recording = self.recording(_name(self.flow, path))
        external_id = f"flowtest-explore-{uuid.uuid4().hex[:12]}"
        started: list[TurnResult] = []
        try:
            # Stopped mid-call, the session's id would be lost with its answer: the stop waits
            # for the answer (bounded by the timeout), then the session is ended.
            with deferred(lambda: self.say("stopping once Start Session answers, to end its session")):
                started.append(
                    self.client.start_session(self.flow, recording.variables, {EXTERNAL_ID: external_id})
                )
        except KeyboardInterrupt:  # the stop, raised once Start answered: end that session first
            self._end(started[0].session_id if started else None)
            raise
        except ProtocolError as exc:
            if exc.session_id is None:
                self.say(f"warning: {lost_start_warning(external_id)}")
            self._end(exc.session_id)  # an answer we cannot read may still name its session
            raise
        except TransportError as exc:
            if exc.request_sent:
                self.say(f"warning: {lost_start_warning(external_id)}")
            raise
        turn = started[0]
        try:
            recording.turn(turn)
            for move in path:
                if move not in moves(turn, self.facts):
                    return None
                turn = self._send(turn.session_id, move)
                recording.steps.append(
                    {"transfer": move.text}
                    if move.kind == "transfer"
                    else {"user": recording.literal(move.text)}
                )
                recording.turn(turn)
            return turn, recording.scenario(self._variables(turn.session_id))
        finally:
            self._end(turn.session_id)

    def _send(self, session: str, move: Move) -> TurnResult:
        if move.kind == "transfer":
            return self.client.send_transfer(session, move.text, None)
        return self.client.send_text(session, move.text)

    def _variables(self, session: str) -> Mapping[str, Any] | None:
        try:
            return self.client.get_session(session).variables
        except ApiError:
            return None  # a deployment that forgets finished sessions: no variables check

    def _end(self, session: str | None) -> None:
        if session is None:
            return
        # Another Ctrl-C, SIGTERM or SIGHUP now would leave the session open: it waits.
        with deferred(lambda: self.say("still ending the session before stopping")):
            try:
                self.client.end_session(session)
            except ApiError as exc:
                if exc.status != 404:
                    self.say(f"warning: End Session failed, session {session} may still be open: {exc}")
            except FlowtestError as exc:
                self.say(f"warning: End Session failed, session {session} may still be open: {exc}")


def _name(flow: str, path: tuple[Move, ...], variables: Mapping[str, Any] | None = None) -> str:
    started = ", ".join(f"{name} {value!r}" for name, value in (variables or {}).items())
    with_variables = f" (started with {started})" if started else ""
    return f"Explored {flow}{with_variables}: " + (
        " > ".join(move.label for move in path) or "the first turn"
    )


def graph_paths(flow: Any, depth: int) -> Iterator[Path_]:
    """A sandbox flow walked through its own engine: one scenario per walk no longer one extends
    (every branch arm, every button, every transfer result; states seen before are not followed)."""
    from flowtest.authoring.scaffold import walk_scenario
    from flowtest.sandbox.explore import Explorer

    walks = list(Explorer(flow, max_turns=depth).walks())
    extended = {_moves_key(walk.turns[:-1]) for walk in walks if len(walk.turns) > 1}
    seen: set[str] = set()
    for walk in walks:
        if _moves_key(walk.turns) in extended:
            continue
        labels = tuple(
            Move(turn.move.kind, str(turn.move.text), _label(turn.move.kind, str(turn.move.text)))
            for turn in walk.turns[1:]
        )
        document = walk_scenario(flow, walk, _name(flow.id, labels, walk.start_variables))
        steps = document["conversation"]
        status = walk.turns[-1].status
        if not steps or "status" not in steps[-1]:
            steps.append({"status": status})
        key = repr(steps)
        if key not in seen:
            seen.add(key)
            yield Path_(labels, document, status, cut=status in _WAITING)


def _moves_key(turns: Any) -> str:
    return repr([(turn.move.kind, turn.move.text, sorted(turn.move.variables.items())) for turn in turns])


def _label(kind: str, text: str) -> str:
    return f"transfer {text}" if kind == "transfer" else _quoted(text)


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
