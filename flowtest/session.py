"""One test run's shared machinery: settings, the event loop, the client, the embedded sandbox.

Conversations run on one asyncio loop in a thread of its own. The pytest plugin asks
for each item's result in the usual order; with concurrency above 1 the conversations
of the items that follow are already under way, at most ``concurrency`` at a time.
Plain Python, usable without pytest.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from flowtest.client import AsyncFlowClient, ClientConfig
from flowtest.config import API_KEY_VARIABLE, Settings
from flowtest.errors import UNREACHABLE_KINDS, ConfigError, FlowtestError
from flowtest.fdlimit import fit_concurrency
from flowtest.redact import Redactor, url_secrets
from flowtest.runner import RunContext, run_case
from flowtest.scenario.model import Case
from flowtest.stopsignals import INTERRUPTS, STOP_SIGNALS, on_stop_signals, stop_like_ctrl_c
from flowtest.trace import Category, Result

if TYPE_CHECKING:
    from flowtest.sandbox.server import RunningSandbox

logger = logging.getLogger(__name__)
T = TypeVar("T")
_CANCEL_WAIT = 60.0  # seconds to let cancelled conversations end their sessions
_FOLLOW_INTERVAL = 0.02


class NotLaunched(FlowtestError):
    """The run stopped (-x, Ctrl-C) before this conversation started."""


class ConversationPool:
    def __init__(self, settings: Settings, env: Mapping[str, str]) -> None:
        self.settings = settings
        self.env = env
        self.run_id = uuid.uuid4().hex[:12]
        self.orgs: set[str] = {settings.org}
        self.base_url: str | None = settings.base_url
        self.sandbox: RunningSandbox | None = None  # the embedded one, once started
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: AsyncFlowClient | None = None
        self._stack = contextlib.ExitStack()
        self._start_error: FlowtestError | None = None
        self._pending: dict[str, concurrent.futures.Future[Result]] = {}
        self._claimed: set[str] = set()  # keys an item asked for before any prefetch started them
        self._pending_lock = threading.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stop_launching = threading.Event()
        self._unreachable: str | None = None
        self._concurrency = settings.concurrency  # lowered to fit the open-file limit, see prefetch
        self._restore_signals: Callable[[], None] | None = None
        self.notify: Callable[[str], None] = _to_stderr
        # Closed on the conversations' loop at the end (the meaning services' LLM client).
        self.on_close: list[Callable[[], Awaitable[None]]] = []

    @functools.cached_property
    def redactor(self) -> Redactor:
        """The API key and secret variables, for what the run writes outside conversations."""
        settings = self.settings
        keys = frozenset(settings.secret_variables)
        return Redactor(secret_keys=keys).with_values([settings.api_key, *url_secrets(settings.base_url)])

    @property
    def context(self) -> RunContext:
        secret_keys = frozenset(self.settings.secret_variables)
        return RunContext(self.run_id, self.settings.org, self.env, secret_keys, self._concurrency)

    # -- what the plugin calls ---------------------------------------------------------

    def prefetch(self, cases: Sequence[tuple[str, Case]]) -> None:
        """Start these conversations now, in order, at most ``concurrency`` at a time."""
        if self.settings.concurrency <= 1 or not cases:
            return
        self._fit_open_files(sum(case.scenario.repeat for _, case in cases))
        client = self._ensure_client()
        queued = [(case, future) for key, case in cases if (future := self._reserve(key)) is not None]
        self._submit(self._launch(queued, client))

    def follow(self, upcoming: Callable[[], Sequence[tuple[str, Case]]]) -> None:
        """Like prefetch, for a queue that fills while the run goes on (an xdist worker's)."""
        if self.settings.concurrency <= 1:
            return
        self._fit_open_files(self.settings.concurrency)
        self._submit(self._follow(upcoming, self._ensure_client()))

    def _fit_open_files(self, conversations: int) -> None:
        """At most as many conversations at once as the open-file limit allows, and a line saying so."""
        wanted = min(self.settings.concurrency, conversations)
        # The embedded sandbox holds the server's end of each connection in this process.
        fit = fit_concurrency(wanted, 2 if self.settings.uses_sandbox else 1)
        self._concurrency = fit.concurrency
        if fit.message is not None:
            self.notify(fit.message)

    def _reserve(self, key: str) -> concurrent.futures.Future[Result] | None:
        """A future for a conversation about to start ahead, unless its item already took it."""
        with self._pending_lock:
            if key in self._claimed or key in self._pending:
                return None
            future: concurrent.futures.Future[Result] = concurrent.futures.Future()
            self._pending[key] = future
            return future

    def result(self, key: str, case: Case) -> Result:
        """The conversation's result: prefetched, or run now."""
        if self._unreachable is not None:
            return self._result_once_unreachable(key)
        result = self._result(key, case)
        refused = _connection_failure(result)
        if refused is not None:
            # The server is down: the next conversations would each wait out the retries.
            self._unreachable = f"the API could not be reached for an earlier scenario ({refused})"
            self._stop_launching.set()
        return result

    def _result_once_unreachable(self, key: str) -> Result:
        """A conversation already under way keeps its result (it may well have passed);
        one not started yet is not run."""
        not_run = FlowtestError(f"not run: {self._unreachable}")
        future = self._take(key)
        if future is None:
            raise not_run
        try:
            return self._wait(future)
        except NotLaunched:
            raise not_run from None

    def _result(self, key: str, case: Case) -> Result:
        future = self._take(key)
        if future is None and not self._threaded:
            return self._run_here(run_case(case, self._ensure_client(), self.context))
        if future is None:
            future = self._submit(run_case(case, self._ensure_client(), self.context))
        return self._wait(future)

    def _take(self, key: str) -> concurrent.futures.Future[Result] | None:
        """The conversation for ``key`` started ahead, if one was; none will be from now on."""
        with self._pending_lock:
            self._claimed.add(key)
            return self._pending.pop(key, None)

    def _wait(self, future: concurrent.futures.Future[Result]) -> Result:
        try:
            return future.result()
        except KeyboardInterrupt:
            self.cancel_all()
            raise
        except concurrent.futures.CancelledError:
            raise NotLaunched("not run: the run was stopped before this conversation started") from None
        except BaseException:
            # Raised in this thread while waiting (pytest-timeout's signal method): stop this
            # conversation, which ends its session; close() waits for that.
            future.cancel()
            raise

    def stop_launching(self) -> None:
        """After the last failure -x allows: conversations not started yet will not start."""
        self._stop_launching.set()

    def cancel_all(self) -> None:
        """Ctrl-C: cancel every conversation; each still ends its session before it stops."""
        self._stop_launching.set()
        if self._loop is None or self._thread is None:
            return  # one by one, a conversation runs on this thread and Ctrl-C reaches it there
        waiting = asyncio.run_coroutine_threadsafe(self._cancel_tasks(), self._loop)
        deadline = time.monotonic() + _CANCEL_WAIT
        interrupted = False
        while not waiting.done():
            try:
                waiting.result(max(0.0, deadline - time.monotonic()))
            except KeyboardInterrupt:
                # Another Ctrl-C: the sessions are being ended; stopping now would leave them open.
                interrupted = True
                self.notify(f"flowtest: still ending {len(self._tasks)} session(s) before stopping")
            except concurrent.futures.TimeoutError:
                left = len(self._tasks)
                self.notify(
                    f"flowtest: {left} conversation(s) did not finish ending their sessions; "
                    "those sessions may still be open"
                )
                break
        if interrupted:
            raise KeyboardInterrupt

    def close(self) -> None:
        if self._restore_signals is not None:
            self._restore_signals()
            self._restore_signals = None
        if self._loop is not None and self._thread is not None:
            self.cancel_all()
            asyncio.run_coroutine_threadsafe(self._aclose(), self._loop).result(_CANCEL_WAIT)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_CANCEL_WAIT)
            self._loop.close()
        elif self._loop is not None:
            self._loop.run_until_complete(self._aclose())
            self._loop.close()
        self._stack.close()

    async def _aclose(self) -> None:
        for close in self.on_close:
            with contextlib.suppress(Exception):  # closing a helper never hides the run's outcome
                await close()
        if self._client is not None:
            await self._client.aclose()

    @property
    def _threaded(self) -> bool:
        # One by one, the conversation runs on this thread: no hand-over per item.
        return self.settings.concurrency > 1

    def _run_here(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run on a loop in this thread; Ctrl-C cancels the conversation, whose teardown still runs."""
        loop = self._ensure_loop()
        task = loop.create_task(coroutine)
        interrupted = threading.Event()

        def interrupt() -> None:
            if interrupted.is_set():
                self.notify("flowtest: still ending the session before stopping")
                return
            interrupted.set()
            task.cancel()

        restore = on_stop_signals(lambda *_: loop.call_soon_threadsafe(interrupt), INTERRUPTS)
        try:
            return loop.run_until_complete(task)
        except asyncio.CancelledError:
            if interrupted.is_set():
                raise KeyboardInterrupt from None
            raise
        except BaseException:
            # Raised in this thread while the conversation ran (pytest-timeout's signal
            # method, a handler of the user's): its session is still ended.
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    loop.run_until_complete(task)
            raise
        finally:
            restore()

    def watch_stop_signals(self) -> None:
        """SIGTERM and SIGHUP (a cancelled CI job, ``timeout``, ``docker stop``, a closed
        terminal) stop the run the way Ctrl-C does, so every session is still ended."""
        if self._restore_signals is None:
            self._restore_signals = on_stop_signals(stop_like_ctrl_c, STOP_SIGNALS, only_default=True)

    # -- the loop thread ---------------------------------------------------------------

    def _submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        loop = self._ensure_loop()
        return asyncio.run_coroutine_threadsafe(self._tracked(coroutine), loop)

    async def _tracked(self, coroutine: Coroutine[Any, Any, T]) -> T:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            return await coroutine
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _launch(
        self, queued: list[tuple[Case, concurrent.futures.Future[Result]]], client: AsyncFlowClient
    ) -> None:
        slots = asyncio.Semaphore(self._concurrency)
        context = self.context
        for case, future in queued:
            width = await self._take_slots(slots, case)
            if self._stop_launching.is_set() or future.cancelled():
                future.cancel()
                _give_back(slots, width)
                continue
            self._start_task(run_case(case, client, context), future, slots, width)

    async def _follow(
        self, upcoming: Callable[[], Sequence[tuple[str, Case]]], client: AsyncFlowClient
    ) -> None:
        slots = asyncio.Semaphore(self._concurrency)
        context, started = self.context, set()
        while not self._stop_launching.is_set():
            for key, case in upcoming():
                if key in started:
                    continue
                started.add(key)
                future = self._reserve(key)
                if future is None:
                    continue
                width = await self._take_slots(slots, case)
                if self._stop_launching.is_set():
                    future.cancel()
                    _give_back(slots, width)
                    return
                self._start_task(run_case(case, client, context), future, slots, width)
            # xdist fills the worker's queue as other items finish; look again shortly.
            await asyncio.sleep(_FOLLOW_INTERVAL)

    async def _take_slots(self, slots: asyncio.Semaphore, case: Case) -> int:
        """A slot per session the case runs at once (``repeat`` runs share the run's concurrency)."""
        width = max(1, min(case.scenario.repeat, self._concurrency))
        for _ in range(width):  # only the launcher takes slots: no two wait for each other's
            await slots.acquire()
        return width

    def _start_task(
        self,
        coroutine: Coroutine[Any, Any, Result],
        future: concurrent.futures.Future[Result],
        slots: asyncio.Semaphore,
        width: int = 1,
    ) -> None:
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._tracked(coroutine))
        task.add_done_callback(functools.partial(_settle, future=future, slots=slots, width=width))
        # The item gave up waiting (a timeout): the conversation stops and ends its session.
        future.add_done_callback(lambda done: done.cancelled() and loop.call_soon_threadsafe(task.cancel))

    async def _cancel_tasks(self) -> None:
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for future in self._pending.values():
            future.cancel()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            if self._threaded:
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="flowtest-loop", daemon=True
                )
                self._thread.start()
        return self._loop

    # -- the client and the sandbox ----------------------------------------------------

    def _ensure_client(self) -> AsyncFlowClient:
        if self._start_error is not None:
            raise self._start_error
        if self._client is None:
            try:
                config = self._client_config()
            except FlowtestError as exc:
                self._start_error = exc
                raise
            connections = max(self._concurrency, 10)
            self._client = AsyncFlowClient(
                config, connections=connections, rate_limit=self.settings.rate_limit
            )
        return self._client

    def _client_config(self) -> ClientConfig:
        settings = self.settings
        if settings.uses_sandbox:
            from flowtest.sandbox import DEFAULT_API_KEY

            self.base_url = self._start_sandbox()
            return client_config(settings, self.base_url, DEFAULT_API_KEY)
        return client_config(settings, str(self.base_url), settings.api_key)

    def _start_sandbox(self) -> str:
        # The server (uvicorn, starlette) is imported only by runs that start it.
        from flowtest.sandbox import SandboxConfig, running_sandbox
        from flowtest.sandbox.flows import FlowFilesError

        settings = self.settings
        config = SandboxConfig(
            flows_dir=settings.sandbox_flows,
            orgs=tuple(sorted(self.orgs)),
            port=0,
            # With coverage off, nothing is recorded; on, each session's edges (flowtest.coverage).
            coverage=settings.coverage,
            project_root=settings.project_root,
        )
        try:
            sandbox = self._stack.enter_context(running_sandbox(config))
        except FlowFilesError as exc:
            lines = "\n".join(str(error) for error in exc.errors)
            raise FlowtestError(f"the embedded sandbox cannot start:\n{lines}") from None
        logger.info("embedded sandbox at %s", sandbox.url)
        self.sandbox = sandbox
        return sandbox.url


