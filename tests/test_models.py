"""The lecture's models: gradients against numerical derivatives, and learning on small data."""

from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad import nn, optim
from minigrad.testing import gradcheck
from models import features
from models.softmax_classifier import SoftmaxClassifier
from models.tagger import TaggerConfig, WindowTagger
from models.window_scorer import WindowScorer, corrupt, ranking_accuracy


def _check_model(model, loss_fn):
    """gradcheck of ``loss_fn(call)`` with respect to every parameter; ``call`` runs the model on them."""
    names = [n for n, _ in model.named_parameters()]

    def f(*params):
        with_params = dict(zip(names, params))
        return loss_fn(lambda *args: nn.functional_call(model, with_params, *args))

    assert gradcheck(f, *[p.data for p in model.parameters()])


def test_window_scorer_gradients_match_numerical():
    model = WindowScorer(n_words=7, dim=3, window=3, hidden=4, dtype=np.float64, rng=0)
    rng = np.random.default_rng(1)
    windows = rng.integers(0, 7, (4, 3))
    corrupted = corrupt(windows, 7, rng)

    def loss(call):
        # J = max(0, 1 − s + s_c), written out here, not through the model's loss method
        return mg.relu(1 - call(windows) + call(corrupted)).sum()

    _check_model(model, loss)


def test_window_scorer_gradient_is_the_lectures_formula():
    model = WindowScorer(n_words=5, dim=4, window=5, hidden=8, dtype=np.float64, rng=0)
    window = np.array([[0, 1, 2, 3, 4]])
    model(window).sum().backward()
    x = model.embed.weight.data[window[0]].ravel()
    z = model.hidden.weight.data @ x + model.hidden.bias.data
    delta = model.u.data * (1 - np.tanh(z) ** 2)  # δ = u ∘ f′(z)
    np.testing.assert_allclose(model.hidden.weight.grad, np.outer(delta, x))  # ∂s/∂W = δ xᵀ
    np.testing.assert_allclose(model.u.grad, np.tanh(z))  # ∂s/∂u = h
    np.testing.assert_allclose(model.embed.weight.grad[window[0]].ravel(), model.hidden.weight.data.T @ delta)


def test_corrupt_replaces_only_the_centre_word():
    rng = np.random.default_rng(0)
    windows = rng.integers(2, 9, (50, 5))
    bad = corrupt(windows, 9, rng)
    np.testing.assert_array_equal(np.delete(bad, 2, axis=1), np.delete(windows, 2, axis=1))
    assert np.all(bad[:, 2] != windows[:, 2]) and bad.min() >= 2 and bad.max() < 9


def test_window_scorer_learns_to_rank_true_windows():
    rng = np.random.default_rng(0)
    # true windows: the centre word is always 2 + (left neighbour mod 5); corruptions break that rule
    left = rng.integers(2, 20, 400)
    windows = np.stack([left, left, 2 + left % 5, left, left], axis=1)
    model = WindowScorer(n_words=20, dim=8, window=5, hidden=16, rng=0)
    opt = optim.Adagrad(model.parameters(), lr=0.1)
    test = corrupt(windows[:100], 20, rng)
    before = ranking_accuracy(model, windows[:100], test)
    for _ in range(30):
        for first in range(100, 400, 50):
            batch = windows[first : first + 50]
            opt.zero_grad()
            model.loss(batch, corrupt(batch, 20, rng)).backward()
            opt.step()
    assert ranking_accuracy(model, windows[:100], test) > max(0.9, before)


def test_softmax_classifier_gradients_both_variants():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 4)), np.array([0, 2, 1, 2, 0])
    for hidden in (None, 3):
        model = SoftmaxClassifier(4, 3, hidden=hidden, dtype=np.float64, rng=0)
        _check_model(model, lambda call: nn.functional.cross_entropy(call(x), y))


def test_softmax_classifier_without_hidden_layer_is_softmax_regression():
    model = SoftmaxClassifier(4, 3, dtype=np.float64, rng=0)
    x = np.random.default_rng(1).standard_normal((2, 4))
    z = x @ model.out.weight.data.T + model.out.bias.data
    np.testing.assert_allclose(nn.functional.softmax(model(x)).data, np.exp(z) / np.exp(z).sum(1, keepdims=True))


def test_softmax_classifier_separates_two_blobs():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-1, 0.5, (100, 2)), rng.normal(1, 0.5, (100, 2))]).astype(np.float32)
    y = np.repeat([0, 1], 100)
    model = SoftmaxClassifier(2, 2, hidden=8, rng=0)
    opt = optim.Adam(model.parameters(), lr=0.05)
    for _ in range(100):
        opt.zero_grad()
        model.loss(x, y).backward()
        opt.step()
    assert np.mean(model.predict(x) == y) > 0.95


def test_window_tagger_gradients_match_numerical():
    config = TaggerConfig(half=1, word_dim=3, case_dim=2, suffix_dim=2, hidden=4, dropout=0.0)
    model = WindowTagger(n_words=6, n_suffixes=4, n_labels=3, config=config, dtype=np.float64)
    words = features.Vocab(["museums", "in", "paris", "are"])
    suffixes = features.Vocab(["ums", "in"])
    windows = features.windows([["Museums", "in", "Paris", "are", "amazing"]], words, suffixes, half=1)
    y = np.array([0, 0, 1, 0, 2])
    _check_model(model, lambda call: nn.functional.cross_entropy(call(windows), y))


def test_unknown_words_map_to_the_unk_row_and_casing_is_kept():
    words = features.Vocab.build(["paris", "paris", "in"], min_count=2)
    ids = features.token_ids(["Paris", "PARIS", "Lyon", "in"], words, features.Vocab([]))
    assert list(ids[:, 0]) == [2, 2, 1, 1]  # 1 is <unk>: "in" was seen once only
    assert [features.CASES[i] for i in ids[:, 1]] == ["title", "upper", "title", "lower"]
    assert features.normalise("@bob") == "<user>" and features.normalise("Route66") == "route00"
