"""Per-customer RFM summaries (the BG/NBD and Gamma-Gamma sufficient statistics) at a cut-off date."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataValidationError
from ..units import unit_days
from ._period_stats import period_stats, periods
from .rules import period_end

__all__ = ["summarize", "factorize_sorted", "period_ordinal", "PERIODS"]

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
        End of the calibration period, inclusive: transactions with ``timestamp <= cutoff`` are summarised; a
        date without a time of day includes that whole day (:func:`loyalty.data.rules.period_end`).
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
        - ``monetary_value``: mean amount of the repeat periods (0 when ``frequency`` is 0); absent when the log
          has no ``amount`` column (purchase events only);
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
    return summary_and_order(transactions, cutoff, period, holdout_end, unit)[0]


def summary_and_order(transactions: pd.DataFrame, cutoff, period: str = "D", holdout_end=None,
                      unit: str | None = None) -> tuple[pd.DataFrame, bool]:
    """:func:`summarize`, and whether the log's rows were sorted by customer (then its first and last rows hold its
    smallest and largest id): found on the way, for the engines that cut a log into chunks."""
    if period not in PERIODS:
        raise DataValidationError(f"period must be one of {sorted(PERIODS)}, got {period!r}")
    unit = period if unit is None else unit
    missing = [c for c in ("customer_id", "timestamp") if c not in transactions.columns]
    if missing:
        raise DataValidationError(
            f"Required column {missing[0]!r} missing for summarize; got {list(transactions.columns)}"
        )
    # attrs keep the dates as given; the data are cut at the last instant they include (a date: its whole day)
    given = {"cutoff": str(pd.Timestamp(cutoff)),
             "holdout_end": None if holdout_end is None else str(pd.Timestamp(holdout_end))}
    cutoff = period_end(cutoff)
    if holdout_end is not None:
        holdout_end = period_end(holdout_end)
        if holdout_end <= cutoff:
            raise DataValidationError(f"holdout_end {holdout_end.date()} must be after cutoff {cutoff.date()}")

    timestamp = transactions["timestamp"]
    if not pd.api.types.is_datetime64_any_dtype(timestamp):
        raise DataValidationError(
            f"column 'timestamp' must be datetime64 (got {timestamp.dtype}); run validate_transactions first"
        )
    ticks, ticks_per_second = _ticks(timestamp)
    cutoff_ordinal = int(period_ordinal(pd.Series([cutoff]), period)[0])
    # divide by periods-per-unit (7 days per week) rather than multiply by its inverse, so that recency and T
    # are the same floats as lifetimes' (periods / freq_multiplier)
    periods_per_unit = unit_days(unit) / unit_days(PERIODS[period])

    in_calibration = (timestamp <= cutoff).to_numpy()
    if not in_calibration.any():
        raise DataValidationError(
            f"no transaction on or before the cutoff {cutoff}; the log starts at {timestamp.min()}"
        )
    in_holdout = None if holdout_end is None else ((timestamp > cutoff) & (timestamp <= holdout_end)).to_numpy()
    codes, bounds, customers = _factorize(transactions["customer_id"])  # bounds: sorted by customer
    # a log without amounts (purchase events only) gets the counts and times, and no spend columns
    has_amount = "amount" in transactions.columns
    amount = transactions["amount"].to_numpy(dtype=float) if has_amount else np.zeros(len(transactions))
    margin = transactions["margin"].to_numpy(dtype=float) if "margin" in transactions.columns else None
    ticks_per_period, weekly = _period_of_ticks(ticks_per_second, period)

    def stats(selected, margin):
        return period_stats(bounds, codes, len(customers), ticks, ticks_per_period, weekly, amount, margin, selected)

    cal = stats(in_calibration, margin)
    hold = None if in_holdout is None else stats(in_holdout, None)
    # customers whose first purchase is after the cut-off are left out
    present = cal["count"] > 0
    index = pd.Index(customers if present.all() else customers[present], name="customer_id")
    # copy=False: the columns are new arrays, not to be copied again
    summary = pd.DataFrame(_summary_columns(cal, hold, cutoff_ordinal, periods_per_unit, present), index=index,
                           copy=False)
    if not has_amount:
        summary = summary.drop(columns=[c for c in ("monetary_value", "monetary_holdout") if c in summary.columns])
    if holdout_end is not None:
        holdout_ordinal = int(period_ordinal(pd.Series([holdout_end]), period)[0])
        summary["duration_holdout"] = float((holdout_ordinal - cutoff_ordinal) / periods_per_unit)
    summary.attrs.update(
        {"period": period, "unit": unit, **given}
    )
    return summary, bounds is not None


def _summary_columns(cal, hold, cutoff_ordinal: int, periods_per_unit: float, present) -> dict[str, np.ndarray]:
    """The summary's columns (but ``duration_holdout``) for the ``present`` customers, from the
    :func:`period_stats` of the calibration and holdout (``None`` without one) rows."""
    if not present.all():
        cal = {name: values[present] for name, values in cal.items()}
        hold = None if hold is None else {name: values[present] for name, values in hold.items()}
    frequency = cal["count"] - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        columns = {
            "frequency": frequency.astype(float),
            "recency": (cal["last"] - cal["first"]) / periods_per_unit,
            "T": (cutoff_ordinal - cal["first"]) / periods_per_unit,
            "monetary_value": np.where(frequency > 0, (cal["amount"] - cal["first_amount"]) / frequency, 0.0),
        }
        if "margin" in cal:
            columns["margin_value"] = np.where(frequency > 0, (cal["margin"] - cal["first_margin"]) / frequency, 0.0)
            columns["margin_rate"] = np.where(cal["amount"] != 0, cal["margin"] / cal["amount"], np.nan)
        if hold is not None:
            columns["frequency_holdout"] = hold["count"].astype(float)
            columns["monetary_holdout"] = np.where(hold["count"] > 0, hold["amount"] / hold["count"], 0.0)
    return columns


def factorize_sorted(ids: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes of ``ids`` in the sorted order of their values, and the sorted distinct values.

    The same result as ``pd.factorize(ids, sort=True)``, faster on the logs people have: exports grouped by
    customer skip hashing altogether. The ids are first cut into runs of equal consecutive values (one
    comparison per row); when those runs are already in sorted order (a log sorted by customer, the usual
    export) each run is a customer and the codes are the run numbers. Otherwise only the run heads are hashed
    (``pd.factorize``), and when most rows start a run (a log sorted by time) the ids are hashed directly: ids
    of at most 8 bytes as big-endian integers, which keep their order and hash faster than strings.

    Raises
    ------
    DataValidationError
        When an id is missing (validate the log first).

    Examples
    --------
    >>> codes, uniques = factorize_sorted(pd.Series(["b", "b", "a", "c", "a"]))
    >>> codes.tolist(), uniques.tolist()
    ([1, 1, 0, 2, 0], ['a', 'b', 'c'])
    """
    codes, bounds, uniques = _factorize(ids)
    return (_run_codes(bounds) if codes is None else codes), uniques


