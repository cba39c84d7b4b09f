"""The parsing and netting rules of a transaction log, defined once for every engine.

:func:`loyalty.data.validate_transactions` (pandas) and the SQL of :mod:`loyalty.engines` (DuckDB, Spark) read
these definitions, so the three engines accept, convert and reject the same values:

- **whitespace**: the characters :data:`WHITESPACE` (Python's ``str.isspace`` set: ASCII spaces, tabs, line
  breaks, no-break and other Unicode spaces) are stripped from both ends of ids and timestamp text;
- **numbers** written as text (amounts, margins, quantities) must match :data:`NUMBER` (digits with an optional
  sign, decimal point and exponent; no ``1_000``, no thousands separators, no hex); anything else is not a number.
  ``nan``/``inf`` spelled out are not numbers either (and a value that overflows is not finite): ``invalid_*``;
- **ids**: text ids are stripped; numeric ids must be integers (a fractional float id such as 2.5 is an error:
  casting it would merge customers 2 and 2.5);
- **timestamps** written as text must be ISO 8601 (:data:`ISO_TIMESTAMP`: ``2024-06-30``, ``2024-06-30 12:00``,
  ``2024-06-30T12:00:00.123456``, optionally ``Z`` or an offset ``+02:00``), or match ``date_format`` when one is
  given (:func:`format_regex`); the basic form ``19970101`` (:data:`ISO_BASIC_DATE`) is a date too. Values with an offset are converted to UTC and counted; a log mixing values with
  and without an offset is an error. Slash dates (``01/02/2024``: day or month first?) are an error unless a
  ``date_format`` says which. Years outside :data:`YEARS` (``9999-12-31`` placeholders) are the counted reject
  ``timestamp_out_of_range``;
- **cut-offs**: a date-only ``cutoff`` or ``holdout_end`` includes that whole day (:func:`period_end`);
- **money** (the one statement of its precision): an amount or margin is a finite number of magnitude below
  :data:`MONEY_MAX` (1e15 currency units; larger values are placeholders or parsing errors: ``invalid_amount`` /
  ``invalid_margin``). The SQL engines (DuckDB, Spark) hold money as exact decimals with :data:`MONEY_DECIMALS`
  (10) decimal places (:data:`MONEY_SQL_TYPE`): each value, a netted share of a return included, is rounded once
  to 1e-10 of a currency unit and every sum is exact, so no summation order (threads, partitions) can change a bit
  and reruns give byte-identical summaries. pandas sums the float64 values in input order (also the same on every
  rerun). The engines' money columns (``monetary_value``, ``margin_value``, ``margin_rate``, ``monetary_holdout``)
  agree to 1e-9 relative (1e-9 currency units near zero); counts, periods, recency and T are equal bit for bit.
  A purchase group whose returns leave a net amount below :data:`MONEY_ZERO` (half a micro-unit) is
  ``fully_returned``, and a customer whose spend is below it has zero spend, so a same-day cancellation that sums
  to 1.2e-13 in floats (0 exactly in decimals) is cancelled on every engine.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd

from ..errors import DataValidationError, SpecError

__all__ = [
    "WHITESPACE", "NUMBER", "ISO_TIMESTAMP", "ISO_BASIC_DATE", "SLASH_DATE", "YEARS", "MONEY_ZERO", "MONEY_MAX",
    "MONEY_DECIMALS", "MONEY_SQL_TYPE", "period_end", "format_regex",
    "check_margin_rate",
]

#: Characters stripped from both ends of ids and timestamp text: every character for which ``str.isspace`` holds.
WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
#: A number written as text (after stripping :data:`WHITESPACE`).
NUMBER = r"[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+)(?:[eE][+-]?[0-9]+)?"
#: ISO 8601 timestamp text: date, optional time (hours and minutes, optional seconds and up to 6 decimals), optional
#: ``Z`` or UTC offset. Group 1 is the local date and time, group 2 the offset (empty when naive).
ISO_TIMESTAMP = (r"([0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.][0-9]{1,6})?)?)?)"
                 r"(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?")
#: ISO 8601's basic date form (``19970101``): read as ``1997-01-01``.
ISO_BASIC_DATE = r"[0-9]{8}"
#: Day/month dates with slashes: ambiguous without a ``date_format``.
SLASH_DATE = r"[0-9]{1,2}/[0-9]{1,2}/[0-9]{2,4}([T ].*)?"
#: (The patterns use no backslash, so that they read the same in Python, DuckDB's RE2 and Java, in SQL literals.)
#: Calendar years a timestamp may have (those pandas' nanosecond timestamps hold whole): others are rejected as
#: ``timestamp_out_of_range``.
YEARS = (1678, 2261)
#: Money below this (in currency units, half a millionth) is zero: net amounts of netted returns and customers' spend
#: are compared with it, not with an exact 0, so that rounding in sums of another order cannot change a verdict.
MONEY_ZERO = 5e-7
#: Amounts and margins must be below this in magnitude (currency units): larger values are invalid.
MONEY_MAX = 1e15
#: Decimal places the SQL engines keep of every money value: sums of exact decimals do not depend on their order.
MONEY_DECIMALS = 10
#: The SQL type of a money value in DuckDB and Spark: 15 integer digits hold any value below :data:`MONEY_MAX` and
#: none above, so that casting a larger value fails (a trusted log's check). Sums widen it.
MONEY_SQL_TYPE = f"DECIMAL(25, {MONEY_DECIMALS})"

_DATE_ONLY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FORMAT_CODES = {"%Y": ("year", "[0-9]{4}"), "%m": ("month", "[0-9]{1,2}"), "%d": ("day", "[0-9]{1,2}"),
                 "%H": ("hour", "[0-9]{1,2}"), "%M": ("minute", "[0-9]{2}"), "%S": ("second", "[0-9]{2}"),
                 "%f": ("fraction", "[0-9]{1,6}")}


def period_end(value) -> pd.Timestamp:
    """The last instant a cut-off (or holdout end) includes: a date without a time of day (``"2024-06-30"``, a
    ``datetime.date``) is the whole day, up to its last microsecond; a timestamp is itself.

    >>> period_end("2024-06-30")
    Timestamp('2024-06-30 23:59:59.999999')
    >>> period_end("2024-06-30 12:00")
    Timestamp('2024-06-30 12:00:00')
    """
    stamp = pd.Timestamp(value)
    whole_day = (isinstance(value, str) and _DATE_ONLY.fullmatch(value.strip()) is not None) or (
        isinstance(value, dt.date) and not isinstance(value, dt.datetime))
    if whole_day:
        return stamp.normalize() + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return stamp


def format_regex(date_format: str) -> tuple[str, tuple[str, ...]]:
    """A ``date_format`` (strftime codes ``%Y %m %d %H %M %S %f``, other characters literal) as a regular
    expression with one group per code, and the field each group holds. Every engine matches timestamp text
    with it and builds the ISO text of the fields, so that a format means the same everywhere.

    Raises
    ------
    SpecError
        A code other than those, a code twice, or no ``%Y``, ``%m`` and ``%d``.

    >>> format_regex("%d/%m/%Y")
    ('([0-9]{1,2})[/]([0-9]{1,2})[/]([0-9]{4})', ('day', 'month', 'year'))
    """
    if not isinstance(date_format, str) or not date_format:
        raise SpecError(f"date_format must be a strftime pattern such as '%d/%m/%Y', got {date_format!r}")
    pattern, fields, i = [], [], 0
    while i < len(date_format):
        code = date_format[i: i + 2]
        if code in _FORMAT_CODES:
            field, regex = _FORMAT_CODES[code]
            if field in fields:
                raise SpecError(f"date_format {date_format!r} has {code} twice")
            fields.append(field)
            pattern.append(f"({regex})")
            i += 2
        elif date_format[i] == "%":
            raise SpecError(f"date_format {date_format!r}: {code!r} is not supported; use "
                            f"{', '.join(_FORMAT_CODES)} and literal characters")
        else:
            pattern.append(_literal_regex(date_format[i]))
            i += 1
    if not {"year", "month", "day"} <= set(fields):
        raise SpecError(f"date_format {date_format!r} must have %Y, %m and %d")
    return "".join(pattern), tuple(fields)


def _literal_regex(char: str) -> str:
    """One literal character as a regular expression the same in Python, RE2 (DuckDB) and Java (Spark)."""
    if char in "\\^[]'":
        raise SpecError(f"date_format cannot hold {char!r}")
    return char if char.isalnum() else f"[{char}]"


def check_margin_rate(margin_rate) -> float | None:
    """``margin_rate`` as a float in [0, 1], or ``None``; a :class:`DataValidationError` for anything else (NaN,
    a negative rate, a rate above 1: margin cannot exceed revenue)."""
    if margin_rate is None:
        return None
    try:
        rate = float(margin_rate)
    except (TypeError, ValueError):
        raise DataValidationError(f"margin_rate must be a number in [0, 1], got {margin_rate!r}") from None
    if not 0.0 <= rate <= 1.0:  # false for NaN too
        raise DataValidationError(
            f"margin_rate must be in [0, 1] (margin as a share of the amount), got {margin_rate!r}"
        )
    return rate
