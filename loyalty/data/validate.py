"""Validation of transaction logs: a clean log, a rejects table with reasons, and the row accounting.

Every input row ends up either *used* (in the clean log, or as a return netted into the purchase it belongs to)
or *rejected* with a reason, and ``rows read = rows used + rows rejected`` is checked on every call.

Treatments (documented, counted, never silent):

=============================== ==========================================================================
reason / note                   treatment
=============================== ==========================================================================
``missing_customer_id``         id is null or blank: row rejected
``missing_timestamp``           timestamp is null or blank: row rejected
``unparseable_timestamp``       timestamp text that is not ISO 8601 (or ``date_format``), or no such date: rejected
``timestamp_out_of_range``      a year outside 1678-2261 (e.g. ``9999-12-31`` placeholders): row rejected
``invalid_amount``              amount not a finite number below ``rules.MONEY_MAX`` (1e15) in magnitude: rejected
``invalid_margin``              margin given but not such a number: row rejected
``after_cutoff``                timestamp later than ``cutoff``: row rejected
``duplicate_row``               exact copy of an earlier row (all columns): rejected (``duplicates="keep"`` keeps)
``unmatched_return``            negative amount with no purchase to net into: row rejected
``fully_returned``              purchase whose returns cancel it (net amount below ``rules.MONEY_ZERO``, i.e. zero or
                                less): purchase and returns rejected
``customer_net_spend_nonpositive``  customer whose clean purchases sum to zero or less (zero-price purchases only);
                                kept and counted by default, rejected with ``zero_spend_customers="reject"``
returns netted (used)           negative amounts are netted into the purchase they belong to: the same
                                ``order_id`` when given, else the same customer and calendar day; the return's
                                amount, margin and discount are spread over that purchase's rows in proportion
                                to their amounts (``quantity`` keeps the units bought)
time zones (note)               time-zone-aware timestamps are converted to ``timezone`` and stored naive;
                                a mix of aware and naive timestamps is an error (the naive ones' zone is unknown)
=============================== ==========================================================================

How text is parsed (whitespace, numbers, ids, timestamp formats, slash dates, years, the cut-off's day, the
precision money is compared at) is defined once in :mod:`loyalty.data.rules`, which the DuckDB and Spark engines
read too.

Mixed-type customer ids (e.g. ints and strings) are an error, not a rejection: casting would merge or split
customers silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..errors import DataValidationError
from . import rules
from .contract import apply_column_mapping, example_values, rows

__all__ = ["validate_transactions", "ValidationResult", "RowAccounting", "REJECT_REASONS"]

REJECT_REASONS = (
    "missing_customer_id",
    "missing_timestamp",
    "unparseable_timestamp",
    "timestamp_out_of_range",
    "invalid_amount",
    "invalid_margin",
    "after_cutoff",
    "duplicate_row",
    "unmatched_return",
    "fully_returned",
    "customer_net_spend_nonpositive",
)
_OK = -1
_CODE = {name: i for i, name in enumerate(REJECT_REASONS)}


@dataclass(frozen=True)
class RowAccounting:
    """Where every input row went: ``rows_read == rows_used + rows_rejected``.

    ``rows_used`` counts rows in the clean log plus ``returns_netted`` (return rows folded into a purchase).
    ``notes`` counts treatments that keep rows (time-zone conversions, zero-spend customers kept).
    """

    rows_read: int
    rows_used: int
    returns_netted: int
    rejected: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())

    def as_dict(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "rows_used": self.rows_used,
            "rows_rejected": self.rows_rejected,
            "returns_netted": self.returns_netted,
            "rejected": dict(self.rejected),
            "notes": dict(self.notes),
        }

    def __str__(self) -> str:
        reasons = ", ".join(f"{k} {v:,}" for k, v in self.rejected.items()) or "none"
        text = (
            f"rows read {self.rows_read:,} = used {self.rows_used:,} "
            f"(of which {self.returns_netted:,} returns netted into their purchases) "
            f"+ rejected {self.rows_rejected:,} ({reasons})"
        )
        if self.notes:
            text += "; notes: " + ", ".join(f"{k} {v:,}" for k, v in self.notes.items())
        return text


@dataclass(frozen=True)
class ValidationResult:
    """Output of :func:`validate_transactions`.

    Attributes
    ----------
    transactions : DataFrame
        The clean log: contract columns with clean types (``timestamp`` naive datetime64, ``amount`` and
        ``margin`` float64), returns already netted, in input order.
    rejects : DataFrame
        Rejected input rows as given, plus ``row`` (0-based position in the input) and ``reason``.
    accounting : RowAccounting
        Counts by outcome and reason.
    """

    transactions: pd.DataFrame
    rejects: pd.DataFrame
    accounting: RowAccounting


def validate_transactions(
    transactions: pd.DataFrame,
    *,
    columns: Mapping[str, str] | None = None,
    cutoff=None,
    timezone: str = "UTC",
    margin_rate: float | None = None,
    duplicates: str = "drop",
    zero_spend_customers: str = "keep",
    date_format: str | None = None,
    allow_empty: bool = False,
) -> ValidationResult:
    """Check a transaction log against the data contract and split it into clean rows and rejects.

    Parameters
    ----------
    transactions : DataFrame
        Raw log with ``customer_id``, ``timestamp``, ``amount`` and optionally ``margin``, ``order_id``,
        ``quantity``, ``discount`` (or other names mapped with ``columns``). Without an ``amount`` column the log
        is taken as purchase events only: validated the same way (no amount rules apply) and returned without
        amounts, for the repeat-purchase models; spend and CLV need amounts.
    columns : mapping, optional
        ``{contract_name: user_name}``.
    cutoff : date-like, optional
        Rows with a timestamp after it are rejected (``after_cutoff``): scoring "as of" a date. A date without a
        time of day includes that whole day (a purchase at noon on the cut-off day is kept).
    timezone : str, default "UTC"
        Zone that time-zone-aware timestamps are converted to before being stored naive.
    margin_rate : float, optional
        Margin as a share of amount, in [0, 1], used to fill ``margin`` when the log has no margin column.
    duplicates : {"drop", "keep"}
        Exact duplicate rows: rejected as ``duplicate_row`` (default) or kept as genuine repeat records
        (the CDNOW convention, where identical same-day records are in the published data).
    zero_spend_customers : {"keep", "reject"}
        Customers whose clean purchases sum to <= 0 (only zero-price purchases remain): counted in
        ``accounting.notes`` and kept (they did transact), or rejected.
    date_format : str, optional
        How timestamp text is written when it is not ISO 8601, in strftime codes (``"%d/%m/%Y"``,
        ``"%m/%d/%Y %H:%M"``; see :func:`loyalty.data.rules.format_regex`). Required for slash dates.
    allow_empty : bool, default False
        Return an empty clean log (with its rejects and accounting) instead of raising when no row is usable: for
        a part of a log holding whole customers, validated part by part (the DuckDB engine does so with logs
        sorted by customer).

    Returns
    -------
    ValidationResult

    Raises
    ------
    DataValidationError
        A required column is missing, customer ids mix types or are fractional numbers, time zones are mixed,
        dates are slash dates without a ``date_format``, ``margin_rate`` is not in [0, 1], or no row is usable;
        the message names the column, the count and example values.

    Examples
    --------
    >>> import pandas as pd
    >>> raw = pd.DataFrame({"customer_id": ["a", "a", "b", ""], "timestamp": ["2024-01-02"] * 4,
    ...                     "amount": [10.0, -4.0, 5.0, 1.0], "order_id": ["o1", "o1", "o2", "o3"]})
    >>> result = validate_transactions(raw)
    >>> result.transactions["amount"].tolist()
    [6.0, 5.0]
    >>> print(result.accounting)
    rows read 4 = used 3 (of which 1 returns netted into their purchases) + rejected 1 (missing_customer_id 1)
    """
    if "amount" not in transactions.columns and "amount" not in dict(columns or {}):
        return _validate_without_amounts(transactions, columns=columns, cutoff=cutoff, timezone=timezone,
                                         margin_rate=margin_rate, duplicates=duplicates,
                                         zero_spend_customers=zero_spend_customers, date_format=date_format,
                                         allow_empty=allow_empty)
    if duplicates not in ("drop", "keep"):
        raise DataValidationError(f"duplicates must be 'drop' or 'keep', got {duplicates!r}")
    if zero_spend_customers not in ("keep", "reject"):
        raise DataValidationError(f"zero_spend_customers must be 'keep' or 'reject', got {zero_spend_customers!r}")
    margin_rate = rules.check_margin_rate(margin_rate)
    raw = apply_column_mapping(transactions, columns).reset_index(drop=True)
    if len(raw) == 0:
        raise DataValidationError("the transaction log is empty (0 rows)")

    reason = np.full(len(raw), _OK, dtype=np.int8)
    notes: dict[str, int] = {}

    def reject(mask, name: str) -> None:
        mask = np.asarray(mask, dtype=bool) & (reason == _OK)
        reason[mask] = _CODE[name]

    customer_id, missing_id = _clean_customer_id(raw["customer_id"])
    reject(missing_id, "missing_customer_id")
    timestamp, missing_ts, bad_ts, out_of_range = _clean_timestamp(raw["timestamp"], timezone, notes, date_format)
    reject(missing_ts, "missing_timestamp")
    reject(bad_ts, "unparseable_timestamp")
    reject(out_of_range, "timestamp_out_of_range")
    amount = _to_float(raw["amount"])
    reject(~(np.abs(amount) < rules.MONEY_MAX), "invalid_amount")  # NaN and infinities too
    if "margin" in raw.columns:
        margin = _to_float(raw["margin"])
        reject(~(np.abs(margin) < rules.MONEY_MAX), "invalid_margin")
    elif margin_rate is not None:
        margin = amount * float(margin_rate)
    else:
        margin = None
    if cutoff is not None:
        reject(timestamp > rules.period_end(cutoff), "after_cutoff")
    if duplicates == "drop":
        reject(raw.duplicated(keep="first").to_numpy(), "duplicate_row")

    clean = pd.DataFrame({"customer_id": customer_id, "timestamp": timestamp, "amount": amount})
    if margin is not None:
        clean["margin"] = margin
    for name in ("order_id", "quantity", "discount"):
        if name in raw.columns:
            clean[name] = _to_float(raw[name]) if name != "order_id" else raw[name]
    for name in raw.columns:
        if name not in clean.columns:
            clean[name] = raw[name]

    is_return = (reason == _OK) & (amount < 0)
    if is_return.any():
        _net_returns(clean, reason, is_return)

    # netted returns are already in their purchases' amounts: count each purchase once, returns not again
    purchases = (reason == _OK) & ~is_return
    totals = clean.loc[purchases].groupby("customer_id", sort=False)["amount"].sum()
    nonpositive = totals.index[totals < rules.MONEY_ZERO]
    if len(nonpositive):
        if zero_spend_customers == "reject":
            reject(clean["customer_id"].isin(nonpositive).to_numpy(), "customer_net_spend_nonpositive")
        else:
            notes["zero_spend_customers_kept"] = int(len(nonpositive))

    rejected_mask = reason != _OK
    rejects = raw.loc[rejected_mask].copy()
    rejects.insert(0, "row", np.flatnonzero(rejected_mask))
    rejects["reason"] = np.asarray(REJECT_REASONS, dtype=object)[reason[rejected_mask]]
    counts = rejects["reason"].value_counts()
    rejected = {name: int(counts[name]) for name in REJECT_REASONS if name in counts.index}

    keep = (reason == _OK) & ~is_return
    # counted after every rejection, so a rejected customer's netted returns are not also counted as used
    returns_netted = int(((reason == _OK) & is_return).sum())
    clean = clean.loc[keep].reset_index(drop=True)
    accounting = RowAccounting(
        rows_read=len(raw),
        rows_used=int(keep.sum()) + returns_netted,
        returns_netted=returns_netted,
        rejected=rejected,
        notes=notes,
    )
    if accounting.rows_read != accounting.rows_used + accounting.rows_rejected:  # pragma: no cover
        raise AssertionError(f"row accounting does not add up: {accounting}")
    if len(clean) == 0 and not allow_empty:
        given = rejects.drop(columns=["row", "reason"])
        detail = "; ".join(
            f"{r}: {rows(n)}, e.g. {example_values(pd.Series(given[rejects['reason'] == r].to_dict('records')), 2)}"
            for r, n in rejected.items()
        )
        raise DataValidationError(f"no usable transaction among {len(raw):,} rows; {detail}")
    return ValidationResult(clean, rejects.reset_index(drop=True), accounting)


def _clean_customer_id(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Normalise ids (strings stripped, integral floats to int) and flag missing ones."""
    missing = values.isna().to_numpy()
    kind = ptypes.infer_dtype(values, skipna=True)
    if kind in ("mixed", "mixed-integer", "mixed-integer-float"):
        present = values[~missing]
        by_type = present.map(lambda v: type(v).__name__)
        parts = []
        for type_name, count in by_type.value_counts().items():
            sample = example_values(present[by_type == type_name], 2)
            parts.append(f"{type_name}: {rows(count)}, e.g. {sample}")
        raise DataValidationError(
            "column 'customer_id' mixes value types (" + "; ".join(parts) + "); "
            "cast it to one type first (e.g. all strings), so that 17 and '17' are not taken for two customers"
        )
    if kind in ("floating", "integer-na", "decimal"):
        numbers = pd.to_numeric(values, errors="coerce")
        fractional = numbers.notna() & ~np.isfinite(numbers.to_numpy(dtype=float, na_value=0.0)) | (
            numbers.notna() & (numbers != np.floor(numbers)))
        if fractional.any():
            raise DataValidationError(
                f"column 'customer_id' has {int(fractional.sum()):,} non-integer numeric ids, "
                f"e.g. {example_values(values[fractional])}; ids must be integers or strings "
                "(casting 2.5 to an integer would merge customers 2 and 2.5)"
            )
        out = numbers.astype("Int64")
        return out, missing
    if kind in ("string", "empty", "bytes", "unicode"):
        text = values.astype("string").str.strip(rules.WHITESPACE)
        missing = missing | (text == "").fillna(True).to_numpy()
        return text.astype(object).where(~missing, None), missing
    return values, missing


