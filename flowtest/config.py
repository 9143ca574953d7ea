"""flowtest's settings, from (highest first) command line, environment, pyproject.toml, defaults.

The API key is read from the environment only (FLOWTEST_API_KEY), never from files.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from flowtest.client.models import DEFAULT_MAX_RESPONSE_BYTES, FieldPaths, base_url_problem
from flowtest.durations import parse_duration
from flowtest.errors import ConfigError
from flowtest.matchers import TEXT_MODES, TextMode
from flowtest.semantic import DEFAULT_MIN

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

API_KEY_VARIABLE = "FLOWTEST_API_KEY"
DEFAULT_ALLURE_RESULTS = Path("reports/allure-results")
DEFAULT_ALLURE_REPORT = Path("reports/allure-report")
UTTERANCE_MODES = ("all", "first", "random")
DEFAULT_JUDGE_CACHE = Path(".flowtest/cache/llm")


@dataclass(frozen=True)
class Settings:
    base_url: str | None = None
    org: str = "demo"
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    sandbox_flows: Path = Path("scenarios/flows")
    secret_variables: tuple[str, ...] = ()
    concurrency: int = 1
    rate_limit: float | None = None
    allure_results: Path | None = DEFAULT_ALLURE_RESULTS
    text_match: TextMode = TextMode.EXACT
    utterances: str = "all"
    seed: int | None = None
    ignore_messages: tuple[str, ...] = ()
    similar_min: float = DEFAULT_MIN
    similar_model: str | None = None  # None: the semantic extra's model (flowtest.semantic)
    fields: FieldPaths = FieldPaths()
    # -- the LLM endpoint of `judge` and `persona:` (flowtest/llm) --
    judge_url: str | None = None
    judge_model: str | None = None
    judge_api_key_env: str | None = None  # the NAME of the variable; the key is read from it
    judge_api_key: str | None = field(default=None, repr=False)
    judge_timeout: float = 60.0
    judge_cache: Path = DEFAULT_JUDGE_CACHE
    judge_refresh: bool = False
    coverage: bool = False  # --flowtest-coverage: what the run's conversations took, see flowtest.coverage
    coverage_min: float | None = None  # --flowtest-coverage-min: edge coverage % each flow must reach
    flows: tuple[str, ...] = ()  # the flows a run should start at all (the observed inventory says)
    project_root: Path | None = None
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    @property
    def uses_sandbox(self) -> bool:
        return not self.base_url


def did_you_mean(name: str, choices: Sequence[str]) -> str:
    from flowtest import validation  # only when there is a message to write

    return validation.did_you_mean(name, choices)


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected text, got {value!r}")
    return value.strip()


def _positive_int(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise ValueError(f"expected 1 or more, got {number}")
    return number


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"expected a list of names, got {value!r}")


def positive_rate(value: Any) -> float:
    """Requests per second: 20, 20.5 or 20/s."""
    text = str(value).strip().removesuffix("/s")
    try:
        rate = float(text)
    except ValueError:
        raise ValueError(f"expected requests per second such as 20 or 20/s, got {value!r}") from None
    if rate <= 0:
        raise ValueError("the rate must be above 0")
    return rate


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip()
        if text not in choices:
            hint = did_you_mean(text, choices)
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}{hint}")
        return text

    return parse


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _percent(value: Any) -> float:
    text = str(value).strip().removesuffix("%")
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"expected a percentage such as 80, got {value!r}") from None
    if not 0 <= number <= 100:
        raise ValueError(f"expected a percentage from 0 to 100, got {value!r}")
    return number


def _seed(value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"expected a whole number, got {value!r}") from None


def _score(value: Any) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError(f"expected a similarity from 0 to 1, such as 0.45, got {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"expected a similarity from 0 to 1, such as 0.45, got {value!r}")
    return number


def _base_url(value: Any) -> str:
    url = _text(value)
    problem = base_url_problem(url)
    if problem is not None:
        raise ValueError(problem)
    return url


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1 << 10,
    "kib": 1 << 10,
    "mb": 1 << 20,
    "mib": 1 << 20,
    "gb": 1 << 30,
    "gib": 1 << 30,
}
_SIZE = re.compile(r"\s*([0-9]+)\s*([a-z]*)\s*", re.IGNORECASE)


def _size(value: Any) -> int:
    """A number of bytes: 16777216, or with a unit: 16MB, 512 KiB (KB and MB count by 1024)."""
    found = _SIZE.fullmatch(str(value))
    unit = found.group(2).lower() if found else ""
    if found is None or unit not in _SIZE_UNITS or int(found.group(1)) < 1:
        raise ValueError(f"expected a size such as 16MB or 512KB, got {value!r}")
    return int(found.group(1)) * _SIZE_UNITS[unit]


def _timeout(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("a timeout must be above 0 (requests are never unbounded)")
    return seconds


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "base_url": _base_url,
    "org": _text,
    "timeout": _timeout,
    "auth_header": _text,
    "auth_scheme": lambda v: str(v).strip(),
    "sandbox_flows": lambda v: Path(_text(v)),
    "secret_variables": _names,
    "concurrency": _positive_int,
    "rate_limit": positive_rate,
    "allure_results": lambda v: Path(str(v).strip()) if str(v).strip() else None,
    "text_match": lambda v: TextMode(_one_of(TEXT_MODES)(v)),
    "utterances": _one_of(UTTERANCE_MODES),
    "seed": _seed,
    "ignore_messages": _names,
    "similar_min": _score,
    "similar_model": _text,
    "coverage": _flag,
    "coverage_min": _percent,
    "flows": _names,
    "max_response_bytes": _size,
}
FIELD_NAMES = tuple(f.name for f in fields(FieldPaths))


# -- the LLM endpoint of `judge` and `persona:` ------------------------------------------

_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _http_url(value: Any) -> str:
    url = _text(value)
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"expected an http(s) URL such as http://localhost:11434/v1, got {value!r}")
    return url


def _variable_name(value: Any) -> str:
    # Never echo the value: a key pasted here instead of a name must not reach the output.
    if not isinstance(value, str) or not _VARIABLE_NAME.fullmatch(value.strip()):
        raise ValueError(
            "expected the NAME of an environment variable that holds the key, such as OPENAI_API_KEY "
            "(the value given is not shown: it may be the key itself)"
        )
    return value.strip()


_PARSERS.update(
    {
        "judge_url": _http_url,
        "judge_model": _text,
        "judge_api_key_env": _variable_name,
        "judge_timeout": _timeout,
        "judge_cache": lambda v: Path(_text(v)),
        "judge_refresh": _flag,
    }
)


def env_name(key: str) -> str:
    return "FLOWTEST_" + key.upper()


def read_pyproject(root: Path) -> dict[str, Any]:
    """The [tool.flowtest] table of root/pyproject.toml, or {}."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise ConfigError(f"{path}: cannot read [tool.flowtest]: {exc}") from None
    table = data.get("tool", {}).get("flowtest", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.flowtest] must be a table")
    return table


