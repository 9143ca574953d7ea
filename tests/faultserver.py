"""A small HTTP server on loopback that speaks the Flow API and misbehaves on request.

Each call kind (start, send, get, end) answers with a ``Reply``: a JSON body, raw
bytes, a truncated body, a reset connection, or a delay first. The server counts
sessions on its own side: a Start Session that reached it opened one, whatever its
answer looked like; only a DELETE closes it. ``open_sessions`` is what flowtest left.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_SESSION = re.compile(r"/sessions/([^/]+)(/messages)?$")


@dataclass(frozen=True)
class Reply:
    """How one call is answered. ``body`` may be a callable of the session id and request body."""

    status: int = 200
    body: Any = None
    raw: bytes | None = None  # sent as is instead of JSON
    delay: float = 0.0
    truncate: bool = False  # announce more bytes than are sent, then close
    reset: bool = False  # close the connection with RST, no answer at all
    echo_auth: bool = False  # put the Authorization header into an error body
    trickle: float = (
        0.0  # send the whole answer (status line, headers, body) a byte at a time, this far apart
    )
    chunked: bool = False  # send the body in chunks, without a Content-Length
    hold: threading.Event | None = None  # answer only once the test sets it


def turn(session_id: str, status: Any = "awaiting_input", messages: Any = None) -> dict[str, Any]:
    return {
        "sessionId": session_id,
        "status": status,
        "messages": [{"type": "text", "text": "Hello"}] if messages is None else messages,
    }


@dataclass
class FaultServer:
    url: str = ""
    start: Reply | Callable[[str, dict[str, Any]], Reply] = Reply()
    send: Reply | Callable[[str, dict[str, Any]], Reply] = Reply()
    get: Reply | Callable[[str, dict[str, Any]], Reply] = Reply()
    end: Reply | Callable[[str, dict[str, Any]], Reply] = Reply()
    opened: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    end_started: threading.Event = field(default_factory=threading.Event)
    holding: threading.Event = field(default_factory=threading.Event)  # a held answer is waiting
    idle: set[socket.socket] = field(default_factory=set)  # kept-alive connections between requests
    stop_listening: Callable[[], None] = lambda: None  # from now on, connections are refused

    @property
    def open_sessions(self) -> list[str]:
        with self.lock:
            return [session for session in self.opened if session not in self.ended]

    def reply_for(self, kind: str, session_id: str, body: dict[str, Any]) -> Reply:
        chosen = getattr(self, kind)
        return chosen(session_id, body) if callable(chosen) else chosen

    def default_body(self, kind: str, session_id: str, body: dict[str, Any]) -> Any:
        if kind == "end":
            return {"sessionId": session_id, "status": "terminated"}
        if kind == "get":
            return {"sessionId": session_id, "status": "awaiting_input", "variables": {}, "metadata": {}}
        if kind == "send":
            text = str(body.get("text", ""))
            return turn(session_id, messages=[{"type": "text", "text": f"You said: {text}"}])
        return turn(session_id)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def setup(self) -> None:
        super().setup()
        with self.server.faults.lock:
            self.server.faults.idle.add(self.connection)

    def finish(self) -> None:
        with self.server.faults.lock:
            self.server.faults.idle.discard(self.connection)
        super().finish()

    def _serve(self) -> None:
        faults = self.server.faults
        with faults.lock:
            faults.idle.discard(self.connection)
        try:
            self._serve_request(faults)
        finally:
            if not self.close_connection:
                with faults.lock:
                    faults.idle.add(self.connection)

    def _serve_request(self, faults: FaultServer) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else {}
        kind, session_id = self._route(faults)
        with faults.lock:
            faults.requests.append((self.command, self.path, body, dict(self.headers)))
            if kind == "start":
                session_id = f"ses_{len(faults.opened) + 1}"
                faults.opened.append(session_id)
        if kind == "end":
            faults.end_started.set()
        reply = faults.reply_for(kind, session_id, body)
        if reply.hold is not None:
            faults.holding.set()
            reply.hold.wait(60)
            self.close_connection = True  # after its answer: the client must connect anew
        if reply.delay:
            time.sleep(reply.delay)
        if kind == "end" and 200 <= reply.status < 300:
            with faults.lock:
                faults.ended.append(session_id)
        self._answer(reply, faults.default_body(kind, session_id, body), session_id, body)

    def _route(self, faults: FaultServer) -> tuple[str, str]:
        found = _SESSION.search(self.path)
        if self.command == "POST" and found is None:
            return "start", ""
        session_id = found.group(1) if found else ""
        if self.command == "POST":
            return "send", session_id
        return ("get" if self.command == "GET" else "end"), session_id

    def _answer(self, reply: Reply, default: Any, session_id: str, body: dict[str, Any]) -> None:
        if reply.reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if reply.raw is not None:
            content = reply.raw
        else:
            value = default if reply.body is None else reply.body
            if callable(value):
                value = value(session_id, body)
            if reply.echo_auth:
                value = {"error": {"code": "DENIED", "message": f"bad {self.headers.get('Authorization')}"}}
            content = json.dumps(value).encode()
        if reply.trickle:
            self._trickle(reply, content)
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        if reply.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(content), 65536):
                piece = content[start : start + 65536]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(content) + (100 if reply.truncate else 0)))
        self.end_headers()
        self.wfile.write(content)
        if reply.truncate:
            self.wfile.flush()
            self.close_connection = True

    def _trickle(self, reply: Reply, content: bytes) -> None:
        head = f"HTTP/1.1 {reply.status} OK\r\nContent-Type: application/json\r\n"
        answer = f"{head}Content-Length: {len(content)}\r\n\r\n".encode() + content
        self.close_connection = True
        try:
            for index in range(len(answer)):
                self.wfile.write(answer[index : index + 1])
                self.wfile.flush()
                time.sleep(reply.trickle)
        except OSError:
            return  # the client gave up: what the test wants


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    faults: FaultServer


@contextmanager
def fault_server(faults: FaultServer | None = None) -> Iterator[FaultServer]:
    faults = faults or FaultServer()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.faults = faults
    faults.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop_listening() -> None:  # the answers under way still go out; nothing else gets in
        server.shutdown()
        server.socket.close()
        with faults.lock:
            for connection in faults.idle:
                connection.shutdown(socket.SHUT_RDWR)

    faults.stop_listening = stop_listening
    try:
        yield faults
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
