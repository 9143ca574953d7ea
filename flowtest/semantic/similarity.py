"""One run's meaning checks: every text embedded once, scored against the references.

Reference texts (the `similar` and `unlike` texts of the scenarios) are embedded at
collection by ``prepare`` and kept for the run. Bot texts are embedded on first sight and
kept in a bounded cache, so a reply that comes back in many conversations costs one
embedding. ``acheck`` embeds off the event loop, in one worker thread, and gathers the
texts of all the conversations waiting at that moment into one batch (a batch costs a
third of the time per sentence of one-by-one calls with the default model).

A score is the cosine of the two texts' vectors, clipped to 0..1 and rounded to 3 places
(the number a failure shows is the number that was compared).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowtest.errors import SemanticModelError
from flowtest.semantic import DEFAULT_MARGIN
from flowtest.semantic.models import Embedder, load_embedder

if TYPE_CHECKING:
    from flowtest.semantic.models import Vectors

CACHE_SIZE = 20_000  # bot texts kept per run: 40 MB of 512-dimension float32 vectors
BATCH = 64  # texts per call of the model from the async path


@dataclass(frozen=True, slots=True)
class Closest:
    """The text of a list that scored highest, and its score."""

    text: str
    score: float


@dataclass(frozen=True, slots=True)
class Verdict:
    """A `similar` check of one text: the best `similar` text, the closest `unlike` one."""

    best: Closest
    minimum: float
    unlike: Closest | None = None
    margin: float = DEFAULT_MARGIN

    @property
    def score(self) -> float:
        return self.best.score

    @property
    def below_minimum(self) -> bool:
        return self.best.score < self.minimum

    @property
    def near_unlike(self) -> bool:
        """The text is as close to an `unlike` text as to the `similar` one, within the margin."""
        return self.unlike is not None and self.unlike.score >= round(self.best.score - self.margin, 3)

    @property
    def passed(self) -> bool:
        return not self.below_minimum and not self.near_unlike

    def describe(self) -> str:
        """The score, the threshold, and the closest `unlike` text with its score."""
        return self._unlike(f"similarity {self.best.score:.3f} to {self.best.text!r} (min {self.minimum:g})")

    def shortfall(self, several: bool) -> str:
        """What a failure adds after the check's own words (which name the texts and the min):
        the score, the closest text when there are ``several``, and the unlike text too close."""
        text = f"similarity {self.best.score:.3f}" + (f" to {self.best.text!r}" if several else "")
        if self.below_minimum:
            text += f", below {self.minimum:g}"
        return self._unlike(text)

    def _unlike(self, text: str) -> str:
        if self.unlike is not None:
            text += (
                f"; closest unlike {self.unlike.text!r} {self.unlike.score:.3f}"
                f" (must stay below {max(0.0, self.best.score - self.margin):.3f}, margin {self.margin:g})"
            )
        return text


@dataclass(frozen=True, slots=True)
class Conflict:
    """A `similar` text and one of its `unlike` texts so close that the `similar` text itself
    would fail the check (their score is within the margin of 1)."""

    similar: str
    unlike: str
    score: float


class Similarity:
    """Meaning checks for one run. The model loads on first use (``load_embedder`` keeps it
    for the process); ``close`` stops the worker thread."""

    def __init__(
        self,
        model: str | None = None,
        *,
        cache_size: int = CACHE_SIZE,
        loader: Callable[[str | None], Embedder] = load_embedder,
    ) -> None:
        self.model = model
        self._loader = loader
        self._embedder: Embedder | None = None
        self._references: dict[str, Vectors] = {}
        self._seen: OrderedDict[str, Vectors] = OrderedDict()
        self._cache_size = cache_size
        # Two locks: the event loop takes only the store's, held for dictionary look-ups, so it
        # never waits while the worker thread embeds a batch under the model's.
        self._lock = threading.Lock()  # the stores below, the executor, the batchers
        self._model_lock = threading.Lock()  # the model: loading it, and each call
        self._executor: ThreadPoolExecutor | None = None
        self._batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batcher] = (
            weakref.WeakKeyDictionary()
        )
        self.embedded = 0  # texts given to the model so far (each text once, while cached)

    @property
    def embedder(self) -> Embedder:
        with self._model_lock:
            return self._load()

    def _load(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self._loader(self.model)
        return self._embedder

    # -- texts to vectors ---------------------------------------------------------------

    def prepare(self, texts: Iterable[str]) -> None:
        """Embed reference texts now (at collection), in one batch; kept for the whole run."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._references))
        if missing:
            vectors = self._embed(missing)
            with self._lock:
                self._references.update(zip(missing, vectors, strict=True))

    def _embed(self, texts: list[str]) -> Vectors:
        with self._model_lock:
            embedder = self._load()
            try:
                vectors = embedder.embed(texts)
            except SemanticModelError:
                raise
            except Exception as exc:  # a user's model broke mid-run: one line, not its traceback
                raise SemanticModelError(f"similar: the model {embedder.name} failed: {exc}") from None
            if len(vectors) != len(texts):
                raise SemanticModelError(
                    f"similar: the model {embedder.name} gave {len(vectors)} vectors for {len(texts)} texts"
                )
            self.embedded += len(texts)
            return vectors

    def _lookup(self, texts: Iterable[str]) -> dict[str, Vectors | None]:
        with self._lock:
            return {text: self._known(text) for text in texts}

    def _known(self, text: str) -> Vectors | None:
        vector = self._references.get(text)
        if vector is None:
            vector = self._seen.get(text)
            if vector is not None:
                self._seen.move_to_end(text)
        return vector

    def _remember(self, texts: list[str]) -> list[Vectors]:
        """Vectors of texts, embedding (in one batch) those not seen yet. Runs in any thread."""
        known = self._lookup(texts)
        missing = [text for text, vector in known.items() if vector is None]
        if missing:
            vectors = self._embed(missing)
            with self._lock:
                for text, vector in zip(missing, vectors, strict=True):
                    known[text] = self._seen[text] = vector
                while len(self._seen) > self._cache_size:
                    self._seen.popitem(last=False)
        return _in_order(texts, known)

    def vectors(self, texts: Sequence[str]) -> list[Vectors]:
        return self._remember(list(texts))

    async def avectors(self, texts: Sequence[str]) -> list[Vectors]:
        """As ``vectors``, embedding off the event loop: other conversations keep flowing."""
        known = self._lookup(texts)
        missing = [text for text, vector in known.items() if vector is None]
        if missing:
            found = await self._batcher().vectors(missing)
            known.update(zip(missing, found, strict=True))
        return _in_order(texts, known)

    def _batcher(self) -> _Batcher:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flowtest-similar")
            batcher = self._batchers.get(loop)
            if batcher is None:
                batcher = self._batchers[loop] = _Batcher(self._executor, self._remember)
            return batcher

    # -- scores -------------------------------------------------------------------------

    def score(self, text: str, references: Sequence[str]) -> Closest:
        """The best of ``references`` for ``text``."""
        vectors = self.vectors([text, *references])
        return _closest(vectors[0], references, vectors[1:])

    async def ascore(self, text: str, references: Sequence[str]) -> Closest:
        vectors = await self.avectors([text, *references])
        return _closest(vectors[0], references, vectors[1:])

    def check(
        self,
        text: str,
        similar: Sequence[str],
        *,
        minimum: float,
        unlike: Sequence[str] = (),
        margin: float = DEFAULT_MARGIN,
    ) -> Verdict:
        """`{similar: ..., min: ..., unlike: [...], margin: ...}` on ``text``."""
        vectors = self.vectors([text, *similar, *unlike])
        return _verdict(vectors, similar, unlike, minimum, margin)

    async def acheck(
        self,
        text: str,
        similar: Sequence[str],
        *,
        minimum: float,
        unlike: Sequence[str] = (),
        margin: float = DEFAULT_MARGIN,
    ) -> Verdict:
        vectors = await self.avectors([text, *similar, *unlike])
        return _verdict(vectors, similar, unlike, minimum, margin)

    def conflicts(
        self, similar: Sequence[str], unlike: Sequence[str], margin: float = DEFAULT_MARGIN
    ) -> list[Conflict]:
        """For `validate`: the (`similar`, `unlike`) pairs so close that the `similar` text
        itself, sent word for word, would fail the check."""
        vectors = self.vectors([*similar, *unlike])
        found = []
        for i, good in enumerate(similar):
            for j, bad in enumerate(unlike):
                score = _score(vectors[i], vectors[len(similar) + j])
                if score >= round(1.0 - margin, 3):
                    found.append(Conflict(good, bad, score))
        return found

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)


