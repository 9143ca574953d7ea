"""flowtest's pytest options: registering them imports nothing (the plugin loads in every run)."""

from __future__ import annotations

from typing import Any

import pytest

OPTIONS = {
    "base_url": "base URL of the API (default: start the embedded sandbox)",
    "org": "organization id (default demo)",
    "timeout": "per-request timeout, e.g. 10s (default 30s)",
    "auth_header": "header that carries the API key (default Authorization)",
    "auth_scheme": "scheme before the key (default Bearer; empty for none)",
    "sandbox_flows": "flows folder for the embedded sandbox (default scenarios/flows)",
    "secret_variables": "comma-separated variable names masked in every report",
    "concurrency": "conversations run at once (default 1)",
    "rate_limit": "at most this many requests per second to the API, e.g. 20 (default: no cap)",
    "allure_results": "Allure results folder (default reports/allure-results; --alluredir wins)",
    "text_match": "how bot steps compare texts: exact (default), ignore_case or loose",
    "utterances": "user: {utterance: NAME}: all (one test per phrase, default), first or random",
    "seed": "seed for utterances: random (default: a new one each run, printed; give it to replay)",
    "ignore_messages": "comma-separated message types no step consumes nor counts as unchecked, e.g. typing",
    "similar_min": "similar: the least meaning similarity that passes, 0 to 1 (default 0.45)",
    "similar_model": "similar: another sentence model (default: the semantic extra's)",
    "judge_url": "judge and persona: an OpenAI-compatible endpoint, e.g. http://localhost:11434/v1",
    "judge_model": "judge and persona: the model's name at judge_url",
    "judge_api_key_env": "judge and persona: the NAME of the environment variable holding the key",
    "judge_timeout": "judge and persona: each call's time limit (default 60s)",
    "judge_cache": "judge and persona: the folder of cached answers (default .flowtest/cache/llm)",
}
# The response fields of config.FIELD_NAMES, named here so that registering the options
# imports nothing; tests/test_plugin_footprint.py checks that the two lists agree.
FIELD_OPTIONS = ("session_id", "status", "messages", "message_text", "variables", "metadata", "transfer")


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("flowtest", "flowtest: conversation scenarios")
    for key, help_text in OPTIONS.items():
        group.addoption(
            f"--flowtest-{key.replace('_', '-')}", dest=f"flowtest_{key}", default=None, help=help_text
        )
    group.addoption(
        "--flowtest-scenario",
        dest="flowtest_scenario",
        action="append",
        default=[],
        metavar="NAME",
        help="run only the scenario with this name, as written in its file (repeatable)",
    )
    group.addoption(
        "--flowtest-coverage",
        dest="flowtest_coverage",
        action="store_true",
        default=None,
        help="which nodes and edges of each sandbox flow the run took (what it saw, against a deployment)",
    )
    group.addoption(
        "--flowtest-coverage-min",
        dest="flowtest_coverage_min",
        default=None,
        metavar="PCT",
        help="fail the run when a flow's edge coverage is below PCT (with --flowtest-coverage)",
    )
    group.addoption(
        "--flowtest-judge-refresh",
        dest="flowtest_judge_refresh",
        action="store_true",
        default=None,
        help="ask the judge (and the LLM caller) again, ignoring the answers cached by earlier runs",
    )
    for name in FIELD_OPTIONS:
        group.addoption(
            f"--flowtest-field-{name.replace('_', '-')}",
            dest=f"flowtest_field_{name}",
            default=None,
            help=f"JSONPath of the response's {name.replace('_', ' ')}",
        )


def option_values(config: pytest.Config) -> dict[str, Any]:
    """The options as the settings resolver takes them (None: not given)."""
    flags = ("judge_refresh", "coverage", "coverage_min")
    options = {key: config.getoption(f"flowtest_{key}") for key in (*OPTIONS, *flags)}
    options.update({f"field_{n}": config.getoption(f"flowtest_field_{n}") for n in FIELD_OPTIONS})
    return options
