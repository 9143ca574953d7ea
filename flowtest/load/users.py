"""The Locust user that runs scenarios, and the listeners that end every session and count them.

Each scenario is a Locust task: its ``tags`` are the task's tags (Locust's ``--tags`` and
``--exclude-tags`` select them, on the master and its workers alike) and its ``weight``
the task's weight. Every iteration runs one case of the scenario (an example row, a
phrase of each utterance list) in a new session, with a fresh ``${run_id}``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from gevent import GreenletExit
from gevent.lock import Semaphore
from locust import User, constant, events
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner

from flowtest.authoring.validate import find_files
from flowtest.client import AsyncFlowClient
from flowtest.config import Settings, read_pyproject, resolve
from flowtest.errors import ConfigError, FlowtestError
from flowtest.load.bridge import LoopBridge, Ticket
from flowtest.load.samples import SessionTally, samples, workers_summary
from flowtest.matchers.meaning import MeaningServices
from flowtest.redact import masked_url
from flowtest.runner import Conversation, RunContext
from flowtest.scenario import is_scenario_file
from flowtest.scenario.loader import LoadedFile, ScenarioLoader
from flowtest.scenario.model import Case, Scenario, cases_of
from flowtest.session import client_config
from flowtest.steps.caller import unavailable
from flowtest.trace import Trace

logger = logging.getLogger(__name__)
STOP_WAIT = 60.0  # seconds a stopping user waits for its conversation to end its session
_REPORT_KEY = "flowtest_sessions"


@dataclass
class LoadRun:
    """What one Locust process shares: scenarios, settings, the loop thread, the session count."""

    scenarios: tuple[Scenario, ...]
    settings: Settings
    env: dict[str, str]
    bridge: LoopBridge = field(default_factory=LoopBridge)
    tally: SessionTally = field(default_factory=SessionTally)
    running: set[Conversation] = field(default_factory=set)
    worker_tallies: dict[str, dict[str, int]] = field(default_factory=dict)
    client: AsyncFlowClient | None = None
    # similar, judge and persona: the model and the LLM client, made on the loop by the first use.
    meaning: MeaningServices = field(default_factory=MeaningServices)
    closing: Semaphore = field(default_factory=Semaphore)
    finished: bool = False  # the test stopped and this process ended what it could: its tally is final
    given_host: str | None = None  # the host (-H) while reports show it masked
    shown_host: str | None = None

    def connect(self, host: str | None) -> None:
        """The client for this run's target: Locust's host (-H, the web UI) or FLOWTEST_BASE_URL."""
        base_url = host or self.settings.base_url
        if not base_url:
            raise ConfigError(
                "flowtest load needs the API's URL: --host URL or FLOWTEST_BASE_URL "
                "(for a local target, start one with `flowtest serve`)"
            )
        config = client_config(self.settings, base_url.rstrip("/"), self.settings.api_key)
        # No pool cap: each Locust user has at most one request in flight.
        self.client = AsyncFlowClient(config, connections=0, rate_limit=self.settings.rate_limit)

    def context(self) -> RunContext:
        """A fresh ${run_id} per iteration, so that no two sessions collide."""
        secret_keys = frozenset(self.settings.secret_variables)
        return RunContext(uuid.uuid4().hex[:12], self.settings.org, self.env, secret_keys)

    async def converse(self, case: Case) -> Trace:
        """One conversation, once: load runs count every failure, so no scenario retries."""
        if self.client is None:
            raise FlowtestError("flowtest load: no API client (the test did not start)")
        conversation = Conversation(case, self.client, self.context())
        self.running.add(conversation)
        try:
            trace = await conversation.run()
        except asyncio.CancelledError:
            trace = conversation.trace()  # stopped: its teardown has run, End Session is in the trace
        finally:
            self.running.discard(conversation)
        self.tally.add(trace)
        return trace

    def finish(self) -> None:
        """Test stop: cancel what still runs (each ends its session), count what did not finish."""
        try:
            self.bridge.cancel_all(STOP_WAIT)
        except gevent.Timeout:
            logger.warning("flowtest: conversations still running after %.0f s", STOP_WAIT)
        self.tally.unfinished = sum(1 for c in self.running if c.session_id is not None and not c.ended)
        self.finished = True

    def report(self) -> dict[str, int]:
        """This worker's tally for the master; before the end of its run, with the conversations
        under way (each may have a session open) and not final."""
        in_flight = 0 if self.finished else len(self.running)
        return {**self.tally.as_dict(), "in_flight": in_flight, "final": int(self.finished)}

    def close(self) -> None:
        """End the client and the loop thread, then say how many sessions may be open; once."""
        # Locust may shut down twice at once (SIGTERM during its own shutdown): the second
        # waits for the first, or its exit would cut the first short.
        with self.closing:
            if self.client is None:
                return
            self.bridge.run(self.client.aclose(), STOP_WAIT)
            self.bridge.run(self.meaning.aclose(), STOP_WAIT)
            self.bridge.close(STOP_WAIT)
            self.client = None
            print(f"flowtest: {self.tally.summary()}", file=sys.stderr, flush=True)


def load_scenarios(
    paths: Sequence[Path], root: Path, settings: Settings, meaning: MeaningServices
) -> tuple[Scenario, ...]:
    """Every runnable scenario under ``paths``; a broken file is reported and left out."""
    loader = ScenarioLoader(root, settings.utterances, settings.text_match, settings.ignore_messages, meaning)
    found: list[Scenario] = []
    for missing in (path for path in paths if not path.exists()):
        print(f"flowtest: {missing}: no such file or folder", file=sys.stderr)
    for path in find_files(paths):
        if not is_scenario_file(path):
            continue
        found.extend(_runnable(loader.load_file(path), settings))
    return tuple(found)


def _runnable(loaded: LoadedFile, settings: Settings) -> Iterator[Scenario]:
    """A file's scenarios that can run here; what is wrong with the others, said on stderr."""
    problems = [error for invalid in loaded.invalid for error in invalid.errors]
    for scenario in loaded.scenarios:
        problem = unavailable(settings, scenario)  # persona: without an LLM endpoint
        if problem is not None:
            problems.append(problem)
        elif scenario.skip is None:
            yield scenario
    for error in problems:
        print(f"flowtest: {error}", file=sys.stderr)


