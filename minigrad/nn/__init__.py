"""Networks: ``Module`` and its layers, ``init`` and ``functional``.

>>> import numpy as np
>>> import minigrad as mg
>>> from minigrad import nn
>>> net = nn.Sequential(nn.Linear(4, 8, rng=0), nn.Tanh(), nn.Linear(8, 3, rng=1))
>>> loss = nn.functional.cross_entropy(net(np.ones((2, 4), dtype=np.float32)), np.array([0, 2]))
>>> loss.backward()
>>> net[0].weight.grad.shape
(8, 4)
"""

from . import functional, init, sparse, utils
from .containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .conv import AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, Conv1d, Conv2d, Flatten, MaxPool1d, MaxPool2d
from .layers import Dropout, Embedding, Identity, Linear, ReLU, Sigmoid, Tanh
from .loss_modules import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from .module import Module, Parameter
from .stateless import functional_call

__all__ = [
    "Dropout",
    "Embedding",
    "Identity",
    "Linear",
    "Module",
    "ModuleDict",
    "ModuleList",
    "Parameter",
    "ParameterDict",
    "ParameterList",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "functional",
    "functional_call",
    "init",
    "sparse",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "HuberLoss",
    "KLDivLoss",
    "L1Loss",
    "MarginRankingLoss",
    "MSELoss",
    "NLLLoss",
    "SmoothL1Loss",
    "utils",
    "AdaptiveAvgPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "Conv1d",
    "Conv2d",
    "Flatten",
    "MaxPool1d",
    "MaxPool2d",
]

# recurrent layers and cells
from .rnn import GRU, LSTM, RNN  # noqa: E402
from .rnn_cells import GRUCell, LSTMCell, RNNCell  # noqa: E402

__all__ += ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNCell"]
