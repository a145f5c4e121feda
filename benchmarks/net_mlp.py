"""A two-layer tanh MLP through ``nn.Linear``: the smallest network workload, and the template for the others."""

from __future__ import annotations

import numpy as np

from benchmarks.networks import NetCase, classifier_steps, twin_of


def build(batch: int, dtype: str) -> dict:
    import torch

    from minigrad import nn

    rng = np.random.default_rng(0)
    net = nn.Sequential(nn.Linear(250, 100, dtype=dtype, rng=1), nn.Tanh(), nn.Linear(100, 5, dtype=dtype, rng=2))
    twin = twin_of(net, torch.nn.Sequential(torch.nn.Linear(250, 100), torch.nn.Tanh(), torch.nn.Linear(100, 5)), dtype)
    x = rng.standard_normal((batch, 250)).astype(dtype)
    y = rng.integers(0, 5, batch)
    return classifier_steps(net, twin, x, y)


WORKLOADS = [NetCase("mlp", "ner mlp 250-100-5 B=64", 64, build), NetCase("mlp", "ner mlp 250-100-5 B=1", 1, build)]
