"""The lecture's softmax classifier: p(y | x) = softmax(Wx + b), and its hidden-layer variant.

With ``hidden=H`` the scores are U tanh(Wx + b) + c: a window of word vectors goes through one
nonlinear layer first, as in the window classifier of the lecture. Trained with cross-entropy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import Tensor, nn
from minigrad.nn import functional as F


class SoftmaxClassifier(nn.Module):
    """Scores for ``n_classes`` classes from ``in_features`` inputs, with an optional tanh hidden layer.

    ``dropout`` is applied to the input and to the hidden layer while training.
    """

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        hidden: int | None = None,
        dropout: float = 0.0,
        dtype: Any = np.float32,
        rng: Any = None,
    ) -> None:
        super().__init__()
        rng = np.random.default_rng(rng)
        self.drop = nn.Dropout(dropout, rng=rng)
        if hidden:
            self.hidden = nn.Linear(in_features, hidden, dtype=dtype, rng=rng, gain=nn.init.calculate_gain("tanh"))
            self.out = nn.Linear(hidden, n_classes, dtype=dtype, rng=rng)
        else:
            self.hidden = None
            self.out = nn.Linear(in_features, n_classes, dtype=dtype, rng=rng)

    def forward(self, x: Any) -> Tensor:
        """Unnormalised scores (logits), shape (batch, n_classes); softmax turns them into p(y | x)."""
        x = self.drop(x)
        if self.hidden is not None:
            x = self.drop(nn.functional.tanh(self.hidden(x)))
        return self.out(x)

    def loss(self, x: Any, y: np.ndarray, weight: Any = None) -> Tensor:
        """Mean cross-entropy −log p(y | x)."""
        return F.cross_entropy(self(x), y, weight=weight)

    def predict(self, x: Any) -> np.ndarray:
        return np.argmax(self(x).data, axis=-1)
