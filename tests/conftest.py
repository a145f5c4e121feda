"""Hypothesis profiles: ``quick`` (CI, the default) and ``thorough``, chosen by HYPOTHESIS_PROFILE."""

import os

from hypothesis import HealthCheck, settings

_lenient = [HealthCheck.too_slow, HealthCheck.filter_too_much]
settings.register_profile("quick", max_examples=12, deadline=None, suppress_health_check=_lenient)
settings.register_profile("thorough", max_examples=400, deadline=None, suppress_health_check=_lenient)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))