class _Batcher:
    """Texts awaited by the conversations of one event loop, embedded by the worker thread in
    batches: while one batch runs, the texts that arrive wait together for the next."""

    def __init__(self, executor: ThreadPoolExecutor, remember: Callable[[list[str]], list[Vectors]]) -> None:
        # No reference to the loop: the batcher is the value of a weak mapping keyed by it.
        self._executor = executor
        self._remember = remember
        self._waiting: dict[str, asyncio.Future[Vectors]] = {}
        self._queue: list[str] = []
        self._drain: asyncio.Task[None] | None = None

    async def vectors(self, texts: list[str]) -> list[Vectors]:
        loop = asyncio.get_running_loop()
        futures = []
        for text in texts:
            future = self._waiting.get(text)
            if future is None:
                future = self._waiting[text] = loop.create_future()
                future.add_done_callback(_retrieved)
                self._queue.append(text)
            futures.append(future)
        if self._drain is None:
            self._drain = loop.create_task(self._run())
            self._drain.add_done_callback(self._drained)
        # wait, not gather: a conversation cancelled while it waits must not cancel the
        # futures other conversations wait on too.
        await asyncio.wait(futures)
        return [future.result() for future in futures]

    def _drained(self, task: asyncio.Task[None]) -> None:
        self._drain = None  # a done task holds its loop, which must be free to go

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
            try:
                found = await loop.run_in_executor(self._executor, self._remember, batch)
            except Exception as exc:  # the model failed: every conversation waiting reads why
                for text in batch:
                    future = self._waiting.pop(text)
                    if not future.done():
                        future.set_exception(exc)
                continue
            except BaseException:  # cancelled (the loop is closing): nothing waits any more
                for future in self._waiting.values():
                    future.cancel()
                self._waiting.clear()
                self._queue.clear()
                raise
            for text, vector in zip(batch, found, strict=True):
                future = self._waiting.pop(text)
                if not future.done():
                    future.set_result(vector)


