"""The judge and the LLM caller of one run: one client, one cache, opened when first needed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from flowtest.llm.cache import AnswerCache
from flowtest.llm.chat import ChatClient
from flowtest.llm.endpoint import Endpoint, endpoint_from
from flowtest.llm.judge import Judge, Verdict
from flowtest.llm.persona import Persona, Reply, Turn
from flowtest.redact import Redactor

if TYPE_CHECKING:
    from flowtest.config import Settings


class LLM:
    """What `judge` and `persona:` call. Make one per run, use it on the run's loop, close it there."""

    def __init__(
        self, endpoint: Endpoint, cache_folder: Path | None, refresh: bool = False, connections: int = 16
    ) -> None:
        self.chat = ChatClient(endpoint, connections)
        self.cache = AnswerCache(cache_folder, endpoint.redactor, refresh)
        self._judge = Judge(self.chat, self.cache)
        self._persona = Persona(self.chat, self.cache)

    @classmethod
    def from_settings(cls, settings: Settings, refresh: bool | None = None) -> LLM:
        """From judge_url, judge_model, judge_api_key_env, judge_timeout, judge_cache, judge_refresh.

        Raises the ConfigError of require_endpoint when the endpoint is not configured.
        """
        refreshing = settings.judge_refresh if refresh is None else refresh
        return cls(endpoint_from(settings), settings.judge_cache, refreshing)

    async def judge(self, criterion: str, text: str, secrets: Redactor | None = None) -> Verdict:
        """Whether ``text`` meets ``criterion`` (a cached answer, or one call); raises LLMError."""
        return await self._judge.judge(criterion, text, secrets)

    async def next_reply(
        self, persona: str, goal_text: str, transcript: Sequence[Turn], secrets: Redactor | None = None
    ) -> Reply:
        """The caller's next reply (a cached answer, or one call); raises LLMError."""
        return await self._persona.next_reply(persona, goal_text, transcript, secrets)

    async def aclose(self) -> None:
        await self.chat.aclose()
