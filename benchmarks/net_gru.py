"""A one-layer GRU (input size 128, hidden 128) over 32 steps, loss = the sum of its outputs: workload (f).

PyTorch runs its fused ``nn.GRU`` (ATen's CPU kernel); minigrad its ``nn.GRU``, whose loop over time is the
``gru_scan`` primitive. The input (32, B, 128) is data (no gradient); the gradients are the four parameters'.
"""

from __future__ import annotations

import numpy as np

from benchmarks.networks import NetCase

STEPS, FEATURES, HIDDEN = 32, 128, 128


def build(batch: int, dtype: str) -> dict:
    import torch

    import minigrad as mg
    from minigrad import nn

    rng = np.random.default_rng(0)
    net = nn.GRU(FEATURES, HIDDEN, dtype=dtype, rng=1)
    twin = torch.nn.GRU(FEATURES, HIDDEN).to(getattr(torch, dtype))
    twin.load_state_dict({k: torch.from_numpy(np.array(v.data)) for k, v in net.state_dict().items()})
    x = rng.standard_normal((STEPS, batch, FEATURES)).astype(dtype)
    xt = torch.from_numpy(x)
    params, tparams = list(net.parameters()), list(twin.parameters())

    def minigrad_step():
        for p in params:
            p.grad = None
        loss = net(x)[0].sum()
        loss.backward()
        return [loss.data] + [p.grad for p in params]

    def torch_step():
        for p in tparams:
            p.grad = None
        loss = twin(xt)[0].sum()
        loss.backward()
        return [loss.detach().numpy()] + [p.grad.numpy() for p in tparams]

    @mg.compile
    def compiled(xb):
        loss = net(xb)[0].sum()
        loss.backward()
        return loss

    def compiled_step():
        for p in params:
            p.grad = None
        loss = compiled(x)
        return [loss.data] + [p.grad for p in params]

    return {"torch": torch_step, "minigrad": minigrad_step, "minigrad compiled": compiled_step}


WORKLOADS = [
    NetCase("gru", "gru 128-128 T=32 B=1", 1, build),
    NetCase("gru", "gru 128-128 T=32 B=32", 32, build),
]
