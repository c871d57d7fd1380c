"""WordLlama embeddings and the local token counter: offline loading, shapes, similarity, tokens."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from stackwright.local import embedder


def test_embeddings_are_unit_length_float32_rows():
    vectors = embedder.embed(["Refunds arrive within a week.", "Reset your password from the sign-in page."])
    assert vectors.shape == (2, 256)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_single_string_is_one_row():
    assert embedder.embed("hello world").shape == (1, 256)


def test_related_sentences_are_closer_than_unrelated_ones():
    refund, refund_again, volcano = embedder.embed(
        [
            "How do I get my money back for a purchase?",
            "Refunds are returned to the original payment method.",
            "The volcano erupted and lava covered the village.",
        ]
    )
    assert refund @ refund_again > refund @ volcano + 0.1
    assert refund @ refund_again > refund_again @ volcano + 0.1


def test_the_same_vectors_as_wordllama_itself():
    """The padding-free batching gives WordLlama's own mean-pooled embeddings."""
    import wordllama

    model = wordllama.WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    texts = ["short", "a somewhat longer sentence about billing and invoices", "word " * 700]
    ours = embedder.embed(texts)
    theirs = model.embed(texts, norm=True)
    assert np.allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("dimensions", [64, 128, 100, 1])
def test_dimensions_truncate_and_renormalise(dimensions):
    full = embedder.embed(["Two-factor authentication adds a second step."])[0]
    short = embedder.embed(["Two-factor authentication adds a second step."], dimensions=dimensions)[0]
    assert short.shape == (dimensions,)
    assert np.isclose(np.linalg.norm(short), 1.0, atol=1e-5)
    expected = full[:dimensions] / np.linalg.norm(full[:dimensions])
    assert np.allclose(short, expected, atol=1e-6)


@pytest.mark.parametrize("dimensions", [0, 257, -1, 1.5, True, "64"])
def test_bad_dimensions_are_refused(dimensions):
    with pytest.raises(ValueError, match="dimensions must be an integer from 1 to 256"):
        embedder.embed(["text"], dimensions=dimensions)


def test_an_empty_text_is_a_zero_row_and_others_are_unaffected():
    vectors = embedder.embed(["", "something"])
    assert not vectors[0].any()
    assert np.isclose(np.linalg.norm(vectors[1]), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 256)


def test_a_long_text_among_short_ones():
    long_text = "Invoices are sent monthly. " * 2000  # about 12,000 tokens, summed in pieces
    vectors = embedder.embed(["tiny", long_text, "also short"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[1], embedder.embed("Invoices are sent monthly. " * 20)[0], atol=0.02)


def test_count_tokens_uses_the_llama_tokenizer():
    assert embedder.count_tokens("") == 0
    assert embedder.count_tokens("Hello world, how are you?") == 7
    assert embedder.count_tokens_many(["Hello world, how are you?", "", "hi"]) == [7, 0, 1]
    assert embedder.count_tokens(" ".join(["word"] * 100)) == 100


def test_truncate_to_tokens():
    text = "Refunds usually arrive within five to seven business days."
    assert embedder.truncate_to_tokens(text, 1000) == (text, False)
    cut, was_cut = embedder.truncate_to_tokens(text, 3)
    assert was_cut and text.startswith(cut) and 0 < embedder.count_tokens(cut) <= 3
    assert embedder.truncate_to_tokens(text, 0) == ("", True)


def test_the_model_loads_once_across_threads():
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(embedder.load_model())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(model) for model in seen}) == 1


LOAD_WITHOUT_NETWORK = """
import logging, sys
attempts = []
def watch(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request"):
        attempts.append((event, repr(args)[:200]))
sys.addaudithook(watch)
handlers_before = list(logging.getLogger().handlers)
import stackwright.local.embedder as e
vectors = e.embed(["offline please"])
tokens = e.count_tokens("offline please")
assert vectors.shape == (1, 256) and tokens > 0
assert logging.getLogger().handlers == handlers_before, logging.getLogger().handlers
print("ATTEMPTS", attempts)
"""


def test_loading_and_embedding_attempt_no_network_and_leave_logging_alone():
    """A fresh process loads WordLlama from the wheel: no socket is opened, no DNS asked, and
    wordllama's import-time logging.basicConfig is undone."""
    result = subprocess.run([sys.executable, "-c", LOAD_WITHOUT_NETWORK], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "ATTEMPTS []" in result.stdout, result.stdout


def test_importing_the_local_package_loads_nothing_heavy():
    code = (
        "import sys; import stackwright.local, stackwright.local.provider, stackwright.local.embedder; "
        "print([m for m in ('numpy', 'wordllama', 'tokenizers', 'llama_cpp') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
