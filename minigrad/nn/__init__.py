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

from . import functional, init, sparse
from .activations import ELU, GELU, LeakyReLU, LogSoftmax, SiLU, Softmax, Softplus  # noqa: E402
from .attention import MultiheadAttention  # noqa: E402
from .containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .layers import Dropout, Embedding, Identity, Linear, ReLU, Sigmoid, Tanh
from .module import Module, Parameter
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm  # noqa: E402
from .stateless import functional_call
from .transformer import TransformerEncoder, TransformerEncoderLayer  # noqa: E402

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
]
__all__ += [
    "BatchNorm1d", "BatchNorm2d", "ELU", "GELU", "LayerNorm", "LeakyReLU", "LogSoftmax", "MultiheadAttention",
    "SiLU", "Softmax", "Softplus", "TransformerEncoder", "TransformerEncoderLayer",
]  # fmt: skip
