"""The character-level GRU language model: a tiny run learns, and sampling speaks its vocabulary."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models import char_lm


def test_text_ships_with_the_repository_without_its_header():
    text = char_lm.load_text()
    assert 30_000 < len(text) < 500_000
    assert text.startswith("THE FIRST BOOK OF MOSES") and "#" not in text[:200]


def test_a_tiny_run_learns_and_samples_from_the_vocabulary():
    text = char_lm.load_text()[:6000]
    result = char_lm.run(epochs=3, hidden=24, embed=8, seq_len=16, batch=8, lr=1e-2, sample_length=40,
                         text=text, log=lambda *_: None)  # fmt: skip
    history = result["history"]
    uniform = math.log2(len(result["vocab"]))
    assert history[0]["train_bpc"] < uniform + 0.5  # starts near the uniform guess...
    assert history[-1]["train_bpc"] < history[0]["train_bpc"] - 0.5  # ...and learns
    assert history[-1]["valid_bpc"] < uniform
    out = char_lm.sample(result["model"], result["vocab"], "And ", 25, temperature=0.8, rng=1)
    assert len(out) == 25 and set(out) <= set(result["vocab"].chars)


def test_truncated_bptt_streams_and_clipping():
    ids = np.arange(10)
    np.testing.assert_array_equal(char_lm.streams(ids, 3), [[0, 3, 6], [1, 4, 7], [2, 5, 8]])
    vocab = char_lm.Vocabulary("abca")
    assert vocab.decode(vocab.encode("cab")) == "cab" and len(vocab) == 3
    import minigrad as mg

    p = mg.tensor(np.zeros(2), requires_grad=True)
    p.grad = np.array([3.0, 4.0])
    assert char_lm._clip([p], 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(np.linalg.norm(p.grad), 1.0, rtol=1e-5)


def test_sampling_refuses_a_nonpositive_temperature():
    vocab = char_lm.Vocabulary("ab")
    with pytest.raises(ValueError, match="temperature must be positive, got 0"):
        char_lm.sample(char_lm.CharLM(2, 2, 3, rng=0), vocab, "a", 3, temperature=0)
