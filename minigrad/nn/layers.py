"""Layers: ``Linear``, ``Embedding``, ``Dropout`` and the activations as modules."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..dtypes import resolve
from ..elementwise import relu, sigmoid, tanh
from ..tensor import Tensor
from . import functional as F
from . import init
from . import sparse as row_sparse
from .module import Module, Parameter


class Linear(Module):
    """z = x Wᵀ + b, with W of shape (out_features, in_features) and b of shape (out_features,).

    W is Xavier/Glorot-uniform (``gain`` for the nonlinearity that follows, e.g.
    ``init.calculate_gain("tanh")``) and b starts at zero. Parameters are in the default dtype
    (float32, ``mg.set_default_dtype``) unless ``dtype`` says.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        dtype: Any = None,
        rng: Any = None,
        gain: float = 1.0,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = init.xavier_uniform_(
            Parameter(np.empty((out_features, in_features), dtype=resolve(dtype))), gain, rng
        )
        self.bias = Parameter(np.zeros(out_features, dtype=resolve(dtype))) if bias else None

    def forward(self, x: Any) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``; ``emb(ids)`` looks rows up.

    Rows start N(0, 1)·``scale`` (default 1/√dim, so a window of vectors has unit scale).
    With ``sparse=True`` (the default) the optimizers update only the rows looked up since the last
    ``zero_grad``: an untouched row, and its optimizer state, stays exactly as it was (see
    ``minigrad.nn.sparse``). A table also used outside lookups (tied weights) gets the dense update when
    its gradient reaches other rows; ``sparse=False`` asks for the dense update always.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        sparse: bool = True,
        dtype: Any = None,
        rng: Any = None,
        scale: float | None = None,
    ) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim, self.sparse = num_embeddings, embedding_dim, sparse
        std = 1.0 / np.sqrt(embedding_dim) if scale is None else scale
        self.weight = init.normal_(
            Parameter(np.empty((num_embeddings, embedding_dim), dtype=resolve(dtype))), 0.0, std, rng
        )
        if sparse:
            row_sparse.mark_sparse(self.weight)

    def forward(self, index: Any) -> Tensor:
        return F.embedding(index, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, sparse={self.sparse}"


class Dropout(Module):
    """Inverted dropout with probability ``p`` while training; the identity in ``eval()`` mode."""

    def __init__(self, p: float = 0.5, rng: Any = None) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p
        self.rng = np.random.default_rng(rng)

    def forward(self, x: Any) -> Tensor:
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Tanh(Module):
    """h = tanh(z), f′(z) = 1 − h²."""

    def forward(self, x: Any) -> Tensor:
        return tanh(x)


class ReLU(Module):
    """h = max(z, 0), f′(z) = 1 where z > 0."""

    def forward(self, x: Any) -> Tensor:
        return relu(x)


class Sigmoid(Module):
    """h = σ(z), f′(z) = h(1 − h)."""

    def forward(self, x: Any) -> Tensor:
        return sigmoid(x)


class Identity(Module):
    def forward(self, x: Any) -> Any:
        return x