def scenario_user(paths: Sequence[str | Path] = ("scenarios",), root: Path | None = None) -> type[User]:
    """The Locust user class running the scenarios under ``paths`` (call once per locustfile)."""
    root = (root or Path.cwd()).resolve()
    try:
        settings = resolve({}, os.environ, read_pyproject(root), root)
    except ConfigError as exc:
        raise SystemExit(f"flowtest: error: {exc}") from None
    folders = [Path(p) if Path(p).is_absolute() else root / p for p in paths]
    meaning = MeaningServices.from_settings(settings)
    scenarios = load_scenarios(folders, root, settings, meaning)
    weighted = [scenario for scenario in scenarios if scenario.weight > 0]
    if not weighted:
        shown = ", ".join(str(p) for p in paths)
        raise SystemExit(f"flowtest: error: no scenario to run under {shown} (weight 0 and skip: left out)")
    run = LoadRun(scenarios, settings, dict(os.environ), meaning=meaning)
    _listen(run)
    tasks = {_task(run, scenario): scenario.weight for scenario in weighted}
    attributes = {"tasks": tasks, "wait_time": constant(0), "abstract": False, "host": settings.base_url}
    return type("ScenarioUser", (User,), attributes)


def _task(run: LoadRun, scenario: Scenario) -> Callable[[User], None]:
    cases = cases_of(scenario, random.randrange(10**6))

    def conversation(user: User) -> None:
        if run.client is None:  # the run refused its target (said once, on stderr) and is quitting
            raise StopUser
        ticket = run.bridge.submit(run.converse(random.choice(cases)))
        try:
            trace = ticket.wait()
        except GreenletExit:
            _stop(run, user, ticket, scenario.xfail is not None)
            raise
        _report(user.environment, trace, scenario.xfail is not None)

    conversation.__name__ = scenario.name
    if scenario.tags:
        conversation.locust_tag_set = set(scenario.tags)  # type: ignore[attr-defined]
    return conversation


def _stop(run: LoadRun, user: User, ticket: Ticket[Trace], known_issue: bool) -> None:
    """The user is being stopped mid-conversation: cancel it and wait for its End Session."""
    run.bridge.cancel(ticket)
    try:
        _report(user.environment, ticket.wait(STOP_WAIT), known_issue)
    except BaseException as exc:  # cancelled, or out of time: the tally says what may be open
        logger.debug("flowtest: stopped conversation: %r", exc)


def _report(environment: Environment, trace: Trace, known_issue: bool) -> None:
    """The conversation's requests to Locust; ``known_issue`` (xfail): its failed checks are expected."""
    fire = environment.events.request.fire
    for sample in samples(trace, known_issue):
        fire(
            request_type=sample.request_type,
            name=sample.name,
            response_time=sample.response_time,
            response_length=sample.response_length,
            exception=sample.error,
            context={},
            start_time=sample.started_at,
        )


def _listen(run: LoadRun) -> None:
    @events.test_start.add_listener
    def unmask_host(environment: Environment, **_: Any) -> None:
        # A test started again (the web UI) runs against the host given, not the one reports show.
        if run.shown_host is not None and environment.host == run.shown_host:
            environment.host = run.given_host

    @events.test_start.add_listener
    def connect(environment: Environment, **_: Any) -> None:
        if isinstance(environment.runner, MasterRunner):
            return
        run.finished = False
        if run.client is not None:
            return
        try:
            run.connect(environment.host)
        except ConfigError as exc:
            print(f"flowtest: error: {exc}", file=sys.stderr)
            environment.process_exit_code = 2
            mask_host(environment)
            if environment.runner is not None:
                gevent.spawn(environment.runner.quit)

    @events.test_stop.add_listener
    def end_sessions(environment: Environment, **_: Any) -> None:
        if not isinstance(environment.runner, MasterRunner):
            run.finish()

    @events.test_stop.add_listener
    def mask_host(environment: Environment, **_: Any) -> None:
        """Locust's HTML report shows the host: never a key in its user-info or query."""
        host = environment.host or run.settings.base_url
        if host and environment.host != run.shown_host:
            run.given_host, run.shown_host = environment.host, masked_url(host)
            environment.host = run.shown_host

    @events.report_to_master.add_listener
    def send_tally(client_id: str, data: dict[str, Any], **_: Any) -> None:
        data[_REPORT_KEY] = run.report()

    @events.worker_connect.add_listener
    def expect_tally(client_id: str, **_: Any) -> None:
        # A worker killed before its first report still counts: as one that never said it ended.
        run.worker_tallies.setdefault(client_id, {"final": 0})

    @events.worker_report.add_listener
    def keep_tally(client_id: str, data: dict[str, Any], **_: Any) -> None:
        if _REPORT_KEY in data:
            run.worker_tallies[client_id] = data[_REPORT_KEY]

    @events.quit.add_listener
    def summary(**_: Any) -> None:
        if run.worker_tallies:
            print(f"flowtest: {workers_summary(run.worker_tallies)}", file=sys.stderr)
            return
        run.close()
