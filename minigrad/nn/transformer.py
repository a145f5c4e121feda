"""TransformerEncoderLayer and TransformerEncoder, with PyTorch's arguments and submodule names.

A layer is self-attention then a feed-forward block, each with a residual connection and a LayerNorm, after
(``norm_first=False``, the default, as in "Attention is all you need") or before (``norm_first=True``):

    post-norm: x = norm1(x + sa(x));        x = norm2(x + ff(x))
    pre-norm:  x = x + sa(norm1(x));        x = x + ff(norm2(x))

with sa(x) = dropout1(self_attn(x, x, x)) and ff(x) = dropout2(linear2(dropout(activation(linear1(x))))).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ..elementwise import relu
from ..shape_ops import expand_dims, reshape, squeeze
from ..tensor import Tensor, as_tensor
from .activation_functions import gelu
from .attention import MultiheadAttention, torch_linear
from .containers import ModuleList
from .fused_norms import linear_rows
from .layers import Dropout
from .module import Module, Parameter
from .normalization import LayerNorm

ACTIVATIONS = {"relu": relu, "gelu": gelu}


class TransformerEncoderLayer(Module):
    """One encoder layer of width ``d_model``, ``nhead`` heads and a feed-forward block of ``dim_feedforward``.

    ``activation`` is "relu", "gelu" or a callable (a module is registered as the submodule ``activation``).
    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)`` takes the masks of
    MultiheadAttention; ``is_causal=True`` without ``src_mask`` masks the keys after each query.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: Any = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        dtype: Any = np.float32,
        rng: Any = None,
    ) -> None:
        super().__init__()
        rng = np.random.default_rng(rng)
        if isinstance(activation, str) and activation not in ACTIVATIONS:
            raise ValueError(
                f"TransformerEncoderLayer: activation must be 'relu', 'gelu' or a callable, got {activation!r}"
            )
        self.self_attn = MultiheadAttention(
            d_model, nhead, dropout, bias, batch_first=batch_first, dtype=dtype, rng=rng
        )
        self.linear1 = torch_linear(d_model, dim_feedforward, bias, dtype, rng)
        self.dropout = Dropout(dropout, rng=rng)
        self.linear2 = torch_linear(dim_feedforward, d_model, bias, dtype, rng)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout, rng=rng)
        self.dropout2 = Dropout(dropout, rng=rng)
        self.activation = ACTIVATIONS[activation] if isinstance(activation, str) else activation

    def forward(
        self, src: Any, src_mask: Any = None, src_key_padding_mask: Any = None, is_causal: bool = False
    ) -> Tensor:
        x = as_tensor(src, "TransformerEncoderLayer")
        self.self_attn._check(x, x, x)
        batched = x.ndim == 3
        if not batched:
            x = expand_dims(x, 0 if self.self_attn.batch_first else 1)
            if src_key_padding_mask is not None:
                src_key_padding_mask = np.asarray(src_key_padding_mask)[None]  # (S,) for an unbatched input
        lead = x.shape[:2]
        x = reshape(x, (-1, x.shape[-1]))  # the rows: every step but the attention's core works on them
        masks = (src_key_padding_mask, src_mask, is_causal)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), lead, *masks)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, lead, *masks))
            x = self.norm2(x + self._ff_block(x))
        x = reshape(x, lead + (x.shape[-1],))
        return x if batched else squeeze(x, 0 if self.self_attn.batch_first else 1)

    def _sa_block(self, rows: Tensor, lead: tuple, key_padding_mask: Any, mask: Any, is_causal: bool) -> Tensor:
        return self.dropout1(self.self_attn.self_attention_rows(rows, lead, key_padding_mask, mask, is_causal)[0])

    def _ff_block(self, rows: Tensor) -> Tensor:
        h = self.activation(linear_rows(rows, self.linear1.weight, self.linear1.bias))
        return self.dropout2(linear_rows(self.dropout(h), self.linear2.weight, self.linear2.bias))


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` (``layers.0``, ``layers.1``, ... as PyTorch's, each a deep copy
    starting from the same weights), then ``norm`` if given."""

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: Module | None = None) -> None:
        super().__init__()
        self.layers = ModuleList([_clone(encoder_layer, i) for i in range(num_layers)])
        self.num_layers, self.norm = num_layers, norm

    def forward(self, src: Any, mask: Any = None, src_key_padding_mask: Any = None, is_causal: bool = False) -> Tensor:
        x = src
        for layer in self.layers:
            x = layer(x, mask, src_key_padding_mask, is_causal)
        return x if self.norm is None else self.norm(x)


def _clone(layer: Module, index: int) -> Module:
    """A deep copy of ``layer`` whose parameters are new tensors (a copied tensor would keep the original's
    creation id, which orders the backward walk) and whose dropouts (the attention's too) draw from generators
    of their own: copies of one would drop the same entries in every layer."""
    clone = copy.deepcopy(layer)
    for module in clone.modules():
        for name, p in list(module._parameters.items()):
            setattr(module, name, Parameter(p._data.copy()))
        if isinstance(getattr(module, "rng", None), np.random.Generator):  # Dropout, and attention's dropout
            module.rng = np.random.default_rng([index, *module.rng.integers(0, 2**32, 2)])
    return clone
