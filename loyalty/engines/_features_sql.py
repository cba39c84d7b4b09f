"""Point-in-time features (:func:`loyalty.data.features.build_features`) as DuckDB SQL aggregates.

The definitions are those of the pandas implementation, which is the spec: purchases are rows with
``timestamp <= as_of`` and ``amount >= 0``; a purchase day is a (customer, calendar day); durations are in
days from ``as_of``. Everything is one aggregation per customer over the rows, one over the purchase days
(``day - LAG(day)`` gives the gaps between them) and one for the spend trend (centred on each customer's mean
day, as the pandas code does, so the slopes agree to rounding).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..units import DAYS_PER_YEAR
from ._sql import DUCKDB

__all__ = ["feature_query"]

_US_PER_DAY = 86400 * 10**6


def feature_query(source: str, as_of, windows: Sequence[int], *, has_margin: bool, has_discount: bool,
                  returns: str | None = None) -> str:
    """One ``SELECT`` of every customer's features from the contract log ``source`` (customer_id, timestamp,
    amount[, margin][, discount]); ``returns`` is an optional separate log of returns (sign ignored)."""
    as_of = pd.Timestamp(as_of)
    as_of_sql = DUCKDB.timestamp(as_of)
    as_of_us = as_of.value // 1000
    as_of_day = as_of.value // (_US_PER_DAY * 1000)
    extra = (", margin" if has_margin else "") + (", discount" if has_discount else "")
    rows = (
        f"SELECT customer_id, amount{extra}, epoch_us(timestamp) AS us, "
        f"CAST(CAST(timestamp AS DATE) - DATE '1970-01-01' AS BIGINT) AS day "
        f"FROM {source} WHERE timestamp <= {as_of_sql}"
    )
    row_windows = "".join(
        f", COALESCE(SUM(amount) FILTER (WHERE {as_of_us} - us < {w * _US_PER_DAY}), 0) AS spend_{w}d"
        for w in windows
    )
    day_windows = "".join(f", COUNT(*) FILTER (WHERE {as_of_day} - day < {w}) AS n_purchases_{w}d" for w in windows)
    shares = (", SUM(margin) AS margin_total" if has_margin else "") + (
        ", SUM(discount) AS discount_total" if has_discount else "")
    if returns is not None:
        returned = (f"SELECT customer_id, SUM(abs(amount)) AS returned FROM {returns} "
                    f"WHERE timestamp <= {as_of_sql} GROUP BY customer_id")
        any_returns = "TRUE"
    else:
        returned = "SELECT customer_id, SUM(-amount) AS returned FROM __rows WHERE amount < 0 GROUP BY customer_id"
        any_returns = f"EXISTS (SELECT 1 FROM {source} WHERE amount < 0)"

    nan = DUCKDB.double(float("nan"))

    def share(total: str) -> str:
        return f"CASE WHEN r.spend_total <> 0 THEN {total} / r.spend_total ELSE {nan} END"

    recency = f"({as_of_us} - r.last_us) / {float(_US_PER_DAY)!r}"
    tenure = f"({as_of_us} - r.first_us) / {float(_US_PER_DAY)!r}"
    mean_gap = "(CASE WHEN d.gap_n > 0 THEN d.gap_sum / d.gap_n END)"
    columns = [
        f"{recency} AS recency_days",
        f"{tenure} AS tenure_days",
        "CAST(d.n_days - 1 AS DOUBLE) AS frequency",
        "CAST(r.n_transactions AS DOUBLE) AS n_transactions",
        f"d.n_days / greatest({tenure}, 1.0) * {DAYS_PER_YEAR!r} AS purchase_rate_per_year",
        "r.spend_total", "r.spend_total / d.n_days AS spend_mean", "d.spend_last",
    ]
    for w in windows:
        columns += [f"CAST(d.n_purchases_{w}d AS DOUBLE) AS n_purchases_{w}d", f"r.spend_{w}d"]
    columns += [
        f"{mean_gap} AS ipt_mean_days",
        f"CASE WHEN d.gap_n > 1 THEN sqrt(greatest((d.gap_sq - d.gap_n * {mean_gap} * {mean_gap}) "
        "/ (d.gap_n - 1), 0.0)) END AS ipt_std_days",
        "CAST(d.ipt_last AS DOUBLE) AS ipt_last_days",
        f"{recency} / {mean_gap} AS overdue_ratio",
        f"CASE WHEN t.sxx > 0 THEN t.sxy / t.sxx END * {DAYS_PER_YEAR!r} AS spend_trend_per_year",
    ]
    if has_margin:
        columns.append(f"{share('r.margin_total')} AS margin_share")
    if has_discount:
        columns.append(f"{share('r.discount_total')} AS discount_share")
    columns.append(
        f"CASE WHEN NOT {any_returns} THEN {nan} WHEN r.spend_total > 0 "
        f"THEN COALESCE(x.returned, 0.0) / r.spend_total ELSE {nan} END AS returns_share"
    )
    return f"""
WITH __rows AS ({rows}),
__purchases AS (SELECT * FROM __rows WHERE amount >= 0),
__days AS (
    SELECT customer_id, day, a, day - LAG(day) OVER (PARTITION BY customer_id ORDER BY day) AS gap
    FROM (SELECT customer_id, day, SUM(amount) AS a FROM __purchases GROUP BY customer_id, day) p
),
__by_day AS (
    SELECT customer_id, COUNT(*) AS n_days, max_by(a, day) AS spend_last, COUNT(gap) AS gap_n,
           CAST(SUM(gap) AS DOUBLE) AS gap_sum, CAST(SUM(gap * gap) AS DOUBLE) AS gap_sq,
           max_by(gap, day) AS ipt_last, CAST(SUM(day) AS DOUBLE) AS day_sum, SUM(a) AS a_sum{day_windows}
    FROM __days GROUP BY customer_id
),
__trend AS (
    SELECT p.customer_id,
           SUM((p.day - b.day_sum / b.n_days) * (p.a - b.a_sum / b.n_days)) AS sxy,
           SUM((p.day - b.day_sum / b.n_days) * (p.day - b.day_sum / b.n_days)) AS sxx
    FROM __days p JOIN __by_day b ON p.customer_id = b.customer_id GROUP BY p.customer_id
),
__by_row AS (
    SELECT customer_id, MIN(us) AS first_us, MAX(us) AS last_us, COUNT(*) AS n_transactions,
           SUM(amount) AS spend_total{shares}{row_windows}
    FROM __purchases GROUP BY customer_id
),
__returned AS ({returned})
SELECT r.customer_id, {', '.join(columns)}
FROM __by_row r JOIN __by_day d ON r.customer_id = d.customer_id JOIN __trend t ON r.customer_id = t.customer_id
LEFT JOIN __returned x ON r.customer_id = x.customer_id
ORDER BY r.customer_id
"""
