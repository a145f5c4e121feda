"""Each workload in plain NumPy with hand-derived gradients: the practical limit of a NumPy framework.

Written as a person writes them: the forward pass keeps what the backward pass needs, the backward
pass applies the chain rule by hand, out-of-place expressions as in the forward code (no heroic
in-place rewrites, which no eager framework could do on the forward values). Every function returns
``(loss, {name: gradient})`` with the gradients shaped and typed like ``case.wrt``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .workloads import CHAIN_OPS, Case


def window(p: dict, c: dict) -> tuple[Any, dict]:
    # forward: z = xW + b, h = tanh z, s = hU, J = mean max(0, 1 − s + s_c)
    x, x_c, w, b, u = p["x"], p["x_c"], p["W"], p["b"], p["U"]
    h = np.tanh(x @ w + b)
    h_c = np.tanh(x_c @ w + b)
    margin = 1 - h @ u + h_c @ u
    loss = np.maximum(margin, 0).mean()
    # backward: ∂J/∂s_c = [margin > 0] / B = −∂J/∂s; δ = ∂J/∂s ⊗ U ∘ (1 − h²)
    g_sc = (margin > 0).astype(x.dtype) / len(margin)
    d = np.outer(-g_sc, u) * (1 - h * h)
    d_c = np.outer(g_sc, u) * (1 - h_c * h_c)
    grads = {
        "x": d @ w.T,
        "x_c": d_c @ w.T,
        "W": x.T @ d + x_c.T @ d_c,
        "b": d.sum(0) + d_c.sum(0),
        "U": h_c.T @ g_sc - h.T @ g_sc,
    }
    return loss, grads


def _cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[Any, np.ndarray]:
    """Mean cross-entropy and its gradient (softmax − onehot) / B, with the max-shift for stability."""
    rows = np.arange(len(y))
    shifted = logits - logits.max(1, keepdims=True)
    e = np.exp(shifted)
    total = e.sum(1, keepdims=True)
    loss = (np.log(total[:, 0]) - shifted[rows, y]).mean()
    g = e / total
    g[rows, y] -= 1
    g /= len(y)
    return loss, g


def softmax(p: dict, c: dict) -> tuple[Any, dict]:
    x = c["x"]
    loss, g = _cross_entropy(x @ p["W"] + p["b"], c["y"])
    return loss, {"W": x.T @ g, "b": g.sum(0)}


def ner(p: dict, c: dict) -> tuple[Any, dict]:
    x, w2 = c["x"], p["W2"]
    h = np.tanh(x @ p["W1"] + p["b1"])
    loss, g = _cross_entropy(h @ w2 + p["b2"], c["y"])
    d = (g @ w2.T) * (1 - h * h)  # δ = (g W₂ᵀ) ∘ tanh′(z)
    return loss, {"W1": x.T @ d, "b1": d.sum(0), "W2": h.T @ g, "b2": g.sum(0)}


def chain(p: dict, c: dict) -> tuple[Any, dict]:
    saved = []
    h = p["x"]
    for i in range(CHAIN_OPS):
        k = i % 4
        if k == 0:
            h = np.tanh(h)
            saved.append(h)  # tanh′ = 1 − tanh²: keep the output
        elif k == 1:
            h = h * 1.5
            saved.append(None)
        elif k == 2:
            saved.append(h)  # sin′ = cos: keep the input
            h = np.sin(h)
        else:
            h = h + 0.1
            saved.append(None)
    loss = h.sum()
    g = np.ones_like(h)
    for i in reversed(range(CHAIN_OPS)):
        k = i % 4
        if k == 0:
            y = saved[i]
            g = g * (1 - y * y)
        elif k == 1:
            g = g * 1.5
        elif k == 2:
            g = g * np.cos(saved[i])
    return loss, {"x": g}


def mlp(p: dict, c: dict) -> tuple[Any, dict]:
    # keeps only the relu outputs h (their mask h > 0 is relu′) and frees each once used
    x = c["x"]
    h1 = np.maximum(x @ p["W1"] + p["b1"], 0)
    h2 = np.maximum(h1 @ p["W2"] + p["b2"], 0)
    loss, g3 = _cross_entropy(h2 @ p["W3"] + p["b3"], c["y"])
    grads = {"W3": h2.T @ g3, "b3": g3.sum(0)}
    g2 = (g3 @ p["W3"].T) * (h2 > 0)
    del h2
    grads.update(W2=h1.T @ g2, b2=g2.sum(0))
    g1 = (g2 @ p["W2"].T) * (h1 > 0)
    del h1, g2
    grads.update(W1=x.T @ g1, b1=g1.sum(0))
    return loss, grads


HAND = {"window": window, "softmax": softmax, "ner": ner, "chain": chain, "mlp": mlp}


def make_step(case: Case) -> Any:
    """A function of no arguments doing one forward+backward step of ``case``."""
    fn, wrt, const = HAND[case.family], case.wrt, case.const
    return lambda: fn(wrt, const)
