"""Validation of a log streamed in chunks that share no customer (a parquet log sorted by customer).

Every rule of :func:`loyalty.data.validate_transactions` is about one row (missing id, timestamp out of range,
invalid amount or margin, after the cut-off) or about one customer's rows (exact copies, which share the customer's
id; returns, netted into the same customer's purchases). So a log cut into chunks that share no customer can be
validated chunk by chunk, and the accounts added up, with the same result as the whole log at once.

Within a chunk (:func:`validate_chunk`):

- the row rules are vectorised (Arrow and NumPy, no Python per row);
- exact copies: rows are hashed over all their columns; the rows whose hash repeats (every copy, and the rare
  collision) are compared by pandas' own ``duplicated``. In a chunk sorted by customer and time, copies are
  neighbours, and each row is compared with the rows before it in its run of equal customer and time, not
  through a hash table;
- returns: the rows netting can change, those sharing an order or a customer's day with a return, go through
  :func:`loyalty.data.validate_transactions` itself, which nets them; the other rows are clean as they are;
- customers whose purchases sum to zero are counted as the validator counts them (the same sums).

A chunk this cannot validate the same way raises :class:`NotSimple` and the engine falls back to SQL: an id with
whitespace at an end (stripped, it could be the id of a customer in another chunk). Columns of types outside
:data:`HASHABLE` are found before streaming (:func:`supported`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..data import rules
from ..data.validate import RowAccounting, validate_transactions

__all__ = ["NotSimple", "ChunkAccounts", "ValidatedChunk", "supported", "validate_chunk", "with_ids"]


class NotSimple(Exception):
    """A chunk the vectorised rules cannot validate exactly as :func:`loyalty.data.validate_transactions` would."""


@dataclass
class ChunkAccounts:
    """Row counts of validated chunks, added up (see :meth:`accounting`)."""

    rows_read: int = 0
    rows_used: int = 0
    returns_netted: int = 0
    rejected: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)

    def add(self, other: "ChunkAccounts") -> None:
        self.rows_read += other.rows_read
        self.rows_used += other.rows_used
        self.returns_netted += other.returns_netted
        self.rejected.update(other.rejected)
        self.notes.update(other.notes)

    def accounting(self) -> RowAccounting:
        """The :class:`~loyalty.data.RowAccounting` of the whole log, reasons in the validator's order."""
        from ..data.validate import REJECT_REASONS

        accounting = RowAccounting(
            rows_read=self.rows_read, rows_used=self.rows_used, returns_netted=self.returns_netted,
            rejected={name: int(self.rejected[name]) for name in REJECT_REASONS if self.rejected[name] > 0},
            notes={name: int(n) for name, n in self.notes.items() if n},
        )
        if accounting.rows_read != accounting.rows_used + accounting.rows_rejected:  # pragma: no cover
            raise AssertionError(f"row accounting does not add up: {accounting}")
        return accounting


def _is_id(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _hashable(t: pa.DataType) -> bool:
    return (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t) or pa.types.is_floating(t)
            or pa.types.is_boolean(t) or pa.types.is_timestamp(t) or pa.types.is_date(t))


#: What the vectorised rules read (else the SQL path): ids as text or integers, naive timestamps, amounts and
#: margins as numbers, every column of a type whose equal values hash alike (text, numbers, booleans, dates).
HASHABLE = "text, integer, floating, boolean, timestamp and date columns"


def supported(schema: pa.Schema) -> bool:
    """Whether chunks of this schema (the contract's column names) can be validated here."""
    types = {f.name: f.type for f in schema}
    if not _is_id(types["customer_id"]):
        return False
    ts = types["timestamp"]
    if not pa.types.is_timestamp(ts) or ts.tz is not None:
        return False
    if not all(_is_number(types[c]) for c in ("amount", "margin") if c in types):
        return False
    return all(_hashable(t) for t in types.values())


def _ticks(unit: str) -> int:
    return {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}[unit]


def _instant(timestamp: pd.Timestamp, unit: str) -> int:
    """The last tick of ``unit`` at or before ``timestamp``."""
    return pd.Timestamp(timestamp).value // _ticks(unit)


