"""Tools for testing gradients, minigrad's own and yours.

- ``gradcheck(f, *inputs)`` / ``gradgradcheck``: backward against numerical derivatives in float64
  (central differences, complex step, random projections), with kinks told apart from wrong rules;
- ``check_function(fn, *inputs, reference=...)``: every property an op owes its users, in one call;
- ``temporary_primitive``: register a primitive and its rules for one test;
- ``minigrad.testing.strategies``: hypothesis strategies and ``property_test`` (needs ``minigrad[test]``);
- ``minigrad.testing.pytest_plugin``: hypothesis profiles and fixtures for pytest.

``minigrad.testing`` needs NumPy only.
"""

from .checks import check_function
from .gradcheck import GradcheckError, KinkError, KinkWarning, gradcheck, gradgradcheck
from .numerical import ComplexStepError
from .primitives import temporary_primitive

__all__ = [
    "ComplexStepError",
    "GradcheckError",
    "KinkError",
    "KinkWarning",
    "gradcheck",
    "check_function",
    "gradgradcheck",
    "temporary_primitive",
]