def client_config(settings: Settings, base_url: str, api_key: str | None) -> ClientConfig:
    """The client's configuration for an API at ``base_url``: the pytest run's and the load run's."""
    if not api_key:
        raise ConfigError(
            f"{API_KEY_VARIABLE} is not set: the API at {base_url} needs an organization API key"
        )
    return ClientConfig(
        base_url=base_url,
        org=settings.org,
        api_key=api_key,
        auth_header=settings.auth_header,
        auth_scheme=settings.auth_scheme,
        timeout=settings.timeout,
        fields=settings.fields,
        redactor=Redactor(secret_keys=frozenset(settings.secret_variables)),
        max_response_bytes=settings.max_response_bytes,
    )


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _connection_failure(result: Result) -> str | None:
    """The message when Start Session found the API unreachable (refused, unknown host, no
    route), else None. A timeout or a dropped connection is one call's bad luck: not this."""
    start = result.final.steps[0] if result.final.steps else None
    if start is None or start.kind != "start" or start.failure is None or not start.exchanges:
        return None
    if start.failure.category is not Category.TRANSPORT:
        return None
    return start.failure.message if start.exchanges[-1].error_kind in UNREACHABLE_KINDS else None


def _give_back(slots: asyncio.Semaphore, width: int) -> None:
    for _ in range(width):
        slots.release()


def _settle(
    task: asyncio.Task[Result],
    *,
    future: concurrent.futures.Future[Result],
    slots: asyncio.Semaphore,
    width: int = 1,
) -> None:
    _give_back(slots, width)
    if future.done():
        return
    error = None if task.cancelled() else task.exception()
    if task.cancelled():
        future.cancel()
    elif error is not None:
        future.set_exception(error)
    else:
        future.set_result(task.result())