def _clean_timestamp(values: pd.Series, timezone: str, notes: dict, date_format: str | None = None
                     ) -> tuple[pd.Series, np.ndarray, np.ndarray, np.ndarray]:
    """Parse timestamps to naive datetime64 in one zone (the rules of :mod:`loyalty.data.rules`); flag missing,
    unparseable and out-of-range values."""
    low, high = rules.YEARS
    if ptypes.is_datetime64_any_dtype(values):
        if getattr(values.dt, "tz", None) is not None:
            notes["timestamps_converted_to_" + timezone] = int(values.notna().sum())
            values = values.dt.tz_convert(timezone).dt.tz_localize(None)
        missing = values.isna().to_numpy()
        year = values.dt.year
        out_of_range = ((year < low) | (year > high)).fillna(False).to_numpy(dtype=bool)
        parsed = values.where(~out_of_range).astype("datetime64[ns]")
        return parsed, missing, np.zeros(len(values), bool), out_of_range
    if ptypes.is_numeric_dtype(values):
        raise DataValidationError(
            f"column 'timestamp' is numeric ({values.dtype}), e.g. {example_values(values)}; convert it to "
            "dates first (for epoch seconds: pd.to_datetime(x, unit='s'))"
        )
    # Timestamp/datetime objects render as ISO text with their offset, so one path handles text and objects.
    text = values.astype("string").str.strip(rules.WHITESPACE)
    missing = (values.isna() | (text == "")).fillna(True).to_numpy()
    local, offset = _timestamp_parts(text, missing, date_format)
    aware = (offset.notna() & (offset != "")).to_numpy()
    naive = (local.notna().to_numpy() & ~aware)
    if aware.any() and naive.any():
        raise DataValidationError(
            f"column 'timestamp' mixes time-zone-aware values ({rows(int(aware.sum()))}, e.g. "
            f"{example_values(values[aware])}) with naive ones ({rows(int(naive.sum()))}, e.g. "
            f"{example_values(values[naive])}); the zone of the naive ones is unknown: localise them first"
        )
    year = pd.to_numeric(local.str.slice(0, 4), errors="coerce")
    out_of_range = ((year < low) | (year > high)).fillna(False).to_numpy(dtype=bool)
    parsed = pd.to_datetime(local.where(~out_of_range), errors="coerce", format="ISO8601")
    if aware.any():
        minutes = _offset_minutes(offset)
        parsed = parsed - pd.to_timedelta(minutes, unit="m")
        converted = parsed.notna().to_numpy() & aware
        notes["timestamps_converted_to_" + timezone] = int(converted.sum())
        offsets = offset[converted].nunique()
        if offsets > 1:
            notes["distinct_utc_offsets"] = int(offsets)
        if timezone != "UTC":
            parsed = parsed.dt.tz_localize("UTC").dt.tz_convert(timezone).dt.tz_localize(None)
    parsed = parsed.astype("datetime64[ns]")
    bad = parsed.isna().to_numpy() & ~missing & ~out_of_range
    return parsed, missing, bad, out_of_range


