"""A help desk on loopback whose questions come in another order in every session.

The sandbox's flows cannot vary per session, so this small server speaks the Flow API
itself (on tests/faultserver.py, which counts the sessions left open): session N asks
for the caller's name, ticket number and topic in the N-th of ``orders`` (round robin),
re-asks a ticket number that is not one, offers the topics as buttons (``Talk to a
person`` transfers), and completes with a goodbye naming what it was told. Every
``broken_every``-th session ends in error instead: a flaky bot, for ``repeat``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.faultserver import FaultServer, Reply, _Handler, _Server

QUESTIONS = {
    "name": "What is your name?",
    "ticket": "What is your ticket number?",
    "topic": "What is your question about?",
}
TOPICS = [
    {"title": "Billing", "payload": "billing"},
    {"title": "Technical", "payload": "tech"},
    {"title": "Talk to a person", "payload": "agent"},
]
ORDERS = (("name", "ticket", "topic"), ("ticket", "topic", "name"), ("topic", "name", "ticket"))
_TICKET = re.compile(r"INC\d+")


@dataclass
class _Session:
    number: int
    order: tuple[str, ...]
    status: str = "awaiting_input"
    asked: int = 0  # index in order of the question waiting for an answer
    variables: dict[str, Any] = field(default_factory=dict)


@dataclass
class Desk:
    orders: tuple[tuple[str, ...], ...] = ORDERS
    broken_every: int = 0
    send_delay: float = 0.0  # seconds before each Send Message answers: time to stop a run mid-turn
    sessions: dict[str, _Session] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: FaultServer | None = None

    @property
    def url(self) -> str:
        return self.server.url if self.server is not None else ""

    @property
    def open_sessions(self) -> list[str]:
        return self.server.open_sessions if self.server is not None else []

    def start(self, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            number = len(self.sessions) + 1
            session = _Session(number, self.orders[(number - 1) % len(self.orders)])
            session.variables.update(body.get("variables") or {})
            self.sessions[session_id] = session
            return self._turn(session_id, [_text("Welcome to the help desk."), *self._question(session)])

    def send(self, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            session = self.sessions[session_id]
            if "transferResult" in body:
                session.status = "completed"
                return self._turn(session_id, [_text("You're through to a person. Goodbye.")])
            return self._turn(session_id, self._answer(session, str(body.get("text", ""))))

    def get(self, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            session = self.sessions[session_id]
            return {"sessionId": session_id, "status": session.status, "variables": dict(session.variables)}

    def _answer(self, session: _Session, text: str) -> list[dict[str, Any]]:
        topic = session.order[session.asked]
        if topic == "ticket":
            found = _TICKET.search(text.upper())
            if found is None:
                return [_text("That is not a ticket number, it looks like INC123."), *self._question(session)]
            text = found.group(0)
        session.variables[topic] = text
        if topic == "topic" and text == "agent":
            session.status = "awaiting_transfer"
            return [_text("Putting you through to a person.")]
        session.asked += 1
        if session.asked < len(session.order):
            return self._question(session)
        if self.broken_every and session.number % self.broken_every == 0:
            session.status = "error"
            return [_text("Sorry, something went wrong on our side.")]
        session.status = "completed"
        known = session.variables
        goodbye = (
            f"Thank you {known['name']}, ticket {known['ticket']} is with the {known['topic']} team. Goodbye."
        )
        return [_text(goodbye)]

    def _question(self, session: _Session) -> list[dict[str, Any]]:
        topic = session.order[session.asked]
        if topic == "topic":
            return [{"type": "quick_replies", "text": QUESTIONS[topic], "buttons": TOPICS}]
        return [_text(QUESTIONS[topic])]

    def _turn(self, session_id: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
        session = self.sessions[session_id]
        return {"sessionId": session_id, "status": session.status, "messages": messages}


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


class _Quick(_Handler):
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK wait


@contextmanager
def desk_server(desk: Desk | None = None) -> Iterator[Desk]:
    """The desk on a free loopback port, in a thread of its own, until the block ends."""
    desk = desk or Desk()
    send = Reply(body=desk.send, delay=desk.send_delay)
    faults = FaultServer(start=Reply(body=desk.start), send=send, get=Reply(body=desk.get))
    server = _Server(("127.0.0.1", 0), _Quick)
    server.faults = faults
    faults.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    desk.server = faults
    try:
        yield desk
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
