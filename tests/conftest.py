"""Hypothesis profiles ``quick`` (CI, the default) and ``thorough``, chosen by HYPOTHESIS_PROFILE, and the
fixtures of ``minigrad.testing.pytest_plugin`` (``temporary_rule``, ``rng``)."""

from minigrad.testing.profiles import register_profiles
from minigrad.testing.pytest_plugin import rng, temporary_rule  # noqa: F401  (fixtures for every test)

register_profiles()
