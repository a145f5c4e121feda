"""One TransformerEncoderLayer (d_model 64, 4 heads, dim_feedforward 256, ReLU, post-norm, dropout 0) over
sequences of length 32, batch_first, float32; loss = mean of the outputs squared."""

from __future__ import annotations

import numpy as np

from benchmarks.networks import NetCase, training_steps, twin_of

D_MODEL, HEADS, FEEDFORWARD, LENGTH = 64, 4, 256, 32


def build(batch: int, dtype: str) -> dict:
    import torch

    from minigrad import nn

    layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, FEEDFORWARD, dropout=0.0, batch_first=True, dtype=dtype, rng=0)
    twin = torch.nn.TransformerEncoderLayer(D_MODEL, HEADS, FEEDFORWARD, dropout=0.0, batch_first=True)
    twin = twin_of(layer, twin, dtype)
    x = np.random.default_rng(0).standard_normal((batch, LENGTH, D_MODEL)).astype(dtype)

    def squared_mean(m, xb):  # noqa: ANN001, ANN202  (m: a minigrad or a torch layer)
        y = m(xb)
        return (y * y).mean()

    return training_steps(layer, twin, squared_mean, squared_mean, x, torch.from_numpy(x))


WORKLOADS = [
    NetCase("transformer", "transformer layer d64 h4 ff256 L32 B=16", 16, build),
    NetCase("transformer", "transformer layer d64 h4 ff256 L32 B=1", 1, build),
]
