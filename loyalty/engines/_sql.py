"""The validation and summary steps as SQL, one text for DuckDB and Spark SQL.

Each step is a named ``SELECT`` over the steps before it; an engine registers them in order (as views, or as
tables where it pays to materialise) and reads ``summary`` and the accounting counts. The definitions are
those of :func:`loyalty.data.validate_transactions` and :func:`loyalty.data.summarize`, which are the spec:

- rejects in the order of the pandas path (missing id, missing / unparseable timestamp, invalid amount or
  margin, after cut-off, exact duplicate of another row);
- returns netted into the purchases of the same ``order_id``, then of the same customer and calendar day,
  spread in proportion to the purchases' amounts; a group whose net amount is <= 0 is ``fully_returned``
  (purchases and returns), a return with no purchase is ``unmatched_return``;
- periods as integer ordinals (days since 1970-01-01, weeks ending Sunday, hours), recency and T divided by
  the periods per unit, monetary value the mean of the repeat periods' totals.

Exact duplicates are counted with one ``GROUP BY`` over all columns (``__n`` copies of each distinct row),
which is the same as pandas' ``duplicated(keep="first")``: copies are interchangeable.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..data.validate import REJECT_REASONS
from ..errors import DataValidationError
from ..units import unit_days

__all__ = ["Dialect", "DUCKDB", "SPARK", "validation_steps", "summary_steps", "accounting_queries", "period_ordinal"]

#: Row-level reasons the SQL engines check before duplicates and returns: the start of the pandas path's order.
EARLY_REASONS = REJECT_REASONS[: REJECT_REASONS.index("after_cutoff") + 1]


@dataclass(frozen=True)
class Dialect:
    """The few expressions in which DuckDB and Spark SQL differ."""

    name: str
    quote: str  # identifier quote
    timestamp_type: str  # naive timestamps: DuckDB TIMESTAMP, Spark TIMESTAMP_NTZ (no session time zone)

    def ident(self, name: str) -> str:
        return f"{self.quote}{name}{self.quote}"

    def try_double(self, expr: str) -> str:
        return f"TRY_CAST({expr} AS DOUBLE)"

    def try_timestamp(self, expr: str) -> str:
        return f"TRY_CAST({expr} AS {self.timestamp_type})"

    def days_since_epoch(self, ts: str) -> str:
        if self.name == "spark":
            return f"CAST(datediff(CAST({ts} AS DATE), DATE'1970-01-01') AS BIGINT)"
        return f"CAST(datediff('day', DATE '1970-01-01', CAST({ts} AS DATE)) AS BIGINT)"

    def double(self, value: float) -> str:
        """An exact DOUBLE literal (decimal literals would be DECIMAL and could round)."""
        return f"CAST('{float(value)!r}' AS DOUBLE)"

    def timestamp(self, value) -> str:
        return f"{self.timestamp_type} '{pd.Timestamp(value).strftime('%Y-%m-%d %H:%M:%S.%f')}'"

    def finite(self, expr: str) -> str:
        # NaN compares greater than every number in both engines, so this is false for NaN and +-inf
        return f"(abs({expr}) < {self.double(float('inf'))})"

    def min_by(self, arg: str, key: str) -> str:
        return f"min_by({arg}, {key})"


DUCKDB = Dialect("duckdb", '"', "TIMESTAMP")
SPARK = Dialect("spark", "`", "TIMESTAMP_NTZ")


def period_ordinal(d: Dialect, ts: str, period: str) -> str:
    """Integer index of a timestamp's period, equal to ``loyalty.data.summary._period_ordinal``."""
    days = d.days_since_epoch(ts)
    if period == "D":
        return days
    if period == "h":
        return f"({days} * 24 + CAST(hour({ts}) AS BIGINT))"
    # pandas' weeks end on Sunday; 1970-01-01 was a Thursday
    return f"CAST(floor(({days} + 3) / 7.0) AS BIGINT)"


@dataclass(frozen=True)
class Columns:
    """What the raw source holds: its column names and the kinds of the contract columns."""

    names: tuple[str, ...]
    id_kind: str  # "string", "integer" or "float"
    timestamp_kind: str  # "string" or "timestamp"
    has_margin: bool
    has_order_id: bool


