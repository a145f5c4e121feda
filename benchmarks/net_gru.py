"""A one-layer GRU (input size 128, hidden 128) over 32 steps, loss = the sum of its outputs: workload (f).

PyTorch runs its fused ``nn.GRU`` (ATen's CPU kernel); minigrad its ``nn.GRU``, whose loop over time is the
``gru_scan`` primitive. The input (32, B, 128) is data (no gradient); the gradients are the four parameters'.
"""

from __future__ import annotations

import numpy as np

from benchmarks.networks import NetCase, training_steps, twin_of

STEPS, FEATURES, HIDDEN = 32, 128, 128


def build(batch: int, dtype: str) -> dict:
    import torch

    from minigrad import nn

    net = nn.GRU(FEATURES, HIDDEN, dtype=dtype, rng=1)
    twin = twin_of(net, torch.nn.GRU(FEATURES, HIDDEN), dtype)
    x = np.random.default_rng(0).standard_normal((STEPS, batch, FEATURES)).astype(dtype)
    return training_steps(net, twin, lambda m, xb: m(xb)[0].sum(), lambda m, xb: m(xb)[0].sum(), x, torch.from_numpy(x))


WORKLOADS = [
    NetCase("gru", "gru 128-128 T=32 B=1", 1, build),
    NetCase("gru", "gru 128-128 T=32 B=32", 32, build),
]
