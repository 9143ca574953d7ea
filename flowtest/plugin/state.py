"""What a pytest run with scenarios holds: made when pytest meets the first scenario file."""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from flowtest.errors import ConfigError
from flowtest.plugin.options import option_values

if TYPE_CHECKING:
    from flowtest.errors import Location
    from flowtest.scenario.loader import ScenarioLoader
    from flowtest.session import ConversationPool

SEED = pytest.StashKey[int]()


class PluginState:
    """The run's settings, loader and conversation pool, the seed, and what collection saw."""

    def __init__(self, config: pytest.Config) -> None:
        from flowtest.config import Settings, read_pyproject, resolve
        from flowtest.scenario.loader import ScenarioLoader
        from flowtest.session import ConversationPool

        root = Path(config.rootpath)
        self.settings_error: ConfigError | None = None
        try:
            settings = resolve(option_values(config), os.environ, read_pyproject(root), root)
        except ConfigError as exc:
            self.settings_error = exc
            settings = Settings()
        from flowtest.matchers.meaning import MeaningServices

        meaning = MeaningServices.from_settings(settings)
        self.loader: ScenarioLoader = ScenarioLoader(
            root, settings.utterances, settings.text_match, settings.ignore_messages, meaning
        )
        self.pool: ConversationPool = ConversationPool(settings, dict(os.environ))
        self.pool.on_close.append(meaning.aclose)
        worker_seed = getattr(config, "workerinput", {}).get("flowtest_seed")
        if settings.seed is not None:
            self.seed = settings.seed
        else:
            self.seed = int(worker_seed) if worker_seed is not None else run_seed(config)
        self.gc_paused = False
        self.collector_paused = False  # while the conversations run, see collector_paused
        self.names: dict[str, Location] = {}  # each scenario name, where it was first seen
        self.tags: set[str] = set()  # the tags registered as markers so far
        self.ran = False  # scenarios were collected here: this process runs conversations

    @property
    def session(self) -> ConversationPool:
        """The pool under the name it had before (a conftest may stand in its own)."""
        return self.pool

    @session.setter
    def session(self, pool: ConversationPool) -> None:
        self.pool = pool

    def pause_gc(self) -> None:
        """Collection allocates many small acyclic objects that live for the whole run; full GC
        passes over them made collecting 10,000 files several times slower."""
        if not self.gc_paused and gc.isenabled():
            gc.disable()
            self.gc_paused = True

    def resume_gc(self, freeze: bool) -> None:
        if self.gc_paused:
            gc.enable()
            self.gc_paused = False
        if freeze:
            gc.freeze()


STATE = pytest.StashKey[PluginState]()


def plugin_state(config: pytest.Config) -> PluginState:
    if STATE not in config.stash:
        config.stash[STATE] = PluginState(config)
    return config.stash[STATE]


def run_seed(config: pytest.Config) -> int:
    """The controller's seed for random phrases: made once, handed to every xdist worker."""
    if SEED not in config.stash:
        import secrets

        config.stash[SEED] = secrets.randbelow(10**6)
    return config.stash[SEED]


@contextlib.contextmanager
def collector_paused(state: PluginState) -> Iterator[None]:
    """No cyclic GC passes while the conversations run (scenario items only).

    Thousands of conversations in flight keep their state alive, so each pass of the
    collector walks more of it than the last: at 10,000 conversations the GC took a third
    of the run's CPU (11 of 33 s) and made it superlinear, even with its youngest
    generation collected every 10,000 allocations instead of 700. Passing conversations
    make no reference cycles (10,000 left as few objects to collect as 1,000); a failing one
    leaves about a hundred small objects (2 KB), freed when the GC is back on at the end.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    state.collector_paused = True
    try:
        yield
    finally:
        state.collector_paused = False
        if was_enabled:
            gc.enable()


def worker_input(config: pytest.Config) -> dict[str, Any] | None:
    """An xdist worker's input from its controller; None on the controller or without xdist."""
    return getattr(config, "workerinput", None)
