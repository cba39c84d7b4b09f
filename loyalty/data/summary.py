"""Per-customer RFM summaries (the BG/NBD and Gamma-Gamma sufficient statistics) at a cut-off date."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataValidationError
from ..units import unit_days

__all__ = ["summarize", "PERIODS"]

#: Periods purchases are grouped by ("several purchases in one period count as one repeat transaction").
PERIODS = {"h": "h", "D": "D", "W": "W"}


def summarize(
    transactions: pd.DataFrame,
    cutoff,
    period: str = "D",
    holdout_end=None,
    unit: str | None = None,
) -> pd.DataFrame:
    """One row per customer: frequency, recency, T and mean repeat spend and margin at ``cutoff``.

    Definitions are those of the BTYD literature and of ``lifetimes``'
    ``summary_data_from_transaction_data`` / ``calibration_and_holdout_data``: timestamps are mapped to their
    period (``period="D"``: calendar day; ``"W"``: week ending Sunday; ``"h"``: hour) and several purchases in
    one period count as one transaction whose amount is their sum.

    Parameters
    ----------
    transactions : DataFrame
        A clean log (see :func:`loyalty.data.validate_transactions`) with ``customer_id``, ``timestamp``,
        ``amount`` and optionally ``margin``.
    cutoff : date-like
        End of the calibration period, inclusive: transactions with ``timestamp <= cutoff`` are summarised.
        Customers whose first purchase is after it are not in the summary.
    period : {"D", "W", "h"}
        Purchase period.
    holdout_end : date-like, optional
        End of a holdout period ``(cutoff, holdout_end]``; adds ``frequency_holdout`` (purchase periods in the
        holdout), ``monetary_holdout`` (their mean amount; 0 if none) and ``duration_holdout`` (its length).
        Only customers of the calibration period are included.
    unit : str, optional
        Unit of ``recency``, ``T`` and ``duration_holdout`` (``"D"``, ``"W"``, ...; default ``period``).
        ``period="D", unit="W"`` gives the fractional weeks of Fader, Hardie & Lee (2005) on CDNOW, the same as
        ``lifetimes`` with ``freq="D", freq_multiplier=7``.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (sorted), columns:

        - ``frequency``: repeat purchase periods (periods with a purchase, minus one);
        - ``recency``: time from the first to the last purchase period, in ``unit``;
        - ``T``: time from the first purchase period to the cut-off's period, in ``unit``;
        - ``monetary_value``: mean amount of the repeat periods (0 when ``frequency`` is 0);
        - ``margin_value``: mean margin of the repeat periods (when the log has ``margin``);
        - ``margin_rate``: margin / amount over all calibration purchases, first included (when it has
          ``margin``; NaN when the amount is 0);
        - the holdout columns above when ``holdout_end`` is given.

        ``attrs`` records ``period``, ``unit``, ``cutoff`` and ``holdout_end``.

    Examples
    --------
    >>> from loyalty.datasets import load_cdnow
    >>> summary = summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W")
    >>> len(summary), int(summary["frequency"].sum())
    (2357, 2457)
    """
    if period not in PERIODS:
        raise DataValidationError(f"period must be one of {sorted(PERIODS)}, got {period!r}")
    unit = period if unit is None else unit
    missing = [c for c in ("customer_id", "timestamp", "amount") if c not in transactions.columns]
    if missing:
        raise DataValidationError(
            f"Required column {missing[0]!r} missing for summarize; got {list(transactions.columns)}"
        )
    cutoff = pd.Timestamp(cutoff)
    if holdout_end is not None:
        holdout_end = pd.Timestamp(holdout_end)
        if holdout_end <= cutoff:
            raise DataValidationError(f"holdout_end {holdout_end.date()} must be after cutoff {cutoff.date()}")

    timestamp = transactions["timestamp"]
    if not pd.api.types.is_datetime64_any_dtype(timestamp):
        raise DataValidationError(
            f"column 'timestamp' must be datetime64 (got {timestamp.dtype}); run validate_transactions first"
        )
    ordinal = _period_ordinal(timestamp, period)
    cutoff_ordinal = int(_period_ordinal(pd.Series([cutoff]), period)[0])
    # divide by periods-per-unit (7 days per week) rather than multiply by its inverse, so that recency and T
    # are the same floats as lifetimes' (periods / freq_multiplier)
    periods_per_unit = unit_days(unit) / unit_days(PERIODS[period])

    in_calibration = (timestamp <= cutoff).to_numpy()
    if not in_calibration.any():
        raise DataValidationError(
            f"no transaction on or before the cutoff {cutoff}; the log starts at {timestamp.min()}"
        )
    codes, customers = pd.factorize(transactions["customer_id"], sort=True)
    amount = transactions["amount"].to_numpy(dtype=float)
    margin = transactions["margin"].to_numpy(dtype=float) if "margin" in transactions.columns else None

    cal = _period_stats(codes[in_calibration], ordinal[in_calibration], amount[in_calibration],
                        None if margin is None else margin[in_calibration], len(customers))
    present = cal["count"] > 0
    frequency = cal["count"] - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        repeat_amount = np.where(frequency > 0, (cal["amount"] - cal["first_amount"]) / frequency, 0.0)
    summary = pd.DataFrame(
        {
            "frequency": frequency.astype(float),
            "recency": (cal["last"] - cal["first"]) / periods_per_unit,
            "T": (cutoff_ordinal - cal["first"]) / periods_per_unit,
            "monetary_value": repeat_amount,
        },
        index=pd.Index(customers, name="customer_id"),
    )
    if margin is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            summary["margin_value"] = np.where(frequency > 0, (cal["margin"] - cal["first_margin"]) / frequency, 0.0)
            summary["margin_rate"] = np.where(cal["amount"] != 0, cal["margin"] / cal["amount"], np.nan)

    if holdout_end is not None:
        in_holdout = ((timestamp > cutoff) & (timestamp <= holdout_end)).to_numpy()
        hold = _period_stats(codes[in_holdout], ordinal[in_holdout], amount[in_holdout], None, len(customers))
        summary["frequency_holdout"] = hold["count"].astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            summary["monetary_holdout"] = np.where(hold["count"] > 0, hold["amount"] / hold["count"], 0.0)
        holdout_ordinal = int(_period_ordinal(pd.Series([holdout_end]), period)[0])
        summary["duration_holdout"] = float((holdout_ordinal - cutoff_ordinal) / periods_per_unit)

    if not present.all():  # customers whose first purchase is after the cut-off
        summary = summary.loc[present]
    summary.attrs.update(
        {"period": period, "unit": unit, "cutoff": str(cutoff), "holdout_end": None if holdout_end is None else str(holdout_end)}
    )
    return summary


def _period_ordinal(timestamp: pd.Series, period: str) -> np.ndarray:
    """Integer index of each timestamp's period (consecutive periods differ by 1)."""
    nanos = timestamp.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    if period == "h":
        return nanos // (3600 * 10**9)
    days = nanos // (86400 * 10**9)
    if period == "D":
        return days
    # pandas' "W" periods end on Sunday; 1970-01-01 was a Thursday, so shift by 3 days to start on Monday.
    return (days + 3) // 7