def validation_steps(
    d: Dialect, cols: Columns, *, cutoff=None, duplicates: str = "drop", margin_rate: float | None = None
) -> list[tuple[str, str]]:
    """Steps from the raw source ``__raw`` to the clean purchases ``clean`` (returns netted) and the counts.

    Produces ``typed`` (one row per distinct raw row with ``__n`` copies and an early ``reason``),
    the netting steps, and ``clean`` (customer_id, timestamp, amount[, margin]).
    """
    q = d.ident
    all_cols = ", ".join(q(c) for c in cols.names)
    if duplicates == "drop":
        dedup = f"SELECT {all_cols}, COUNT(*) AS __n FROM __raw GROUP BY {all_cols}"
    else:
        dedup = f"SELECT {all_cols}, 1 AS __n FROM __raw"

    cid = q("customer_id")
    if cols.id_kind == "string":
        id_expr = f"NULLIF(trim({cid}), '')"
    elif cols.id_kind == "float":
        id_expr = f"CAST({cid} AS BIGINT)"
    else:
        id_expr = cid
    ts_raw = q("timestamp")
    if cols.timestamp_kind == "string":
        ts_text = f"NULLIF(trim({ts_raw}), '')"
        ts_expr = d.try_timestamp(ts_text)
        ts_missing = f"{ts_text} IS NULL"
    else:
        ts_expr = f"CAST({ts_raw} AS {d.timestamp_type})"
        ts_missing = f"{ts_raw} IS NULL"
    amount = d.try_double(q("amount"))
    if cols.has_margin:
        margin = d.try_double(q("margin"))
    elif margin_rate is not None:
        margin = f"({amount} * {d.double(margin_rate)})"
    else:
        margin = None
    order = q("order_id") if cols.has_order_id else "NULL"

    reasons = [
        f"WHEN {id_expr} IS NULL THEN 'missing_customer_id'",
        f"WHEN {ts_missing} THEN 'missing_timestamp'",
        f"WHEN {ts_expr} IS NULL THEN 'unparseable_timestamp'",
        f"WHEN {amount} IS NULL OR NOT {d.finite(amount)} THEN 'invalid_amount'",
    ]
    if cols.has_margin:
        reasons.append(f"WHEN {margin} IS NULL OR NOT {d.finite(margin)} THEN 'invalid_margin'")
    if cutoff is not None:
        reasons.append(f"WHEN {ts_expr} > {d.timestamp(cutoff)} THEN 'after_cutoff'")
    margin_select = f", {margin} AS margin" if margin is not None else ""
    typed = (
        f"SELECT {id_expr} AS customer_id, {ts_expr} AS ts, {amount} AS amount{margin_select}, "
        f"{order} AS order_id, __n, CASE {' '.join(reasons)} END AS reason FROM __dedup"
    )
    m = ", margin" if margin is not None else ""
    day = d.days_since_epoch("ts")
    steps = [
        ("__dedup", dedup),
        ("typed", typed),
        ("__ok", f"SELECT customer_id, ts, amount{m}, order_id, {day} AS pday FROM typed WHERE reason IS NULL"),
        ("__ret", "SELECT * FROM __ok WHERE amount < 0"),
        ("__pur0", "SELECT * FROM __ok WHERE amount >= 0"),
    ]
    value_cols = ["amount"] + (["margin"] if margin is not None else [])
    if cols.has_order_id:
        steps += _netting_pass(1, "order_id", "__pur0", "(SELECT * FROM __ret WHERE order_id IS NOT NULL)", value_cols)
        pending = (
            "(SELECT r.* FROM __ret r ANTI JOIN __g1 g "
            "ON r.customer_id = g.customer_id AND r.order_id = g.order_id)"
        )
        steps += _netting_pass(2, "pday", "__pur1", pending, value_cols)
        # a return netted by order whose purchases were all cancelled by the day pass goes with them
        steps.append((
            "__orphans",
            "SELECT g.customer_id, g.order_id, g.rn FROM __g1 g "
            "WHERE g.net > 0 AND NOT EXISTS (SELECT 1 FROM __pur2 p "
            "WHERE p.customer_id = g.customer_id AND p.order_id = g.order_id)",
        ))
        last = "__pur2"
    else:
        steps += _netting_pass(1, "pday", "__pur0", "__ret", value_cols)
        steps.append(("__orphans", "SELECT customer_id, 0 AS rn FROM __g1 WHERE 1 = 0"))
        last = "__pur1"
    steps.append(("clean", f"SELECT customer_id, ts, amount{m} FROM {last}"))
    return steps


