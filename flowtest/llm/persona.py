"""`persona:` + `goal_text:`: a model plays the caller, one strict JSON reply per bot turn.

The transcript goes to the model as a chat: the bot's turns as the other party's messages,
the caller's own replies as its earlier answers, written in the very JSON it is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from flowtest.contract import AWAITING_TRANSFER, TRANSFER_RESULTS
from flowtest.errors import LLMAnswerError
from flowtest.llm.answers import capped, json_object
from flowtest.llm.cache import AnswerCache, Record
from flowtest.llm.chat import ChatClient
from flowtest.redact import Redactor

PURPOSE = "the LLM caller (persona)"
PROMPT_VERSION = 1  # part of the cache key: a new prompt asks afresh

SYSTEM = """You play a caller in an automated test of a chatbot. Stay in character; answer briefly, \
as that caller would type.
Who you are: {persona}
Your goal: {goal}
After each bot turn, answer with ONE JSON object only, one of:
{{"say": "the text you type"}}
{{"press": "the exact title of one button offered"}}
{{"transfer": "{results}", "reason": "optional"}}  only when the status is {awaiting}
{{"end": "why you stop"}}  when your goal is reached, or cannot be reached"""
RETRY = "That answer could not be used: {problem}. Answer again with ONE JSON object only."


@dataclass(frozen=True)
class BotMessage:
    text: str
    buttons: tuple[str, ...] = ()  # titles, as offered


@dataclass(frozen=True)
class BotTurn:
    """What the bot said in one turn, and the session's status after it."""

    messages: tuple[BotMessage, ...]
    status: str = "awaiting_input"

    @property
    def buttons(self) -> tuple[str, ...]:
        return tuple(button for message in self.messages for button in message.buttons)

    def as_json(self) -> dict[str, Any]:
        bot = [
            {"text": m.text, "buttons": list(m.buttons)} if m.buttons else {"text": m.text}
            for m in self.messages
        ]
        return {"bot": bot, "status": self.status}

    def prompt(self) -> str:
        lines = [f"Bot: {message.text}" for message in self.messages if message.text]
        if self.buttons:
            lines.append("Buttons: " + " ".join(f"[{title}]" for title in self.buttons))
        lines.append(f"Status: {self.status}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Say:
    text: str

    def as_json(self) -> dict[str, Any]:
        return {"say": self.text}


@dataclass(frozen=True)
class Press:
    button: str  # the title, exactly as offered; the caller step sends its payload, else the title

    def as_json(self) -> dict[str, Any]:
        return {"press": self.button}


@dataclass(frozen=True)
class Transfer:
    result: str  # one of TRANSFER_RESULTS
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"transfer": self.result} | ({"reason": self.reason} if self.reason else {})


@dataclass(frozen=True)
class End:
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"end": self.reason or True}


Reply = Say | Press | Transfer | End
Turn = BotTurn | Say | Press | Transfer | End
_KINDS = ("say", "press", "transfer", "end")


def persona_messages(persona: str, goal_text: str, transcript: Sequence[Turn]) -> list[dict[str, str]]:
    system = SYSTEM.format(
        persona=persona, goal=goal_text, results='", "'.join(TRANSFER_RESULTS), awaiting=AWAITING_TRANSFER
    )
    messages = [{"role": "system", "content": system}]
    for turn in transcript:
        role, content = (
            ("user", turn.prompt()) if isinstance(turn, BotTurn) else ("assistant", _dumps(turn.as_json()))
        )
        if messages[-1]["role"] == role:  # some chat templates insist that the roles alternate
            messages[-1] = {"role": role, "content": messages[-1]["content"] + "\n\n" + content}
        else:
            messages.append({"role": role, "content": content})
    return messages


