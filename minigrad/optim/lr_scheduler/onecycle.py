"""``OneCycleLR``: the 1cycle policy (Smith and Topin), as ``torch.optim.lr_scheduler.OneCycleLR``."""

from __future__ import annotations

import math
import numbers
from typing import Any

from ..optimizer import Optimizer
from .base import LRScheduler, _positive_int


def _per_group(where: str, name: str, value: Any, n: int) -> list:
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(values) != n:
        raise ValueError(f"{where}: {name} must be a number or a list of {n} (one per param group), got {value!r}")
    return values


def _cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def _linear(start: float, end: float, pct: float) -> float:
    return (end - start) * pct + start


class OneCycleLR(LRScheduler):
    """The rate rises from max_lr/div_factor to ``max_lr`` over the first ``pct_start`` of the steps, then falls
    to max_lr/(div_factor·final_div_factor); the momentum (SGD's, or Adam's β₁) moves the other way, between
    ``max_momentum`` and ``base_momentum``. ``three_phase`` comes back to the initial rate before the final
    fall. Step it after every batch: ``total_steps`` (or ``epochs · steps_per_epoch``) steps in all; one more
    is an error, as in PyTorch. Each group keeps ``initial_lr``, ``max_lr``, ``min_lr`` (and the momenta).

    The step after the last (epoch ``total_steps``, whose rate no update uses) leaves the rate at ``min_lr``;
    PyTorch extrapolates the anneal there, below 0 for ``"linear"``, which minigrad's param groups refuse.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        where = "OneCycleLR"
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError(f"{where}: give total_steps, or both epochs and steps_per_epoch")
            total_steps = _positive_int(where, "epochs", epochs) * _positive_int(
                where, "steps_per_epoch", steps_per_epoch
            )
        self.total_steps = _positive_int(where, "total_steps", total_steps)
        if not (isinstance(pct_start, numbers.Real) and 0 <= pct_start <= 1):
            raise ValueError(f"{where}: pct_start must be in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{where}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal = _cos if anneal_strategy == "cos" else _linear
        groups = getattr(optimizer, "param_groups", [])
        n = len(groups)
        end = float(pct_start * self.total_steps) - 1
        if three_phase:
            self.phases = [
                (end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                (self.total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        else:
            self.phases = [
                (end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (self.total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]
        if last_epoch == -1:
            for group, lr in zip(groups, _per_group(where, "max_lr", max_lr, n)):
                group["initial_lr"] = lr / div_factor
                group["max_lr"] = lr
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            defaults = getattr(optimizer, "defaults", {})
            if "momentum" not in defaults and "betas" not in defaults:
                raise ValueError(f"{where}: cycle_momentum needs an optimizer with momentum or betas; set it False")
            self.use_beta1 = "betas" in defaults
            if last_epoch == -1:
                lows = _per_group(where, "base_momentum", base_momentum, n)
                highs = _per_group(where, "max_momentum", max_momentum, n)
                for group, low, high in zip(groups, lows, highs):
                    self._set_momentum(group, high)
                    group["max_momentum"], group["base_momentum"] = high, low
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: Any, value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _at(self, group: Any, epoch: int) -> tuple[float, float | None]:
        if epoch > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {epoch} times, more than total_steps={self.total_steps}")
        start = 0.0
        for k, (end, lr0, lr1, m0, m1) in enumerate(self.phases):
            if epoch <= end or k == len(self.phases) - 1:
                pct = min((epoch - start) / (end - start), 1.0)  # (> 1 only past the last step: see the class)
                momentum = self.anneal(group[m0], group[m1], pct) if self.cycle_momentum else None
                return self.anneal(group[lr0], group[lr1], pct), momentum
            start = end
        raise AssertionError("unreachable: the last phase always matches")

    chainable = False  # (a whole schedule in closed form, as PyTorch's)

    def rate(self, i: int, base_lr: float, epoch: int) -> float:
        return self._at(self.optimizer.param_groups[i], epoch)[0]

    def step(self) -> None:
        super().step()
        if self.cycle_momentum:
            for group in self.optimizer.param_groups:
                self._set_momentum(group, self._at(group, self.last_epoch)[1])