def _year_start(year: int, unit: str) -> int:
    """The tick of ``unit`` at which ``year`` starts (outside pandas' nanosecond range too)."""
    import datetime as dt

    days = (dt.date(year, 1, 1) - dt.date(1970, 1, 1)).days
    return days * (86_400 * 1_000_000_000 // _ticks(unit))


def _numbers(column: pa.ChunkedArray) -> np.ndarray:
    return column.cast(pa.float64()).to_numpy(zero_copy_only=False)


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _column_keys(column: pa.ChunkedArray) -> np.ndarray:
    """A 64-bit key per value: equal values (nulls with nulls, NaN with NaN, 0.0 with -0.0) get equal keys."""
    t = column.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        codes = pc.dictionary_encode(column).combine_chunks().indices
        return pc.fill_null(codes.cast(pa.int64()), -1).to_numpy().view(np.uint64)
    if pa.types.is_floating(t):
        values = column.cast(pa.float64()).to_numpy(zero_copy_only=False) + 0.0  # -0.0 + 0.0 is 0.0
        values[np.isnan(values)] = np.nan  # one NaN (nulls too)
        return values.view(np.uint64)
    if pa.types.is_boolean(t):
        column = column.cast(pa.int8())
    elif pa.types.is_date32(t):
        column = column.cast(pa.int32())
    elif pa.types.is_date64(t) or pa.types.is_timestamp(t):
        column = column.cast(pa.int64())
    values = pc.fill_null(column.cast(pa.int64(), safe=False), -(2**63))  # nulls and the smallest integer share a key
    return values.to_numpy().view(np.uint64)


def _row_hashes(chunk: pa.Table, codes: np.ndarray, known: dict[str, np.ndarray]) -> np.ndarray:
    """A 64-bit hash of every row's values (all columns; ``known``: keys of some columns, computed already): copies
    of a row hash alike."""
    h = codes.view(np.uint64) * _MIX
    for name in chunk.column_names:
        if name != "customer_id":
            h ^= known[name] if name in known else _column_keys(chunk.column(name))
            h *= _MIX
            h ^= h >> np.uint64(29)
    return h


def _customer_codes(ids: pa.Array) -> tuple[np.ndarray, pa.Array, bool]:
    """Each row's customer as a code, the distinct ids (by code), and whether the rows are sorted by id (codes then
    number the runs of equal ids: a comparison of neighbours instead of a hash table)."""
    if len(ids) > 1 and ids.null_count == 0:
        change = pc.not_equal(ids.slice(0, len(ids) - 1), ids.slice(1)).to_numpy(zero_copy_only=False)
        distinct = ids.take(pa.array(np.flatnonzero(np.concatenate([[True], change]))))
        # sorted if the runs' ids increase (a comparison of the few run starts, not of every row)
        if pc.all(pc.less(distinct.slice(0, len(distinct) - 1), distinct.slice(1))).as_py() is not False:
            return np.concatenate([[0], np.cumsum(change)]), distinct, True
    encoded = pc.dictionary_encode(ids)
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary, False


class ValidatedChunk(NamedTuple):
    """What :func:`validate_chunk` gives: the clean rows (customers as positions in ``ids``), the row counts, the
    chunk's distinct ids, and (when asked for) the rejected rows as read with their ``reason``."""

    clean: pd.DataFrame
    accounts: ChunkAccounts
    ids: pa.Array
    rejected: pa.Table | None


def validate_chunk(chunk: pa.Table, *, cutoff, duplicates: str, margin_rate: float | None, rejects: bool = False,
                   ) -> ValidatedChunk:
    """The clean rows (``customer_id``, ``timestamp``, ``amount``[, ``margin``]; netted, in the chunk's order)
    and the row counts of ``chunk``, as :func:`loyalty.data.validate_transactions` gives them for these rows with
    the same settings (``cutoff``: the validation cut-off), and the chunk's distinct ids; with ``rejects``, the
    rejected rows too. The clean rows hold each customer as the position of its id among them (integers: summarised
    faster than text, and none of the ids' text copied); :func:`with_ids` gives a summary of them its ids back.

    ``chunk`` holds whole customers, no missing id (those rows are counted by the caller) and the columns under
    their contract names (others under any name), of a :func:`supported` schema.

    Raises
    ------
    NotSimple
        An id with whitespace at either end: stripped, it could merge with another chunk's customer.
    """
    n = len(chunk)
    ids = chunk.column("customer_id").combine_chunks()
    codes, distinct, by_id = _customer_codes(ids)
    missing_id = np.zeros(n, dtype=bool)
    if pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type):
        ws = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in rules.WHITESPACE) + "]"
        if pc.any(pc.match_substring_regex(distinct, f"^{ws}|{ws}$")).as_py():
            raise NotSimple("an id with whitespace at an end")
        missing_id = pc.equal(distinct, "").to_numpy(zero_copy_only=False)[codes]

    ts_column = chunk.column("timestamp")
    unit = ts_column.type.unit
    ticks = pc.fill_null(ts_column.cast(pa.int64()), -(2**63)).to_numpy()
    missing_ts = ts_column.is_null().to_numpy(zero_copy_only=False)
    low, high = rules.YEARS
    out_of_range = ~missing_ts & ((ticks < _year_start(low, unit)) | (ticks >= _year_start(high + 1, unit)))
    amount = _numbers(chunk.column("amount"))
    bad_amount = ~(np.abs(amount) < rules.MONEY_MAX)
    if "margin" in chunk.column_names:
        margin = _numbers(chunk.column("margin"))
        bad_margin = ~(np.abs(margin) < rules.MONEY_MAX)
    else:
        margin = None if margin_rate is None else amount * float(margin_rate)
        bad_margin = np.zeros(n, dtype=bool)
    after = np.zeros(n, dtype=bool) if cutoff is None else ticks > _instant(rules.period_end(cutoff), unit)

    reason = np.full(n, -1, dtype=np.int8)
    for code, mask in enumerate((missing_id, missing_ts, out_of_range, bad_amount, bad_margin, after)):
        reason[mask & (reason < 0)] = code
    if duplicates == "drop":
        reason[_copies(chunk, codes, ticks, reason < 0, by_id)] = _REASONS.index("duplicate_row")
    ok = reason < 0
    keep = ok.copy()
    returns_netted = 0
    if (ok & (amount < 0)).any():
        amount, margin, returns_netted = _net_returns(chunk, codes, ticks, amount, margin, reason, keep, cutoff,
                                                      margin_rate)
    rejected = np.flatnonzero(reason >= 0)
    counts = np.bincount(reason[rejected].astype(np.int64), minlength=len(_REASONS))
    accounts = ChunkAccounts(rows_read=n, rows_used=int(keep.sum()) + returns_netted, returns_netted=returns_netted)
    accounts.rejected.update({name: int(c) for name, c in zip(_REASONS, counts) if c})

    kept = codes[keep]
    columns = {"customer_id": kept, "timestamp": ticks[keep].view(f"datetime64[{unit}]"), "amount": amount[keep]}
    if margin is not None:
        columns["margin"] = margin[keep]
    zero = _zero_spend(kept, columns["amount"])
    if zero:
        accounts.notes["zero_spend_customers_kept"] = zero
    rows = None
    if rejects:
        reasons = pa.DictionaryArray.from_arrays(pa.array(reason[rejected], pa.int8()), pa.array(_REASONS))
        rows = chunk.take(pa.array(rejected)).append_column("reason", reasons.cast(pa.string()))
    return ValidatedChunk(pd.DataFrame(columns), accounts, distinct, rows)


