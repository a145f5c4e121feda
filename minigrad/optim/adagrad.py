"""``Adagrad``: G ← G + g²;  p ← p − η g / (√G + ε)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..tensor import Tensor
from .optimizer import Optimizer, nonnegative


class Adagrad(Optimizer):
    """G ← G + g²;  p ← p − η g / (√G + ε): each coordinate's step shrinks with its gradient history."""

    checks = dict.fromkeys(("lr", "eps", "weight_decay", "initial_accumulator_value"), nonnegative)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        eps: float = 1e-10,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
    ) -> None:
        defaults = {"lr": lr, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, {**defaults, "initial_accumulator_value": initial_accumulator_value})

    def _new_state(self, p: Tensor, hp: dict[str, Any]) -> dict[str, Any]:
        return {"sum": np.full_like(p.data, hp["initial_accumulator_value"])}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], step: int, hp: dict[str, Any]) -> None:
        if hp["weight_decay"]:
            g = g + hp["weight_decay"] * p
        total = state["sum"]
        total += g * g
        scratch = np.sqrt(total)
        scratch += hp["eps"]
        np.divide(g, scratch, out=scratch)
        scratch *= hp["lr"]
        p -= scratch
