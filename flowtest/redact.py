"""Keep secrets out of everything flowtest writes: logs, failure text, reports, attachments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MASK = "***"


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
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, Mapping):
            return {key: MASK if key in self.secret_keys else self.value(item) for key, item in data.items()}
        if isinstance(data, (list, tuple)):
            return [self.value(item) for item in data]
        return data

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {
            name: MASK if name.lower() in self.secret_headers else self.text(value)
            for name, value in headers.items()
        }
