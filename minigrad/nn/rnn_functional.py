"""Recurrent steps and the loop over time, as composites of differentiable primitives (no rules of their own).

A step takes the input's share of the gates, ``gi = x Wᵢₕᵀ + bᵢₕ``, already computed (the layers project the
input of every time step in one matrix product up front), and the previous state; it adds the hidden share
``gh = h Wₕₕᵀ + bₕₕ`` and applies the gates, in PyTorch's order and formulas:

- RNN: h′ = tanh(gi + gh) (or relu);
- LSTM: (i, f, g, o) = chunks of gi + gh; c′ = σ(f)·c + σ(i)·tanh(g); h′ = σ(o)·tanh(c′);
- GRU: (r, z, n) chunks; r = σ(giᵣ + ghᵣ), z = σ(gi_z + gh_z), n = tanh(giₙ + r·ghₙ); h′ = (1 − z)·n + z·h.

Different lengths: ``mask[t, b]`` says whether step t of sequence b is real. A padded step leaves the state
as it was, so the state after the loop is each sequence's state at its own last step, and for the reverse
direction (the loop over reversed time) a sequence starts from h₀ at its own end.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..elementwise import relu, sigmoid, tanh
from ..shape_ops import stack, where
from ..tensor import Tensor


def _hidden(h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    gh = h @ w_hh.T
    return gh if b_hh is None else gh + b_hh


def rnn_step(gi: Any, h: Tensor, w_hh: Tensor, b_hh: Tensor | None, nonlinearity: str = "tanh") -> Tensor:
    """h′ = tanh(gi + h Wₕₕᵀ + bₕₕ), or relu."""
    z = gi + _hidden(h, w_hh, b_hh)
    return tanh(z) if nonlinearity == "tanh" else relu(z)


def lstm_step(gi: Any, state: tuple, w_hh: Tensor, b_hh: Tensor | None) -> tuple[Tensor, Tensor]:
    """(h′, c′) from the gates i, f, g, o (PyTorch's order): c′ = σ(f)·c + σ(i)·tanh(g), h′ = σ(o)·tanh(c′)."""
    h, c = state
    n = h.shape[-1]
    gates = gi + _hidden(h, w_hh, b_hh)
    i, f = sigmoid(gates[..., :n]), sigmoid(gates[..., n : 2 * n])
    g, o = tanh(gates[..., 2 * n : 3 * n]), sigmoid(gates[..., 3 * n :])
    c = f * c + i * g
    return o * tanh(c), c


def gru_step(gi: Any, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    """h′ = (1 − z)·n + z·h with r, z = σ(giᵣ,₂ + ghᵣ,₂) and n = tanh(giₙ + r·ghₙ) (PyTorch's GRU)."""
    n = h.shape[-1]
    gh = _hidden(h, w_hh, b_hh)
    rz = sigmoid(gi[..., : 2 * n] + gh[..., : 2 * n])
    r, z = rz[..., :n], rz[..., n:]
    candidate = tanh(gi[..., 2 * n :] + r * gh[..., 2 * n :])
    return candidate + z * (h - candidate)


def _keep(m: Any, new: Any, old: Any) -> Any:
    """The new state where the step is real, the old one where it is padding."""
    if isinstance(new, tuple):
        return tuple(where(m, a, b) for a, b in zip(new, old))
    return where(m, new, old)


def scan(step: Any, gi: Tensor, state: Any, mask: np.ndarray | None, reverse: bool = False) -> tuple[Tensor, Any]:
    """Run ``step(gi[t], state)`` over t (backwards if ``reverse``): (outputs (L, N, H), the last state).

    ``gi`` is (L, N, G·H); ``state`` h (N, H) or (h, c). Outputs at padded steps (``mask`` False) are zero.
    """
    steps = range(gi.shape[0] - 1, -1, -1) if reverse else range(gi.shape[0])
    outputs: list = [None] * gi.shape[0]
    for t in steps:
        new = step(gi[t], state)
        h = new[0] if isinstance(new, tuple) else new
        if mask is None:
            state, outputs[t] = new, h
        else:
            m = mask[t][:, None]
            state, outputs[t] = _keep(m, new, state), where(m, h, np.zeros((), h.dtype))
    return stack(outputs), state
