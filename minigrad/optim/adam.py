"""``Adam`` and ``AdamW``: m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  p ← p − η m̂ / (√v̂ + ε)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..tensor import Tensor
from .optimizer import Optimizer, betas, nonnegative


class Adam(Optimizer):
    """m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  p ← p − η m̂ / (√v̂ + ε), m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ).

    ``weight_decay`` adds λp to the gradient (L2, as ``torch.optim.Adam``). The step count t is per
    parameter, so a sparse row's bias correction uses the table's step count.
    """

    checks = {"lr": nonnegative, "betas": betas, "eps": nonnegative, "weight_decay": nonnegative}

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    def _new_state(self, p: Tensor, hp: dict[str, Any]) -> dict[str, Any]:
        return {"m": np.zeros_like(p.data), "v": np.zeros_like(p.data)}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], step: int, hp: dict[str, Any]) -> None:
        if hp["weight_decay"]:
            g = g + hp["weight_decay"] * p
        adam_step(p, g, state, step, hp)


def adam_step(p: np.ndarray, g: np.ndarray, state: dict[str, Any], step: int, hp: dict[str, Any]) -> None:
    """Adam's moment updates and step on ``p``, in place (shared by ``Adam`` and ``AdamW``)."""
    b1, b2 = hp["betas"]
    lr, eps = hp["lr"], hp["eps"]
    m, v = state["m"], state["v"]
    # in place, through one scratch array: this loop runs over every weight at every step
    scratch = np.multiply(g, 1 - b1)
    m *= b1
    m += scratch
    np.multiply(g, g, out=scratch)
    scratch *= 1 - b2
    v *= b2
    v += scratch
    correction = np.sqrt(1 - b2**step)
    np.sqrt(v, out=scratch)
    scratch += eps * correction
    np.divide(m, scratch, out=scratch)
    scratch *= lr * correction / (1 - b1**step)
    p -= scratch


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): p ← p − ηλp, then Adam's step without decay.

    ``weight_decay`` (default 1e-2, as ``torch.optim.AdamW``) shrinks the weights directly instead of adding λp
    to the gradient, so it is not rescaled by the moments. On a row-sparse table only the looked-up rows decay.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], step: int, hp: dict[str, Any]) -> None:
        if hp["weight_decay"]:
            p *= 1 - hp["lr"] * hp["weight_decay"]
        adam_step(p, g, state, step, hp)
