"""Tools for testing gradients: ``gradcheck`` here, hypothesis strategies in ``minigrad.testing.strategies``.

``minigrad.testing`` needs NumPy only; ``strategies`` also needs hypothesis (the ``test`` extra).
"""

from .gradcheck import GradcheckError, analytic_vjp, gradcheck, numerical_vjp

__all__ = ["GradcheckError", "analytic_vjp", "gradcheck", "numerical_vjp"]
