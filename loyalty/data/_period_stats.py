"""Per-customer purchase-period statistics of a log, compiled (numba): the arithmetic of
:func:`loyalty.data.summarize`.

Two layouts, each read in the order it lies in memory:

- a log grouped by customer (the usual export; ``bounds``) is read in place, a customer at a time, in buffers the
  size of one customer's rows: nothing the size of the log is allocated;
- any other log (``codes``) gets one key per row, ``customer * span + period``, sorted (numpy's sort, the fastest
  way to bring a customer's periods together), from which the periods are counted; the sums run over the rows.

Both sum each customer's amounts in the order of its rows in the log, so both give the same floats.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.types import Array, UniTuple, boolean, float64, int64, void

__all__ = ["period_stats", "periods"]


# The kernels are compiled for these types when the module is imported (or loaded from numba's cache): a summary
# never waits for the compiler. Inputs are read-only contiguous arrays (writable ones convert), outputs writable.
def _IN(dtype):
    return Array(dtype, 1, "C", readonly=True)


def _OUT(dtype):
    return Array(dtype, 1, "C")


def period_stats(bounds: np.ndarray | None, codes: np.ndarray | None, n_customers: int, ticks: np.ndarray,
                 ticks_per_period: int, weekly: bool, amount: np.ndarray, margin: np.ndarray | None,
                 selected: np.ndarray) -> dict[str, np.ndarray]:
    """Per customer, over its ``selected`` rows: the number of distinct purchase periods (``count``), the ``first``
    and ``last`` period, the total and first-period ``amount`` and ``first_amount`` (and ``margin`` and
    ``first_margin``). Customers without a selected row get zeros.

    Customer ``i``'s rows are ``bounds[i]:bounds[i + 1]`` (a log grouped by customer), or else those of code ``i``
    in ``codes``; a row's period is as in :func:`periods`.
    """
    with_margin = margin is not None
    count = np.zeros(n_customers, dtype=np.int64)
    out = {name: np.zeros(n_customers) for name in ("first", "last", "amount", "first_amount")}
    margins = {name: np.zeros(n_customers if with_margin else 0) for name in ("margin", "first_margin")}
    contiguous = np.ascontiguousarray  # no copy of what already is
    ticks, amount, selected = contiguous(ticks), contiguous(amount), contiguous(selected)
    margin = contiguous(margin) if with_margin else np.zeros(0)
    stats = (count, out["first"], out["last"], out["amount"], out["first_amount"], margins["margin"],
             margins["first_margin"])
    if bounds is not None:
        longest = int(np.max(np.diff(bounds))) if n_customers else 0
        _grouped(bounds, ticks, ticks_per_period, weekly, amount, margin, with_margin, selected,
                 np.empty(longest, dtype=np.int64), np.empty(longest), np.empty(longest if with_margin else 0),
                 *stats)
    else:
        codes = contiguous(codes)
        key = np.empty(len(codes), dtype=np.int64)
        low, span = _keys(codes, n_customers, ticks, ticks_per_period, weekly, selected, key)
        key.sort()
        _keyed(codes, n_customers, low, span, key, ticks, ticks_per_period, weekly, amount, margin, with_margin,
               selected, *stats)
    out["count"] = count
    if with_margin:
        out.update(margins)
    return out


def periods(ticks: np.ndarray, ticks_per_period: int, weekly: bool) -> np.ndarray:
    """The period (an int64 index: consecutive periods differ by 1) of each of ``ticks``: ``ticks //
    ticks_per_period``, and with ``weekly`` the week, Monday to Sunday, of that day."""
    out = np.empty(len(ticks), dtype=np.int64)
    _periods(np.ascontiguousarray(ticks, dtype=np.int64), ticks_per_period, weekly, out)
    return out


@numba.njit(cache=True, nogil=True)
def _period(tick, ticks_per_period, weekly):
    period = tick // ticks_per_period  # floor division, also before 1970
    if weekly:  # pandas' weeks end on Sunday; 1970-01-01 was a Thursday: shift by 3 days to start on Monday
        period = (period + 3) // 7
    return period


@numba.njit(void(_IN(int64), int64, boolean, _OUT(int64)), cache=True, nogil=True)
def _periods(ticks, ticks_per_period, weekly, out):
    for i in range(len(ticks)):
        out[i] = _period(ticks[i], ticks_per_period, weekly)


@numba.njit(void(_IN(int64), _IN(int64), int64, boolean, _IN(float64), _IN(float64), boolean, _IN(boolean),
                 _OUT(int64), _OUT(float64), _OUT(float64), _OUT(int64), *[_OUT(float64)] * 6), cache=True, nogil=True)
def _grouped(bounds, ticks, ticks_per_period, weekly, amount, margin, with_margin, selected, periods, amounts, margins,
             count, first, last, total, first_total, margin_total, margin_first):
    for customer in range(len(bounds) - 1):
        # the selected rows' periods, amounts and margins, in buffers the size of the customer's rows
        k = 0
        in_order = True
        for row in range(bounds[customer], bounds[customer + 1]):
            if not selected[row]:
                continue
            periods[k] = _period(ticks[row], ticks_per_period, weekly)
            amounts[k] = amount[row]
            if with_margin:
                margins[k] = margin[row]
            if k > 0 and periods[k] < periods[k - 1]:
                in_order = False
            k += 1
        if k == 0:
            continue
        low = periods[0]
        high = periods[0]
        for i in range(1, k):
            low = min(low, periods[i])
            high = max(high, periods[i])
        # the sums run in the rows' order
        amount_sum = 0.0
        first_amount = 0.0
        margin_sum = 0.0
        first_margin = 0.0
        for i in range(k):
            amount_sum += amounts[i]
            if periods[i] == low:
                first_amount += amounts[i]
            if with_margin:
                margin_sum += margins[i]
                if periods[i] == low:
                    first_margin += margins[i]
        if not in_order:
            periods[:k].sort()
        distinct = 1
        for i in range(1, k):
            if periods[i] != periods[i - 1]:
                distinct += 1
        count[customer] = distinct
        first[customer] = low
        last[customer] = high
        total[customer] = amount_sum
        first_total[customer] = first_amount
        if with_margin:
            margin_total[customer] = margin_sum
            margin_first[customer] = first_margin


@numba.njit(UniTuple(int64, 2)(_IN(int64), int64, _IN(int64), int64, boolean, _IN(boolean), _OUT(int64)), cache=True,
            nogil=True)
def _keys(codes, n_customers, ticks, ticks_per_period, weekly, selected, key):
    """Fill ``key`` with ``code * span + period - low`` for the selected rows, and ``n_customers * span`` (after
    every customer's keys) for the others; return ``(low, span)``, the range of the selected periods."""
    low = np.iinfo(np.int64).max
    high = np.iinfo(np.int64).min
    for row in range(len(codes)):
        if selected[row]:
            period = _period(ticks[row], ticks_per_period, weekly)
            key[row] = period
            low = min(low, period)
            high = max(high, period)
    span = high - low + 1 if high >= low else 1
    for row in range(len(codes)):
        key[row] = codes[row] * span + key[row] - low if selected[row] else n_customers * span
    return low, span


@numba.njit(void(_IN(int64), int64, int64, int64, _IN(int64), _IN(int64), int64, boolean, _IN(float64), _IN(float64),
                 boolean, _IN(boolean), _OUT(int64), *[_OUT(float64)] * 6), cache=True, nogil=True)
def _keyed(codes, n_customers, low, span, key, ticks, ticks_per_period, weekly, amount, margin, with_margin, selected,
           count, first, last, total, first_total, margin_total, margin_first):
    """The statistics from the sorted keys of :func:`_keys`: periods counted on the keys, sums over the rows in
    their order."""
    end = n_customers * span
    previous = -1
    for value in key:
        if value >= end:  # the unselected rows' keys, last
            break
        if value != previous:
            customer = value // span
            period = value - customer * span + low
            if count[customer] == 0:
                first[customer] = period
            count[customer] += 1
            last[customer] = period
            previous = value
    for row in range(len(codes)):
        if not selected[row]:
            continue
        customer = codes[row]
        total[customer] += amount[row]
        if with_margin:
            margin_total[customer] += margin[row]
        if _period(ticks[row], ticks_per_period, weekly) == first[customer]:
            first_total[customer] += amount[row]
            if with_margin:
                margin_first[customer] += margin[row]
