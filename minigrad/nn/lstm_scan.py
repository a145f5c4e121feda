"""The LSTM's loop over time as one primitive, ``lstm_scan``, with its rule: as ``rnn_scan`` does for the GRU.

    a = gi + bᵢₕ + h Wₕₕᵀ + bₕₕ, (i, f, g, o) = (σ, σ, tanh, σ)(a);  c′ = f·c + i·g;  h′ = o·tanh(c′)
    ∂h′/∂o = tanh c′, ∂h′/∂c′ = o(1 − tanh² c′);  ∂c′/∂i = g, ∂c′/∂g = i, ∂c′/∂f = c, ∂c′/∂c = f

Its value is [h | c] after every step, (L, N, 2H), carried over padded steps; the rule recomputes each step's
gates from the state before it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import onnx_layers
from ..recording import record
from ..registry import primitive
from ..shape_ops import where
from ..tensor import Tensor, as_tensor
from .rnn_scan import SharedPass, _order, _previous, _sig, _sigmoid


def lstm_states(gi: Any, h0: Any, c0: Any, w_hh: Any, b_ih: Any, b_hh: Any, mask: Any, reverse: bool) -> np.ndarray:
    """[h | c] after step t (steps taken backwards in time if ``reverse``), on arrays."""
    n = h0.shape[-1]
    states = np.empty(gi.shape[:-1] + (2 * n,), dtype=np.result_type(gi, h0, c0, w_hh))
    w_t, h, c = np.ascontiguousarray(w_hh.T), h0, c0  # C order: BLAS is faster with it (see rnn_scan)
    for t in _order(gi.shape[0], reverse):
        a = h @ w_t + gi[t]
        if b_ih is not None:
            a = a + b_ih
        if b_hh is not None:
            a = a + b_hh
        ifo = _sigmoid(a[:, np.r_[0 : 2 * n, 3 * n : 4 * n]])
        c_new = ifo[:, n : 2 * n] * c + ifo[:, :n] * np.tanh(a[:, 2 * n : 3 * n])
        h_new = ifo[:, 2 * n :] * np.tanh(c_new)
        if mask is not None:
            keep = mask[t][:, None]
            h_new, c_new = np.where(keep, h_new, h), np.where(keep, c_new, c)
        states[t, :, :n], states[t, :, n:] = h, c = h_new, c_new
    return states


def lstm_backward(g: Any, ans: Any, gi: Any, h0: Any, c0: Any, w_hh: Any, b_ih: Any, b_hh: Any, mask: Any,
                  reverse: bool) -> tuple:  # fmt: skip
    """(∂/∂gi, ∂/∂h₀, ∂/∂c₀, ∂/∂Wₕₕ, ∂/∂bᵢₕ, ∂/∂bₕₕ) of ⟨g, [h | c]⟩, on arrays or Tensors."""
    n = h0.shape[-1]
    steps, batch = gi.shape[0], gi.shape[1]
    prev = _previous(ans, np.concatenate([h0, c0], axis=-1), reverse)
    recorded = any(isinstance(a, Tensor) for a in (g, ans, gi, h0, c0, w_hh, b_ih, b_hh))
    d_gi = [None] * steps if recorded else np.empty(gi.shape, dtype=np.result_type(g, gi))
    keep = None if mask is None else mask[..., None].astype(h0.dtype)
    w_t = w_hh.T if recorded else np.ascontiguousarray(w_hh.T)  # (as in lstm_states)
    carry_h, carry_c = None, None
    for t in reversed(_order(steps, reverse)):
        h, c = prev[t][:, :n], prev[t][:, n:]
        a = h @ w_t + gi[t]
        if b_ih is not None:
            a = a + b_ih
        if b_hh is not None:
            a = a + b_hh
        i, f, g_, o = _sig(a[:, :n]), _sig(a[:, n : 2 * n]), np.tanh(a[:, 2 * n : 3 * n]), _sig(a[:, 3 * n :])
        tanh_c = np.tanh(f * c + i * g_)
        dh = g[t][:, :n] if carry_h is None else g[t][:, :n] + carry_h
        dc = g[t][:, n:] if carry_c is None else g[t][:, n:] + carry_c
        if keep is not None:  # a padded step gives its gates nothing and passes dh, dc on
            dh, passed_h = dh * keep[t], dh * (1 - keep[t])
            dc, passed_c = dc * keep[t], dc * (1 - keep[t])
        dc = dc + dh * o * (1 - tanh_c * tanh_c)  # through h′ = o·tanh(c′)
        d_a = np.concatenate(
            [dc * g_ * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - g_ * g_), dh * tanh_c * o * (1 - o)], axis=-1
        )
        d_gi[t] = d_a
        carry_h, carry_c = d_a @ w_hh, dc * f
        if keep is not None:
            carry_h, carry_c = carry_h + passed_h, carry_c + passed_c
    if recorded:
        d_gi = np.stack(d_gi)
    rows = np.reshape(d_gi, (steps * batch, 4 * n))
    d_w = rows.T @ np.reshape(prev[..., :n], (steps * batch, n))
    d_b = np.sum(rows, axis=0)
    return d_gi, carry_h, carry_c, d_w, None if b_ih is None else d_b, None if b_hh is None else d_b


_LSTM = SharedPass(lstm_backward, 7)


def _gi_vjp(g, ans, gi, h0, c0, w_hh, b_ih, b_hh, mask, reverse, wanted):  # type: ignore[no-untyped-def]
    return _LSTM.take(0, g, ans, gi, h0, c0, w_hh, b_ih, b_hh, mask, reverse, wanted)


def _h0_vjp(g, ans, gi, h0, c0, w_hh, b_ih, b_hh, mask, reverse, wanted):  # type: ignore[no-untyped-def]
    return _LSTM.take(1, g, ans, gi, h0, c0, w_hh, b_ih, b_hh, mask, reverse, wanted)


def _c0_vjp(g, ans, gi, h0, c0, w_hh, b_ih, b_hh, mask, reverse, wanted):  # type: ignore[no-untyped-def]
    return _LSTM.take(2, g, ans, gi, h0, c0, w_hh, b_ih, b_hh, mask, reverse, wanted)


def _w_vjp(g, ans, gi, h0, c0, w_hh, b_ih, b_hh, mask, reverse, wanted):  # type: ignore[no-untyped-def]
    return _LSTM.take(3, g, ans, gi, h0, c0, w_hh, b_ih, b_hh, mask, reverse, wanted)


def _bi_vjp(g, ans, gi, h0, c0, w_hh, b_ih, b_hh, mask, reverse, wanted):  # type: ignore[no-untyped-def]
    return _LSTM.take(4, g, ans, gi, h0, c0, w_hh, b_ih, b_hh, mask, reverse, wanted)


def _bh_vjp(g, ans, gi, h0, c0, w_hh, b_ih, b_hh, mask, reverse, wanted):  # type: ignore[no-untyped-def]
    return _LSTM.take(5, g, ans, gi, h0, c0, w_hh, b_ih, b_hh, mask, reverse, wanted)


def _compute(gi: Any, h0: Any, c0: Any, w_hh: Any, b_ih: Any, b_hh: Any, mask: Any, reverse: bool,
             wanted: tuple) -> Any:  # fmt: skip
    """The value from the arguments as the rules take them (for mg.compile's replay)."""
    return lstm_states(gi, h0, c0, w_hh, b_ih, b_hh, mask, reverse)


@primitive(
    "lstm_scan",
    (_gi_vjp, _h0_vjp, _c0_vjp, _w_vjp, _bi_vjp, _bh_vjp, None, None, None),
    compute=_compute,
    onnx=onnx_layers.lstm_scan,
)
def lstm_states_of(gi: Any, h0: Any, c0: Any, w_hh: Any, b_ih: Any = None, b_hh: Any = None, mask: Any = None,
                   reverse: bool = False) -> Tensor:  # fmt: skip
    """The LSTM's [h | c] after every step, (L, N, 2H), from gi = x Wᵢₕᵀ (L, N, 4H), h₀ and c₀ (N, H)."""
    tensors = [None if a is None else as_tensor(a) for a in (gi, h0, c0, w_hh, b_ih, b_hh)]
    arrays = [None if t is None else t._data for t in tensors]
    mask = None if mask is None else np.asarray(mask, dtype=bool)
    out = lstm_states(*arrays, mask, reverse)
    parents = tuple(t if t is not None and t._rg else None for t in tensors)
    wanted = tuple(p is not None for p in parents)
    return record("lstm_scan", out, (*arrays, mask, reverse, wanted), parents + (None, None, None))


def lstm_scan(gi: Tensor, state: tuple, w_hh: Tensor, b_ih: Any, b_hh: Any, mask: Any, reverse: bool) -> tuple:
    """(outputs (L, N, H), (h, c) after the last step) of one LSTM direction."""
    states = lstm_states_of(gi, state[0], state[1], w_hh, b_ih, b_hh, mask, reverse)
    n = states.shape[-1] // 2
    last = states[0 if reverse else -1]
    h = states[..., :n]
    out = h if mask is None else where(mask[:, :, None], h, np.zeros((), states.dtype))
    return out, (last[:, :n], last[:, n:])