def read_reply(answer: str, last: BotTurn | None) -> Reply | str:
    """The reply in a model's answer, checked against the bot's last turn; else what is wrong with it."""
    found = json_object(answer)
    if found is None:
        return "it is not a JSON object"
    kinds = [kind for kind in _KINDS if kind in found]
    if len(kinds) != 1:
        return f"it must hold exactly one of {', '.join(_KINDS)}"
    kind, value = kinds[0], found[kinds[0]]
    if kind == "end":
        return End(value if isinstance(value, str) else "")
    if not isinstance(value, str) or not value.strip():
        return f"{kind} must be a text"
    return _text_reply(kind, value, found, last)


def _text_reply(kind: str, text: str, found: dict[str, Any], last: BotTurn | None) -> Reply | str:
    """A say, press or transfer: each takes a text."""
    if kind == "say":
        return Say(text)
    if kind == "press":
        return _press(text, last)
    return _transfer(text, found.get("reason"), last)


def _press(title: str, last: BotTurn | None) -> Reply | str:
    offered = last.buttons if last is not None else ()
    wanted = " ".join(title.split()).casefold()
    for button in offered:
        if " ".join(button.split()).casefold() == wanted:
            return Press(button)
    if not offered:
        return f"it pressed {title!r}, but the bot offered no buttons"
    return f"it pressed {title!r}, but the bot offered only: {', '.join(offered)}"


def _transfer(result: str, reason: Any, last: BotTurn | None) -> Reply | str:
    if last is None or last.status != AWAITING_TRANSFER:
        status = last.status if last is not None else "unknown"
        return f"it answered a transfer, but the session is {status}, not {AWAITING_TRANSFER}"
    if result not in TRANSFER_RESULTS:
        return f"transfer must be one of {', '.join(TRANSFER_RESULTS)}, not {result!r}"
    return Transfer(result, reason if isinstance(reason, str) and reason else None)


def _dumps(data: Any) -> str:
    return orjson.dumps(data).decode()


def _last_bot_turn(transcript: Sequence[Turn]) -> BotTurn | None:
    return next((turn for turn in reversed(transcript) if isinstance(turn, BotTurn)), None)


class Persona:
    def __init__(self, chat: ChatClient, cache: AnswerCache) -> None:
        self.chat = chat
        self.cache = cache

    async def next_reply(
        self, persona: str, goal_text: str, transcript: Sequence[Turn], secrets: Redactor | None = None
    ) -> Reply:
        """The caller's reply to the conversation so far; the same state is asked once, then cached.

        ``End`` when the model says it is done; the caller step's ``max_turns`` bounds the rest.
        ``secrets``: the conversation's secret values, masked in the cache file.
        """
        question = {
            "model": self.chat.endpoint.model,
            "prompt": PROMPT_VERSION,
            "persona": persona,
            "goal": goal_text,
            "transcript": [turn.as_json() for turn in transcript],
        }
        last = _last_bot_turn(transcript)
        record, _cached = await self.cache.answer(
            "persona",
            question,
            lambda: self._ask(persona, goal_text, transcript, last),
            valid=lambda record: not isinstance(read_reply(_dumps(record), last), str),
            secrets=secrets,
        )
        reply = read_reply(_dumps(record), last)
        if isinstance(reply, str):  # a stored reply that fits no more: valid() already refused it
            raise LLMAnswerError(f"{PURPOSE}: a cached reply does not fit the conversation: {reply}")
        return reply

    async def _ask(
        self, persona: str, goal_text: str, transcript: Sequence[Turn], last: BotTurn | None
    ) -> Record:
        messages = persona_messages(persona, goal_text, transcript)
        answer = (await self.chat.complete(messages, PURPOSE)).text
        reply = read_reply(answer, last)
        if isinstance(reply, str):  # one more chance, told what was wrong
            retry = RETRY.format(problem=reply)
            messages += [{"role": "assistant", "content": answer}, {"role": "user", "content": retry}]
            answer = (await self.chat.complete(messages, PURPOSE)).text
            reply = read_reply(answer, last)
        if isinstance(reply, str):
            raise LLMAnswerError(
                self.chat.redactor.text(
                    f"{PURPOSE} ({self.chat.endpoint.model}) answered {capped(answer)!r}, which is not "
                    f"one reply: {reply}"
                )
            )
        return reply.as_json()
