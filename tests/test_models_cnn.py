"""models.digits_cnn: a tiny run on a slice of the digits lowers the loss (the full target is the model's own run)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from models import digits_cnn  # noqa: E402


def test_a_short_run_lowers_the_loss_and_beats_chance():
    x_train, y_train, x_test, y_test = digits_cnn.load(0)
    data = (x_train[:256], y_train[:256], x_test[:128], y_test[:128])
    lines = []
    _, history = digits_cnn.train(epochs=4, batch=16, seed=0, data=data, log=lines.append)
    assert history[-1]["loss"] < 0.9 * history[0]["loss"]
    assert history[-1]["test_acc"] > 0.3  # ten classes: chance is 0.1
    assert len(lines) == 4 and lines[0].startswith("epoch  1")


def test_the_split_is_fixed_stratified_and_disjoint():
    a = digits_cnn.load(0)
    b = digits_cnn.load(0)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    x_train, y_train, x_test, y_test = a
    assert x_train.shape[1:] == (1, 8, 8) and x_train.dtype == np.float32 and 0 <= x_train.min() <= x_train.max() <= 1
    assert len(y_test) == 359 and set(np.bincount(y_test)) <= {35, 36, 37}


def test_shifted_moves_each_image_by_at_most_one_pixel():
    x = np.arange(4 * 9, dtype=np.float32).reshape(4, 1, 3, 3) + 1
    out = digits_cnn.shifted(x, np.random.default_rng(0))
    assert out.shape == x.shape
    for image, moved in zip(x[:, 0], out[:, 0]):
        framed = np.pad(image, 1)
        assert any(np.array_equal(framed[i : i + 3, j : j + 3], moved) for i in range(3) for j in range(3))


def test_main_says_what_is_missing_without_sklearn(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name == "sklearn":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    assert digits_cnn.main(["--epochs", "1"]) == 1
    assert "scikit-learn" in capsys.readouterr().err