def _netting_pass(k: int, key: str, purchases: str, returns: str, value_cols: list[str]) -> list[tuple[str, str]]:
    """One netting pass by (customer_id, ``key``): steps ``__r{k}`` (return groups), ``__t{k}`` (touched
    purchases, netted), ``__g{k}`` (matched groups with their net and return count) and ``__pur{k}``."""
    one = DUCKDB.double(1.0)
    on = f"p.customer_id = r.customer_id AND p.{key} = r.{key}"
    sums = ", ".join(f"SUM({c}) AS r_{c}" for c in value_cols)
    netted = ", ".join(
        f"{c} + (CASE WHEN ga > 0 THEN amount / ga ELSE {one} / gn END) * r_{c} AS {c}" for c in value_cols
    )
    return [
        (f"__r{k}", f"SELECT customer_id, {key}, {sums}, COUNT(*) AS rn FROM {returns} x GROUP BY customer_id, {key}"),
        (
            f"__t{k}",
            f"SELECT customer_id, ts, {netted}, order_id, pday, SUM(amount + (CASE WHEN ga > 0 THEN amount / ga ELSE {one} / gn END) * r_amount) "
            f"OVER (PARTITION BY customer_id, {key}) AS net FROM ("
            f"SELECT p.*, r.r_amount{''.join(f', r.r_{c}' for c in value_cols if c != 'amount')}, "
            f"SUM(p.amount) OVER (PARTITION BY p.customer_id, p.{key}) AS ga, "
            f"COUNT(*) OVER (PARTITION BY p.customer_id, p.{key}) AS gn "
            f"FROM {purchases} p JOIN __r{k} r ON {on}) x",
        ),
        (
            f"__g{k}",
            f"SELECT r.customer_id, r.{key}, r.rn, t.net, t.np FROM __r{k} r JOIN "
            f"(SELECT customer_id, {key}, MIN(net) AS net, COUNT(*) AS np FROM __t{k} GROUP BY customer_id, {key}) t "
            f"ON r.customer_id = t.customer_id AND r.{key} = t.{key}",
        ),
        (
            f"__pur{k}",
            f"SELECT p.* FROM {purchases} p ANTI JOIN __r{k} r ON {on} "
            f"UNION ALL SELECT customer_id, ts, {', '.join(value_cols)}, order_id, pday FROM __t{k} WHERE net > 0",
        ),
    ]


def accounting_queries(has_order_id: bool) -> dict[str, str]:
    """Queries whose results make the :class:`~loyalty.data.RowAccounting`."""
    passes = (1, 2) if has_order_id else (1,)
    fully = " + ".join(f"(SELECT COALESCE(SUM(rn + np), 0) FROM __g{k} WHERE net <= 0)" for k in passes)
    netted = " + ".join(f"(SELECT COALESCE(SUM(rn), 0) FROM __g{k} WHERE net > 0)" for k in passes)
    last = passes[-1]
    return {
        "early": "SELECT reason, SUM(__n) AS n, SUM(__n - 1) AS dup FROM typed GROUP BY reason",
        "netting": (
            f"SELECT {fully} AS fully_returned, {netted} AS netted, "
            "(SELECT COALESCE(SUM(rn), 0) FROM __orphans) AS orphans, "
            f"(SELECT COALESCE(SUM(r.rn), 0) FROM __r{last} r ANTI JOIN __g{last} g "
            f"ON r.customer_id = g.customer_id AND r.pday = g.pday) AS unmatched, "
            "(SELECT COUNT(*) FROM clean) AS clean_rows"
        ),
        "zero_spend": "SELECT COUNT(*) AS n FROM (SELECT customer_id FROM clean GROUP BY customer_id "
        "HAVING SUM(amount) <= 0) z",
    }