def with_ids(summary: pd.DataFrame, distinct: pa.Array) -> pd.DataFrame:
    """A summary of :func:`validate_chunk`'s clean rows indexed by the customers' ids instead of their positions,
    sorted by id."""
    ids = distinct.take(pa.array(summary.index.to_numpy())).to_pandas()
    summary.index = pd.Index(ids, name=summary.index.name)
    return summary if summary.index.is_monotonic_increasing else summary.sort_index()


_REASONS = ("missing_customer_id", "missing_timestamp", "timestamp_out_of_range", "invalid_amount", "invalid_margin",
            "after_cutoff", "duplicate_row", "fully_returned", "unmatched_return")


def _zero_spend(codes: np.ndarray, amount: np.ndarray) -> int:
    """Customers whose clean purchases sum below ``rules.MONEY_ZERO``, summed as the validator sums them (a pandas
    group sum of the same rows in the same order). Only a customer with a purchase below twice that can be one (a
    rounded sum of non-negative numbers is no less than its largest, give or take a few ulps), so only those
    customers' purchases are summed."""
    tiny = amount < 2 * rules.MONEY_ZERO
    if not tiny.any():
        return 0
    rows = np.isin(codes, np.unique(codes[tiny]))
    totals = pd.Series(amount[rows]).groupby(codes[rows], sort=False).sum()
    return int((totals < rules.MONEY_ZERO).sum())


