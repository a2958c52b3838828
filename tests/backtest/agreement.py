"""How tests hold two ways of computing a run to the same numbers (to float rounding)."""

from __future__ import annotations

import math
from typing import Any

TOLERANCE = 1e-9


def assert_same_statistics(alone: Any, together: Any) -> None:
    """Every statistic equal, floats to 1e-9 (relative or absolute)."""
    a, b = alone.model_dump(), together.model_dump()
    assert a.keys() == b.keys()
    for name, value in a.items():
        other = b[name]
        if isinstance(value, float) and isinstance(other, float):
            assert math.isclose(value, other, rel_tol=TOLERANCE, abs_tol=TOLERANCE), (
                name, value, other)
        else:
            assert value == other, (name, value, other)