def _timestamp_parts(text: pd.Series, missing: np.ndarray, date_format: str | None) -> tuple[pd.Series, pd.Series]:
    """Each value's local date and time as ISO text and its UTC offset (``""`` when naive); NA where the value
    does not match the accepted form. Slash dates without a ``date_format`` are an error."""
    if date_format is not None:
        pattern, fields = rules.format_regex(date_format)
        parts = text.str.extract(f"^{pattern}$")
        parts.columns = list(fields)
        iso = _iso_from_fields(parts)
        return iso, pd.Series("", index=text.index, dtype="string").where(iso.notna())
    slash = text.str.fullmatch(rules.SLASH_DATE).fillna(False).to_numpy(dtype=bool) & ~missing
    if slash.any():
        raise DataValidationError(
            f"column 'timestamp' has {rows(int(slash.sum()))} of slash dates, e.g. {example_values(text[slash])}: "
            "day or month first? Give the format, e.g. date_format='%d/%m/%Y' (or '%m/%d/%Y')"
        )
    basic = text.str.fullmatch(rules.ISO_BASIC_DATE).fillna(False)
    text = text.where(~basic, text.str.slice(0, 4) + "-" + text.str.slice(4, 6) + "-" + text.str.slice(6, 8))
    parts = text.str.extract(f"^{rules.ISO_TIMESTAMP}$")
    return parts[0], parts[1].fillna("").where(parts[0].notna())


