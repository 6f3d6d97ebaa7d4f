"""The one number formatter: how messages, tables, progress lines and reports print a value.

The lowest layer of all (it imports nothing of hpsearch), so that a message of the spec's validation and a cell of
`show` print a number alike.
"""

from __future__ import annotations

import math
from typing import Any


def number(value: Any, digits: int = 4, *, places: int | None = None, missing: str | None = None) -> str:
    """`value` as hpsearch prints it.

    Args:
        value: a float is rounded; a list or tuple prints each value, in parentheses; None prints `missing` where
            given; anything else prints as str.
        digits: significant digits of a float (Python's `g` format: 0.0001234, 1.5e+04, 3).
        places: decimals of a float instead (a score beside others: 0.8500), in scientific notation where that
            would be long or hide it (1e+308 has 309 digits, 1e-07 none).
        missing: what None prints as (a table's "-"); str(None) when not given.
    """
    if isinstance(value, float):
        if places is None:
            return f"{value:.{digits}g}"
        if not math.isfinite(value) or value == 0 or 10.0 ** -places <= abs(value) < 1e6:
            return f"{value:.{places}f}"
        return f"{value:.{places}g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(number(v, digits, places=places, missing=missing) for v in value) + ")"
    if value is None and missing is not None:
        return missing
    return str(value)
