"""Pin every framework's thread pools before NumPy, PyTorch or JAX is imported.

The implementations are timed interleaved on the same cores. Thread pools that spin while idle
(OpenBLAS, PyTorch's OpenMP) then steal the cores from each other and a 20 µs step can take 50 ms.
One thread each (the default) measures the engines, not the fight; ``--threads N`` sets N instead.
"""

from __future__ import annotations

import os
import sys

VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")  # fmt: skip


def threads_from_argv(argv: list[str]) -> int:
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return 1


def pin(n: int) -> bool:
    """Set the thread-count variables to ``n``; False if NumPy was already imported (too late for BLAS)."""
    for var in VARIABLES:
        os.environ[var] = str(n)
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    flags = os.environ.get("XLA_FLAGS", "")
    if n == 1 and "multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1".strip()
    return "numpy" not in sys.modules
