"""How many examples a property test runs: its own count, scaled by the loaded hypothesis profile.

`./scripts/test` loads `dev` (random, 100 = scale 1) or, with CI set, `ci` (derandomized, the same
counts); `bench/properties.py` loads `long`, whose max_examples of 2,000 makes each property run 20
times its usual count. Decorators are evaluated at import, after the profile is loaded."""
from __future__ import annotations

from hypothesis import settings


def examples(n: int) -> int:
    return max(1, n * settings.default.max_examples // 100)
