"""What a pytest-xdist worker has been handed, so its conversations can start ahead.

xdist has no hook that tells a worker which items it will run next; its
WorkerInteractor keeps them in a queue. This reads that queue, under the queue's
own lock, and never changes it. When the layout is not the expected one (another
xdist version), ``reader`` returns None and the worker runs its items one by one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

logger = logging.getLogger(__name__)


def reader(config: pytest.Config) -> Callable[[], list[int]] | None:
    """A function returning the indices (into session.items) queued for this worker."""
    interactor = next(
        (
            plugin
            for plugin in config.pluginmanager.get_plugins()
            if type(plugin).__name__ == "WorkerInteractor"
        ),
        None,
    )
    queue: Any = getattr(interactor, "torun", None)
    if interactor is None or not callable(getattr(queue, "lock", None)):
        logger.info("xdist worker queue not readable: running conversations one by one")
        return None

    def queued() -> list[int]:
        indices = []
        upcoming = getattr(interactor, "nextitem_index", None)
        if isinstance(upcoming, int):
            indices.append(upcoming)
        with queue.lock() as items:
            indices.extend(index for index in items if isinstance(index, int))
        return indices

    return queued