def _in_order(texts: Iterable[str], known: dict[str, Vectors | None]) -> list[Vectors]:
    vectors = []
    for text in texts:
        vector = known[text]
        if vector is None:  # pragma: no cover - every missing text was embedded just before
            raise RuntimeError(f"no vector for {text!r}")
        vectors.append(vector)
    return vectors


def _retrieved(future: asyncio.Future[Vectors]) -> None:
    # The failure is read by every conversation still waiting; one that was cancelled while
    # it waited leaves it unread, and asyncio would log "exception was never retrieved".
    if not future.cancelled():
        future.exception()


def _score(a: Vectors, b: Vectors) -> float:
    return round(min(1.0, max(0.0, float(a @ b))), 3)


def _closest(vector: Vectors, texts: Sequence[str], vectors: Sequence[Vectors]) -> Closest:
    scores = [_score(vector, other) for other in vectors]
    best = max(range(len(texts)), key=scores.__getitem__)
    return Closest(texts[best], scores[best])


def _verdict(
    vectors: list[Vectors], similar: Sequence[str], unlike: Sequence[str], minimum: float, margin: float
) -> Verdict:
    if not similar:
        raise ValueError("similar needs at least one text")
    best = _closest(vectors[0], similar, vectors[1 : 1 + len(similar)])
    closest_unlike = _closest(vectors[0], unlike, vectors[1 + len(similar) :]) if unlike else None
    return Verdict(best, minimum, closest_unlike, margin)
