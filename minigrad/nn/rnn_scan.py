"""The GRU's loop over time as one primitive, ``gru_scan``, with its rule: backpropagation through time.

Built from primitives (``rnn_functional.scan`` of ``gru_step``), a step is about fifteen graph nodes, and
the gradient of each ``gi[t]`` is a zero array of the whole sequence's size with one step filled in. As one
primitive the forward pass is a NumPy loop of one matrix product and a few elementwise operations per step,
and the rule runs the loop backwards once:

    a = giᵣ,₂ + ghᵣ,₂, (r, z) = σ(a);  n = tanh(giₙ + r·ghₙ);  h′ = n + z·(h − n),  gh = h Wₕₕᵀ + bₕₕ
    ∂h′/∂n = 1 − z, ∂h′/∂z = h − n, ∂h′/∂h = z (directly) + (∂h′/∂gh) Wₕₕ (through gh)

Its value is the state after every step, S (L, N, H), carried over padded steps (``mask`` False), so that
the rule finds each step's previous state in S and h₀, recomputes every gate in one matrix product, and
keeps only the recursion dh ↦ dh_prev in the loop. The four rules (gi, h₀, Wₕₕ, bₕₕ) share that one pass:
the first to run computes all four gradients and the others pick theirs up (``_shared``).

On Tensors (``create_graph``, ``mg.jvp``) the same code runs through NumPy dispatch, recording the
backward pass, so higher derivatives and forward mode come from this rule too. ``mg.compile`` replays the
forward pass through ``compute`` and calls the rules.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .. import onnx_layers
from ..elementwise import _sigmoid, sigmoid
from ..recording import record
from ..registry import primitive
from ..shape_ops import where
from ..tensor import Tensor, as_tensor


def _sig(a: Any) -> Any:
    return sigmoid(a) if isinstance(a, Tensor) else _sigmoid(a)


def _order(steps: int, reverse: bool) -> range:
    return range(steps - 1, -1, -1) if reverse else range(steps)


def gru_states(gi: Any, h0: Any, w_hh: Any, b_ih: Any, b_hh: Any, mask: Any, reverse: bool) -> np.ndarray:
    """S[t], the state after step t (steps taken backwards in time if ``reverse``), on arrays."""
    n = h0.shape[-1]
    states = np.empty(gi.shape[:-1] + (n,), dtype=np.result_type(gi, h0, w_hh))
    # Wₕₕᵀ copied to C order once: BLAS multiplies (32, 128) by it 2.5 times as fast as by the transposed view
    w_t, h = np.ascontiguousarray(w_hh.T), h0
    for t in _order(gi.shape[0], reverse):
        gh = h @ w_t if b_hh is None else h @ w_t + b_hh
        x = gi[t] if b_ih is None else gi[t] + b_ih
        rz = _sigmoid(x[:, : 2 * n] + gh[:, : 2 * n])
        candidate = np.tanh(x[:, 2 * n :] + rz[:, :n] * gh[:, 2 * n :])
        new = candidate + rz[:, n:] * (h - candidate)
        states[t] = h = new if mask is None else np.where(mask[t][:, None], new, h)
    return states


def _previous(ans: Any, h0: Any, reverse: bool) -> Any:
    """The state before each step: S shifted by one step, h₀ first."""
    if reverse:
        return np.concatenate([ans[1:], h0[None]], axis=0)
    return np.concatenate([h0[None], ans[:-1]], axis=0)


def gru_backward(
    g: Any, ans: Any, gi: Any, h0: Any, w_hh: Any, b_ih: Any, b_hh: Any, mask: Any, reverse: bool
) -> tuple:
    """(∂/∂gi, ∂/∂h₀, ∂/∂Wₕₕ, ∂/∂bᵢₕ, ∂/∂bₕₕ) of ⟨g, S⟩: the loop run backwards, on arrays or Tensors.

    Each step's gates are recomputed from the state before it (in S) rather than kept from the forward
    pass: one more product per step, and no array of every step's gates in memory.
    """
    n = h0.shape[-1]
    steps, batch = gi.shape[0], gi.shape[1]
    prev = _previous(ans, h0, reverse)
    recorded = any(isinstance(a, Tensor) for a in (g, ans, gi, h0, w_hh, b_ih, b_hh))
    # filled in step by step: arrays, or lists of Tensors when the backward pass is recorded
    d_gi = [None] * steps if recorded else np.empty(gi.shape, dtype=np.result_type(g, gi))
    d_ghn = [None] * steps if recorded else np.empty(ans.shape, dtype=np.result_type(g, gi))
    keep = None if mask is None else mask[..., None].astype(h0.dtype)
    w_t = w_hh.T if recorded else np.ascontiguousarray(w_hh.T)  # (as in gru_states)
    carry = None  # ∂/∂(state after step t) from the later steps
    for t in reversed(_order(steps, reverse)):
        h, x = prev[t], (gi[t] if b_ih is None else gi[t] + b_ih)
        gh = h @ w_t if b_hh is None else h @ w_t + b_hh
        rz = _sig(x[:, : 2 * n] + gh[:, : 2 * n])
        r, z = rz[:, :n], rz[:, n:]
        candidate = np.tanh(x[:, 2 * n :] + r * gh[:, 2 * n :])
        dh = g[t] if carry is None else g[t] + carry
        gated = dh if keep is None else dh * keep[t]  # a padded step gives its gates nothing...
        dn = gated * (1 - z) * (1 - candidate * candidate)  # ∂h′/∂aₙ = (1 − z)(1 − n²)
        dz = gated * (h - candidate) * z * (1 - z)  # ∂h′/∂a_z = (h − n) z(1 − z)
        d_ghn[t] = dn * r  # ghₙ enters aₙ times r
        dr = dn * gh[:, 2 * n :] * r * (1 - r)  # ∂h′/∂aᵣ = ∂h′/∂aₙ · ghₙ r(1 − r)
        d_gi[t] = np.concatenate([dr, dz, dn], axis=-1)
        carry = gated * z + np.concatenate([dr, dz, d_ghn[t]], axis=-1) @ w_hh
        if keep is not None:
            carry = carry + (dh - gated)  # ...and passes dh on to the state before it
    if recorded:
        d_gi, d_ghn = np.stack(d_gi), np.stack(d_ghn)
    rows, d_rz = np.reshape(prev, (steps * batch, n)), np.reshape(d_gi, (steps * batch, 3 * n))[:, : 2 * n]
    d_ghn = np.reshape(d_ghn, (steps * batch, n))  # ∂/∂gh is ∂/∂gi but for ghₙ's factor r
    d_w = np.concatenate([d_rz.T @ rows, d_ghn.T @ rows], axis=0)
    d_bi = None if b_ih is None else np.sum(np.reshape(d_gi, (steps * batch, 3 * n)), axis=0)
    d_bh = None if b_hh is None else np.concatenate([np.sum(d_rz, axis=0), np.sum(d_ghn, axis=0)])
    return d_gi, carry, d_w, d_bi, d_bh


class SharedPass:
    """The rules of one scan node share one pass backwards through time: the first to run computes every
    gradient, each rule takes its own, and once the inputs that want a gradient (``wanted``, fixed when the
    node was recorded) have all taken theirs the pass is forgotten, so that it holds no memory past the
    backward pass. Rule i calls ``take(i, g, ans, *args)``, args ending in ``wanted``."""

    def __init__(self, backward: Any, n_tensors: int) -> None:
        self.backward, self.n_tensors = backward, n_tensors
        self.local = threading.local()  # one pass per thread: two threads' backward passes never mix

    def take(self, i: int, g: Any, ans: Any, *args: Any) -> Any:
        held = self.local.__dict__.setdefault("held", {})
        key, wanted = (g, ans, *args[: self.n_tensors]), args[-1]
        if not held or any(a is not b for a, b in zip(held["key"], key)) or i in held["taken"]:
            held.update(key=key, grads=self.backward(g, ans, *args[:-1]), taken=set())
        grad = held["grads"][i]
        held["taken"].add(i)
        if all(k in held["taken"] for k, want in enumerate(wanted) if want):
            held.clear()
        return grad


_GRU = SharedPass(gru_backward, 5)


def _gi_vjp(g, ans, gi, h0, w_hh, b_ih, b_hh, mask, reverse, wanted):  # type: ignore[no-untyped-def]
    return _GRU.take(0, g, ans, gi, h0, w_hh, b_ih, b_hh, mask, reverse, wanted)


def _h0_vjp(g, ans, gi, h0, w_hh, b_ih, b_hh, mask, reverse, wanted):  # type: ignore[no-untyped-def]
    return _GRU.take(1, g, ans, gi, h0, w_hh, b_ih, b_hh, mask, reverse, wanted)


def _w_vjp(g, ans, gi, h0, w_hh, b_ih, b_hh, mask, reverse, wanted):  # type: ignore[no-untyped-def]
    return _GRU.take(2, g, ans, gi, h0, w_hh, b_ih, b_hh, mask, reverse, wanted)


def _bi_vjp(g, ans, gi, h0, w_hh, b_ih, b_hh, mask, reverse, wanted):  # type: ignore[no-untyped-def]
    return _GRU.take(3, g, ans, gi, h0, w_hh, b_ih, b_hh, mask, reverse, wanted)


def _bh_vjp(g, ans, gi, h0, w_hh, b_ih, b_hh, mask, reverse, wanted):  # type: ignore[no-untyped-def]
    return _GRU.take(4, g, ans, gi, h0, w_hh, b_ih, b_hh, mask, reverse, wanted)


def _compute(gi: Any, h0: Any, w_hh: Any, b_ih: Any, b_hh: Any, mask: Any, reverse: bool, wanted: tuple) -> Any:
    """The value from the arguments as the rules take them (for mg.compile's replay)."""
    return gru_states(gi, h0, w_hh, b_ih, b_hh, mask, reverse)


@primitive(
    "gru_scan",
    (_gi_vjp, _h0_vjp, _w_vjp, _bi_vjp, _bh_vjp, None, None, None),
    compute=_compute,
    onnx=onnx_layers.gru_scan,
)
def gru_states_of(gi: Any, h0: Any, w_hh: Any, b_ih: Any = None, b_hh: Any = None, mask: Any = None,
                  reverse: bool = False) -> Tensor:  # fmt: skip
    """The GRU's state after every step, S (L, N, H), from gi = x Wᵢₕᵀ (L, N, 3H) and h₀ (N, H).

    The input's bias is added step by step here rather than to gi first: the graph then keeps one array
    of the size of gi, not two.
    """
    tensors = [None if a is None else as_tensor(a) for a in (gi, h0, w_hh, b_ih, b_hh)]
    arrays = [None if t is None else t._data for t in tensors]
    mask = None if mask is None else np.asarray(mask, dtype=bool)
    out = gru_states(*arrays, mask, reverse)
    parents = tuple(t if t is not None and t._rg else None for t in tensors)
    wanted = tuple(p is not None for p in parents)
    return record("gru_scan", out, (*arrays, mask, reverse, wanted), parents + (None, None, None))


def gru_scan(gi: Tensor, h0: Tensor, w_hh: Tensor, b_ih: Any, b_hh: Any, mask: Any, reverse: bool) -> tuple:
    """(outputs (L, N, H), last state (N, H)) of one GRU direction, as ``rnn_functional.scan`` gives them."""
    states = gru_states_of(gi, h0, w_hh, b_ih, b_hh, mask, reverse)
    out = states if mask is None else where(mask[:, :, None], states, np.zeros((), states.dtype))
    return out, states[0 if reverse else -1]
