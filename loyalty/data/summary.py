"""Per-customer RFM summaries (the BG/NBD and Gamma-Gamma sufficient statistics) at a cut-off date."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataValidationError
from ..units import unit_days

__all__ = ["summarize", "factorize_sorted", "PERIODS"]

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
    ticks, ticks_per_second = _ticks(timestamp)
    cutoff_ordinal = int(_period_ordinal(pd.Series([cutoff]), period)[0])
    # divide by periods-per-unit (7 days per week) rather than multiply by its inverse, so that recency and T
    # are the same floats as lifetimes' (periods / freq_multiplier)
    periods_per_unit = unit_days(unit) / unit_days(PERIODS[period])

    in_calibration = (timestamp <= cutoff).to_numpy()
    if not in_calibration.any():
        raise DataValidationError(
            f"no transaction on or before the cutoff {cutoff}; the log starts at {timestamp.min()}"
        )
    in_holdout = None if holdout_end is None else ((timestamp > cutoff) & (timestamp <= holdout_end)).to_numpy()
    codes, bounds, customers = _factorize(transactions["customer_id"])
    amount = transactions["amount"].to_numpy(dtype=float)
    margin = transactions["margin"].to_numpy(dtype=float) if "margin" in transactions.columns else None

    present, parts = [], []
    for block_codes, rows, n_customers in _blocks(codes, bounds, len(customers), len(ticks)):
        ordinal = _ordinal(ticks[rows], ticks_per_second, period)
        block_margin = None if margin is None else margin[rows]
        cal = _period_stats(block_codes, ordinal, amount[rows], block_margin, n_customers, in_calibration[rows])
        hold = None
        if in_holdout is not None:
            hold = _period_stats(block_codes, ordinal, amount[rows], None, n_customers, in_holdout[rows])
        # customers whose first purchase is after the cut-off are left out
        present.append(cal["count"] > 0)
        parts.append(_summary_columns(cal, hold, cutoff_ordinal, periods_per_unit, present[-1]))
    present = np.concatenate(present)
    index = pd.Index(customers if present.all() else customers[present], name="customer_id")
    # copy=False: the columns are new arrays, not to be copied again into one block
    summary = pd.DataFrame(_concatenated(parts), index=index, copy=False)
    if holdout_end is not None:
        holdout_ordinal = int(_period_ordinal(pd.Series([holdout_end]), period)[0])
        summary["duration_holdout"] = float((holdout_ordinal - cutoff_ordinal) / periods_per_unit)
    summary.attrs.update(
        {"period": period, "unit": unit, "cutoff": str(cutoff), "holdout_end": None if holdout_end is None else str(holdout_end)}
    )
    return summary


def _summary_columns(cal, hold, cutoff_ordinal: int, periods_per_unit: float, present) -> dict[str, np.ndarray]:
    """The summary's columns (but ``duration_holdout``) for the ``present`` customers of a block, from the
    :func:`_period_stats` of its calibration and holdout (``None`` without one) rows."""
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
    :func:`summarize` can take the log a block of customers at a time without codes the size of the log."""
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
        # a filter rather than take(bounds): take on a chunked array first concatenates its chunks (the whole column)
        heads = pa.chunked_array([*arrow.slice(0, 1).chunks, *arrow.slice(1).filter(changes).chunks], type=arrow.type)
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


#: Rows per block of customers when the log is grouped by customer in sorted order (see :func:`_blocks`): temporaries
#: of a few MB; the fastest of 2**16 to 2**20 on a 1M-customer log.
BLOCK_ROWS = 1 << 18


def _blocks(codes, bounds, n_customers: int, n_rows: int):
    """``(codes, rows, n_customers)`` of successive blocks of whole customers, ``rows`` a slice of the log.

    A log grouped by customer in sorted order (``bounds``, see :func:`_factorize`) is taken in blocks of about
    :data:`BLOCK_ROWS` rows, so that every temporary is the size of a block and the next block reuses its memory:
    the first use of a page of memory costs more than the arithmetic on it (page faults; ~1.5 s per GB on VMs
    whose free memory goes back to the host), and temporaries the size of the log are mostly new pages. Any
    other log (``codes``) is one block. A customer's statistics depend only on its rows, in their order, so
    the blocks give the same results as one block.
    """
    if bounds is None:
        yield codes, slice(0, n_rows), n_customers
        return
    cuts = np.unique(np.append(np.searchsorted(bounds, np.arange(0, n_rows, BLOCK_ROWS)), n_customers))
    for start, end in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
        yield _run_codes(bounds[start: end + 1]), slice(bounds[start], bounds[end]), end - start


