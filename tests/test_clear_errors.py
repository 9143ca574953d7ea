"""Clear words where there were none: serve on a network address with the published key, and
values that are not text sent as JSON, not as Python writes them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowtest.sandbox import DEFAULT_API_KEY
from tests.conftest import FLOWS, FLOWTEST
from tests.faultserver import FaultServer, fault_server
from tests.test_session_faults import run_against

PUBLISHED = (
    "flowtest: warning: the sandbox listens on {host}, beyond this machine, with the development key, "
    f"which is published ({DEFAULT_API_KEY}): whoever reaches it can use it; give it a key of your own "
    "with --api-key"
)


def serve_first_lines(*args: str) -> tuple[str, str]:
    """The line serve prints once it listens, and what it said on stderr by then."""
    command = [*FLOWTEST, "serve", "--port", "0", "--flows", str(FLOWS), *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None and process.stderr is not None
        listening = process.stdout.readline()
        process.terminate()
        _, errors = process.communicate(timeout=20)
    finally:
        process.kill()
    return listening, errors


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_serve_on_a_network_address_with_the_published_key_warns(host: str) -> None:
    listening, errors = serve_first_lines("--host", host)
    assert listening.startswith("flowtest sandbox listening on "), errors
    assert PUBLISHED.format(host=host) in errors.splitlines(), errors


@pytest.mark.parametrize(
    "args",
    [["--host", "127.0.0.1"], ["--host", "localhost"], ["--host", "0.0.0.0", "--api-key", "my-own-key-1"]],
)
def test_serve_on_loopback_or_with_a_key_of_its_own_does_not_warn(args: list[str]) -> None:
    listening, errors = serve_first_lines(*args)
    assert listening.startswith("flowtest sandbox listening on "), errors
    assert "warning" not in errors


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with fault_server() as running:
        yield running


def test_a_value_that_is_not_text_is_sent_as_json(tmp_path: Path, server: FaultServer) -> None:
    (tmp_path / "s.scenario.yaml").write_text(
        "name: Sends values\nflow: greet\nstrict: false\n"
        "examples: [{id: one, order: {id: 7, items: [a, b]}, urgent: true, nothing: null}]\n"
        "conversation:\n  - bot: Hello\n"
        "  - user: ${order}\n  - user: 'order ${order}'\n  - user: ${urgent}\n  - user: ${nothing}\n"
    )
    result = run_against(server, tmp_path)
    assert "1 passed" in result.stdout, result.stdout
    sent = [body["text"] for method, _path, body, _headers in server.requests if "text" in body]
    assert sent == ['{"id": 7, "items": ["a", "b"]}', 'order {"id": 7, "items": ["a", "b"]}', "true", "null"]