def _net_returns(chunk, codes, ticks, amount, margin, reason, keep, cutoff, margin_rate):
    """Returns netted by :func:`loyalty.data.validate_transactions` itself, on the rows netting can change: those
    sharing an order, or a customer's day, with a return (the validator's groups). Sets the netting rejects' ``reason``
    and updates ``keep`` (in place); returns the netted amounts and margins, and the count of returns netted."""
    ok = reason < 0
    is_return = ok & (amount < 0)
    returner = np.zeros(int(codes.max()) + 1, dtype=bool)
    returner[codes[is_return]] = True
    rows = np.flatnonzero(returner[codes] & ok)  # the valid rows of the customers with a return
    # exact keys of (customer, day) and (customer, order): a chunk holds fewer than 2**32 rows and days
    customers = codes[rows] << 32
    unit = chunk.column("timestamp").type.unit
    days = customers | (ticks[rows] // (86_400 * 1_000_000_000 // _ticks(unit)) + 2**31)
    returns = is_return[rows]
    by_day = returns  # the returns the second pass (by customer and day) can net
    near = np.zeros(len(rows), dtype=bool)
    if "order_id" in chunk.column_names:
        order = pc.dictionary_encode(chunk.column("order_id").take(pa.array(rows))).combine_chunks().indices
        orders = customers | pc.fill_null(order.cast(pa.int64()), 2**32 - 1).to_numpy()
        in_order = returns & order.is_valid().to_numpy(zero_copy_only=False)
        near |= pd.Series(orders).isin(orders[in_order]).to_numpy()
        # a return whose order has a purchase is netted (or cancelled with it) by the first pass
        matched = in_order & pd.Series(orders).isin(orders[~returns]).to_numpy()
        by_day = returns & ~matched
    if by_day.any():
        near |= pd.Series(days).isin(days[by_day]).to_numpy()
    rows = rows[near]
    # the columns netting reads, and the rows' places (copies are out already). Customers and orders as integer
    # codes: netting only compares them, and pandas groups integers several times faster than text
    taken = pa.array(rows)
    names = [c for c in ("timestamp", "amount", "margin", "quantity", "discount") if c in chunk.column_names]
    part = chunk.select(names).take(taken).to_pandas()
    part.insert(0, "customer_id", codes[rows])
    if "order_id" in chunk.column_names:
        order_codes = pc.dictionary_encode(chunk.column("order_id").take(taken)).combine_chunks().indices
        part["order_id"] = pd.array(order_codes.to_pandas(), dtype="Int64")
    part["__row"] = rows
    result = validate_transactions(part, cutoff=cutoff, duplicates="keep", margin_rate=margin_rate, allow_empty=True)
    rejects = result.rejects
    unexpected = set(rejects["reason"]) - {"fully_returned", "unmatched_return"}
    if unexpected:  # pragma: no cover  (the rows passed every row rule already)
        raise AssertionError(f"netting rejected rows for {sorted(unexpected)}")
    lookup = {name: code for code, name in enumerate(_REASONS)}
    reason[rows[rejects["row"].to_numpy()]] = rejects["reason"].map(lookup).to_numpy(dtype=np.int8)
    netted = result.transactions
    kept = netted["__row"].to_numpy()
    keep[rows] = False
    keep[kept] = True
    amount = amount.copy()
    amount[kept] = netted["amount"].to_numpy(dtype=float)
    if margin is not None:
        margin = margin.copy()
        margin[kept] = netted["margin"].to_numpy(dtype=float)
    return amount, margin, result.accounting.returns_netted


#: Longest run of rows with one customer and timestamp whose rows are compared as neighbours (see :func:`_copies`).
_MAX_RUN = 32


def _copies(chunk: pa.Table, codes: np.ndarray, ticks: np.ndarray, candidates: np.ndarray, by_id: bool
            ) -> np.ndarray:
    """Which ``candidates`` rows are exact copies of an earlier candidate row (pandas' ``duplicated(keep="first")``
    over all columns).

    Copies hash alike (:func:`_row_hashes`); rows that hash alike are compared by pandas itself, the others are
    not copies. Copies also share the customer and the timestamp: in a chunk sorted by both (a log exported sorted
    by customer and time) they lie in one run of neighbours, and each row is compared with the rows before it in
    its run; otherwise a hash table finds the rows that hash alike."""
    hashes = _row_hashes(chunk, codes, {"timestamp": ticks.view(np.uint64)})
    alike = np.zeros(len(chunk), dtype=bool)
    runs = None
    if by_id and len(chunk) > 1:
        same_customer = codes[1:] == codes[:-1]
        if np.all(~same_customer | (ticks[1:] >= ticks[:-1])):  # time-ordered within each customer
            starts = np.flatnonzero(np.concatenate([[True], ~(same_customer & (ticks[1:] == ticks[:-1]))]))
            longest = int(np.diff(np.concatenate([starts, [len(chunk)]])).max())
            runs = longest <= _MAX_RUN or None
    if runs is not None:
        # copies are in one run: each row against the k-th row before it, for k up to the longest run less one
        # (rows of other runs that hash alike too are a collision, and pandas tells them apart below)
        for k in range(1, int(longest)):
            pair = hashes[k:] == hashes[:-k]
            alike[k:] |= pair
            alike[:-k] |= pair
        alike &= candidates  # copies share their validity: a valid row has no invalid copy
    else:
        rows = np.flatnonzero(candidates)
        alike[rows[pd.Series(hashes[rows]).duplicated(keep=False).to_numpy()]] = True
    rows = np.flatnonzero(alike)
    copies = np.zeros(len(chunk), dtype=bool)
    if len(rows):
        copies[rows] = chunk.take(pa.array(rows)).to_pandas().duplicated(keep="first").to_numpy()
    return copies
