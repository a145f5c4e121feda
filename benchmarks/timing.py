"""The harness's measurements beyond time: the method of timing itself is ``minigrad.benchmark``'s.

Timing (warm-up, interleaved rounds in a rotated order, medians and paired ratios, the collector frozen) is
``minigrad.benchmark.compare``, installed with the package so that a user can time their own step the same
way; ``run.py`` calls it. Peak memory is ``minigrad.benchmark.peak_bytes`` (``tracemalloc``), for the
NumPy-based implementations (NumPy, minigrad, HIPS autograd, MyGrad): it sees both Python objects and NumPy's
array buffers. PyTorch and JAX allocate outside Python's allocator, and the growth of the resident set in a
process that already ran the other implementations is mostly memory the C allocator reuses (it read 0 for
PyTorch's chain on (1000, 1000)), so their peak memory is not reported.

Here: the count of minor page faults per step, which needs the Unix-only ``resource`` module.
"""

from __future__ import annotations

import resource
from collections.abc import Callable
from typing import Any


def page_faults(step: Callable[[], Any]) -> int:
    """Minor page faults during one call (after one call to settle): fresh memory touched, a stable count
    where time at large sizes is dominated by the kernel handing out pages."""
    step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
