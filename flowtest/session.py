"""One test run's shared machinery: settings, the event loop, the client, the embedded sandbox.

The pytest plugin holds one of these per run; it is plain Python and usable without pytest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import uuid
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from flowtest.client import AsyncFlowClient, ClientConfig
from flowtest.config import API_KEY_VARIABLE, Settings
from flowtest.errors import ConfigError, FlowtestError
from flowtest.redact import Redactor
from flowtest.runner import RunContext, run_case
from flowtest.sandbox import DEFAULT_API_KEY, SandboxConfig, running_sandbox
from flowtest.sandbox.flows import FlowFilesError
from flowtest.scenario.model import Case
from flowtest.trace import Result

logger = logging.getLogger(__name__)
T = TypeVar("T")


class RunSession:
    def __init__(self, settings: Settings, env: Mapping[str, str]) -> None:
        self.settings = settings
        self.env = env
        self.run_id = uuid.uuid4().hex[:12]
        self.orgs: set[str] = {settings.org}
        self.base_url: str | None = settings.base_url
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: AsyncFlowClient | None = None
        self._stack = contextlib.ExitStack()
        self._start_error: FlowtestError | None = None

    @property
    def context(self) -> RunContext:
        secret_keys = frozenset(self.settings.secret_variables)
        return RunContext(self.run_id, self.settings.org, self.env, secret_keys)

    def run(self, case: Case) -> Result:
        client = self._ensure_client()
        return self.run_on_loop(run_case(case, client, self.context))

    def run_on_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run on the shared loop; Ctrl-C cancels the conversation (its teardown still runs)."""
        loop = self._ensure_loop()
        task = loop.create_task(coroutine)
        interrupted = threading.Event()

        def interrupt() -> None:
            interrupted.set()
            task.cancel()

        on_main_thread = threading.current_thread() is threading.main_thread()
        if on_main_thread:
            loop.add_signal_handler(signal.SIGINT, interrupt)
        try:
            return loop.run_until_complete(task)
        except asyncio.CancelledError:
            if interrupted.is_set():
                raise KeyboardInterrupt from None
            raise
        finally:
            if on_main_thread:
                loop.remove_signal_handler(signal.SIGINT)

    def close(self) -> None:
        if self._client is not None and self._loop is not None:
            self._loop.run_until_complete(self._client.aclose())
        if self._loop is not None:
            self._loop.close()
        self._stack.close()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop

    def _ensure_client(self) -> AsyncFlowClient:
        if self._start_error is not None:
            raise self._start_error
        if self._client is None:
            try:
                self._client = AsyncFlowClient(self._client_config())
            except FlowtestError as exc:
                self._start_error = exc
                raise
        return self._client

    def _client_config(self) -> ClientConfig:
        settings = self.settings
        api_key = settings.api_key
        if settings.uses_sandbox:
            self.base_url = self._start_sandbox()
            api_key = DEFAULT_API_KEY
        elif not api_key:
            raise ConfigError(
                f"{API_KEY_VARIABLE} is not set: the API at {settings.base_url} needs an organization API key"
            )
        redactor = Redactor(secret_keys=frozenset(settings.secret_variables))
        return ClientConfig(
            base_url=str(self.base_url),
            org=settings.org,
            api_key=api_key,
            auth_header=settings.auth_header,
            auth_scheme=settings.auth_scheme,
            timeout=settings.timeout,
            fields=settings.fields,
            redactor=redactor,
        )

    def _start_sandbox(self) -> str:
        config = SandboxConfig(flows_dir=self.settings.sandbox_flows, orgs=tuple(sorted(self.orgs)), port=0)
        try:
            sandbox = self._stack.enter_context(running_sandbox(config))
        except FlowFilesError as exc:
            lines = "\n".join(str(error) for error in exc.errors)
            raise FlowtestError(f"the embedded sandbox cannot start:\n{lines}") from None
        logger.info("embedded sandbox at %s", sandbox.url)
        return sandbox.url
