"""Optimizers: ``SGD`` (momentum, weight decay, Nesterov), ``Adagrad``, ``Adam``, ``AdamW`` (decoupled weight
decay) and ``RMSprop`` (momentum, centered); schedulers in ``lr_scheduler``.

Each holds its parameters in ``param_groups`` and updates ``p.data`` in place from ``p.grad`` on ``step()``;
hyperparameters are checked at construction and whenever they are set (``opt.lr = x``, ``group["lr"] = x``,
a scheduler): see ``optimizer``. Param groups (``[{"params": [...], "lr": ..., "weight_decay": ...}, ...]``, or
``add_param_group`` later) each keep their own values. ``state_dict()``/``load_state_dict()`` save and restore
the hyperparameters and the state (moments, step counts) in PyTorch's layout, ``{"state": {index: {...}},
"param_groups": [{..., "params": [indices]}]}``; training resumed after a load follows the same trajectory.

For a row-sparse parameter (an ``nn.Embedding`` table) used only through lookups, every optimizer updates only
the rows looked up since the last ``zero_grad``, together with their rows of the optimizer state; every other
row and its state stay exactly as they were (the "lazy" sparse update; AdamW decays only those rows too).
Everything else, a table whose gradient also reached other rows (tied weights) included, gets the dense update.
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer, ParamGroup
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "ParamGroup", "RMSprop", "lr_scheduler"]
