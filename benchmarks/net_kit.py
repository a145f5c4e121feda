"""The training kit's losses: a multi-label MLP trained with BCE-with-logits (pos_weight) plus a Huber term.

Both losses are composites (``logaddexp``, ``where``, ``absolute``), so this measures what their few extra nodes
cost per step against PyTorch's fused losses, at batch 1 (Python overhead) and 256.
"""

from __future__ import annotations

import numpy as np

from benchmarks.networks import NetCase


def build(batch: int, dtype: str) -> dict:
    import torch

    import minigrad as mg
    from minigrad import nn

    rng = np.random.default_rng(0)
    net = nn.Sequential(nn.Linear(32, 64, dtype=dtype, rng=1), nn.ReLU(), nn.Linear(64, 8, dtype=dtype, rng=2))
    twin = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8))
    twin = twin.to(getattr(torch, dtype))
    twin.load_state_dict({k: torch.from_numpy(np.array(v.data)) for k, v in net.state_dict().items()})
    x = rng.standard_normal((batch, 32)).astype(dtype)
    y = (rng.random((batch, 8)) < 0.3).astype(dtype)
    r = rng.standard_normal((batch, 8)).astype(dtype)
    pos_weight = np.linspace(0.5, 3.0, 8).astype(dtype)
    xt, yt, rt, pwt = (torch.from_numpy(a) for a in (x, y, r, pos_weight))
    params, tparams = list(net.parameters()), list(twin.parameters())
    bce, huber = nn.BCEWithLogitsLoss(pos_weight=pos_weight), nn.HuberLoss(delta=0.5)
    tbce, thuber = torch.nn.BCEWithLogitsLoss(pos_weight=pwt), torch.nn.HuberLoss(delta=0.5)

    def loss_of(xb):
        z = net(xb)
        return bce(z, y) + 0.5 * huber(z, r)

    def minigrad_step():
        for p in params:
            p.grad = None
        loss = loss_of(x)
        loss.backward()
        return [loss.data] + [p.grad for p in params]

    def torch_step():
        for p in tparams:
            p.grad = None
        z = twin(xt)
        loss = tbce(z, yt) + 0.5 * thuber(z, rt)
        loss.backward()
        return [loss.detach().numpy()] + [p.grad.numpy() for p in tparams]

    @mg.compile
    def compiled(xb):
        loss = loss_of(xb)
        loss.backward()
        return loss

    def compiled_step():
        for p in params:
            p.grad = None
        loss = compiled(x)
        return [loss.data] + [p.grad for p in params]

    return {"torch": torch_step, "minigrad": minigrad_step, "minigrad compiled": compiled_step}


WORKLOADS = [
    NetCase("kit", "kit bce-logits+huber mlp 32-64-8 B=256", 256, build),
    NetCase("kit", "kit bce-logits+huber mlp 32-64-8 B=1", 1, build),
]
