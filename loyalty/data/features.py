"""Point-in-time customer features: everything known about each customer as of a date, and nothing after it.

:func:`build_features` is shared by the churn models (features as of the calibration cut-off) and the uplift
models (features as of a campaign's assignment date). It reads only rows with ``timestamp <= as_of``, and every
quantity is measured relative to ``as_of``, so rows after it cannot change a feature (tested by shuffling them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from .contract import example_values
from .summary import factorize_sorted
from ..errors import DataValidationError
from ..units import DAYS_PER_YEAR

__all__ = ["build_features", "check_log", "check_customer_ids", "DEFAULT_WINDOWS"]

#: Trailing windows (days) for purchase counts and spend.
DEFAULT_WINDOWS = (30, 90, 180, 365)

_NS_PER_DAY = 86400 * 10**9


def build_features(
    transactions,
    as_of,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    attributes: pd.DataFrame | None = None,
    returns: pd.DataFrame | None = None,
    *,
    engine: str | None = None,
    **engine_options,
) -> pd.DataFrame:
    """Behavioural features of every customer with a purchase on or before ``as_of``.

    Parameters
    ----------
    transactions : DataFrame or path
        A log in the data contract (``customer_id``, ``timestamp`` datetime64, ``amount``; optional
        ``margin``, ``discount``), e.g. the clean log of :func:`loyalty.data.validate_transactions`, or the path
        of such a log (parquet file or folder) for ``engine="duckdb"``. Rows with a negative ``amount`` are
        taken as returns (see ``returns``); all other rows as purchases.
    as_of : date-like
        The point in time, inclusive: rows with ``timestamp <= as_of`` are used, later rows are ignored.
    windows : sequence of int
        Trailing windows in days: ``n_purchases_{w}d`` and ``spend_{w}d`` count the purchase days and sum the
        amounts in ``(as_of - w days, as_of]``.
    attributes : DataFrame, optional
        Customer attributes (indexed by ``customer_id`` or with a ``customer_id`` column), joined as they are;
        text columns become pandas categoricals (LightGBM's native categorical handling). They must themselves
        be known as of ``as_of``: that is the caller's responsibility.
    returns : DataFrame, optional
        Return rows (``customer_id``, ``timestamp``, ``amount``; the sign of ``amount`` is ignored). Validation
        nets returns into their purchases, so a clean log has no negative rows; pass the raw log's negative rows
        here to get a returns share. Without ``returns``, the log's own negative rows are used; with neither,
        ``returns_share`` is NaN (unknown), not 0.
    engine : {"pandas", "duckdb"}, optional
        ``pandas`` (the default for a frame) or ``duckdb`` (the default for a path: SQL aggregates over the
        file, streamed, so the log need not fit in memory); the same features either way (tested).
    **engine_options :
        DuckDB: ``memory_limit``, ``temp_directory``, ``threads``, ``connection``.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (sorted), float columns (durations in days):

        - ``recency_days``: ``as_of`` minus the last purchase; ``tenure_days``: ``as_of`` minus the first;
        - ``frequency``: purchase days minus one (as in :func:`loyalty.data.summarize` with ``period="D"``);
          ``n_transactions``: purchase rows; ``purchase_rate_per_year``: purchase days per year of tenure;
        - ``spend_total``, ``spend_mean`` (per purchase day), ``spend_last`` (last purchase day);
        - ``n_purchases_{w}d``, ``spend_{w}d`` for each window;
        - ``ipt_mean_days``, ``ipt_std_days``, ``ipt_last_days`` (gaps between purchase days; NaN with fewer
          than two, ``ipt_std_days`` with fewer than three), ``overdue_ratio`` = recency / mean gap;
        - ``spend_trend_per_year``: least-squares slope of spend per purchase day against time (currency per
          year; NaN with fewer than two purchase days);
        - ``margin_share`` (margin / amount, when the log has ``margin``), ``discount_share`` (discount / amount,
          when it has ``discount``), ``returns_share`` (returned / purchased amount);
        - the ``attributes`` columns.

        ``attrs["as_of"]`` records the date.
    """
    from ..engines import default_engine

    engine = engine or default_engine(transactions)
    if engine not in ("pandas", "duckdb"):
        raise DataValidationError(f"build_features: engine must be 'pandas' or 'duckdb', got {engine!r}")
    if any(w <= 0 for w in windows):
        raise DataValidationError(f"feature windows must be positive numbers of days, got {list(windows)}")
    if engine == "duckdb":
        from ..engines import duckdb_engine

        features = duckdb_engine.build_features(transactions, as_of, windows, returns=returns, **engine_options)
        if attributes is not None:
            features = features.join(_attributes(attributes), how="left")
        return features
    if engine_options:
        raise DataValidationError(f"options {sorted(engine_options)} do not apply to engine='pandas'")
    as_of = pd.Timestamp(as_of)
    frame = check_log(transactions, "transactions")
    timestamp = frame["timestamp"]
    first = timestamp.min()
    if as_of < first:
        raise DataValidationError(
            f"as_of {as_of} is before the first transaction ({first}): no customer has any history yet; "
            "choose a later date"
        )
    amount_all = frame["amount"].to_numpy(dtype=float)
    known = (timestamp <= as_of).to_numpy()
    purchase = known & (amount_all >= 0)
    log = frame.loc[purchase]

    codes, customers = factorize_sorted(log["customer_id"])
    n = len(customers)
    as_of_ns = as_of.value
    ns = log["timestamp"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    amount = log["amount"].to_numpy(dtype=float)
    day = ns // _NS_PER_DAY

    # one row per (customer, purchase day): the unit of frequency and inter-purchase times
    days = pd.DataFrame({"c": codes, "day": day, "amount": amount}).groupby(["c", "day"], sort=True)["amount"].sum()
    d_code = days.index.get_level_values("c").to_numpy()
    d_day = days.index.get_level_values("day").to_numpy()
    d_amount = days.to_numpy()
    n_days = np.bincount(d_code, minlength=n).astype(float)

    last_ns = np.full(n, np.iinfo(np.int64).min)
    first_ns = np.full(n, np.iinfo(np.int64).max)
    np.maximum.at(last_ns, codes, ns)
    np.minimum.at(first_ns, codes, ns)
    out = {
        "recency_days": (as_of_ns - last_ns) / _NS_PER_DAY,
        "tenure_days": (as_of_ns - first_ns) / _NS_PER_DAY,
        "frequency": n_days - 1,
        "n_transactions": np.bincount(codes, minlength=n).astype(float),
    }
    spend_total = np.bincount(codes, weights=amount, minlength=n)
    out["purchase_rate_per_year"] = n_days / np.maximum(out["tenure_days"], 1.0) * DAYS_PER_YEAR
    out["spend_total"] = spend_total
    out["spend_mean"] = spend_total / n_days
    is_last_day = np.r_[d_code[1:] != d_code[:-1], True]
    out["spend_last"] = _scatter(n, d_code[is_last_day], d_amount[is_last_day])

    age_days = (as_of_ns - ns) / _NS_PER_DAY
    d_age = as_of_ns // _NS_PER_DAY - d_day  # whole days between the purchase day and as_of's day
    for w in windows:
        if w <= 0:
            raise DataValidationError(f"feature windows must be positive numbers of days, got {list(windows)}")
        out[f"n_purchases_{w}d"] = np.bincount(d_code[d_age < w], minlength=n).astype(float)
        out[f"spend_{w}d"] = np.bincount(codes[age_days < w], weights=amount[age_days < w], minlength=n)

    out.update(_inter_purchase_times(n, d_code, d_day))
    with np.errstate(divide="ignore", invalid="ignore"):
        out["overdue_ratio"] = out["recency_days"] / out["ipt_mean_days"]
    out["spend_trend_per_year"] = _spend_slope(n, d_code, d_day.astype(float), d_amount) * DAYS_PER_YEAR

    with np.errstate(divide="ignore", invalid="ignore"):
        for column, name in (("margin", "margin_share"), ("discount", "discount_share")):
            if column in log.columns:
                total = np.bincount(codes, weights=log[column].to_numpy(dtype=float), minlength=n)
                out[name] = np.where(spend_total != 0, total / spend_total, np.nan)
        out["returns_share"] = _returns_share(frame, known, amount_all, returns, as_of, customers, spend_total)

    features = pd.DataFrame(out, index=pd.Index(customers, name="customer_id"))
    if attributes is not None:
        features = features.join(_attributes(attributes), how="left")
    features.attrs["as_of"] = str(as_of)
    return features


def check_log(frame: pd.DataFrame, name: str = "transactions") -> pd.DataFrame:
    """``frame`` itself if it is a validated log (see :func:`loyalty.data.validate_transactions`): the columns
    ``customer_id``, ``timestamp`` (naive datetime64) and ``amount``, at least one row and one type of customer id;
    otherwise a :class:`DataValidationError` naming ``name`` and the problem."""
    missing = [c for c in ("customer_id", "timestamp", "amount") if c not in frame.columns]
    if missing:
        raise DataValidationError(f"Required column {missing[0]!r} missing from {name}; got {list(frame.columns)}")
    if len(frame) == 0:
        raise DataValidationError(f"{name} is empty (0 rows)")
    if not ptypes.is_datetime64_any_dtype(frame["timestamp"]):
        raise DataValidationError(
            f"column 'timestamp' of {name} must be datetime64 (got {frame['timestamp'].dtype}); "
            "run loyalty.data.validate_transactions first"
        )
    if getattr(frame["timestamp"].dt, "tz", None) is not None:
        raise DataValidationError(f"column 'timestamp' of {name} is time-zone aware; validate_transactions makes it naive")
    check_customer_ids(frame["customer_id"], name)
    return frame


def check_customer_ids(ids: pd.Series, name: str = "transactions") -> None:
    """Raise :class:`DataValidationError` if ``ids`` mix value types (17 and "17" would be two customers)."""
    kind = ptypes.infer_dtype(ids, skipna=True)
    if kind.startswith("mixed"):
        by_type = ids.dropna().map(lambda v: type(v).__name__)
        parts = [f"{t}: {c:,} rows, e.g. {example_values(ids.dropna()[by_type == t], 2)}"
                 for t, c in by_type.value_counts().items()]
        raise DataValidationError(
            f"column 'customer_id' of {name} mixes value types ({'; '.join(parts)}); cast it to one type first "
            "(e.g. all strings)"
        )
    if ids.isna().any():
        raise DataValidationError(
            f"column 'customer_id' of {name} has {int(ids.isna().sum()):,} missing values; "
            "run loyalty.data.validate_transactions first"
        )


def _scatter(n: int, index: np.ndarray, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
    out = np.full(n, fill)
    out[index] = values
    return out


def _inter_purchase_times(n: int, d_code: np.ndarray, d_day: np.ndarray) -> dict[str, np.ndarray]:
    """Mean, standard deviation and last of the gaps between consecutive purchase days, per customer."""
    same = d_code[1:] == d_code[:-1]
    gap = np.diff(d_day).astype(float)[same]
    who = d_code[1:][same]
    count = np.bincount(who, minlength=n).astype(float)
    total = np.bincount(who, weights=gap, minlength=n)
    square = np.bincount(who, weights=gap**2, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(count > 0, total / count, np.nan)
        var = np.where(count > 1, (square - count * mean**2) / (count - 1), np.nan)
    last = np.full(n, np.nan)
    last[who] = gap  # rows are sorted by day within customer, so the last write is the latest gap
    return {"ipt_mean_days": mean, "ipt_std_days": np.sqrt(np.maximum(var, 0.0)), "ipt_last_days": last}


def _spend_slope(n: int, code: np.ndarray, t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-customer least-squares slope of y on t (NaN where t does not vary)."""
    count = np.bincount(code, minlength=n).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_mean = np.bincount(code, weights=t, minlength=n) / count
        y_mean = np.bincount(code, weights=y, minlength=n) / count
        dt = t - t_mean[code]  # centred first: day numbers are ~10^4, raw sums of squares lose precision
        sxy = np.bincount(code, weights=dt * (y - y_mean[code]), minlength=n)
        sxx = np.bincount(code, weights=dt**2, minlength=n)
        return np.where(sxx > 0, sxy / sxx, np.nan)


def _returns_share(frame, known, amount_all, returns, as_of, customers, spend_total) -> np.ndarray:
    if returns is not None:
        returns = check_log(returns, "returns")
        rows = returns.loc[(returns["timestamp"] <= as_of).to_numpy()]
        ids, values = rows["customer_id"], rows["amount"].abs().to_numpy(dtype=float)
    elif (amount_all < 0).any():
        negative = known & (amount_all < 0)
        ids, values = frame.loc[negative, "customer_id"], -amount_all[negative]
    else:
        return np.full(len(customers), np.nan)
    codes = customers.get_indexer(ids)
    inside = codes >= 0  # returns of customers without a purchase yet are not about any row here
    returned = np.bincount(codes[inside], weights=values[inside], minlength=len(customers))
    return np.where(spend_total > 0, returned / np.where(spend_total > 0, spend_total, 1.0), np.nan)


def _attributes(attributes: pd.DataFrame) -> pd.DataFrame:
    if "customer_id" in attributes.columns:
        attributes = attributes.set_index("customer_id")
    check_customer_ids(attributes.index.to_series(), "attributes")
    if attributes.index.has_duplicates:
        dup = attributes.index[attributes.index.duplicated()]
        raise DataValidationError(f"attributes have {len(dup):,} duplicated customer ids, e.g. {example_values(pd.Series(dup))}")
    out = attributes.copy()
    for column in out.columns:
        if ptypes.is_object_dtype(out[column]) or ptypes.is_string_dtype(out[column]) or ptypes.is_bool_dtype(out[column]):
            out[column] = out[column].astype("category")
        elif ptypes.is_datetime64_any_dtype(out[column]):
            raise DataValidationError(
                f"attribute column {column!r} is a date; turn it into a duration as of the feature date first"
            )
    return out
