"""flowtest's own pytest hooks: what a reporter implements to see the run's conversations.

Registered with ``pytest_addhooks``. A reporter is a plain object with some of these
methods (and any of pytest's own hooks), registered as a plugin when the option that
asks for it is on: Allure, coverage and the run log are such objects. See ARCHITECTURE.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from flowtest.scenario.model import Case
    from flowtest.session import ConversationPool
    from flowtest.trace import Result


@pytest.hookspec
def pytest_flowtest_conversation(item: pytest.Item, case: Case, result: Result) -> None:
    """A scenario item's conversation finished: every attempt's trace, secrets masked.

    Called on the pytest thread, in item order, before the item reports its outcome.
    """


@pytest.hookspec
def pytest_flowtest_run_finished(config: pytest.Config, pool: ConversationPool) -> None:
    """The run's conversations are over (on each xdist worker, and on a run without workers).

    The pool still holds the run's settings and the API's address; a worker puts what its
    controller needs into ``config.workeroutput`` here.
    """
