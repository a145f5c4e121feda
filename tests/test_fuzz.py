"""Random programs over the smooth part of the op table, backward against numerical gradients.

Hypothesis draws a program: two or three inputs of broadcastable shapes, then a sequence of
operations, each applied to one or two values computed so far (so values are reused and gradients
accumulate), ending in a sum. Kinked operations (abs, max, relu, clip, maximum) are left out: at random
points a numerical derivative of them is only right when no input is near a kink.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad.testing import gradcheck
from minigrad.testing import strategies as mst

UNARY = {
    "tanh": mg.tanh,
    "sin": mg.sin,
    "sigmoid": mg.sigmoid,
    "exp_tanh": lambda x: mg.exp(mg.tanh(x)),
    "log_1_x2": lambda x: mg.log(1 + x * x),
    "sqrt_1_x2": lambda x: mg.sqrt(1 + x * x),
    "log1p_x2": lambda x: mg.log1p(x * x),
    "neg": lambda x: -x,
    "scale": lambda x: x * 0.7,
    "square": lambda x: x**2,
    "sum_last_keep": lambda x: x.sum(axis=-1, keepdims=True) if x.ndim else x,
    "mean_first": lambda x: x.mean(axis=0) if x.ndim else x,
    "logsumexp_last": lambda x: mg.logsumexp(x, axis=-1, keepdims=True) if x.ndim else x,
    "log_softmax": lambda x: mg.log_softmax(x, axis=-1) if x.ndim else x,
    "transpose": lambda x: x.T,
    "flatten": lambda x: x.reshape(-1),
    "reverse": lambda x: x[::-1] if x.ndim else x,
    "gather": lambda x: x[np.array([0, 0, -1])] if x.ndim else x,
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (1.5 + mg.tanh(b)),
    "pow": lambda a, b: (1 + a * a) ** mg.tanh(b),
    "where": lambda a, b: mg.where(np.arange(a.size).reshape(a.shape) % 2 == 0, a, b),  # a fixed mask
}


@st.composite
def programs(draw):
    n_inputs = draw(st.integers(2, 3))
    shapes = draw(mst.broadcastable_shapes(n_inputs, max_side=3))
    inputs = tuple(draw(mst.arrays(s, low=-2, high=2)) for s in shapes)
    steps = []
    for _ in range(draw(st.integers(1, 8))):
        if draw(st.booleans()):
            steps.append(("u", draw(st.sampled_from(sorted(UNARY))), draw(st.integers(0, 99))))
        else:
            steps.append(
                ("b", draw(st.sampled_from(sorted(BINARY))), draw(st.integers(0, 99)), draw(st.integers(0, 99)))
            )
    return inputs, steps


def run(steps, *xs):
    values = list(xs)
    for step in steps:
        if step[0] == "u":
            values.append(UNARY[step[1]](values[step[2] % len(values)]))
        else:
            a, b = values[step[2] % len(values)], values[step[3] % len(values)]
            try:
                values.append(BINARY[step[1]](a, b))
            except ValueError:  # shapes that no longer broadcast after a reshape: skip the step
                continue
    # every value reaches the loss, so unused branches are tested too
    return sum((v * v).sum() * (0.1 * (k + 1)) for k, v in enumerate(values))


# five (float64) and three (float32) times the profile's example count: 60 and 36 programs in `quick`
@settings(max_examples=5 * settings.default.max_examples)
@given(program=programs())
def test_random_programs_match_numerical_gradients(program):
    inputs, steps = program
    assert gradcheck(lambda *xs: run(steps, *xs), *inputs)


@settings(max_examples=3 * settings.default.max_examples)
@given(program=programs())
def test_random_programs_in_float32_keep_float32_and_match(program):
    inputs, steps = program
    inputs = tuple(x.astype(np.float32) for x in inputs)
    assert gradcheck(lambda *xs: run(steps, *xs), *inputs, atol=1e-3, rtol=1e-2)
