"""A LeNet-style CNN on 28×28 inputs (the issue's workload (e)): conv 1→6 k5, relu, max-pool 2, conv 6→16 k5,
relu, max-pool 2, flatten, linear 256→120→84→10, cross-entropy."""

from __future__ import annotations

import numpy as np

from benchmarks.networks import NetCase


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

    import minigrad as mg
    from minigrad import nn

    rng = np.random.default_rng(0)
    net = lenet(nn, dtype, 1)
    twin = lenet(torch.nn).to(getattr(torch, dtype))
    twin.load_state_dict({k: torch.from_numpy(np.array(v.data)) for k, v in net.state_dict().items()})
    x = rng.standard_normal((batch, 1, 28, 28)).astype(dtype)
    y = rng.integers(0, 10, batch)
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


WORKLOADS = [NetCase("cnn", "lenet cnn 28x28 B=64", 64, build), NetCase("cnn", "lenet cnn 28x28 B=1", 1, build)]