def resolve(
    options: Mapping[str, Any], env: Mapping[str, str], pyproject: Mapping[str, Any], root: Path
) -> Settings:
    """Settings from every source; a bad value is a ConfigError naming where it came from."""
    _check_keys(pyproject, root)
    values: dict[str, Any] = {}
    for key, parse in _PARSERS.items():
        found = _first(key, options.get(key), env.get(env_name(key)), pyproject.get(key))
        if found is not None:
            values[key] = _parse(parse, key, *found)
    for key in ("sandbox_flows", "allure_results", "judge_cache"):
        path = values.get(key, getattr(Settings, key))
        values[key] = root / path if path is not None and not path.is_absolute() else path
    if values.get("coverage_min") is not None:
        values["coverage"] = True  # a gate on coverage measures it
    values["fields"] = _field_paths(options, env, pyproject.get("fields", {}))
    values["api_key"] = env.get(API_KEY_VARIABLE) or None
    values["judge_api_key"] = env.get(values.get("judge_api_key_env") or "") or None
    values["project_root"] = root
    return Settings(**values)


def _first(key: str, option: Any, env_value: Any, file_value: Any) -> tuple[Any, str] | None:
    if option is not None:
        return option, f"--flowtest-{key.replace('_', '-')}"
    if env_value is not None and env_value != "":
        return env_value, env_name(key)
    if file_value is not None:
        return file_value, f"[tool.flowtest] {key}"
    return None


def _parse(parse: Callable[[Any], Any], key: str, value: Any, source: str) -> Any:
    try:
        return parse(value)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _field_paths(options: Mapping[str, Any], env: Mapping[str, str], table: Any) -> FieldPaths:
    if not isinstance(table, dict):
        raise ConfigError("[tool.flowtest.fields] must be a table")
    values = {}
    for name in FIELD_NAMES:
        found = _first(
            f"field_{name}", options.get(f"field_{name}"), env.get(env_name(f"field_{name}")), table.get(name)
        )
        if found is not None:
            values[name] = _parse(_text, f"field_{name}", *found)
    for name in table:
        if name not in FIELD_NAMES:
            raise ConfigError(
                f"[tool.flowtest.fields]: unknown field '{name}'{did_you_mean(name, FIELD_NAMES)}"
            )
    return FieldPaths(**values)


def _check_keys(pyproject: Mapping[str, Any], root: Path) -> None:
    allowed = {*_PARSERS, "fields"}
    for key in pyproject:
        if key == "api_key":
            raise ConfigError(
                f"{root / 'pyproject.toml'}: [tool.flowtest] must not hold the API key; "
                f"set the {API_KEY_VARIABLE} environment variable instead"
            )
        if key == "judge_api_key":
            raise ConfigError(
                f"{root / 'pyproject.toml'}: [tool.flowtest] must not hold the judge's key; name the "
                "environment variable that holds it in judge_api_key_env instead"
            )
        if key not in allowed:
            hint = did_you_mean(key, sorted(allowed))
            raise ConfigError(f"{root / 'pyproject.toml'}: [tool.flowtest] unknown key '{key}'{hint}")
