"""A two-layer tanh MLP through ``nn.Linear``: the smallest network workload, and the template for the others."""

from __future__ import annotations

import numpy as np

from benchmarks.networks import NetCase


def build(batch: int, dtype: str) -> dict:
    import torch

    import minigrad as mg
    from minigrad import nn

    rng = np.random.default_rng(0)
    net = nn.Sequential(nn.Linear(250, 100, dtype=dtype, rng=1), nn.Tanh(), nn.Linear(100, 5, dtype=dtype, rng=2))
    twin = torch.nn.Sequential(torch.nn.Linear(250, 100), torch.nn.Tanh(), torch.nn.Linear(100, 5))
    twin = twin.to(getattr(torch, dtype))
    twin.load_state_dict({k: torch.from_numpy(np.array(v.data)) for k, v in net.state_dict().items()})
    x = rng.standard_normal((batch, 250)).astype(dtype)
    y = rng.integers(0, 5, batch)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    params, tparams = list(net.parameters()), list(twin.parameters())

    def minigrad_step():
        for p in params:
            p.grad = None
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        return [loss.data] + [p.grad for p in params]

    def torch_step():
        for p in tparams:
            p.grad = None
        loss = torch.nn.functional.cross_entropy(twin(xt), yt)
        loss.backward()
        return [loss.detach().numpy()] + [p.grad.numpy() for p in tparams]

    @mg.compile
    def compiled(xb):
        loss = nn.functional.cross_entropy(net(xb), y)
        loss.backward()
        return loss

    def compiled_step():
        for p in params:
            p.grad = None
        loss = compiled(x)
        return [loss.data] + [p.grad for p in params]

    return {"torch": torch_step, "minigrad": minigrad_step, "minigrad compiled": compiled_step}


WORKLOADS = [NetCase("mlp", "ner mlp 250-100-5 B=64", 64, build), NetCase("mlp", "ner mlp 250-100-5 B=1", 1, build)]
