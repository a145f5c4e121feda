"""Forward+backward benchmarks: minigrad against hand-written NumPy and its peers (``python -m benchmarks``)."""