def summary_steps(
    d: Dialect, *, cutoff, period: str, unit: str, holdout_end=None, has_margin: bool, source: str = "clean"
) -> list[tuple[str, str]]:
    """Steps from a clean log ``source`` (customer_id, timestamp, amount[, margin]) to ``summary``."""
    cutoff = pd.Timestamp(cutoff)
    end = pd.Timestamp(holdout_end) if holdout_end is not None else cutoff
    periods_per_unit = d.double(unit_days(unit) / unit_days(period))
    cutoff_ordinal = _ordinal_of(cutoff, period)
    m_sum = ", SUM(margin) AS m" if has_margin else ""
    # without a holdout every row kept is in the calibration period: no flag in the (large) group key
    cal = f"ts <= {d.timestamp(cutoff)}" if holdout_end is not None else "TRUE"
    periods = (
        f"SELECT customer_id, {period_ordinal(d, 'ts', period)} AS period, {cal} AS cal, SUM(amount) AS a{m_sum} "
        f"FROM {source} WHERE ts <= {d.timestamp(end)} GROUP BY customer_id, period, cal"
    )
    m_cal = f", SUM(m) AS m_total, {d.min_by('m', 'period')} AS m_first" if has_margin else ""
    calibration = (
        f"SELECT customer_id, COUNT(*) AS n, MIN(period) AS first, MAX(period) AS last, SUM(a) AS total, "
        f"{d.min_by('a', 'period')} AS first_total{m_cal} FROM __periods WHERE cal GROUP BY customer_id"
    )
    freq = "CAST(c.n - 1 AS DOUBLE)"
    zero = d.double(0.0)
    columns = [
        f"{freq} AS frequency",
        f"CAST(c.last - c.first AS DOUBLE) / {periods_per_unit} AS recency",
        f"CAST({cutoff_ordinal} - c.first AS DOUBLE) / {periods_per_unit} AS {d.ident('T')}",
        f"CASE WHEN c.n > 1 THEN (c.total - c.first_total) / {freq} ELSE {zero} END AS monetary_value",
    ]
    if has_margin:
        columns += [
            f"CASE WHEN c.n > 1 THEN (c.m_total - c.m_first) / {freq} ELSE {zero} END AS margin_value",
            f"CASE WHEN c.total <> 0 THEN c.m_total / c.total ELSE {d.double(float('nan'))} END AS margin_rate",
        ]
    steps = [("__periods", periods), ("__calibration", calibration)]
    join = ""
    if holdout_end is not None:
        steps.append((
            "__holdout",
            "SELECT customer_id, COUNT(*) AS n, SUM(a) AS total FROM __periods WHERE NOT cal GROUP BY customer_id",
        ))
        duration = (_ordinal_of(end, period) - cutoff_ordinal) / (unit_days(unit) / unit_days(period))
        columns += [
            "CAST(COALESCE(h.n, 0) AS DOUBLE) AS frequency_holdout",
            f"CASE WHEN h.n > 0 THEN h.total / CAST(h.n AS DOUBLE) ELSE {zero} END AS monetary_holdout",
            f"{d.double(duration)} AS duration_holdout",
        ]
        join = " LEFT JOIN __holdout h ON c.customer_id = h.customer_id"
    steps.append(("summary", f"SELECT c.customer_id, {', '.join(columns)} FROM __calibration c{join}"))
    return steps


def collapse_steps(d: Dialect, source: str = "summary") -> dict[str, str]:
    """Unique (frequency, recency, T) and repeat customers' (frequency, monetary_value) with ``weights``."""
    t = d.ident("T")
    return {
        "bgnbd": f"SELECT frequency, recency, {t}, COUNT(*) AS weights FROM {source} GROUP BY frequency, recency, {t} "
        f"ORDER BY frequency, recency, {t}",
        "gamma_gamma": f"SELECT frequency, monetary_value, COUNT(*) AS weights FROM {source} WHERE frequency > 0 "
        "GROUP BY frequency, monetary_value ORDER BY frequency, monetary_value",
    }


def _ordinal_of(timestamp: pd.Timestamp, period: str) -> int:
    from ..data.summary import _period_ordinal

    return int(_period_ordinal(pd.Series([timestamp]), period)[0])


