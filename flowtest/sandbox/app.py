"""The sandbox's HTTP face: the four calls of the contract, their errors, and fault injection."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import random
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flowtest.contract import API_ROOT, AWAITING_INPUT, AWAITING_TRANSFER, TERMINAL_STATUSES, TRANSFER_RESULTS
from flowtest.sandbox import COVERAGE_PATH, engine
from flowtest.sandbox.flows import Flow, FlowSet
from flowtest.sandbox.paths import PathLog, TakenPath

logger = logging.getLogger(__name__)

API_PREFIX = API_ROOT + "/{orgId}"
TERMINAL = TERMINAL_STATUSES
MAX_TEXT = 4096
TRANSFER_STATUSES = TRANSFER_RESULTS
Clock = Callable[[], float]


@dataclass(frozen=True)
class Faults:
    """Fault injection: added latency, a share of 503s, and a request rate cap (429)."""

    latency: float = 0.0
    error_rate: float = 0.0
    rate_limit: float | None = None
    seed: int | None = None


@dataclass(frozen=True)
class Limits:
    session_ttl: float = 3600.0
    max_sessions: int = 10_000
    max_body_bytes: int = 65_536


@dataclass
class LiveSession:
    id: str
    org: str
    flow: Flow
    state: engine.FlowState
    metadata: dict[str, Any]
    created_at: float
    expires_at: float


class ApiProblem(Exception):
    """An error answer of the contract: status, error code and message."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after

    def response(self) -> JSONResponse:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        body = {"error": {"code": self.code, "message": self.message}}
        return JSONResponse(body, status_code=self.status, headers=headers)


