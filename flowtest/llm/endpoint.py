"""Where the LLM is: the endpoint from the settings, and the check a scenario needs at collection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flowtest.errors import ConfigError
from flowtest.redact import Redactor, url_secrets

if TYPE_CHECKING:
    from flowtest.config import Settings

_COMPLETIONS = "/chat/completions"
_WHERE = "in [tool.flowtest], as FLOWTEST_{env} or with --flowtest-{option}"


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible chat-completions endpoint: a hosted model, a local Ollama or llama.cpp."""

    url: str  # the base URL, e.g. http://localhost:11434/v1
    model: str
    api_key: str | None = field(default=None, repr=False)
    key_variable: str | None = None  # the name of the environment variable the key came from
    timeout: float = 60.0

    @property
    def completions_url(self) -> str:
        base = self.url.rstrip("/")
        return base if base.endswith(_COMPLETIONS) else base + _COMPLETIONS

    @property
    def shown_url(self) -> str:
        return self.redactor.text(self.completions_url)

    @property
    def redactor(self) -> Redactor:
        return Redactor().with_values([self.api_key, *url_secrets(self.url)])


def _where(key: str) -> str:
    return _WHERE.format(env=key.upper(), option=key.replace("_", "-"))


def require_endpoint(settings: Settings, feature: str = "judge") -> ConfigError | None:
    """Why ``feature`` (``judge`` or ``persona``) cannot run with these settings, or None when it can.

    The plugin calls it at collection for each scenario that uses the feature, so a missing
    endpoint is an error naming the setting, never a silent pass.
    """
    if not settings.judge_url:
        return ConfigError(
            f"`{feature}` needs an OpenAI-compatible LLM endpoint: set judge_url "
            f"(for a local Ollama: http://localhost:11434/v1) and judge_model, {_where('judge_url')} "
            "(see docs/llm.md)"
        )
    if not settings.judge_model:
        return ConfigError(
            f"`{feature}` needs a model: set judge_model to a model name that {settings.judge_url} "
            f"serves (for Ollama, one `ollama list` shows), {_where('judge_model')}"
        )
    variable = settings.judge_api_key_env
    if variable and not settings.judge_api_key:
        return ConfigError(
            f"judge_api_key_env names {variable}, which is not set in the environment: "
            f"export {variable}=<your key>, or remove judge_api_key_env for a server without a key"
        )
    return None


def endpoint_from(settings: Settings) -> Endpoint:
    """The endpoint of these settings; raises the error of require_endpoint when there is none."""
    problem = require_endpoint(settings)
    if problem is not None:
        raise problem
    return Endpoint(
        settings.judge_url or "",
        settings.judge_model or "",
        settings.judge_api_key,
        settings.judge_api_key_env,
        settings.judge_timeout,
    )
