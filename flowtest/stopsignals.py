"""SIGTERM and SIGHUP stop a command the way Ctrl-C does, so that it still ends its sessions.

A cancelled CI job, ``timeout``, ``docker stop`` or a closed terminal sends one of them; by
default Python dies at once, leaving open every session the command started.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
INTERRUPTS = (signal.SIGINT, *STOP_SIGNALS)
Handler = Callable[[int, Any], Any]


class Stopped(KeyboardInterrupt):
    """A stop signal, raised where Ctrl-C's KeyboardInterrupt would be."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def stop_like_ctrl_c(signum: int, _frame: Any) -> None:
    """Raise KeyboardInterrupt itself: what pytest reports as an interrupted run."""
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def _raise_stopped(signum: int, _frame: Any) -> None:
    raise Stopped(signum)


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """The shell's exit status for a command stopped by this interrupt: 128 + the signal."""
    return 128 + (interrupt.signum if isinstance(interrupt, Stopped) else int(signal.SIGINT))


def on_stop_signals(
    handler: Handler, signals: Sequence[int], only_default: bool = False
) -> Callable[[], None]:
    """Handle ``signals`` with ``handler`` (on the main thread only); returns what restores them.

    ``only_default``: leave a signal alone when someone installed a handler of their own.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: dict[int, Any] = {}
    for number in signals:
        current = signal.getsignal(number)
        if only_default and current is not signal.SIG_DFL:
            continue
        previous[number] = current
        signal.signal(number, handler)

    def restore() -> None:
        for number, old in previous.items():
            signal.signal(number, old)

    return restore


@contextlib.contextmanager
def stopping_like_ctrl_c() -> Iterator[None]:
    """Inside, SIGTERM and SIGHUP raise KeyboardInterrupt (Stopped, for the exit status), as Ctrl-C does."""
    restore = on_stop_signals(_raise_stopped, STOP_SIGNALS, only_default=True)
    try:
        yield
    finally:
        restore()


@contextlib.contextmanager
def deferred(notify: Callable[[], None]) -> Iterator[None]:
    """Inside (ending a session), Ctrl-C and the stop signals only ``notify``: stopping now
    would leave the session open. The command stops once the block is done."""
    received: list[int] = []

    def note(signum: int, _frame: Any) -> None:
        received.append(signum)
        notify()

    restore = on_stop_signals(note, INTERRUPTS)
    try:
        yield
    finally:
        restore()
    if received:
        raise Stopped(received[0]) if received[0] != signal.SIGINT else KeyboardInterrupt