def _iso_from_fields(parts: pd.DataFrame) -> pd.Series:
    """ISO text ``YYYY-MM-DD HH:MM:SS.ffffff`` from the fields of :func:`rules.format_regex` (missing time fields
    are 0), NA where the value did not match."""
    def field(name, width, default="0"):
        if name not in parts.columns:
            return pd.Series(default * width, index=parts.index, dtype="string")
        return parts[name].astype("string").str.pad(width, side="left", fillchar="0")

    fraction = parts["fraction"].astype("string").str.pad(6, side="right", fillchar="0") if "fraction" in parts \
        else pd.Series("000000", index=parts.index, dtype="string")
    iso = (field("year", 4) + "-" + field("month", 2) + "-" + field("day", 2) + " " + field("hour", 2) + ":"
           + field("minute", 2) + ":" + field("second", 2) + "." + fraction)
    return iso.where(parts["year"].notna())


def _offset_minutes(offset: pd.Series) -> np.ndarray:
    """Minutes east of UTC of offsets ``Z``, ``+02``, ``+0200``, ``-05:30`` (0 for ``""`` and NA)."""
    digits = offset.fillna("").str.replace(r"[^0-9]", "", regex=True)
    hours = pd.to_numeric(digits.str.slice(0, 2), errors="coerce").fillna(0)
    minutes = pd.to_numeric(digits.str.slice(2, 4), errors="coerce").fillna(0)
    sign = np.where(offset.fillna("").str.startswith("-"), -1, 1)
    return (sign * (hours * 60 + minutes)).to_numpy(dtype=float)


