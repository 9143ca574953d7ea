"""The locustfile flowtest ships: ``locust -f`` this file, or run ``flowtest load [PATHS]``.

Scenarios come from the folders or files in FLOWTEST_LOAD_PATHS (separated like PATH;
default ``scenarios``), relative to the folder Locust runs in.
"""

from __future__ import annotations

import os

from flowtest.load import PATHS_VARIABLE
from flowtest.load.users import scenario_user

ScenarioUser = scenario_user(os.environ.get(PATHS_VARIABLE, "scenarios").split(os.pathsep))
