"""One TransformerEncoderLayer (d_model 64, 4 heads, dim_feedforward 256, ReLU, post-norm, dropout 0) over
sequences of length 32, batch_first, float32; loss = mean of the outputs squared."""

from __future__ import annotations

import numpy as np

from benchmarks.networks import NetCase

D_MODEL, HEADS, FEEDFORWARD, LENGTH = 64, 4, 256, 32


def build(batch: int, dtype: str) -> dict:
    import torch

    import minigrad as mg
    from minigrad import nn

    layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, FEEDFORWARD, dropout=0.0, batch_first=True, dtype=dtype, rng=0)
    twin = torch.nn.TransformerEncoderLayer(D_MODEL, HEADS, FEEDFORWARD, dropout=0.0, batch_first=True)
    twin = twin.to(getattr(torch, dtype))
    twin.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in layer.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((batch, LENGTH, D_MODEL)).astype(dtype)
    xt = torch.from_numpy(x)
    params, tparams = list(layer.parameters()), list(twin.parameters())

    def minigrad_step():
        for p in params:
            p.grad = None
        y = layer(x)
        loss = (y * y).mean()
        loss.backward()
        return [loss.data] + [p.grad for p in params]

    def torch_step():
        for p in tparams:
            p.grad = None
        y = twin(xt)
        loss = (y * y).mean()
        loss.backward()
        return [loss.detach().numpy()] + [p.grad.numpy() for p in tparams]

    @mg.compile
    def compiled(xb):
        y = layer(xb)
        loss = (y * y).mean()
        loss.backward()
        return loss

    def compiled_step():
        for p in params:
            p.grad = None
        loss = compiled(x)
        return [loss.data] + [p.grad for p in params]

    return {"torch": torch_step, "minigrad": minigrad_step, "minigrad compiled": compiled_step}


WORKLOADS = [
    NetCase("transformer", "transformer layer d64 h4 ff256 L32 B=16", 16, build),
    NetCase("transformer", "transformer layer d64 h4 ff256 L32 B=1", 1, build),
]