def _period_stats(codes, ordinal, amount, margin, n_customers: int) -> dict[str, np.ndarray]:
    """Per customer: number of distinct periods, first and last period, total and first-period amounts.

    One sort of the (customer, period) keys gives all of it: distinct keys are the purchase periods, and each
    customer's run of sorted keys starts at their first period and ends at their last.
    """
    if len(codes) == 0:
        zeros = np.zeros(n_customers)
        return {"count": zeros.astype(np.int64), "first": zeros, "last": zeros, "amount": zeros,
                "first_amount": zeros, "margin": zeros, "first_margin": zeros}
    low = int(ordinal.min())
    span = int(ordinal.max()) - low + 1
    key = codes.astype(np.int64)  # a copy, updated in place below: one temporary instead of three
    key *= span
    key += ordinal
    key -= low
    key.sort()
    distinct = np.empty(len(key), dtype=bool)
    distinct[0] = True
    np.not_equal(key[1:], key[:-1], out=distinct[1:])
    key = key[distinct]
    customer = key // span
    period = key - customer * span + low
    starts = np.empty(len(key), dtype=bool)
    starts[0] = True
    np.not_equal(customer[1:], customer[:-1], out=starts[1:])
    ends = np.empty(len(key), dtype=bool)
    ends[-1] = True
    ends[:-1] = starts[1:]
    if int(starts.sum()) == n_customers:  # every customer has a row here: runs are customers 0..n-1 in order
        first, last = period[starts], period[ends]
    else:
        first = np.zeros(n_customers, dtype=np.int64)
        last = np.zeros(n_customers, dtype=np.int64)
        first[customer[starts]] = period[starts]
        last[customer[ends]] = period[ends]
    in_first = (ordinal == first[codes]).astype(float)
    out = {
        "count": np.bincount(customer, minlength=n_customers),
        "first": first.astype(float),
        "last": last.astype(float),
        "amount": np.bincount(codes, weights=amount, minlength=n_customers),
        "first_amount": np.bincount(codes, weights=amount * in_first, minlength=n_customers),
    }
    if margin is not None:
        out["margin"] = np.bincount(codes, weights=margin, minlength=n_customers)
        out["first_margin"] = np.bincount(codes, weights=margin * in_first, minlength=n_customers)
    return out
