"""The GRU and LSTM scans written step by step in ONNX nodes, for what ONNX's GRU and LSTM operators cannot give:
padded sequences (a mask: a padded step keeps the state) and the LSTM's cell state after every step. The graph
holds one small group of nodes per step, so its number of steps is the traced one (a dynamic batch still works).
The formulas are those of ``minigrad.nn.rnn_scan`` and ``minigrad.nn.lstm_scan``."""

from __future__ import annotations

from typing import Any

import numpy as np


def _steps(g: Any, args: tuple, ans: np.ndarray, states: int) -> tuple:
    """The scan's common inputs: (gi, initial states, Wₕₕᵀ, biases, mask, order of the steps)."""
    gi, mask, reverse = g.input(0, ans.dtype), args[4 + states], args[5 + states]
    starts = [g.input(i, ans.dtype) for i in range(1, 1 + states)]
    w_t = g.op("Transpose", g.input(1 + states, ans.dtype), perm=[1, 0])
    b_ih, b_hh = (g.input(i, ans.dtype) if args[i] is not None else None for i in (2 + states, 3 + states))
    keep = None if mask is None else g.value(mask, np.bool_)
    order = range(args[0].shape[0])
    return gi, starts, w_t, b_ih, b_hh, keep, order[::-1] if reverse else order


def _step_input(g: Any, gi: str, t: int) -> str:
    return g.op("Gather", gi, g.constant(np.asarray(t, dtype=np.int64)), axis=0)


def _kept(g: Any, keep: Any, t: int, new: str, old: str) -> str:
    if keep is None:
        return new
    at = g.op("Unsqueeze", _step_input(g, keep, t), g.ints([1]))
    return g.op("Where", at, new, old)


def _stacked(g: Any, states: list) -> str:
    return g.op("Concat", *(g.op("Unsqueeze", s, g.ints([0])) for s in states), axis=0)


def gru(g: Any, args: tuple, ans: np.ndarray) -> str:
    # gh = h Wₕₕᵀ + bₕₕ; r, z = σ(x + gh) (first two thirds); n = tanh(xₙ + r ghₙ); h′ = n + z (h − n)
    gi, (h,), w_t, b_ih, b_hh, keep, order = _steps(g, args, ans, 1)
    out = [None] * len(order)
    for t in order:
        gh = g.op("MatMul", h, w_t)
        gh = gh if b_hh is None else g.op("Add", gh, b_hh)
        x = _step_input(g, gi, t)
        x = x if b_ih is None else g.op("Add", x, b_ih)
        xr, xz, xn = g.op("Split", x, axis=-1, num_outputs=3, outputs=3)
        hr, hz, hn = g.op("Split", gh, axis=-1, num_outputs=3, outputs=3)
        r, z = g.op("Sigmoid", g.op("Add", xr, hr)), g.op("Sigmoid", g.op("Add", xz, hz))
        n = g.op("Tanh", g.op("Add", xn, g.op("Mul", r, hn)))
        new = g.op("Add", n, g.op("Mul", z, g.op("Sub", h, n)))
        out[t] = h = _kept(g, keep, t, new, h)
    return _stacked(g, out)


def lstm(g: Any, args: tuple, ans: np.ndarray) -> str:
    # a = gi + bᵢₕ + h Wₕₕᵀ + bₕₕ, (i, f, g, o) = (σ, σ, tanh, σ)(a); c′ = f c + i g; h′ = o tanh(c′); value [h | c]
    gi, (h, c), w_t, b_ih, b_hh, keep, order = _steps(g, args, ans, 2)
    out = [None] * len(order)
    for t in order:
        a = g.op("Add", g.op("MatMul", h, w_t), _step_input(g, gi, t))
        for b in (b_ih, b_hh):
            a = a if b is None else g.op("Add", a, b)
        i, f, cand, o = g.op("Split", a, axis=-1, num_outputs=4, outputs=4)
        new_c = g.op("Add", g.op("Mul", g.op("Sigmoid", f), c), g.op("Mul", g.op("Sigmoid", i), g.op("Tanh", cand)))
        new_h = g.op("Mul", g.op("Sigmoid", o), g.op("Tanh", new_c))
        h, c = _kept(g, keep, t, new_h, h), _kept(g, keep, t, new_c, c)
        out[t] = g.op("Concat", h, c, axis=-1)
    return _stacked(g, out)