@dataclass
class TokenBucket:
    rate: float
    clock: Clock
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens, self.updated = self.rate, self.clock()

    def take(self) -> float:
        """0 when a request may pass, else the seconds until one may."""
        now = self.clock()
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class SandboxApi:
    """Holds the sessions; its methods are the Starlette endpoints.

    ``paths``: where each session's edges are kept after it ends, when coverage is recorded
    (None: nothing is recorded).
    """

    def __init__(
        self,
        flows: dict[str, Flow] | FlowSet,
        keys: dict[str, frozenset[str]],
        limits: Limits = Limits(),
        faults: Faults = Faults(),
        clock: Clock = time.time,
        paths: PathLog | None = None,
    ) -> None:
        found = flows if isinstance(flows, FlowSet) else FlowSet(flows)
        self.flows, self.broken = found.flows, found.broken
        self.keys, self.limits, self.faults, self.clock, self.paths = keys, limits, faults, clock, paths
        self.sessions: dict[str, LiveSession] = {}
        self.started = 0
        self.peak = 0  # most sessions open at once: shows how much a run overlapped
        self.random = random.Random(faults.seed)
        # Each session's wording (say: one_of) and set: one_of draws; apart from the faults' draws.
        self.wording = random.Random(f"wording:{faults.seed}") if faults.seed is not None else random.Random()
        self.bucket = TokenBucket(faults.rate_limit, time.monotonic) if faults.rate_limit else None
        self.last_purge = clock()

    # -- endpoints -----------------------------------------------------------------

    async def start_session(self, request: Request) -> Response:
        org = await self.preflight(request)
        flow_id = request.path_params["flowId"]
        body = await self.json_body(request, required=False)
        variables = _object_field(body, "variables")
        metadata = _object_field(body, "metadata")
        flow = self.flows.get(flow_id)
        if flow_id in self.broken:
            problems = "\n".join(str(error) for error in self.broken[flow_id])
            raise ApiProblem(
                500, "INTERNAL", f"the flow '{flow_id}' cannot run; its file has problems:\n{problems}"
            )
        if flow is None:
            raise ApiProblem(404, "FLOW_NOT_FOUND", f"no flow '{flow_id}' in organization '{org}'")
        if (
            len(self.sessions) >= self.limits.max_sessions
            and self.live_sessions() >= self.limits.max_sessions
        ):
            raise ApiProblem(429, "RATE_LIMITED", "too many live sessions", retry_after=1)
        session = self.new_session(org, flow, variables, metadata)
        messages = engine.start(flow, session.state)
        return self.turn(session, messages, status_code=201)

    async def send_message(self, request: Request) -> Response:
        session = self.session_for(request, await self.preflight(request))
        body = await self.json_body(request, required=True)
        self.refuse_finished(session)
        if ("text" in body) == ("transferResult" in body):
            raise ApiProblem(400, "INVALID_REQUEST", "give exactly one of text or transferResult")
        if "text" in body:
            messages = self.take_text(session, body["text"])
        else:
            messages = self.take_transfer(session, body["transferResult"])
        return self.turn(session, messages)

    async def session(self, request: Request) -> Response:
        """One route for both methods, so a 405 lists exactly GET and DELETE in Allow."""
        if request.method == "DELETE":
            return await self.end_session(request)
        return await self.get_session(request)

    async def get_session(self, request: Request) -> Response:
        session = self.session_for(request, await self.preflight(request))
        return JSONResponse(
            {
                "sessionId": session.id,
                "orgId": session.org,
                "flowId": session.flow.id,
                "status": session.state.status,
                "metadata": session.metadata,
                "variables": session.state.variables,
                "createdAt": _iso(session.created_at),
                "expiresAt": _iso(session.expires_at),
            }
        )

    async def end_session(self, request: Request) -> Response:
        session = self.session_for(request, await self.preflight(request))
        self.forget(session)
        return JSONResponse({"sessionId": session.id, "status": "terminated"})

    async def coverage(self, request: Request) -> Response:
        """Sandbox-only: the flow graphs, and the edges each session of a run took (by the prefix of
        its metadata.externalSessionId), also after End Session. Needs the API key, no org."""
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or key.strip() not in self.keys:
            raise ApiProblem(401, "UNAUTHORIZED", "missing API key" if not header else "unknown API key")
        return JSONResponse(self.taken_paths(request.query_params.get("prefix", "")))

    def taken_paths(self, prefix: str) -> dict[str, Any]:
        """The coverage endpoint's answer; the embedded sandbox's run reads it in process."""
        graphs = {flow_id: flow.graph for flow_id, flow in self.flows.items() if flow.graph is not None}
        body: dict[str, Any] = {
            "recording": self.paths is not None,
            "flows": {flow_id: graph.as_json() for flow_id, graph in graphs.items()},
            "broken": {flow_id: [str(e) for e in errors] for flow_id, errors in self.broken.items()},
            "sessions": {},
            "forgotten": 0,
        }
        if self.paths is not None:
            live = [
                (s.id, TakenPath.of(s.flow.id, s.metadata, s.state.taken))
                for s in self.sessions.values()
                if s.state.taken is not None
            ]
            body["sessions"] = self.paths.select(prefix, live, graphs)
            body["forgotten"] = self.paths.forgotten
        return body

    # -- the steps every call shares ------------------------------------------------

    async def preflight(self, request: Request) -> str:
        """Faults first (as a real gateway's would hit before auth), then auth; the org."""
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        if self.bucket is not None:
            wait = self.bucket.take()
            if wait:
                raise ApiProblem(429, "RATE_LIMITED", "rate limit exceeded", math.ceil(wait))
        if self.faults.error_rate and self.random.random() < self.faults.error_rate:
            raise ApiProblem(503, "INTERNAL", "injected fault: service unavailable")
        self.purge_expired()
        return self.authorize(request)

    def authorize(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        orgs = self.keys.get(key.strip()) if scheme.lower() == "bearer" else None
        if orgs is None:
            reason = "missing API key" if not header else "unknown API key"
            raise ApiProblem(401, "UNAUTHORIZED", reason)
        org = str(request.path_params["orgId"])
        if org not in orgs:
            raise ApiProblem(403, "FORBIDDEN", f"this API key does not open organization '{org}'")
        return org

    async def json_body(self, request: Request, required: bool) -> dict[str, Any]:
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > self.limits.max_body_bytes:
                limit = self.limits.max_body_bytes
                raise ApiProblem(400, "INVALID_REQUEST", f"body larger than {limit} bytes")
        if not raw.strip():
            if required:
                raise ApiProblem(400, "INVALID_REQUEST", "a JSON body is required")
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiProblem(400, "INVALID_REQUEST", "body is not valid JSON") from None
        except RecursionError:  # [[[[...]]]] deeper than Python's parser recursion
            raise ApiProblem(400, "INVALID_REQUEST", "body is nested too deeply") from None
        if not isinstance(body, dict):
            raise ApiProblem(400, "INVALID_REQUEST", "body must be a JSON object")
        return body

    def session_for(self, request: Request, org: str) -> LiveSession:
        session_id = request.path_params["sessionId"]
        session = self.sessions.get(session_id)
        if session is None or session.org != org:
            raise ApiProblem(404, "SESSION_NOT_FOUND", f"no session '{session_id}' in '{org}'")
        if self.clock() >= session.expires_at and session.state.status not in TERMINAL:
            session.state.status = "expired"
        return session

    def refuse_finished(self, session: LiveSession) -> None:
        status = session.state.status
        if status == "expired":
            raise ApiProblem(410, "SESSION_EXPIRED", "the session passed its time limit")
        if status in TERMINAL:
            raise ApiProblem(409, "SESSION_NOT_ACTIVE", f"the session is {status}")

    def take_text(self, session: LiveSession, text: Any) -> list[engine.Message]:
        if not isinstance(text, str):
            raise ApiProblem(400, "INVALID_REQUEST", "text must be a string")
        if len(text) > MAX_TEXT:
            raise ApiProblem(400, "INVALID_REQUEST", f"text longer than {MAX_TEXT} characters")
        if session.state.status != AWAITING_INPUT:
            raise ApiProblem(400, "INVALID_REQUEST", "the session awaits a transferResult, not text")
        return engine.resume_with_text(session.flow, session.state, text)

    def take_transfer(self, session: LiveSession, result: Any) -> list[engine.Message]:
        if not isinstance(result, dict) or result.get("status") not in TRANSFER_STATUSES:
            message = "transferResult.status must be success, failed or hangup"
            raise ApiProblem(400, "INVALID_REQUEST", message)
        reason = result.get("failReason")
        if reason is not None and not isinstance(reason, str):
            raise ApiProblem(400, "INVALID_REQUEST", "transferResult.failReason must be a string")
        if session.state.status != AWAITING_TRANSFER:
            raise ApiProblem(400, "INVALID_REQUEST", "the session awaits text, not a transferResult")
        return engine.resume_with_transfer(session.flow, session.state, result["status"], reason)

    def new_session(
        self, org: str, flow: Flow, variables: dict[str, Any], metadata: dict[str, Any]
    ) -> LiveSession:
        now = self.clock()
        state = engine.FlowState(
            variables={**json.loads(json.dumps(flow.defaults)), **variables},
            taken=set() if self.paths is not None else None,
            seed=self.wording.getrandbits(32),
        )
        metadata = {"channel": "api", **metadata}
        session_id = "ses_" + secrets.token_hex(12)
        session = LiveSession(session_id, org, flow, state, metadata, now, now + self.limits.session_ttl)
        self.sessions[session_id] = session
        self.started += 1
        self.peak = max(self.peak, len(self.sessions))
        return session

    def turn(self, session: LiveSession, messages: list[engine.Message], status_code: int = 200) -> Response:
        body: dict[str, Any] = {
            "sessionId": session.id,
            "status": session.state.status,
            "messages": messages,
            "expiresAt": _iso(session.expires_at),
        }
        if session.state.transfer is not None and session.state.status == AWAITING_TRANSFER:
            body["transfer"] = session.state.transfer
        return JSONResponse(body, status_code=status_code)

    def forget(self, session: LiveSession) -> None:
        """The session is gone; what it took through its flow stays for coverage."""
        del self.sessions[session.id]
        if self.paths is not None and session.state.taken is not None:
            self.paths.keep(session.id, session.flow.id, session.metadata, session.state.taken)

    def live_sessions(self) -> int:
        """Sessions neither finished nor past their lifetime (kept a while after, for 410s)."""
        now = self.clock()
        return sum(1 for s in self.sessions.values() if s.state.status not in TERMINAL and now < s.expires_at)

    def purge_expired(self) -> None:
        """Forget sessions well past their limit, at most once a second."""
        now = self.clock()
        if now - self.last_purge < 1:
            return
        self.last_purge = now
        grace = min(self.limits.session_ttl, 600.0)
        stale = [s for s in self.sessions.values() if now >= s.expires_at + grace]
        for session in stale:
            self.forget(session)
        if stale:
            logger.info("purged %d expired sessions", len(stale))


def _object_field(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name, {})
    if not isinstance(value, dict):
        raise ApiProblem(400, "INVALID_REQUEST", f"{name} must be a JSON object")
    return value


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


async def _problem(_request: Request, exc: Exception) -> Response:
    if isinstance(exc, ApiProblem):
        return exc.response()
    raise exc


async def _gone(request: Request, _exc: Exception) -> Response:
    """The client gave up (a timeout, Ctrl-C) before its body was read: nobody to answer, nothing wrong."""
    logger.info("%s %s: the client left before sending its body", request.method, request.url.path)
    return Response(status_code=400)


async def _http_problem(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = f"no such endpoint: {request.method} {request.url.path}"
    response = ApiProblem(status, "INVALID_REQUEST", message).response()
    if isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)  # keeps Allow on a 405, as RFC 9110 asks
    return response


async def _stats(api: SandboxApi, request: Request) -> Response:
    stats = {"liveSessions": len(api.sessions), "startedSessions": api.started, "peakSessions": api.peak}
    return JSONResponse(stats)


def create_app(api: SandboxApi, on_ready: Callable[[], None] | None = None) -> Starlette:
    routes = [
        # Sandbox-only, outside the contract's paths: lets tests and benchmarks count open sessions.
        Route("/_sandbox/stats", functools.partial(_stats, api), methods=["GET"]),
        Route(COVERAGE_PATH, api.coverage, methods=["GET"]),
        Route(API_PREFIX + "/flows/{flowId}/sessions", api.start_session, methods=["POST"]),
        Route(API_PREFIX + "/sessions/{sessionId}/messages", api.send_message, methods=["POST"]),
        Route(API_PREFIX + "/sessions/{sessionId}", api.session, methods=["GET", "DELETE"]),
    ]
    handlers = {ApiProblem: _problem, HTTPException: _http_problem, ClientDisconnect: _gone}
    return Starlette(routes=routes, exception_handlers=handlers, lifespan=_Lifespan(on_ready))


class _Lifespan:
    """Tells the caller once the app has started, so it can announce the URL."""

    def __init__(self, on_ready: Callable[[], None] | None) -> None:
        self.on_ready = on_ready

    @contextlib.asynccontextmanager
    async def __call__(self, _app: Starlette) -> AsyncIterator[None]:
        if self.on_ready is not None:
            self.on_ready()
        yield