def row_accounting(early: list[tuple], netting: dict, zero_spend: int):
    """The :class:`~loyalty.data.RowAccounting` from the results of :func:`accounting_queries`."""
    from ..data.validate import RowAccounting

    counts: dict[str, int] = {}
    rows_read = 0
    for reason, n, dup in early:
        rows_read += int(n)
        if reason is None:
            counts["duplicate_row"] = int(dup)
        else:
            counts[reason] = int(n)
    orphans = int(netting["orphans"])
    counts["fully_returned"] = int(netting["fully_returned"]) + orphans
    counts["unmatched_return"] = int(netting["unmatched"])
    returns_netted = int(netting["netted"]) - orphans
    rejected = {name: counts[name] for name in REJECT_REASONS if counts.get(name, 0) > 0}
    notes = {"zero_spend_customers_kept": int(zero_spend)} if zero_spend else {}
    accounting = RowAccounting(
        rows_read=rows_read,
        rows_used=int(netting["clean_rows"]) + returns_netted,
        returns_netted=returns_netted,
        rejected=rejected,
        notes=notes,
    )
    if accounting.rows_read != accounting.rows_used + accounting.rows_rejected:  # pragma: no cover
        raise AssertionError(f"row accounting does not add up: {accounting}")
    return accounting


@dataclass(frozen=True)
class SourceColumns:
    """The raw source's columns: ``rename`` maps contract names to the source's, ``contract`` their kinds."""

    rename: dict
    contract: Columns


def columns_from_types(types: dict[str, str], mapping: dict | None = None) -> SourceColumns:
    """Column kinds from ``{name: SQL type}`` (DuckDB or Spark type names), after the contract mapping."""
    from ..data.contract import OPTIONAL_COLUMNS, REQUIRED_COLUMNS

    mapping = dict(mapping or {})
    unknown = set(mapping) - set(REQUIRED_COLUMNS) - set(OPTIONAL_COLUMNS)
    if unknown:
        raise DataValidationError(f"column mapping names unknown contract columns {sorted(unknown)}")
    absent = {k: v for k, v in mapping.items() if v not in types}
    if absent:
        raise DataValidationError(f"column mapping refers to columns not in the data: {absent}; data has {list(types)}")
    source_of = {v: k for k, v in mapping.items()}
    renamed = {source_of.get(name, name): name for name in types}
    for name in REQUIRED_COLUMNS:
        if name not in renamed:
            raise DataValidationError(
                f"Required column {name!r} missing; data has columns {list(types)}. "
                f"Map yours with columns={{{name!r}: '<your column>'}}."
            )
    kind = {k: types[v].lower() for k, v in renamed.items()}

    def is_text(t):
        return t in ("varchar", "string") or t.startswith("varchar")

    id_type = kind["customer_id"]
    id_kind = "string" if is_text(id_type) else "float" if id_type in ("double", "float", "real") else "integer"
    ts_type = kind["timestamp"]
    if "time zone" in ts_type or ts_type in ("timestamptz",):
        raise DataValidationError(
            f"column 'timestamp' is time-zone-aware ({ts_type}); the SQL engines take naive timestamps: "
            "convert to one zone first, or use engine='pandas'"
        )
    if ts_type.startswith(("bigint", "int", "double", "float", "long")):
        raise DataValidationError(f"column 'timestamp' is numeric ({ts_type}); convert it to dates first")
    contract = Columns(
        names=tuple(renamed),
        id_kind=id_kind,
        timestamp_kind="string" if is_text(ts_type) else "timestamp",
        has_margin="margin" in renamed,
        has_order_id="order_id" in renamed,
    )
    return SourceColumns(renamed, contract)


def rename_select(d: Dialect, cols: SourceColumns) -> str:
    """The select list giving the source's columns their contract names."""
    return ", ".join(
        d.ident(source) if source == name else f"{d.ident(source)} AS {d.ident(name)}"
        for name, source in cols.rename.items()
    )


def trusted_clean(d: Dialect, cols: Columns, margin_rate: float | None) -> str:
    """``clean`` straight from ``__raw`` for a log already validated (no checks: fastest path)."""
    margin = ""
    if cols.has_margin:
        margin = f", CAST({d.ident('margin')} AS DOUBLE) AS margin"
    elif margin_rate is not None:
        margin = f", CAST({d.ident('amount')} AS DOUBLE) * {d.double(margin_rate)} AS margin"
    return (
        f"SELECT {d.ident('customer_id')} AS customer_id, CAST({d.ident('timestamp')} AS {d.timestamp_type}) AS ts, "
        f"CAST({d.ident('amount')} AS DOUBLE) AS amount{margin} FROM __raw"
    )
