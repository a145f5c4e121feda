"""Learning-rate schedulers, as ``torch.optim.lr_scheduler``: ``LambdaLR``, ``StepLR``, ``MultiStepLR``,
``ExponentialLR``, ``LinearLR``, ``CosineAnnealingLR``, ``OneCycleLR``, ``ReduceLROnPlateau`` and
``SequentialLR`` (a linear warm-up followed by another schedule).

Each writes ``group["lr"]`` of every param group; the group checks what is written (a schedule that reaches a
negative or nan rate is refused at that step). Each has ``state_dict()``/``load_state_dict()`` (its attributes,
copied, without its optimizer), as in PyTorch.
"""

from .base import CosineAnnealingLR, ExponentialLR, LambdaLR, LinearLR, LRScheduler, MultiStepLR, StepLR
from .onecycle import OneCycleLR
from .plateau import ReduceLROnPlateau, SequentialLR

__all__ = [
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
]
