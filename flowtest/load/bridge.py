"""One asyncio loop on a native thread, fed by Locust's greenlets: the runner stays the asyncio one.

Locust runs users as greenlets on gevent, which monkeypatches threads, sockets and
selectors at import. flowtest's runner is asyncio. Rather than a second, blocking
runner, each Locust process runs one asyncio loop on a real OS thread (gevent's
thread pool) with the unpatched epoll selector; a user greenlet hands its
conversation over and sleeps on a gevent ``AsyncResult``, woken through the hub's
thread-safe ``async_`` watcher. What it costs: one thread hand-over each way per
conversation (not per request), both threads sharing the GIL, and Locust seeing a
conversation's requests when it ends (each with its own measured response time).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import selectors
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar, cast

import gevent
from gevent import monkey
from gevent.event import AsyncResult
from gevent.threadpool import ThreadPool

T = TypeVar("T")


class Ticket(Generic[T]):
    """A conversation handed to the loop; a greenlet waits on it."""

    def __init__(self) -> None:
        self.result: AsyncResult[T] = AsyncResult()

    def wait(self, timeout: float | None = None) -> T:
        """The coroutine's result (its exception raised here); gevent.Timeout after ``timeout``."""
        return cast(T, self.result.get(timeout=timeout))


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs ``run_in_executor`` calls (DNS lookups) on the loop thread itself.

    asyncio's default executor starts threads through the patched ``threading``, that
    is greenlets of a hub nobody runs on this thread. aiohttp caches lookups (10 s),
    so the loop blocks on a lookup rarely. (asyncio takes only a ThreadPoolExecutor;
    this one never starts a thread.)
    """

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the awaiting coroutine, as a thread pool would
            future.set_exception(exc)
        return future


def _unpatched_selector() -> selectors.BaseSelector:
    """gevent's selector waits on the hub of the calling thread, which would never run here."""
    original: type[selectors.BaseSelector] = monkey.get_original("selectors", "DefaultSelector")
    return original()


class LoopBridge:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: ThreadPool | None = None
        self._running: AsyncResult[None] | None = None
        self._ready: collections.deque[tuple[Ticket[Any], asyncio.Task[Any]]] = collections.deque()
        self._tasks: dict[Ticket[Any], asyncio.Task[Any]] = {}
        self._watcher: Any = None
        self._woken = False  # a wake-up is on its way to the hub: no need for another
        self._closing = False

    def submit(self, coroutine: Coroutine[Any, Any, T], cancellable: bool = True) -> Ticket[T]:
        """Start the coroutine on the loop; call from a greenlet. ``cancel_all`` reaches it if cancellable."""
        loop = self._ensure_loop()
        ticket: Ticket[T] = Ticket()
        loop.call_soon_threadsafe(self._launch, coroutine, ticket, cancellable)
        return ticket

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine of our own (closing, cancelling) to its end: ``cancel_all`` leaves it alone."""
        return self.submit(coroutine, cancellable=False).wait(timeout)

    def cancel(self, ticket: Ticket[Any]) -> None:
        """Cancel the conversation: asyncio cancellation, so its teardown still ends the session."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._cancel, ticket)

    def cancel_all(self, timeout: float) -> None:
        """Cancel every conversation still running and wait for their teardowns."""
        if self._loop is not None:
            self.run(self._cancel_everything(), timeout)

    def close(self, timeout: float) -> None:
        loop, running, pool = self._loop, self._running, self._pool
        if loop is None or running is None or pool is None or self._closing:
            return  # Locust may shut down twice at once (SIGTERM during its own shutdown)
        self._closing = True
        self.cancel_all(timeout)
        loop.call_soon_threadsafe(loop.stop)
        running.get(timeout=timeout)
        loop.close()
        pool.kill()
        self._watcher.close()
        self._loop = self._running = self._pool = None

    # -- the gevent side ------------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._watcher = gevent.get_hub().loop.async_()
            self._watcher.start(self._deliver)
            loop = asyncio.SelectorEventLoop(_unpatched_selector())
            loop.set_default_executor(_InlineExecutor())
            self._pool = ThreadPool(1)
            self._running = self._pool.spawn(loop.run_forever)
            self._loop = loop
        return self._loop

    def _deliver(self) -> None:
        """In the hub, woken by the loop thread: wake the greenlets whose conversations ended."""
        self._woken = False  # before draining: what is appended from now on is drained or wakes us again
        while self._ready:
            ticket, task = self._ready.popleft()
            error = asyncio.CancelledError() if task.cancelled() else task.exception()
            if error is not None:
                ticket.result.set_exception(error)
            else:
                ticket.result.set(task.result())

    # -- the loop thread ------------------------------------------------------------------

    def _launch(self, coroutine: Coroutine[Any, Any, Any], ticket: Ticket[Any], cancellable: bool) -> None:
        task = asyncio.ensure_future(coroutine)
        if cancellable:
            self._tasks[ticket] = task
        task.add_done_callback(lambda done: self._finished(ticket, done))

    def _finished(self, ticket: Ticket[Any], task: asyncio.Task[Any]) -> None:
        self._tasks.pop(ticket, None)
        self._ready.append((ticket, task))
        if not self._woken:  # one wake-up per batch: each send costs a syscall under the GIL
            self._woken = True
            self._watcher.send()  # thread-safe: wakes the hub, which runs _deliver

    def _cancel(self, ticket: Ticket[Any]) -> None:
        task = self._tasks.get(ticket)
        if task is not None:
            task.cancel()

    async def _cancel_everything(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
