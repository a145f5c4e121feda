"""``ReduceLROnPlateau`` and ``SequentialLR``, as ``torch.optim.lr_scheduler``'s."""

from __future__ import annotations

import bisect
import copy
import math
import numbers
from typing import Any

from ..optimizer import Optimizer, nonnegative
from .base import LRScheduler, check_groups
from .onecycle import _per_group


class ReduceLROnPlateau:
    """Multiply every group's rate by ``factor`` once the metric given to ``step(metric)`` has not improved for
    more than ``patience`` epochs, then wait ``cooldown`` epochs; never below ``min_lr``.

    ``mode="min"`` (a loss) or ``"max"`` (an accuracy); an improvement beats the best by ``threshold``, relative
    (``threshold_mode="rel"``: below best·(1 − threshold)) or absolute (``"abs"``: below best − threshold).
    A reduction smaller than ``eps`` is skipped, as in PyTorch.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | list[float] = 0,
        eps: float = 1e-8,
    ) -> None:
        where = "ReduceLROnPlateau"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{where}: expected a minigrad optimizer, got {type(optimizer).__name__}")
        if not (isinstance(factor, numbers.Real) and 0 <= factor < 1):
            raise ValueError(f"{where}: factor must be in [0, 1) (a reduction), got {factor!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"{where}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{where}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"{where}: {name} must be an integer ≥ 0, got {value!r}")
        self.optimizer = optimizer
        n = len(optimizer.param_groups)
        self.min_lrs = [nonnegative(where, "min_lr", v) for v in _per_group(where, "min_lr", min_lr, n)]
        self.mode, self.factor, self.patience, self.cooldown = mode, factor, int(patience), int(cooldown)
        self.threshold = nonnegative(where, "threshold", threshold)
        self.threshold_mode, self.eps = threshold_mode, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def is_better(self, current: float, best: float) -> bool:
        if self.mode == "min":
            return current < (best * (1 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return current > (best * (1 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metrics: Any) -> None:
        """Record this epoch's metric (a number, or a 0-d Tensor/array) and reduce the rates if it is time."""
        check_groups("ReduceLROnPlateau", len(self.min_lrs), self.optimizer.param_groups)
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, low in zip(self.optimizer.param_groups, self.min_lrs):
                old = float(group["lr"])
                new = max(old * self.factor, low)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(copy.deepcopy(state_dict))


class SequentialLR(LRScheduler):
    """``schedulers[k]`` from ``milestones[k − 1]`` on, each restarted at its epoch 0 there, as PyTorch.

    A linear warm-up then a cosine decay: ``SequentialLR(opt, [LinearLR(opt, 0.01, total_iters=5),
    CosineAnnealingLR(opt, T_max=95)], milestones=[5])``. The parts must be closed-form schedulers (not
    ``OneCycleLR``, which is a whole schedule itself, nor ``ReduceLROnPlateau``) made on the same optimizer.
    """

    def __init__(
        self, optimizer: Optimizer, schedulers: list[LRScheduler], milestones: list[int], last_epoch: int = -1
    ) -> None:
        where = "SequentialLR"
        parts = list(schedulers)
        if not parts or len(milestones) != len(parts) - 1:
            raise ValueError(
                f"{where}: needs one milestone fewer than schedulers, got {len(parts)} schedulers and "
                f"{len(milestones)} milestones"
            )
        if list(milestones) != sorted(milestones):
            raise ValueError(f"{where}: milestones must be increasing, got {list(milestones)}")
        from .onecycle import OneCycleLR  # (only to refuse it)

        for k, s in enumerate(parts):
            if not isinstance(s, LRScheduler) or isinstance(s, (OneCycleLR, SequentialLR)):
                raise TypeError(f"{where}: scheduler {k} must be a closed-form scheduler, got {type(s).__name__}")
            if s.optimizer is not optimizer:
                raise ValueError(f"{where}: scheduler {k} was made on another optimizer")
        self.schedulers, self.milestones = parts, [int(m) for m in milestones]
        if last_epoch == -1:  # the rates the parts wrote when made are undone, as PyTorch's SequentialLR does
            for group in optimizer.param_groups:
                group["lr"] = group.get("initial_lr", group["lr"])
        super().__init__(optimizer, last_epoch)

    _not_saved = ("optimizer", "schedulers")

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "schedulers": [s.state_dict() for s in self.schedulers]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = dict(state_dict)
        for s, part in zip(self.schedulers, saved.pop("schedulers")):
            s.load_state_dict(part)
        super().load_state_dict(saved)

    def rate(self, i: int, base_lr: float, epoch: int) -> float:
        k = bisect.bisect_right(self.milestones, epoch)
        start = self.milestones[k - 1] if k else 0
        part = self.schedulers[k]
        return part.rate(i, part.base_lrs[i], epoch - start)
