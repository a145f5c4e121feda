"""Hypothesis profiles ``quick`` (CI, the default) and ``thorough``, chosen by HYPOTHESIS_PROFILE, and the
fixtures of ``minigrad.testing.pytest_plugin`` (``temporary_rule``, ``rng``)."""

import os

from minigrad.testing.profiles import register_profiles
from minigrad.testing.pytest_plugin import rng, temporary_rule  # noqa: F401  (fixtures for every test)

register_profiles()

# MINIGRAD_FORGET_ALL=1 drops every value the graph does not need, however small (normally only values of
# 16,384 elements and more are dropped): the whole suite then runs through that path too.
if os.environ.get("MINIGRAD_FORGET_ALL") == "1":
    from minigrad.forget import forget_at

    forget_at[0] = 0
