"""What mg.compile's replay keeps alive: a value whose rules never read it (a convolution's output, before the
bias is added) is deleted as soon as the forward is done with it, not kept for its rule until the backward."""

from __future__ import annotations

import re

import numpy as np

import minigrad as mg
from minigrad.nn import functional as F

rng = np.random.default_rng(3)


def test_a_convolution_output_its_rules_never_read_dies_in_the_forward():
    x = rng.standard_normal((4, 1, 10, 10))
    w = mg.Tensor(rng.standard_normal((3, 1, 3, 3)), requires_grad=True)
    b = mg.Tensor(rng.standard_normal(3), requires_grad=True)

    def step(x):
        loss = F.relu(F.conv2d(x, w, b)).sum()
        loss.backward()
        return loss

    compiled = mg.compile(step)
    for _ in range(3):
        w.grad = b.grad = None
        got = compiled(x)
        got_grads = w.grad, b.grad
        w.grad = b.grad = None
        want = step(x)
        np.testing.assert_allclose(got.data, want.data, rtol=1e-12)
        for g, p in zip(got_grads, (w, b), strict=True):
            np.testing.assert_allclose(g, p.grad, rtol=1e-12)
    lines = compiled.source(x).splitlines()
    conv = next(i for i, line in enumerate(lines) if re.match(r" +s\d+ = \w+\(a0, ", line))  # conv(x, w, ...)
    name = lines[conv].split("=")[0].strip()
    first_backward = next(i for i, line in enumerate(lines) if line.lstrip().startswith("g"))
    dies = next(i for i, line in enumerate(lines) if re.match(rf" +del .*\b{name}\b", line))
    assert dies < first_backward, "\n".join(lines)