def _to_float(values: pd.Series) -> np.ndarray:
    """Numbers as floats; text must be a number as :data:`rules.NUMBER` writes it (else NaN, as missing ones)."""
    if ptypes.is_numeric_dtype(values) or ptypes.is_bool_dtype(values):
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    text = values.astype("string").str.strip(rules.WHITESPACE)
    ok = text.str.fullmatch(rules.NUMBER).fillna(False)
    is_text = values.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    # numbers held in an object column (ints, floats, Decimals) are numbers; text must be written as one
    keep = ok.to_numpy(dtype=bool) | ~is_text
    given = values.astype(object).where(~is_text, text.astype(object))
    return pd.to_numeric(given.where(keep), errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _validate_without_amounts(transactions: pd.DataFrame, columns, margin_rate, **settings) -> ValidationResult:
    """A log of purchase events without amounts (visits, orders without prices): validated by the same rules, with
    no amount checks or return netting (no amount can be negative, missing or zero), and returned without an
    ``amount`` column. Repeat-purchase models (BG/NBD, NBD) run on it; spend models and CLV need amounts."""
    if margin_rate is not None or "margin" in transactions.columns:
        raise DataValidationError("the log has no 'amount' column, so a margin (a share of amount) cannot be used; "
                                  "map the amount column (columns={'amount': '<your column>'}) or drop the margin")
    mapped = apply_column_mapping(transactions.assign(amount=1.0), columns)
    result = validate_transactions(mapped, **settings)
    return ValidationResult(result.transactions.drop(columns="amount"), result.rejects.drop(columns="amount"),
                            result.accounting)


def _net_returns(clean: pd.DataFrame, reason: np.ndarray, is_return: np.ndarray) -> None:
    """Fold return rows into their purchases (in place); returns that cannot be netted get a reject reason."""
    netted = np.zeros(len(clean), dtype=bool)
    links = []  # (return row, purchase row) for every return netted into a purchase group
    purchase = (reason == _OK) & ~is_return
    day = clean["timestamp"].dt.floor("D")
    keys = []
    if "order_id" in clean.columns:
        keys.append(["customer_id", "order_id"])
    keys.append(["customer_id", "__day"])
    frame = clean.assign(__day=day)
    for key in keys:
        pending = is_return & ~netted & (reason == _OK)
        if key[1] == "order_id":
            pending &= clean["order_id"].notna().to_numpy()
        if not pending.any():
            continue
        buyers = frame.loc[purchase & (reason == _OK), key].copy()
        buyers["__row"] = np.flatnonzero(purchase & (reason == _OK))
        returns = frame.loc[pending, key].copy()
        returns["__row"] = np.flatnonzero(pending)
        group_ids = buyers.groupby(key, sort=False, dropna=True).ngroup()
        buyers["__group"] = group_ids.to_numpy()
        groups = buyers.drop_duplicates(key)[key + ["__group"]]
        matched = returns.merge(groups, on=key, how="inner")
        if matched.empty:
            continue
        _apply_netting(clean, buyers, matched)
        netted[matched["__row"].to_numpy()] = True
        links.append(matched[["__row", "__group"]].merge(buyers[["__row", "__group"]], on="__group"))
        # a purchase cancelled by its returns did not happen: reject it with its returns
        touched = buyers[buyers["__group"].isin(matched["__group"])]
        net = clean["amount"].to_numpy()[touched["__row"].to_numpy()]
        group_net = pd.Series(net).groupby(touched["__group"].to_numpy()).sum()
        cancelled = set(group_net.index[group_net < rules.MONEY_ZERO])
        if cancelled:
            rows = np.concatenate(
                [
                    touched.loc[touched["__group"].isin(cancelled), "__row"].to_numpy(),
                    matched.loc[matched["__group"].isin(cancelled), "__row"].to_numpy(),
                ]
            )
            reason[rows] = _CODE["fully_returned"]
            netted[rows] = False
    if links:
        # a return netted in an earlier pass whose purchases were all cancelled later goes with them
        pairs = pd.concat(links, ignore_index=True)
        purchase_left = pd.Series(reason[pairs["__row_y"].to_numpy()] == _OK).groupby(pairs["__row_x"].to_numpy()).any()
        orphaned = purchase_left.index[~purchase_left.to_numpy()].to_numpy()
        orphaned = orphaned[netted[orphaned] & (reason[orphaned] == _OK)]
        reason[orphaned] = _CODE["fully_returned"]
        netted[orphaned] = False
    unmatched = is_return & ~netted & (reason == _OK)
    reason[unmatched] = _CODE["unmatched_return"]


def _apply_netting(clean: pd.DataFrame, buyers: pd.DataFrame, matched: pd.DataFrame) -> None:
    """Spread each group's returns over its purchase rows in proportion to their amounts."""
    value_cols = [c for c in ("amount", "margin", "discount") if c in clean.columns]  # money: quantity stays
    returned = pd.DataFrame(
        {c: clean[c].to_numpy(dtype=float)[matched["__row"].to_numpy()] for c in value_cols},
    ).groupby(matched["__group"].to_numpy()).sum()
    rows = buyers.loc[buyers["__group"].isin(returned.index)]
    row_idx = rows["__row"].to_numpy()
    group = rows["__group"].to_numpy()
    amounts = clean["amount"].to_numpy(dtype=float)[row_idx]
    group_amount = pd.Series(amounts).groupby(group).transform("sum").to_numpy()
    group_size = pd.Series(amounts).groupby(group).transform("size").to_numpy()
    share = np.where(group_amount > 0, amounts / np.where(group_amount > 0, group_amount, 1.0), 1.0 / group_size)
    for c in value_cols:
        values = clean[c].to_numpy(dtype=float, copy=True)
        values[row_idx] += share * returned[c].reindex(group).to_numpy()
        clean[c] = values
