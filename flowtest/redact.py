"""Keep secrets out of everything flowtest writes: logs, failure text, reports, attachments."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import orjson

MASK = "***"
_SECRET_QUERY = ("key", "token", "secret", "password", "sig", "auth")


def url_secrets(url: str | None) -> list[str]:
    """The secret parts of a URL: the password of ``user:password@`` and key-like query values."""
    if not url:
        return []
    parts = urlsplit(url)
    found = [parts.password] if parts.password else []
    found += [value for name, value in parse_qsl(parts.query) if value and _secret_query(name)]
    return found


def masked_url(url: str) -> str:
    """``url`` as it may be shown: its user-info (user name too: it may be the key) and
    key-like query values masked."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        parts = parts._replace(netloc=f"{MASK}@{parts.netloc.rpartition('@')[2]}")
    if parts.query:
        fields = parse_qsl(parts.query, keep_blank_values=True)
        parts = parts._replace(
            query="&".join(f"{name}={MASK if _secret_query(name) else value}" for name, value in fields)
        )
    return urlunsplit(parts)


def _secret_query(name: str) -> bool:
    return any(word in name.lower() for word in _SECRET_QUERY)


@dataclass(frozen=True)
class Redactor:
    """Masks configured secret values anywhere in text, and values under secret keys."""

    secret_values: tuple[str, ...] = ()
    secret_keys: frozenset[str] = frozenset()
    secret_headers: frozenset[str] = frozenset({"authorization"})

    def with_values(self, values: Iterable[str | None]) -> Redactor:
        extra = tuple(v for v in values if v and len(v) >= 4 and v not in self.secret_values)
        return Redactor(self.secret_values + extra, self.secret_keys, self.secret_headers)

    def text(self, text: str) -> str:
        for secret in self.secret_values:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def value(self, data: Any) -> Any:
        """``data`` with secrets masked; the object itself when no secret is in it (the usual case)."""
        if isinstance(data, (Mapping, list)) and not self.touches(data):
            return data
        return self._masked(data)

    def touches(self, data: Any) -> bool:
        """Whether a secret value, or a key named as secret, is anywhere in ``data``."""
        # One C-speed serialisation is far cheaper than walking every value in Python.
        try:
            text = orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except (orjson.JSONEncodeError, TypeError):  # an integer beyond 64 bits
            text = json.dumps(data, ensure_ascii=False, default=str)
        return any(secret in text for secret in self.secret_values) or any(
            f'"{key}"' in text for key in self.secret_keys
        )

    def _masked(self, data: Any) -> Any:
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, Mapping):
            return {
                key: MASK if key in self.secret_keys else self._masked(item) for key, item in data.items()
            }
        if isinstance(data, (list, tuple)):
            return [self._masked(item) for item in data]
        return data

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {
            name: MASK if name.lower() in self.secret_headers else self.text(value)
            for name, value in headers.items()
        }
