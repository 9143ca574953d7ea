"""Load tests from the same scenarios, on Locust (``flowtest load``, the ``pytest-flowtest[load]`` extra).

``samples`` turns a conversation's trace into Locust requests and counts sessions (no
Locust import); ``bridge`` hands conversations from Locust's greenlets to one asyncio
loop thread; ``users`` is the Locust user class and its event listeners; ``locustfile``
is the file ``locust -f`` loads. Only ``bridge``, ``users`` and ``locustfile`` import
gevent or Locust, which monkeypatch at import: nothing else in flowtest imports them.
"""

from __future__ import annotations

from pathlib import Path

INSTALL_HINT = "pip install 'flowtest[load]'"
PATHS_VARIABLE = "FLOWTEST_LOAD_PATHS"  # where the shipped locustfile finds the scenarios


def locustfile_path() -> str:
    """The locustfile flowtest ships, for ``locust -f``."""
    return str(Path(__file__).with_name("locustfile.py"))
