"""Churn definitions and the labels they give on a calibration / holdout split.

Two definitions:

- **no purchase in the horizon**: a customer with a purchase on or before the cut-off churns if they make no
  purchase in ``(cutoff, cutoff + horizon]`` (:func:`churn_labels`);
- **contract not renewed**: for subscriptions with a cancellation date, a customer active at the cut-off churns
  if their cancellation date falls in ``(cutoff, cutoff + horizon]`` (:func:`cancellation_labels`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..errors import DataValidationError, SpecError
from ..data.features import check_customer_ids, check_log
from ..units import unit_days

__all__ = ["ChurnDefinition", "churn_labels", "cancellation_labels"]


@dataclass(frozen=True)
class ChurnDefinition:
    """"Churned" means no purchase in the ``horizon`` after the cut-off.

    Parameters
    ----------
    horizon : float
        Length of the churn window, in ``unit``.
    unit : str or float
        ``"D"``, ``"W"``, ``"M"`` (a twelfth of 365.25 days), ``"Q"``, ``"Y"`` or a number of days.

    Examples
    --------
    >>> ChurnDefinition(39, "W").window("1997-09-30")
    (Timestamp('1997-09-30 00:00:00'), Timestamp('1998-06-30 00:00:00'))
    """

    horizon: float
    unit: str | float = "D"

    def __post_init__(self) -> None:
        if not np.isfinite(self.horizon) or self.horizon <= 0:
            raise SpecError(f"churn horizon must be a positive number of {self.unit!r}, got {self.horizon!r}")
        unit_days(self.unit)  # raises SpecError on an unknown unit

    @property
    def horizon_days(self) -> float:
        return float(self.horizon) * unit_days(self.unit)

    def window(self, cutoff) -> tuple[pd.Timestamp, pd.Timestamp]:
        """``(cutoff, end)``: the churn window is ``(cutoff, end]``."""
        cutoff = pd.Timestamp(cutoff)
        return cutoff, cutoff + pd.Timedelta(days=self.horizon_days)

    def labels(self, transactions: pd.DataFrame, cutoff) -> pd.Series:
        """Churn labels on ``transactions`` at ``cutoff`` (see :func:`churn_labels`)."""
        return churn_labels(transactions, cutoff, self.horizon, self.unit)


def churn_labels(transactions: pd.DataFrame, cutoff, horizon: float, unit: str | float = "D") -> pd.Series:
    """1 for customers who buy nothing in ``(cutoff, cutoff + horizon]``, 0 for those who buy.

    Parameters
    ----------
    transactions : DataFrame
        A clean log (``customer_id``, ``timestamp`` datetime64, ``amount``); rows with a negative amount
        (returns) are not purchases.
    cutoff : date-like
        End of the calibration period, inclusive. Only customers with a purchase on or before it are labelled.
    horizon : float
        Length of the churn window in ``unit``.
    unit : str or float
        Time unit of ``horizon`` (see :func:`loyalty.units.unit_days`).

    Returns
    -------
    Series
        ``churned`` (int 0/1), indexed by ``customer_id`` (sorted, the same customers as
        :func:`loyalty.data.features.build_features` at ``cutoff``).

    Raises
    ------
    DataValidationError
        If the cut-off is before the first transaction, the log has no transaction after the cut-off (empty
        holdout), or the log ends before the end of the window (the labels would call customers churned for
        purchases the log cannot show yet).
    """
    definition = ChurnDefinition(horizon, unit)
    cutoff, end = definition.window(cutoff)
    frame = check_log(transactions, "transactions")
    timestamp = frame["timestamp"]
    first, last = timestamp.min(), timestamp.max()
    if cutoff < first:
        raise DataValidationError(
            f"cutoff {cutoff} is before the first transaction ({first}): there is no calibration period"
        )
    if last <= cutoff:
        raise DataValidationError(
            f"holdout is empty: no transaction after the cutoff {cutoff} (the log ends at {last}); "
            "choose an earlier cutoff or add the later transactions"
        )
    if last.normalize() < end.normalize():
        raise DataValidationError(
            f"the churn window (cutoff {cutoff.date()}, end {end.date()}] runs past the end of the log "
            f"({last}); shorten the horizon or move the cutoff earlier so the window is observed in full"
        )
    purchase = (frame["amount"].to_numpy(dtype=float) >= 0)
    before = purchase & (timestamp <= cutoff).to_numpy()
    during = purchase & ((timestamp > cutoff) & (timestamp <= end)).to_numpy()
    customers = pd.Index(pd.unique(frame.loc[before, "customer_id"])).sort_values()
    bought = customers.isin(pd.unique(frame.loc[during, "customer_id"]))
    return pd.Series((~bought).astype(int), index=customers.rename("customer_id"), name="churned")


def cancellation_labels(
    subscriptions: pd.DataFrame,
    cutoff,
    horizon: float,
    unit: str | float = "D",
    cancelled_at: str = "cancelled_at",
    started_at: str | None = "started_at",
) -> pd.Series:
    """Contract churn: 1 if a subscription active at ``cutoff`` is cancelled in ``(cutoff, cutoff + horizon]``.

    Parameters
    ----------
    subscriptions : DataFrame
        One row per customer: ``customer_id`` and the cancellation date column (missing = not cancelled);
        optionally a start date column.
    cutoff : date-like
        Customers whose contract started after it, or was cancelled on or before it, are not labelled.
    horizon, unit : as in :func:`churn_labels`.
    cancelled_at, started_at : str
        Column names (``started_at=None``, or a column not present, means every contract started before the
        cut-off).

    Returns
    -------
    Series
        ``churned`` (int 0/1), indexed by ``customer_id`` (sorted).
    """
    cutoff, end = ChurnDefinition(horizon, unit).window(cutoff)
    for column in ("customer_id", cancelled_at):
        if column not in subscriptions.columns:
            raise DataValidationError(
                f"Required column {column!r} missing from subscriptions; got {list(subscriptions.columns)}"
            )
    check_customer_ids(subscriptions["customer_id"], "subscriptions")
    if subscriptions["customer_id"].duplicated().any():
        raise DataValidationError("subscriptions must have one row per customer_id; found duplicated ids")
    cancel = _dates(subscriptions[cancelled_at], cancelled_at)
    active = (cancel.isna() | (cancel > cutoff)).to_numpy(dtype=bool)
    if started_at is not None and started_at in subscriptions.columns:
        active = active & (_dates(subscriptions[started_at], started_at) <= cutoff).fillna(False).to_numpy(dtype=bool)
    if not active.any():
        raise DataValidationError(f"no subscription is active at the cutoff {cutoff}")
    churned = ((cancel > cutoff) & (cancel <= end)).fillna(False).to_numpy(dtype=bool)
    labels = pd.Series(churned[active].astype(int), index=pd.Index(subscriptions["customer_id"].to_numpy()[active],
                                                                     name="customer_id"), name="churned")
    return labels.sort_index()


def _dates(values: pd.Series, column: str) -> pd.Series:
    if ptypes.is_datetime64_any_dtype(values):
        return values
    parsed = pd.to_datetime(values, errors="coerce")
    bad = parsed.isna() & values.notna()
    if bad.any():
        raise DataValidationError(f"column {column!r} has {int(bad.sum()):,} values that are not dates, "
                                  f"e.g. {values[bad].head(3).tolist()}")
    return parsed