def _concatenated(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The columns of successive blocks of customers, as one."""
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


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


def _period_ordinal(timestamp: pd.Series, period: str) -> np.ndarray:
    """Integer index of each timestamp's period (consecutive periods differ by 1)."""
    return _ordinal(*_ticks(timestamp), period)


def _ticks(timestamp: pd.Series) -> tuple[np.ndarray, int]:
    """The timestamps as int64 ticks of the column's own resolution (a view: no conversion pass), and the ticks
    per second."""
    if isinstance(timestamp.dtype, pd.DatetimeTZDtype):  # time-zone aware: their UTC instants
        timestamp = timestamp.dt.tz_convert("UTC").dt.tz_localize(None)
    values = timestamp.to_numpy()
    resolution, _ = np.datetime_data(values.dtype)
    per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[resolution]  # pandas' resolutions
    return values.view(np.int64), per_second


def _ordinal(ticks: np.ndarray, ticks_per_second: int, period: str) -> np.ndarray:
    """Integer index of the period of each of ``ticks`` (see :func:`_ticks`)."""
    # int32 (hours since 1970 fit until the year 245,000): half the memory of the int64 ticks
    ordinal = np.empty(len(ticks), dtype=np.int32)
    np.floor_divide(ticks, (3600 if period == "h" else 86400) * ticks_per_second, out=ordinal, casting="unsafe")
    if period == "W":
        # pandas' "W" periods end on Sunday; 1970-01-01 was a Thursday, so shift by 3 days to start on Monday.
        ordinal += 3
        ordinal //= 7
    return ordinal


def _period_stats(codes, ordinal, amount, margin, n_customers: int, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per customer, over the ``rows`` selected (a boolean mask): number of distinct periods, first and last
    period, total and first-period amounts (and margins).

    One sort of the (customer, period) keys gives all of it: each customer's sorted keys run from their first
    period to their last, and a key that differs from the previous one starts a new purchase period. Rows left
    out get a key past every customer's, so they sort to the end and are cut off: no filtered copies. Keys
    already in order (a log sorted by customer and time, the usual export) are not sorted: the selected ones
    are taken out, in order, instead (a sort is most of the time of a block, see :func:`_blocks`).
    """
    n_rows = int(np.count_nonzero(rows))
    names = ["first", "last", "amount", "first_amount"] + ([] if margin is None else ["margin", "first_margin"])
    if n_rows == 0:
        zeros = np.zeros(n_customers)
        return {"count": np.zeros(n_customers, dtype=np.int64), **dict.fromkeys(names, zeros)}
    excluded = None if n_rows == len(rows) else ~rows
    low = int(ordinal.min())
    span = int(ordinal.max()) - low + 1
    buffer = codes * span  # int64, updated in place below: one temporary instead of three
    key = buffer
    key += ordinal
    key -= low
    if np.all(key[1:] >= key[:-1]):
        key = key if excluded is None else key[rows]
    else:
        if excluded is not None:
            np.copyto(key, n_customers * span, where=excluded)
        key.sort()
        key = key[:n_rows]
    # Each customer's run of sorted keys starts at the first key >= customer * span: a search per customer
    # instead of a division per row (every array the size of the log costs a page fault per 4 KiB on first use).
    bounds = np.searchsorted(key, np.arange(n_customers + 1, dtype=np.int64) * span)
    rows_per_customer = np.diff(bounds)
    new_period = np.empty(n_rows + 1, dtype=bool)  # one spare slot, so that every bound is a valid index
    new_period[0] = True
    np.not_equal(key[1:], key[:-1], out=new_period[1:n_rows])
    new_period[n_rows] = False
    count = np.add.reduceat(new_period, bounds[:-1], dtype=np.int64)
    present = rows_per_customer > 0
    count[~present] = 0  # reduceat gives the element at an empty run's bound
    ends = bounds[1:] - 1
    first = np.zeros(n_customers, dtype=ordinal.dtype)
    last = np.zeros(n_customers, dtype=ordinal.dtype)
    owner = np.flatnonzero(present)
    first[owner] = key[bounds[owner]] - owner * span + low
    last[owner] = key[ends[owner]] - owner * span + low
    # The keys are no longer needed: their buffer (8 bytes a row) holds the per-row temporaries below, which
    # would otherwise each be new memory the size of the log (see _blocks). mode="clip" (the codes are valid)
    # because take's default copies through a temporary when given out=.
    first_of_row = np.take(first, codes, out=buffer.view(first.dtype)[: len(codes)], mode="clip")
    in_first = ordinal == first_of_row
    if excluded is not None:
        in_first &= rows
    firsts = np.flatnonzero(in_first)  # about one row per customer: gathered, not masked
    first_codes = codes[firsts]
    out = {
        "count": count,
        "first": first.astype(float),
        "last": last.astype(float),
        "amount": np.bincount(codes, weights=_zero_excluded(amount, excluded, buffer), minlength=n_customers),
        "first_amount": np.bincount(first_codes, weights=amount[firsts], minlength=n_customers),
    }
    if margin is not None:
        out["margin"] = np.bincount(codes, weights=_zero_excluded(margin, excluded, buffer), minlength=n_customers)
        out["first_margin"] = np.bincount(first_codes, weights=margin[firsts], minlength=n_customers)
    return out


def _zero_excluded(values: np.ndarray, excluded: np.ndarray | None, buffer: np.ndarray) -> np.ndarray:
    """``values`` with the ``excluded`` rows set to 0, written over ``buffer`` (8 bytes a row); ``values`` itself
    when no row is excluded."""
    if excluded is None:
        return values
    zeroed = buffer.view(np.float64)
    np.copyto(zeroed, values)
    np.copyto(zeroed, 0.0, where=excluded)
    return zeroed
