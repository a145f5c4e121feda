"""The training kit's losses: a multi-label MLP trained with BCE-with-logits (pos_weight) plus a Huber term.

Both losses are composites (``logaddexp``, ``where``, ``absolute``), so this measures what their few extra nodes
cost per step against PyTorch's fused losses, at batch 1 (Python overhead) and 256.
"""

from __future__ import annotations

import numpy as np

from benchmarks.networks import NetCase, training_steps, twin_of


def build(batch: int, dtype: str) -> dict:
    import torch

    from minigrad import nn

    rng = np.random.default_rng(0)
    net = nn.Sequential(nn.Linear(32, 64, dtype=dtype, rng=1), nn.ReLU(), nn.Linear(64, 8, dtype=dtype, rng=2))
    twin = twin_of(net, torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8)), dtype)
    x = rng.standard_normal((batch, 32)).astype(dtype)
    y = (rng.random((batch, 8)) < 0.3).astype(dtype)
    r = rng.standard_normal((batch, 8)).astype(dtype)
    pos_weight = np.linspace(0.5, 3.0, 8).astype(dtype)
    yt, rt, pwt = (torch.from_numpy(a) for a in (y, r, pos_weight))
    bce, huber = nn.BCEWithLogitsLoss(pos_weight=pos_weight), nn.HuberLoss(delta=0.5)
    tbce, thuber = torch.nn.BCEWithLogitsLoss(pos_weight=pwt), torch.nn.HuberLoss(delta=0.5)

    def loss(m, xb):  # noqa: ANN001, ANN202
        z = m(xb)
        return bce(z, y) + 0.5 * huber(z, r)

    def torch_loss(m, xb):  # noqa: ANN001, ANN202
        z = m(xb)
        return tbce(z, yt) + 0.5 * thuber(z, rt)

    return training_steps(net, twin, loss, torch_loss, x, torch.from_numpy(x))


WORKLOADS = [
    NetCase("kit", "kit bce-logits+huber mlp 32-64-8 B=256", 256, build),
    NetCase("kit", "kit bce-logits+huber mlp 32-64-8 B=1", 1, build),
]
