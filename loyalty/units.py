"""Explicit time units.

Every function that takes a horizon or a duration says in which unit. Lengths are exact, in days:
a year is 365.25 days and a month is a twelfth of that, never a rounded constant such as 30 or 4.345.
"""

from __future__ import annotations

from .errors import SpecError

__all__ = ["DAYS_PER_YEAR", "UNIT_DAYS", "unit_days", "convert"]

DAYS_PER_YEAR = 365.25

#: Length of each supported unit in days.
UNIT_DAYS: dict[str, float] = {
    "h": 1.0 / 24.0,
    "D": 1.0,
    "W": 7.0,
    "M": DAYS_PER_YEAR / 12.0,
    "Q": DAYS_PER_YEAR / 4.0,
    "Y": DAYS_PER_YEAR,
}


def unit_days(unit: str | float) -> float:
    """Length of ``unit`` in days.

    ``unit`` is one of ``h, D, W, M, Q, Y`` (hour, day, week, month = year/12, quarter, year = 365.25 days)
    or a positive number of days.
    """
    if isinstance(unit, (int, float)) and not isinstance(unit, bool):
        if unit <= 0:
            raise SpecError(f"time unit must be a positive number of days, got {unit!r}")
        return float(unit)
    try:
        return UNIT_DAYS[unit]
    except (KeyError, TypeError):
        raise SpecError(
            f"unknown time unit {unit!r}; use one of {sorted(UNIT_DAYS)} or a positive number of days"
        ) from None


def convert(value, from_unit: str | float, to_unit: str | float):
    """Convert a duration ``value`` from ``from_unit`` to ``to_unit`` (scalars or arrays)."""
    return value * (unit_days(from_unit) / unit_days(to_unit))
