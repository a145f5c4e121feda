"""``SGD``: v ← μ v + (g + λ p);  p ← p − η v, with Nesterov's variant."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..tensor import Tensor
from .optimizer import Optimizer, flag, fraction, nonnegative


class SGD(Optimizer):
    """v ← μ v + (g + λ p);  p ← p − η v  (plain SGD when μ = 0; ``nesterov``: p ← p − η (g + μ v))."""

    checks = {"lr": nonnegative, "momentum": fraction, "weight_decay": nonnegative, "nesterov": flag}

    @classmethod
    def check_together(cls, where: str, values: dict[str, Any]) -> None:
        if values.get("nesterov") and values.get("momentum") == 0:
            raise ValueError(f"{where}: nesterov needs a momentum, got 0 (turn nesterov off first, or keep a momentum)")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "nesterov": nesterov})

    def _new_state(self, p: Tensor, hp: dict[str, Any]) -> dict[str, Any]:
        return {"velocity": np.zeros_like(p.data)} if hp["momentum"] else {}

    def _grow_state(self, p: Tensor, state: dict[str, Any], hp: dict[str, Any]) -> None:
        if hp["momentum"] and "velocity" not in state:  # a momentum set after the first step starts from rest
            state["velocity"] = np.zeros_like(p.data)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], step: int, hp: dict[str, Any]) -> None:
        lr, momentum, weight_decay = hp["lr"], hp["momentum"], hp["weight_decay"]
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            v = state["velocity"]
            v *= momentum
            v += g
            g = g + momentum * v if hp["nesterov"] else v
        p -= lr * g
