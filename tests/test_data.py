"""minigrad.data: datasets, splits, the loader's batches and its seeded shuffling, default_collate."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import minigrad as mg
from minigrad.data import (
    DataLoader,
    Dataset,
    RandomSampler,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)

X = np.arange(20.0).reshape(10, 2)
Y = np.arange(10) % 3


def _epoch(loader):
    return [[a.copy() for a in batch] for batch in loader]


def test_tensor_dataset_samples_and_length():
    ds = TensorDataset(X, Y)
    assert len(ds) == 10
    x, y = ds[3]
    np.testing.assert_array_equal(x, [6.0, 7.0])
    assert y == 0
    tensors = TensorDataset(mg.tensor(X), mg.tensor(Y))
    assert isinstance(tensors[2][0], mg.Tensor)
    with pytest.raises(ValueError, match=r"first axes differ in length: \[10, 9\]"):
        TensorDataset(X, Y[:9])
    with pytest.raises(ValueError, match="at least one array"):
        TensorDataset()


@pytest.mark.parametrize(
    "batch_size, drop_last, sizes",
    [(3, False, [3, 3, 3, 1]), (3, True, [3, 3, 3]), (10, False, [10]), (1, False, [1] * 10)],
)
def test_batches_in_order(batch_size, drop_last, sizes):
    loader = DataLoader(TensorDataset(X, Y), batch_size=batch_size, drop_last=drop_last)
    batches = _epoch(loader)
    assert [len(y) for _, y in batches] == sizes and len(loader) == len(sizes)
    seen = np.concatenate([x for x, _ in batches])
    np.testing.assert_array_equal(seen, X[: len(seen)])


def test_shuffle_is_a_permutation_new_each_epoch_and_reproducible_from_the_seed():
    loader = DataLoader(TensorDataset(X, Y), batch_size=4, shuffle=True, generator=5)
    first, second = _epoch(loader), _epoch(loader)
    order = lambda epoch: np.concatenate([x[:, 0] for x, _ in epoch]) / 2  # noqa: E731
    assert sorted(order(first)) == list(range(10))
    assert not np.array_equal(order(first), order(second))  # a new order each epoch
    again = DataLoader(TensorDataset(X, Y), batch_size=4, shuffle=True, generator=5)
    np.testing.assert_array_equal(order(_epoch(again)), order(first))  # the same seed: the same epochs
    np.testing.assert_array_equal(order(_epoch(again)), order(second))
    generator = DataLoader(TensorDataset(X, Y), batch_size=4, shuffle=True, generator=np.random.default_rng(5))
    np.testing.assert_array_equal(order(_epoch(generator)), order(first))
    for x, y in first:  # x and y stay paired
        np.testing.assert_array_equal(Y[(x[:, 0] / 2).astype(int)], y)


def test_fast_path_equals_collating_the_samples():
    ds = TensorDataset(X, Y.astype(np.int64))
    split = random_split(ds, [4, 6], generator=1)[1]
    nested = Subset(split, [5, 0, 2])
    for data in (ds, split, nested):
        fast = _epoch(DataLoader(data, batch_size=4))
        slow = _epoch(DataLoader(data, batch_size=4, collate_fn=lambda b: default_collate(b)))
        for f, s in zip(fast, slow, strict=True):
            for a, b in zip(f, s, strict=True):
                np.testing.assert_array_equal(a, b)
                assert a.dtype == b.dtype


def test_default_collate_like_torch():
    Point = collections.namedtuple("Point", "x y")
    batch = default_collate([{"a": np.ones(2), "b": 1, "c": (0.5, "s")}, {"a": np.zeros(2), "b": 2, "c": (1.5, "t")}])
    np.testing.assert_array_equal(batch["a"], [[1, 1], [0, 0]])
    assert batch["b"].dtype == np.int64 and batch["b"].tolist() == [1, 2]
    assert batch["c"][0].dtype == np.float64 and batch["c"][1] == ["s", "t"]
    points = default_collate([Point(1.0, np.float32(2)), Point(3.0, np.float32(4))])
    assert isinstance(points, Point) and points.y.dtype == np.float32
    assert default_collate([True, False]).dtype == bool
    stacked = default_collate([mg.tensor([1.0, 2.0]), mg.tensor([3.0, 4.0])])
    assert isinstance(stacked, mg.Tensor) and stacked.shape == (2, 2)
    with pytest.raises(ValueError, match="different shapes"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="different numbers of fields"):
        default_collate([(1, 2), (1,)])
    with pytest.raises(TypeError, match="cannot batch samples of type object"):
        default_collate([object()])


class Squares(Dataset):
    def __getitem__(self, i):
        return {"x": np.array([i, i * i], dtype=np.float32), "label": i % 2}

    def __len__(self):
        return 7


def test_a_dataset_of_dicts_and_a_sampler():
    loader = DataLoader(Squares(), batch_size=3, sampler=[6, 0, 3, 1])
    batches = list(loader)
    assert len(loader) == 2 and [b["label"].tolist() for b in batches] == [[0, 0, 1], [1]]
    assert batches[0]["x"].dtype == np.float32
    with pytest.raises(ValueError, match="sampler and shuffle=True exclude each other"):
        DataLoader(Squares(), sampler=[0], shuffle=True)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        DataLoader(Squares(), batch_size=0)
    assert len(list(RandomSampler(Squares(), generator=0))) == 7


def test_random_split_counts_fractions_and_seed():
    ds = TensorDataset(X)
    parts = random_split(ds, [0.5, 0.3, 0.2], generator=0)
    assert [len(p) for p in parts] == [5, 3, 2]
    indices = sorted(i for p in parts for i in p.indices)
    assert indices == list(range(10))  # disjoint and complete
    assert [p.indices for p in random_split(ds, [5, 3, 2], generator=0)] == [p.indices for p in parts]
    assert [len(p) for p in random_split(ds, [0.33, 0.33, 0.34], generator=0)] == [4, 3, 3]  # remainder to the first
    np.testing.assert_array_equal(parts[0][0][0], X[parts[0].indices[0]])
    with pytest.raises(ValueError, match=r"the lengths \[4, 4\] sum to 8, the dataset has 10 samples"):
        random_split(ds, [4, 4])
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator"):
        random_split(ds, [5, 5], generator="seed")


def test_a_training_loop_over_a_loader_learns():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.3
    from minigrad import nn, optim

    model = nn.Linear(3, 1, rng=0, dtype=np.float64)
    opt = optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.0)
    loader = DataLoader(TensorDataset(x, y[:, None]), batch_size=16, shuffle=True, generator=0)
    losses = []
    for _ in range(30):
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.01 * losses[0]


def test_the_docs_training_loop_runs_and_learns(capsys):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text(encoding="utf-8")
    section = text.split("# The training kit", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace = {}
    exec(compile(code, "docs/training.md", "exec"), namespace)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and float(lines[-1].rsplit(" ", 1)[1]) > 0.9  # the validation accuracy
    assert set(namespace["checkpoint"]["opt"]) == {"state", "param_groups"}
