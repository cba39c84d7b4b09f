"""The transaction data contract: column names and how user columns map onto them."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ..errors import DataValidationError, Hint

__all__ = ["REQUIRED_COLUMNS", "EVENT_COLUMNS", "OPTIONAL_COLUMNS", "apply_column_mapping", "example_values", "rows"]

#: Columns every transaction log must have.
REQUIRED_COLUMNS = ("customer_id", "timestamp", "amount")
#: Columns a log of purchase events needs (no amounts): enough for the repeat-purchase models, not for spend or CLV.
EVENT_COLUMNS = ("customer_id", "timestamp")
#: Columns used when present: gross margin (currency), order id (for netting returns), units bought,
#: discount given (currency).
OPTIONAL_COLUMNS = ("margin", "order_id", "quantity", "discount")


def apply_column_mapping(frame: pd.DataFrame, columns: Mapping[str, str] | None = None,
                         required: tuple[str, ...] = REQUIRED_COLUMNS) -> pd.DataFrame:
    """Rename user columns to the contract's names and check the ``required`` ones are there.

    Parameters
    ----------
    frame : DataFrame
        The raw log.
    columns : mapping, optional
        ``{contract_name: user_name}``, e.g. ``{"customer_id": "member_no", "timestamp": "sold_at"}``.
    required : tuple of str
        Contract columns that must be present (default all of :data:`REQUIRED_COLUMNS`; readers of purchase-event
        logs without amounts pass ``EVENT_COLUMNS``).

    Returns
    -------
    DataFrame
        A shallow copy with contract column names; other columns are kept as they are.
    """
    columns = dict(columns or {})
    unknown = set(columns) - set(REQUIRED_COLUMNS) - set(OPTIONAL_COLUMNS)
    if unknown:
        raise DataValidationError(
            f"column mapping names unknown contract columns {sorted(unknown)}; "
            f"contract columns are {list(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}"
        )
    absent = {k: v for k, v in columns.items() if v not in frame.columns}
    if absent:
        raise DataValidationError(
            f"column mapping refers to columns not in the data: {absent}; data has {list(frame.columns)}"
        )
    renamed = frame.rename(columns={v: k for k, v in columns.items()})
    for name in required:
        if name not in renamed.columns:
            raise DataValidationError(
                f"Required column {name!r} missing; data has columns {list(frame.columns)}. "
                "Map yours with {hint}.", hint=Hint("columns", {name: "<your column>"}),
            )
    return renamed


def example_values(values: pd.Series, n: int = 3) -> str:
    """A short, readable list of example values for error messages."""
    shown = [repr(v) for v in values.head(n).tolist()]
    return ", ".join(shown) + (", ..." if len(values) > n else "")


def rows(count: int) -> str:
    """``"1 row"``, ``"2,345 rows"``."""
    return f"{count:,} row" + ("" if count == 1 else "s")
