"""Optimizers: ``SGD`` (momentum, weight decay, Nesterov), ``Adagrad`` and ``Adam``; schedulers in ``lr_scheduler``.

Each holds its parameters in ``param_groups`` and updates ``p.data`` in place from ``p.grad`` on ``step()``;
hyperparameters are checked at construction and whenever they are set (``opt.lr = x``, ``group["lr"] = x``,
a scheduler): see ``optimizer``. For a row-sparse parameter (an ``nn.Embedding`` table) used only through
lookups, only the rows looked up since the last ``zero_grad`` are updated, together with their rows of the
optimizer state; every other row and its state stay exactly as they were (the "lazy" sparse update).
Everything else, a table whose gradient also reached other rows (tied weights) included, gets the dense update.
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam
from .optimizer import Optimizer, ParamGroup
from .sgd import SGD

__all__ = ["SGD", "Adagrad", "Adam", "Optimizer", "ParamGroup", "lr_scheduler"]