def _factorize(ids: pd.Series) -> tuple[np.ndarray | None, np.ndarray | None, pd.Index]:
    """:func:`factorize_sorted` as ``(codes, None, uniques)``; or, when the ids are grouped in sorted order,
    ``(None, bounds, uniques)``: customer ``i``'s rows are ``bounds[i]:bounds[i + 1]`` (its code is ``i``), so that
    :func:`summarize` reads them in place, without codes the size of the log."""
    n = len(ids)
    values = ids.array
    arrow = getattr(values, "_pa_array", None)  # pandas' pyarrow-backed strings
    missing = arrow.null_count if arrow is not None else int(ids.isna().sum())
    if missing:
        raise DataValidationError(
            f"column 'customer_id' has {missing:,} missing values of {n:,} rows; run validate_transactions first"
        )
    if n < 2 or (arrow is None and not pd.api.types.is_numeric_dtype(ids.dtype)):
        codes, uniques = _hashed(ids)
        return codes, None, uniques
    # rows (less one) where the id differs from the previous row's: where runs of equal ids start
    if arrow is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        changes = pc.not_equal(arrow.slice(1), arrow.slice(0, n - 1))
        n_runs = 1 + pc.sum(changes).as_py()
    else:
        raw = ids.to_numpy()
        changes = raw[1:] != raw[:-1]
        n_runs = 1 + int(np.count_nonzero(changes))
    if n_runs > n // 2:  # not grouped by customer: hashing the runs would not save anything
        packed = None if arrow is None else _packed_short_strings(arrow)
        if packed is None:
            codes, uniques = _hashed(ids)
            return codes, None, uniques
        # ids of at most 8 bytes as big-endian integers: the same order, and integers hash far faster than
        # strings read in random order
        codes, _ = pd.factorize(packed, sort=True)
        codes = codes.astype(np.int64, copy=False)
        some_row = np.empty(int(codes.max()) + 1, dtype=np.int64)
        some_row[codes] = np.arange(n)
        uniques = type(values)._from_sequence(arrow.take(some_row), dtype=ids.dtype)
        return codes, None, pd.Index(uniques, dtype=ids.dtype)
    bounds = np.empty(n_runs + 1, dtype=np.int64)
    bounds[0], bounds[-1] = 0, n
    if arrow is not None:
        bounds[1:-1] = pc.indices_nonzero(changes).to_numpy()
        bounds[1:-1] += 1
        # a filter rather than take(bounds): take on a chunked array first concatenates its chunks (the whole
        # column); and the heads in memory of their own, or the first one (a slice) keeps its chunk's alive
        heads = pa.chunked_array([*arrow.slice(0, 1).chunks, *arrow.slice(1).filter(changes).chunks],
                                 type=arrow.type).combine_chunks()
        ascending = not pc.any(pc.less(heads.slice(1), heads.slice(0, n_runs - 1))).as_py()
        head_values = type(values)._from_sequence(heads, dtype=ids.dtype)
    else:
        bounds[1:-1] = np.flatnonzero(changes) + 1
        head_values = raw[bounds[:-1]]
        ascending = bool(np.all(head_values[1:] > head_values[:-1]))
    if ascending:  # consecutive runs differ, so ascending runs are distinct: one run per customer
        return None, bounds, pd.Index(head_values, dtype=ids.dtype)
    head_codes, uniques = pd.factorize(pd.Series(head_values, dtype=ids.dtype), sort=True)
    return np.repeat(head_codes.astype(np.int64, copy=False), np.diff(bounds)), None, pd.Index(uniques)


