"""``RMSprop``: s ← αs + (1−α)g²;  p ← p − η g / (√s + ε), with momentum and the centered variant."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..tensor import Tensor
from .optimizer import Optimizer, flag, fraction, nonnegative


class RMSprop(Optimizer):
    """s ← αs + (1−α)g²;  p ← p − η g / (√s + ε), as ``torch.optim.RMSprop``.

    ``centered`` divides by √(s − ḡ²) + ε instead, ḡ ← αḡ + (1−α)g the running mean of the gradient (an estimate
    of its variance rather than its second moment); ``momentum`` μ keeps b ← μb + g / (√s + ε) and steps p ← p − ηb.
    ``weight_decay`` adds λp to the gradient (L2).
    """

    checks = {
        "lr": nonnegative,
        "alpha": fraction,
        "eps": nonnegative,
        "weight_decay": nonnegative,
        "momentum": fraction,
        "centered": flag,
    }

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, {**defaults, "momentum": momentum, "centered": centered})

    def _new_state(self, p: Tensor, hp: dict[str, Any]) -> dict[str, Any]:
        return {"square_avg": np.zeros_like(p.data)}

    def _grow_state(self, p: Tensor, state: dict[str, Any], hp: dict[str, Any]) -> None:
        # a momentum or centering turned on after the first step starts from zero, as at the first step
        if hp["momentum"] and "momentum_buffer" not in state:
            state["momentum_buffer"] = np.zeros_like(p.data)
        if hp["centered"] and "grad_avg" not in state:
            state["grad_avg"] = np.zeros_like(p.data)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], step: int, hp: dict[str, Any]) -> None:
        alpha = hp["alpha"]
        if hp["weight_decay"]:
            g = g + hp["weight_decay"] * p
        s = state["square_avg"]
        s *= alpha
        s += (1 - alpha) * g * g
        if hp["centered"]:
            mean = state["grad_avg"]
            mean += (1 - alpha) * (g - mean)
            denominator = np.sqrt(s - mean * mean)
        else:
            denominator = np.sqrt(s)
        denominator += hp["eps"]
        if hp["momentum"]:
            b = state["momentum_buffer"]
            b *= hp["momentum"]
            b += g / denominator
            p -= hp["lr"] * b
        else:
            p -= hp["lr"] * (g / denominator)
