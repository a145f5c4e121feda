"""mg.compile on random programs: the replays on new inputs give eager execution's values and gradients.

The programs are test_fuzz's (smooth operations, broadcasting, reused values, other layouts and
shape-keeping permutations), plus what test_fuzz leaves out because numerical differences cannot check it:
kinked operations (relu, maximum, abs, max, clip) and values computed outside the graph (detached values,
``sign``, masks of comparisons and of NumPy functions), which a replay must compute again from the current
inputs. Each program is traced on one draw of its inputs, laid out in C order, Fortran order, as a transposed
or a strided view, and replayed on two more draws of the same layout, each compared with eager execution.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fuzz import BINARY, UNARY, programs
from test_layouts import LAYOUTS, laid_out

import minigrad as mg

KINKED_UNARY = {
    "relu": mg.relu,
    "abs": mg.abs,
    "max_last": lambda x: x.max(axis=-1, keepdims=True) if x.ndim else x,
    "clip": lambda x: mg.clip(x, -0.5, 0.5),
    "positive_part": lambda x: mg.where(x > 0, x, 0.1 * x),
}
KINKED_BINARY = {"maximum": mg.maximum, "minimum": mg.minimum}
OUTSIDE_THE_GRAPH = {
    "detached": lambda x: x.detach() * 1.5 + x,
    "sign": lambda x: mg.sign(x) * x,
    "detached_mask": lambda x: mg.where(mg.tanh(x).detach() > 0.1, x, -0.5 * x),
    "numpy_mask": lambda x: mg.where(np.greater(x, 0.2), mg.tanh(x).detach(), x),
}
KINKED_UNARY.update(OUTSIDE_THE_GRAPH)


def run(steps, xs):
    values = list(xs)
    for step in steps:
        if step[0] == "u":
            fn = UNARY.get(step[1]) or KINKED_UNARY[step[1]]
            values.append(fn(values[step[2] % len(values)]))
        else:
            fn = BINARY.get(step[1]) or KINKED_BINARY[step[1]]
            try:
                values.append(fn(values[step[2] % len(values)], values[step[3] % len(values)]))
            except ValueError:
                continue
    loss = sum((v * v).sum() * (0.1 * (k + 1)) for k, v in enumerate(values))
    loss.backward()
    return loss


@st.composite
def kinked_programs(draw):
    inputs, steps = draw(programs())
    for k in range(draw(st.integers(0, 3))):  # mix in kinked operations
        if draw(st.booleans()):
            steps.insert(draw(st.integers(0, len(steps))), ("u", draw(st.sampled_from(sorted(KINKED_UNARY))), k * 7))
        else:
            steps.insert(
                draw(st.integers(0, len(steps))), ("b", draw(st.sampled_from(sorted(KINKED_BINARY))), k, k + 1)
            )
    return inputs, steps


def _tensor(x, layout):
    t = mg.tensor(x, requires_grad=True)
    t.data = laid_out(x, layout)
    return t


@settings(max_examples=20 * settings.default.max_examples, deadline=None)
@given(
    program=kinked_programs(),
    dtype=st.sampled_from([np.float64, np.float32]),
    layout=st.sampled_from(LAYOUTS),
    seed=st.integers(0, 2**16),
)
def test_replays_on_new_inputs_match_eager(program, dtype, layout, seed):
    inputs, steps = program
    rng = np.random.default_rng(seed)
    compiled = mg.compile(lambda *xs: run(steps, xs), check=False)
    compiled(*(_tensor(x.astype(dtype), layout) for x in inputs))  # the trace
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for _ in range(2):  # the second and third calls
        new = [rng.uniform(-2, 2, np.shape(x)).astype(dtype) for x in inputs]
        replay_in = [_tensor(x, layout) for x in new]
        eager_in = [_tensor(x, layout) for x in new]
        got = compiled(*replay_in)
        want = run(steps, eager_in)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got.data, want.data, rtol=tol, atol=tol)
        for a, b in zip(replay_in, eager_in):
            assert (a.grad is None) == (b.grad is None)
            if b.grad is not None:
                assert a.grad.dtype == b.grad.dtype and a.grad.shape == b.grad.shape
                np.testing.assert_allclose(a.grad, b.grad, rtol=tol, atol=tol)
    assert compiled.traces == 1