def _run_codes(bounds: np.ndarray) -> np.ndarray:
    """Code ``i`` for the rows ``bounds[i] - bounds[0]:bounds[i + 1] - bounds[0]``."""
    return np.repeat(np.arange(len(bounds) - 1, dtype=np.int64), np.diff(bounds))


def _hashed(ids: pd.Series) -> tuple[np.ndarray, pd.Index]:
    codes, uniques = pd.factorize(ids, sort=True)
    return codes.astype(np.int64, copy=False), pd.Index(uniques)


def _packed_short_strings(arrow) -> np.ndarray | None:
    """Each string of an Arrow string array as the big-endian integer of its UTF-8 bytes, zero-padded to 8
    bytes: integer order is the strings' (byte) order. ``None`` when a string is longer than 8 bytes or
    contains a NUL byte (then padding could make two strings equal)."""
    import pyarrow as pa

    parts = []
    for chunk in arrow.chunks:
        n = len(chunk)
        if n == 0:
            continue
        offset_type = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(chunk.buffers()[1], dtype=offset_type)[chunk.offset: chunk.offset + n + 1]
        offsets = offsets.astype(np.int64)
        lengths = np.diff(offsets)
        if int(lengths.max()) > 8:
            return None
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0]: offsets[-1]]
        if np.any(data == 0):
            return None
        padded = np.zeros((n, 8), dtype=np.uint8)
        width = int(lengths[0])
        if np.all(lengths == width):
            padded[:, :width] = data.reshape(n, width)
        else:  # byte k of string i goes to column k of row i
            position = np.arange(len(data)) + np.repeat(np.arange(n) * 8 - (offsets[:-1] - offsets[0]), lengths)
            padded.ravel()[position] = data
        parts.append(padded.view(">u8").ravel().astype(np.uint64))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)


def period_ordinal(timestamp: pd.Series, period: str) -> np.ndarray:
    """Integer index of each timestamp's period (``"h"``, ``"D"`` or ``"W"``, see :data:`PERIODS`): consecutive
    periods differ by 1, so differences count whole periods (what recency and T are measured in)."""
    ticks, ticks_per_second = _ticks(timestamp)
    return periods(ticks, *_period_of_ticks(ticks_per_second, period))


def _ticks(timestamp: pd.Series) -> tuple[np.ndarray, int]:
    """The timestamps as int64 ticks of the column's own resolution (a view: no conversion pass), and the ticks
    per second."""
    if isinstance(timestamp.dtype, pd.DatetimeTZDtype):  # time-zone aware: their UTC instants
        timestamp = timestamp.dt.tz_convert("UTC").dt.tz_localize(None)
    values = timestamp.to_numpy()
    resolution, _ = np.datetime_data(values.dtype)
    per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[resolution]  # pandas' resolutions
    return values.view(np.int64), per_second


def _period_of_ticks(ticks_per_second: int, period: str) -> tuple[int, bool]:
    """``(ticks_per_period, weekly)``, how :mod:`._period_stats` maps ticks (see :func:`_ticks`) to periods."""
    return (3600 if period == "h" else 86400) * ticks_per_second, period == "W"
