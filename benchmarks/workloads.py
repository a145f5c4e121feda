"""The benchmark workloads: their data, and their loss written once for every framework.

A ``Case`` is one workload at one size and dtype. ``wrt`` holds the arrays that the loss is
differentiated with respect to, ``const`` the inputs that carry no gradient. ``loss(ops, wrt, const)``
is the forward pass written against a small namespace ``ops`` (``tanh``, ``sin``, ``relu``,
``cross_entropy``) so that minigrad, PyTorch, MyGrad, JAX and HIPS autograd run the same code;
the hand-written NumPy version of each family lives in ``benchmarks.reference``.

The families (issue 6):
- ``window``: s = Uᵀ tanh(Wx + b) for a window x and a corrupted window x_c, max-margin loss
  J = mean over the batch of max(0, 1 − s + s_c); gradients for W, b, U and both windows (the lecture
  also updates the word vectors). Batch-major layout: x is (B, 5d), W is (5d, H), so z = xW + b.
- ``softmax``: logits = xW + b (250 → 5), mean cross-entropy with integer targets; gradients for W, b.
- ``ner``: logits = tanh(xW₁ + b₁)W₂ + b₂ (250 → 100 → 5), mean cross-entropy.
- ``chain``: 100 elementwise ops cycling tanh, ×1.5, sin, +0.1, then the sum; gradient for x.
- ``mlp``: 1024 → 1024 → 1024 → 10 with relu, batch 256, mean cross-entropy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CHAIN_OPS = 100


@dataclass
class Case:
    """One workload at one size and dtype."""

    family: str
    group: str  # the line of the chart this case belongs to, e.g. "window d=4"
    label: str  # e.g. "window d=4 B=64"
    dtype: str
    batch: int | None
    wrt: dict[str, np.ndarray]
    const: dict[str, Any] = field(default_factory=dict)

    @property
    def loss(self) -> Callable[..., Any]:
        return LOSSES[self.family]


# -- the losses, written once ---------------------------------------------------------------------
def window_loss(ops: Any, p: dict, c: dict) -> Any:
    s = ops.tanh(p["x"] @ p["W"] + p["b"]) @ p["U"]
    s_c = ops.tanh(p["x_c"] @ p["W"] + p["b"]) @ p["U"]
    return ops.relu(1 - s + s_c).mean()


def softmax_loss(ops: Any, p: dict, c: dict) -> Any:
    return ops.cross_entropy(c["x"] @ p["W"] + p["b"], c["y"])


def ner_loss(ops: Any, p: dict, c: dict) -> Any:
    h = ops.tanh(c["x"] @ p["W1"] + p["b1"])
    return ops.cross_entropy(h @ p["W2"] + p["b2"], c["y"])


def chain_loss(ops: Any, p: dict, c: dict) -> Any:
    h = p["x"]
    for i in range(CHAIN_OPS):
        k = i % 4
        if k == 0:
            h = ops.tanh(h)
        elif k == 1:
            h = h * 1.5
        elif k == 2:
            h = ops.sin(h)
        else:
            h = h + 0.1
    return h.sum()


def mlp_loss(ops: Any, p: dict, c: dict) -> Any:
    h = ops.relu(c["x"] @ p["W1"] + p["b1"])
    h = ops.relu(h @ p["W2"] + p["b2"])
    return ops.cross_entropy(h @ p["W3"] + p["b3"], c["y"])


LOSSES = {"window": window_loss, "softmax": softmax_loss, "ner": ner_loss, "chain": chain_loss, "mlp": mlp_loss}


# -- the data ---------------------------------------------------------------------------------------
def _dense(rng: np.random.Generator, n_in: int, n_out: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    w = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype)
    b = (0.1 * rng.standard_normal(n_out)).astype(dtype)
    return w, b


def window_case(d: int, hidden: int, batch: int, dtype: str, rng: np.random.Generator) -> Case:
    n = 5 * d
    w, b = _dense(rng, n, hidden, dtype)
    wrt = {
        "x": rng.standard_normal((batch, n)).astype(dtype),
        "x_c": rng.standard_normal((batch, n)).astype(dtype),
        "W": w,
        "b": b,
        "U": (rng.standard_normal(hidden) / np.sqrt(hidden)).astype(dtype),
    }
    return Case("window", f"window d={d}", f"window d={d} B={batch}", dtype, batch, wrt)


def classifier_case(family: str, batch: int, dtype: str, rng: np.random.Generator) -> Case:
    n_classes = 5
    const = {"x": rng.standard_normal((batch, 250)).astype(dtype), "y": rng.integers(0, n_classes, batch)}
    if family == "softmax":
        w, b = _dense(rng, 250, n_classes, dtype)
        wrt, group = {"W": w, "b": b}, "softmax 250-5"
    else:
        w1, b1 = _dense(rng, 250, 100, dtype)
        w2, b2 = _dense(rng, 100, n_classes, dtype)
        wrt, group = {"W1": w1, "b1": b1, "W2": w2, "b2": b2}, "ner 250-100-5"
    return Case(family, group, f"{group} B={batch}", dtype, batch, wrt, const)


def chain_case(shape: tuple, dtype: str, rng: np.random.Generator) -> Case:
    wrt = {"x": rng.standard_normal(shape).astype(dtype)}
    size = "x".join(str(n) for n in shape)
    return Case("chain", f"chain {size}", f"chain {CHAIN_OPS} ops {size}", dtype, None, wrt)


def mlp_case(width: int, batch: int, dtype: str, rng: np.random.Generator) -> Case:
    n_classes = 10
    w1, b1 = _dense(rng, width, width, dtype)
    w2, b2 = _dense(rng, width, width, dtype)
    w3, b3 = _dense(rng, width, n_classes, dtype)
    const = {"x": rng.standard_normal((batch, width)).astype(dtype), "y": rng.integers(0, n_classes, batch)}
    wrt = {"W1": w1, "b1": b1, "W2": w2, "b2": b2, "W3": w3, "b3": b3}
    return Case("mlp", f"mlp {width}x3", f"mlp {width}x3 B={batch}", dtype, batch, wrt, const)


FAMILIES = ("window", "softmax", "ner", "chain", "mlp")


def make_cases(families: tuple = FAMILIES, dtypes: tuple = ("float64", "float32"), quick: bool = False) -> list[Case]:
    """Every case of the selected families and dtypes; ``quick`` shrinks the sizes for a smoke run."""
    batches = (1, 8, 64) if quick else (1, 64, 4096)
    big = (30, 30) if quick else (1000, 1000)
    width, mlp_batch = (32, 8) if quick else (1024, 256)
    cases = []
    for dtype in dtypes:
        rng = np.random.default_rng(0)
        for family in families:
            if family == "window":
                cases += [window_case(d, h, b, dtype, rng) for d, h in ((4, 8), (50, 100)) for b in batches]
            elif family in ("softmax", "ner"):
                cases += [classifier_case(family, b, dtype, rng) for b in batches]
            elif family == "chain":
                cases += [chain_case(shape, dtype, rng) for shape in ((4,), big)]
            elif family == "mlp":
                cases.append(mlp_case(width, mlp_batch, dtype, rng))
            else:
                raise ValueError(f"benchmarks: unknown workload {family!r}; choose from {', '.join(FAMILIES)}")
    return cases
