"""The batching rules of the recurrent scans (``gru_scan``, ``lstm_scan``) for ``mg.vmap``.

A scan already runs N sequences side by side, so a batch of B examples whose inputs and initial states are
batched (and whose weights are shared) runs as one scan over B·N sequences. Batched weights (per-example
gradients of a recurrent layer) fall back to one scan per example (``loop_rule``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..shape_ops import broadcast_to, reshape, transpose
from ..vmap_dispatch import loop_rule, rule_of


def _scan_rule(states: int) -> Any:
    """The rule of a scan whose first ``states`` arguments are gi (L, N, G) then the initial states (N, H)."""

    def rule(forward: Any, size: int, values: list, batched: list) -> Any:
        if any(batched[states:]):  # weights (or a mask) per example
            return loop_rule(forward, size, values, batched)
        gi = values[0] if batched[0] else broadcast_to(values[0], (size, *values[0].shape))
        length, n = gi.shape[1], gi.shape[2]
        call = [reshape(transpose(gi, (1, 0, 2, 3)), (length, size * n, gi.shape[3]))]  # (L, B·N, G)
        for v, b in zip(values[1:states], batched[1:states]):
            v = v if b else broadcast_to(v, (size, *v.shape))
            call.append(reshape(v, (size * n, v.shape[-1])))
        rest = list(values[states:])  # w_hh, b_ih, b_hh, mask (L, N), reverse
        if rest[3] is not None:
            rest[3] = np.broadcast_to(np.asarray(rest[3])[:, None], (length, size, n)).reshape(length, -1)
        out = forward(*call, *rest)  # (L, B·N, K)
        return transpose(reshape(out, (length, size, n, out.shape[-1])), (1, 0, 2, 3))

    return rule


rule_of("gru_scan")(_scan_rule(2))  # gi, h0 | w_hh, b_ih, b_hh, mask, reverse
rule_of("lstm_scan")(_scan_rule(3))  # gi, h0, c0 | w_hh, b_ih, b_hh, mask, reverse
