"""A LeNet-style CNN on 28×28 inputs (the issue's workload (e)): conv 1→6 k5, relu, max-pool 2, conv 6→16 k5,
relu, max-pool 2, flatten, linear 256→120→84→10, cross-entropy."""

from __future__ import annotations

import numpy as np

from benchmarks.networks import NetCase, classifier_steps, twin_of


def lenet(nn, dtype=None, rng=None):  # noqa: ANN001, ANN201  (nn: minigrad.nn or torch.nn)
    def kw(i):
        return {} if rng is None else {"dtype": dtype, "rng": rng + i}

    return nn.Sequential(
        nn.Conv2d(1, 6, 5, **kw(0)),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, **kw(1)),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(256, 120, **kw(2)),
        nn.ReLU(),
        nn.Linear(120, 84, **kw(3)),
        nn.ReLU(),
        nn.Linear(84, 10, **kw(4)),
    )


def build(batch: int, dtype: str) -> dict:
    import torch

    from minigrad import nn

    rng = np.random.default_rng(0)
    net = lenet(nn, dtype, 1)
    twin = twin_of(net, lenet(torch.nn), dtype)
    x = rng.standard_normal((batch, 1, 28, 28)).astype(dtype)
    y = rng.integers(0, 10, batch)
    return classifier_steps(net, twin, x, y)


WORKLOADS = [NetCase("cnn", "lenet cnn 28x28 B=64", 64, build), NetCase("cnn", "lenet cnn 28x28 B=1", 1, build)]
