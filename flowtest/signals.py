"""Stop signals handled like Ctrl-C: SIGTERM and SIGHUP (a cancelled CI job, ``timeout``, ``docker
stop``, a closed terminal) raise KeyboardInterrupt, so whatever ends sessions on Ctrl-C runs."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
INTERRUPTS = (signal.SIGINT, *STOP_SIGNALS)
_Handler = Callable[[int, Any], Any]


def stop_like_ctrl_c(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def on_stop_signals(
    handler: _Handler, signals: Sequence[int], only_default: bool = False
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


@contextmanager
def interrupted_by_stop_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise KeyboardInterrupt (unless someone handles them)."""
    restore = on_stop_signals(stop_like_ctrl_c, STOP_SIGNALS, only_default=True)
    try:
        yield
    finally:
        restore()
