"""Hypothesis profiles for gradient tests: ``quick`` (the default, for CI) and ``thorough`` (on demand).

Choose one with the environment variable ``HYPOTHESIS_PROFILE``::

    HYPOTHESIS_PROFILE=thorough python -m pytest

Both switch off hypothesis' deadline (a numerical gradient may take tens of milliseconds) and the
health checks for slow draws and filtering (``away_from`` filters elements).
"""

from __future__ import annotations

import os

PROFILES = {"quick": 12, "thorough": 400}  # examples per property test


def register_profiles(load: bool = True) -> str:
    """Register ``quick`` and ``thorough`` with hypothesis; load the one ``HYPOTHESIS_PROFILE`` names.

    Returns the name of the profile in force. Needs hypothesis (``pip install "minigrad[test]"``).
    """
    try:
        from hypothesis import HealthCheck, settings
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError('minigrad.testing.profiles needs hypothesis: pip install "minigrad[test]"') from e
    lenient = [HealthCheck.too_slow, HealthCheck.filter_too_much]
    for name, examples in PROFILES.items():
        settings.register_profile(name, max_examples=examples, deadline=None, suppress_health_check=lenient)
    name = os.environ.get("HYPOTHESIS_PROFILE", "quick")
    if load:
        if name not in PROFILES and name not in settings._profiles:  # noqa: SLF001 - a user's own profile is fine
            raise ValueError(f"HYPOTHESIS_PROFILE={name!r}: unknown profile; use one of {sorted(PROFILES)}")
        settings.load_profile(name)
    return name
