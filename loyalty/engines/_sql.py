"""The validation and summary steps as SQL, one text for DuckDB and Spark SQL.

Each step is a named ``SELECT`` over the steps before it; an engine registers them in order (as views, or as
tables where it pays to materialise) and reads ``summary`` and the accounting counts. The definitions are
those of :func:`loyalty.data.validate_transactions` and :func:`loyalty.data.summarize`, which are the spec:

- rejects in the order of the pandas path (missing id, missing / unparseable timestamp, invalid amount or
  margin, after cut-off, exact duplicate of another row);
- returns netted into the purchases of the same ``order_id``, then of the same customer and calendar day,
  spread in proportion to the purchases' amounts; a group whose net amount is below ``rules.MONEY_ZERO`` is ``fully_returned``
  (purchases and returns), a return with no purchase is ``unmatched_return``;
- periods as integer ordinals (days since 1970-01-01, weeks ending Sunday, hours), recency and T divided by
  the periods per unit, monetary value the mean of the repeat periods' totals.

Exact duplicates are found with a ``GROUP BY`` over a hash of all columns, then one over all columns of the few
rows whose hash repeats (``__n`` copies of each distinct row),
which is the same as pandas' ``duplicated(keep="first")``: copies are interchangeable. Only the rows with
copies are kept from it; the log itself is read as it is, and the extra copies subtracted. Returns, and the
purchases they can net into, are a small part of a log: they are set aside and netted on their own, so no
join or window function runs over the whole log (see :func:`validation_steps`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import pandas as pd

from ..data.contract import OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from ..data import rules
from ..data.rules import period_end
from ..data.validate import REJECT_REASONS
from ..data.contract import rows
from ..errors import DataValidationError
from ..units import unit_days

__all__ = [
    "Dialect", "DUCKDB", "SPARK", "Step", "typed_columns", "validation_steps", "summary_steps", "accounting_queries",
    "rejected_rows_query",
    "period_ordinal",
]

@dataclass(frozen=True)
class Dialect:
    """The few expressions in which DuckDB and Spark SQL differ."""

    name: str
    quote: str  # identifier quote
    timestamp_type: str  # naive timestamps: DuckDB TIMESTAMP, Spark TIMESTAMP_NTZ (no session time zone)

    def ident(self, name: str) -> str:
        """``name`` as a quoted identifier, whatever it holds: an embedded quote character is doubled (the escape
        of both DuckDB's ``"`` and Spark's backtick), so a column name is never read as SQL text."""
        name = str(name)
        if "\x00" in name:
            raise DataValidationError(f"column name {name!r} contains a NUL character; rename the column")
        return self.quote + name.replace(self.quote, self.quote * 2) + self.quote

    def try_double(self, expr: str) -> str:
        return f"TRY_CAST({expr} AS DOUBLE)"

    def text(self, value: str) -> str:
        """A string literal of one of the rules' constants (quotes doubled; they hold no backslash)."""
        assert "\\" not in value
        return "'" + value.replace("'", "''") + "'"

    def strip(self, expr: str) -> str:
        """``expr`` without :data:`rules.WHITESPACE` at either end. Trimmed only where an end may be whitespace
        (an ASCII control or space, or a character from U+0085 up: every whitespace character is one of these):
        trimming every value costs ten times more than the test. Both engines compare text by its UTF-8 bytes,
        which order as the code points, so the first character is tested on the whole value (``expr < '!'``
        exactly when the first character is below ``!``), with no substring; the last with one ``right``."""
        ws = self.text(rules.WHITESPACE)
        trim = f"trim({expr}, {ws})" if self.name == "duckdb" else f"trim(BOTH {ws} FROM {expr})"
        test = (f"{expr} < '!' OR {expr} >= '\u0085' OR "
                f"NOT (right({expr}, 1) BETWEEN '!' AND '\u0084')")
        return f"(CASE WHEN {test} THEN {trim} ELSE {expr} END)"

    def not_blank(self, expr: str) -> str:
        """``expr`` is not NULL and keeps a character after :meth:`strip`: a byte comparison where its first
        character cannot be whitespace (see :meth:`strip`), which engines push into scans; trimmed otherwise."""
        ws = self.text(rules.WHITESPACE)
        trim = f"trim({expr}, {ws})" if self.name == "duckdb" else f"trim(BOTH {ws} FROM {expr})"
        # a CASE, not OR: engines evaluate both sides of an OR pushed into a scan, and trimming every value
        # by a set of characters costs more than the rest of the scan
        return f"(CASE WHEN {expr} >= '!' AND {expr} < '\u0085' THEN TRUE ELSE {trim} <> '' END)"

    def full_match(self, expr: str, pattern: str) -> str:
        if self.name == "spark":
            return f"({expr} RLIKE {self.text('^(?:' + pattern + ')$')})"
        return f"regexp_full_match({expr}, {self.text(pattern)})"

    def extract(self, expr: str, pattern: str, group: int) -> str:
        """Group ``group`` of ``expr`` matched whole by ``pattern``; NULL when it does not match."""
        return f"NULLIF(regexp_extract({expr}, {self.text('^(?:' + pattern + ')$')}, {int(group)}), '')"

    def add_minutes(self, ts: str, minutes: str) -> str:
        if self.name == "spark":
            return f"timestampadd(MINUTE, {minutes}, {ts})"
        return f"({ts} + to_minutes(CAST({minutes} AS BIGINT)))"

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

    def money(self, expr: str) -> str:
        """``expr`` as money: an exact decimal (:data:`rules.MONEY_SQL_TYPE`), NULL where it does not fit (values
        that fit are those :meth:`is_money` accepts)."""
        return f"TRY_CAST({expr} AS {rules.MONEY_SQL_TYPE})"

    def is_money(self, expr: str) -> str:
        """A DOUBLE ``expr`` is a money value: finite and below :data:`rules.MONEY_MAX` in magnitude (false for NaN,
        which compares greater than every number in both engines)."""
        return f"(abs({expr}) < {self.double(rules.MONEY_MAX)})"

    def min_by(self, arg: str, key: str) -> str:
        return f"min_by({arg}, {key})"

    def repeat_rows(self, table: str, times: str) -> str:
        """Each row of ``table`` ``times`` times (an expression of its columns)."""
        if self.name == "spark":
            return f"SELECT t.* FROM {table} t LATERAL VIEW explode(sequence(1, {times})) s AS __copy WHERE {times} > 0"
        return f"SELECT t.* FROM {table} t, range(CAST({times} AS BIGINT)) s"

    def row_hash(self, columns: str) -> str:
        """A 64-bit hash of a row's ``columns`` (equal rows hash alike; NULLs included)."""
        return f"xxhash64({columns})" if self.name == "spark" else f"hash({columns})"

    def same(self, a: str, b: str) -> str:
        """Equality with NULL equal to NULL, as in ``GROUP BY``."""
        return f"{a} <=> {b}" if self.name == "spark" else f"{a} IS NOT DISTINCT FROM {b}"


DUCKDB = Dialect("duckdb", '"', "TIMESTAMP")
#: :data:`loyalty.data.rules.MONEY_ZERO` as a DOUBLE literal of both dialects.
_MONEY_ZERO = f"CAST('{rules.MONEY_ZERO!r}' AS DOUBLE)"
SPARK = Dialect("spark", "`", "TIMESTAMP_NTZ")


def period_key(d: Dialect, ts: str, period: str) -> tuple[str, str]:
    """A timestamp's period as a group key, and the expression that turns a key ``{key}`` into the period
    ordinal of :func:`period_ordinal`. DuckDB groups days by DATE, a narrower key than the ordinal."""
    if d.name == "duckdb" and period == "D":
        return f"CAST({ts} AS DATE)", "CAST({key} - DATE '1970-01-01' AS BIGINT)"
    return period_ordinal(d, ts, period), "{key}"


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
    text_columns: frozenset = frozenset()  # contract columns held as text (numbers then parsed by the rules)


class Step(NamedTuple):
    """A named ``SELECT``; ``table`` marks the small results several later queries read (an engine
    materialises them, and streams the rest as views)."""

    name: str
    sql: str
    table: bool = False


class Typed(dict):
    """The contract values of a raw row (``customer_id``, ``ts``, ``amount``, ``margin``, ``order_id``,
    ``pday``), the kinds of its timestamp text (``tz``, ``tzoff``, ``tstext``), its early reject ``reason`` and
    ``valid`` (no reason), as expressions over :meth:`relation`: the raw columns with intermediate values computed
    in ``layers``, each once (written inline, the expressions would repeat one another many times over)."""

    def __init__(self, columns: dict[str, str], layers: list[list[tuple[str, str]]]):
        super().__init__(columns)
        self.layers = [layer for layer in layers if layer]

    def relation(self, source: str, needed: bool = False) -> str:
        """``source`` (a table, or a subquery with its alias) with the intermediate columns, as a subquery;
        ``needed``: only those the contract values and ``valid`` read (not the timestamp text's kinds, which only
        the reject counts read)."""
        sql = f"SELECT * FROM {source}"
        for i, layer in enumerate(self.layers):
            if needed:
                layer = [(name, expr) for name, expr in layer if name not in ("__v_tstext", "__v_tz")]
                if not layer:
                    continue
            sql = f"SELECT *, {', '.join(f'{expr} AS {name}' for name, expr in layer)} FROM ({sql}) __l{i}"
        return f"({sql})"


def typed_columns(
    d: Dialect, cols: Columns, *, cutoff=None, margin_rate: float | None = None, date_format: str | None = None
) -> Typed:
    """The contract values of a raw row and its early reject ``reason`` (see :class:`Typed`), following
    :mod:`loyalty.data.rules` (the pandas validator's definitions). Besides the contract values: ``tz`` (the
    timestamp text's kind: ``aware``, ``naive``, ``slash``, or NULL) and ``tzoff`` (its offset)."""
    q = d.ident
    cid = q("customer_id")
    null_text = "CAST(NULL AS STRING)" if d.name == "spark" else "CAST(NULL AS VARCHAR)"
    if cols.id_kind == "string":
        id_expr = f"NULLIF({d.strip(cid)}, '')"
    elif cols.id_kind == "float":  # fractional ids are an error found before (see fractional_ids)
        id_expr = f"(CASE WHEN isnan({cid}) THEN NULL ELSE CAST({cid} AS BIGINT) END)"
    else:
        id_expr = cid
    ts_raw = q("timestamp")

    def number(name: str) -> str:
        if name not in cols.text_columns:
            return d.try_double(q(name))
        text = d.strip(q(name))
        return f"(CASE WHEN {d.full_match(text, rules.NUMBER)} THEN {d.try_double(text)} END)"

    first = [("__v_id", id_expr), ("__v_amount", number("amount")),
             ("__v_tstext", f"CAST({ts_raw} AS {'STRING' if d.name == 'spark' else 'VARCHAR'})")]
    if cols.has_margin:
        first.append(("__v_margin", number("margin")))
    low, high = rules.YEARS
    layers = [first]
    if cols.timestamp_kind == "string":
        first.append(("__v_text", f"NULLIF({d.strip(ts_raw)}, '')"))
        layers += _timestamp_layers(d, date_format)
        year = "TRY_CAST(substr(__v_local, 1, 4) AS INT)"
        sign = "(CASE WHEN __v_off LIKE '-%' THEN -1 ELSE 1 END)"
        hours = "COALESCE(TRY_CAST(NULLIF(substr(__v_off, 2, 2), '') AS INT), 0)"
        minutes = "COALESCE(TRY_CAST(NULLIF(substr(replace(__v_off, ':', ''), 4, 2), '') AS INT), 0)"
        layers.append([("__v_oor", f"COALESCE({year} < {low} OR {year} > {high}, FALSE)"),
                       ("__v_parsed", d.try_timestamp("__v_local"))])
        utc = d.add_minutes("__v_parsed", f"-{sign} * ({hours} * 60 + {minutes})")
        layers.append([("__v_ts",
                        f"(CASE WHEN __v_oor THEN NULL WHEN __v_off IS NULL THEN __v_parsed ELSE {utc} END)")])
        ts_missing = "__v_text IS NULL"
        tz, tz_offset = "__v_tz", "__v_off"
        ts_valid = "__v_ts"
        in_range = None
    else:
        typed_ts = f"CAST({ts_raw} AS {d.timestamp_type})"
        in_range = (f"{typed_ts} >= {d.timestamp(pd.Timestamp(year=low, month=1, day=1))} AND "
                    f"{typed_ts} < {d.timestamp(pd.Timestamp(year=high + 1, month=1, day=1))}")
        first += [("__v_oor", f"COALESCE(NOT ({in_range}), FALSE)"),
                  ("__v_ts", f"(CASE WHEN {in_range} THEN {typed_ts} END)")]
        ts_missing = f"{ts_raw} IS NULL"
        tz = tz_offset = null_text
        ts_valid = typed_ts  # on the raw column (with the range below), so that engines push it into scans
    amount = "__v_amount"
    if cols.has_margin:
        margin = "__v_margin"
    elif margin_rate is not None:
        margin = f"(__v_amount * {d.double(margin_rate)})"
    else:
        margin = None
    # the checks read the DOUBLE values; the contract's money columns are exact decimals (see rules: money)
    reasons = [
        "WHEN __v_id IS NULL THEN 'missing_customer_id'",
        f"WHEN {ts_missing} THEN 'missing_timestamp'",
        "WHEN __v_ts IS NULL AND NOT __v_oor THEN 'unparseable_timestamp'",
        "WHEN __v_ts IS NULL THEN 'timestamp_out_of_range'",
        f"WHEN {amount} IS NULL OR NOT {d.is_money(amount)} THEN 'invalid_amount'",
    ]
    # the same test as "no reason", as a conjunction the engines evaluate (and push into scans) cheaply:
    # the most selective test first
    cutoff = None if cutoff is None else period_end(cutoff)
    valid = [f"{ts_valid} <= {d.timestamp(cutoff)}" if cutoff is not None else f"{ts_valid} IS NOT NULL"]
    if in_range is not None:
        valid.append(in_range)
    valid.append(d.is_money(amount))
    if cols.has_margin:
        reasons.append(f"WHEN {margin} IS NULL OR NOT {d.is_money(margin)} THEN 'invalid_margin'")
        valid.append(d.is_money(margin))
    if cutoff is not None:
        reasons.append(f"WHEN __v_ts > {d.timestamp(cutoff)} THEN 'after_cutoff'")
    # on the raw text where it can be: the stripped id is then computed once, for the rows kept, not in the filter
    valid.append(d.not_blank(cid) if cols.id_kind == "string" else "__v_id IS NOT NULL")
    columns = {"customer_id": "__v_id", "ts": "__v_ts", "amount": d.money(amount)}
    if margin is not None:
        columns["margin"] = d.money(margin)
    columns["order_id"] = q("order_id") if cols.has_order_id else "NULL"
    columns["pday"] = d.days_since_epoch("__v_ts")
    columns["tz"] = tz
    columns["tzoff"] = tz_offset
    columns["tstext"] = "__v_tstext"
    columns["reason"] = f"CASE {' '.join(reasons)} END"
    columns["valid"] = " AND ".join(f"({v})" for v in valid)  # NULL or false where reason is not NULL
    return Typed(columns, layers)


def _timestamp_layers(d: Dialect, date_format: str | None) -> list[list[tuple[str, str]]]:
    """Layers from the stripped timestamp text ``__v_text`` to ``__v_local`` (the local date and time as ISO text,
    NULL when the text has not the accepted form), ``__v_off`` (the UTC offset, NULL when naive) and ``__v_tz``
    (``aware``, ``naive``, ``slash`` or NULL), as in :func:`loyalty.data.validate._timestamp_parts`."""
    text = "__v_text"
    null_text = "CAST(NULL AS STRING)" if d.name == "spark" else "CAST(NULL AS VARCHAR)"
    if date_format is not None:
        pattern, fields = rules.format_regex(date_format)
        groups = [(f"__v_f_{name}", d.extract(text, pattern, i + 1)) for i, name in enumerate(fields)]

        def field(name, width):
            return f"lpad(__v_f_{name}, {width}, '0')" if name in fields else f"'{'0' * width}'"

        fraction = "rpad(__v_f_fraction, 6, '0')" if "fraction" in fields else "'000000'"
        local = (f"concat({field('year', 4)}, '-', {field('month', 2)}, '-', {field('day', 2)}, ' ', "
                 f"{field('hour', 2)}, ':', {field('minute', 2)}, ':', {field('second', 2)}, '.', {fraction})")
        return [groups, [("__v_local", f"(CASE WHEN __v_f_year IS NOT NULL THEN {local} END)"),
                         ("__v_off", null_text),
                         ("__v_tz", "(CASE WHEN __v_f_year IS NOT NULL THEN 'naive' END)")]]
    basic = (f"(CASE WHEN {d.full_match(text, rules.ISO_BASIC_DATE)} THEN concat(substr({text}, 1, 4), '-', "
             f"substr({text}, 5, 2), '-', substr({text}, 7, 2)) ELSE {text} END)")
    return [
        [("__v_basic", basic), ("__v_slash", d.full_match(text, rules.SLASH_DATE))],
        [("__v_local", d.extract("__v_basic", rules.ISO_TIMESTAMP, 1)),
         ("__v_off", d.extract("__v_basic", rules.ISO_TIMESTAMP, 2))],
        [("__v_tz", "(CASE WHEN __v_slash THEN 'slash' WHEN __v_local IS NULL THEN NULL "
                    "WHEN __v_off IS NOT NULL THEN 'aware' ELSE 'naive' END)")],
    ]


def _typed_select(typed: Typed, source: str, extra: str = "", where: str = "", raw: str = "") -> str:
    """The typed values of ``source``'s rows (and ``extra``, ``raw``: more columns of it)."""
    columns = ", ".join(f"{expr} AS {name}" for name, expr in typed.items() if name != "valid")
    return (f"SELECT {columns}{extra}{raw} FROM {typed.relation(source)} __s"
            + (f" WHERE {where}" if where else ""))


def _carried(d: Dialect, cols: Columns) -> tuple[str, list[str]]:
    """The raw columns as carried through the netting steps (``, "amount" AS __o2, ...``, so that the rows netting
    rejects are written as they were read), and their names there."""
    names = [f"__o{i}" for i in range(len(cols.names))]
    return "".join(f", {d.ident(c)} AS {n}" for c, n in zip(cols.names, names)), names


def validation_steps(
    d: Dialect, cols: Columns, *, cutoff=None, duplicates: str = "drop", margin_rate: float | None = None,
    date_format: str | None = None,
) -> list[Step]:
    """Steps from the raw source ``__raw`` to ``clean``: the valid purchases, returns netted, duplicates out.

    Besides ``clean`` itself (read once, by the summary) and the reject counts (``GROUP BY reason`` over the
    view ``typed``), three steps read every row (one only to find the returns); everything else is small:

    - ``__dup_h`` and ``__selected`` (``duplicates="drop"``): a ``GROUP BY`` of the valid rows' hashes finds the
      hashes of rows with copies; a second pass keeps the rows with those hashes, the returns and the purchases of
      the customers with a return (``__ret_customers``, from a scan of the returns only). Grouped by all raw
      columns, the first two make ``__kept``: the rows with copies (``__dup``) and the returns (``__ret``), each
      distinct row with its ``__n`` copies;
    - ``__returner_rows``: the valid purchases of the customers with a return (``__selected``; with
      ``duplicates="keep"``, a semi join on the id), made
      distinct (``__touched``) by setting the copies found in ``__dup`` aside. Of these, the purchases sharing
      an order or a day with a return (``__near``) go through the netting passes (``__pur_last``: what is left
      of them); the others (``__far``) are kept as they are;
    - ``clean``: every valid purchase of the other customers straight from the log, plus rows of
      ``-(n - 1) * amount`` for their duplicated rows (so no pass removes copies row by row), ``__pur_last``
      and ``__far``.

    Frequency, recency and T only depend on which periods have a purchase, which copies never change; money is
    summed in another order than pandas' (equal to rounding). A customer's spend only reaches 0 if all their
    purchases are 0, whatever the order, so the zero-spend count is exact.
    """
    q = d.ident
    all_cols = ", ".join(q(c) for c in cols.names)
    typed = typed_columns(d, cols, cutoff=cutoff, margin_rate=margin_rate, date_format=date_format)
    valid, amount = typed["valid"], "__v_amount"  # the amount as a DOUBLE, for the tests of its sign
    raw, carried = _carried(d, cols)
    carry = "".join(f", {n}" for n in carried)
    m = ", margin" if "margin" in typed else ""
    drop = duplicates == "drop"

    of_valid = f"{typed.relation('__raw')} __r WHERE {valid}"
    if drop:
        # the valid rows with copies, and the returns, each distinct row with its number of copies. Grouping every
        # row by all its columns is the costliest step there is; grouping one 64-bit hash of them is cheaper, and
        # finds every row with copies (copies have one hash) and a few more (collisions, then told apart by the
        # exact GROUP BY over the few rows it keeps). The same pass keeps the purchases of the customers with a
        # return (found first, by a scan of the returns only), so that no other pass reads every valid row
        row_hash = d.row_hash(all_cols)
        x_cols = ", ".join(f"x.{q(c)}" for c in cols.names)
        selected = (
            f"SELECT {x_cols}, h.__h IS NOT NULL OR x.{amount} < 0 AS __keep, "
            f"c.customer_id IS NOT NULL AND x.{amount} >= 0 AS __returner "
            f"FROM (SELECT *, {row_hash} AS __h, {typed['customer_id']} AS __cid FROM {of_valid}) x "
            "LEFT JOIN __dup_h h ON x.__h = h.__h LEFT JOIN __ret_customers c ON x.__cid = c.customer_id "
            f"WHERE h.__h IS NOT NULL OR x.{amount} < 0 OR c.customer_id IS NOT NULL"
        )
        steps = [
            Step("__ret_customers", f"SELECT DISTINCT {typed['customer_id']} AS customer_id FROM {of_valid} "
                                    f"AND {amount} < 0", True),
            Step("__dup_h", f"SELECT __h FROM (SELECT {row_hash} AS __h FROM {of_valid}) x GROUP BY __h "
                            "HAVING COUNT(*) > 1", True),
            Step("__selected", selected, True),
            Step("__kept", f"SELECT {all_cols}, COUNT(*) AS __n FROM __selected WHERE __keep GROUP BY {all_cols}", True),
            # every valid purchase of a customer with a return (netting only changes these)
            Step("__returner_rows", f"SELECT {all_cols} FROM __selected WHERE __returner", True),
            Step("__dup_raw", "SELECT * FROM __kept WHERE __n > 1", True),
            Step("__dup", _typed_select(typed, "__dup_raw", ", __n")),
            Step("__ret", _typed_select(typed, "__kept", ", __n", where=f"{amount} < 0", raw=raw), True),
        ]
    else:
        steps = [
            Step("__ret", _typed_select(typed, "__raw", ", 1 AS __n", where=f"{valid} AND {amount} < 0", raw=raw),
                 True),
            Step("__ret_customers", "SELECT DISTINCT customer_id FROM __ret", True),
            # every valid purchase of a customer with a return (netting only changes these)
            Step("__returner_rows", (
                f"SELECT {all_cols} FROM (SELECT {all_cols}, {typed['customer_id']} AS customer_id_ "
                f"FROM {of_valid} AND {amount} >= 0) r SEMI JOIN __ret_customers c ON r.customer_id_ = c.customer_id"
            ), True),
        ]
    steps.append(Step("typed", _typed_select(typed, "__raw")))
    of_returners = "SELECT * FROM __returner_rows"
    if drop:
        same = " AND ".join(d.same(f"k.{q(c)}", f"u.{q(c)}") for c in cols.names)
        touched_rows = (
            f"(SELECT {all_cols}, 1 AS __n FROM ({of_returners}) k ANTI JOIN __dup_raw u ON {same} "
            f"UNION ALL SELECT {', '.join('u.' + q(c) for c in cols.names)}, u.__n FROM {typed.relation('__dup_raw')} u "
            f"SEMI JOIN __ret_customers c ON u.__v_id = c.customer_id WHERE u.__v_amount >= 0) x"
        )
    else:
        touched_rows = f"(SELECT {all_cols}, 1 AS __n FROM ({of_returners}) k) x"
    steps.append(Step("__touched", _typed_select(typed, touched_rows, ", __n", raw=raw), True))
    # of these, netting can only change the purchases sharing an order or a day with a return: it runs on
    # those (``__near``); the others (``__far``) go to ``clean`` as they are
    key_joins = "LEFT JOIN __rkey_d kd ON t.customer_id = kd.customer_id AND t.pday = kd.pday"
    apart = "kd.customer_id IS NULL"
    steps.append(Step("__rkey_d", "SELECT DISTINCT customer_id, pday FROM __ret", True))
    if cols.has_order_id:
        steps.append(Step("__rkey_o", "SELECT DISTINCT customer_id, order_id FROM __ret WHERE order_id IS NOT NULL",
                          True))
        key_joins += " LEFT JOIN __rkey_o ko ON t.customer_id = ko.customer_id AND t.order_id = ko.order_id"
        apart += " AND ko.customer_id IS NULL"
    steps += [
        Step("__near", f"SELECT t.* FROM __touched t {key_joins} WHERE NOT ({apart})", True),
        Step("__far", f"SELECT t.* FROM __touched t {key_joins} WHERE {apart}"),
        Step("__pur0", f"SELECT customer_id, ts, amount{m}, order_id, pday{carry} FROM __near"),
        Step("__ret0", f"SELECT customer_id, ts, amount{m}, order_id, pday{carry} FROM __ret"),
    ]
    value_cols = ["amount"] + (["margin"] if "margin" in typed else [])
    # the rows netting rejects, as they were read (their raw columns), with the reason
    row = ", ".join(f"x.{n}" for n in carried)

    def rejected(rows: str, groups: str, key: str, reason: str, join: str = "SEMI") -> str:
        return (f"SELECT {row}, '{reason}' AS reason FROM {rows} x {join} JOIN {groups} g "
                f"ON x.customer_id = g.customer_id AND x.{key} = g.{key}")

    if cols.has_order_id:
        by_order = "(SELECT * FROM __ret0 WHERE order_id IS NOT NULL)"
        steps += _netting_pass(d, 1, "order_id", "__pur0", by_order, value_cols, carried)
        pending = (
            "(SELECT r.* FROM __ret0 r ANTI JOIN __g1 g "
            "ON r.customer_id = g.customer_id AND r.order_id = g.order_id)"
        )
        steps += _netting_pass(d, 2, "pday", "__pur1", pending, value_cols, carried)
        # a return netted by order whose purchases were all cancelled by the day pass goes with them
        steps.append(Step(
            "__orphans",
            "SELECT g.customer_id, g.order_id, g.rn FROM __g1 g "
            "WHERE g.net >= " + _MONEY_ZERO + " AND NOT EXISTS (SELECT 1 FROM __pur2 p "
            "WHERE p.customer_id = g.customer_id AND p.order_id = g.order_id)",
        ))
        last = "__pur2"
        cancelled = [
            rejected("__pur0", "(SELECT * FROM __g1 WHERE net < " + _MONEY_ZERO + ")", "order_id", "fully_returned"),
            rejected(by_order, "(SELECT * FROM __g1 WHERE net < " + _MONEY_ZERO + ")", "order_id", "fully_returned"),
            rejected("__pur1", "(SELECT * FROM __g2 WHERE net < " + _MONEY_ZERO + ")", "pday", "fully_returned"),
            rejected(pending, "(SELECT * FROM __g2 WHERE net < " + _MONEY_ZERO + ")", "pday", "fully_returned"),
            rejected(by_order, "__orphans", "order_id", "fully_returned"),
            rejected(pending, "__g2", "pday", "unmatched_return", join="ANTI"),
        ]
    else:
        steps += _netting_pass(d, 1, "pday", "__pur0", "__ret0", value_cols, carried)
        steps.append(Step("__orphans", "SELECT customer_id, 0 AS rn FROM __g1 WHERE 1 = 0"))
        last = "__pur1"
        cancelled = [
            rejected("__pur0", "(SELECT * FROM __g1 WHERE net < " + _MONEY_ZERO + ")", "pday", "fully_returned"),
            rejected("__ret0", "(SELECT * FROM __g1 WHERE net < " + _MONEY_ZERO + ")", "pday", "fully_returned"),
            rejected("__ret0", "__g1", "pday", "unmatched_return", join="ANTI"),
        ]
    # the rows netting rejected, as read (read only to write the rejected rows)
    steps.append(Step("__netting_rejects", " UNION ALL ".join(cancelled)))
    steps.append(Step("__pur_last", f"SELECT customer_id, ts, amount{m} FROM {last}", True))
    others = "ANTI JOIN __ret_customers c ON {a}.customer_id = c.customer_id"
    parts = [
        f"SELECT t.customer_id, t.ts, t.amount{m.replace(', ', ', t.')} FROM "
        f"(SELECT {typed['customer_id']} AS customer_id, {typed['ts']} AS ts, {typed['amount']} AS amount"
        f"{', ' + typed['margin'] + ' AS margin' if m else ''} FROM {typed.relation('__raw', needed=True)} __s "
        f"WHERE {valid} AND {amount} >= 0) t {others.format(a='t')}",
        f"SELECT customer_id, ts, amount{m} FROM __pur_last",
        f"SELECT customer_id, ts, amount{m} FROM __far",
    ]
    if drop:  # exact in decimals: (1 - n) copies of the amount
        extra = "CAST(1 - __n AS DECIMAL(10, 0))"
        margin_fix = f", u.margin * {extra} AS margin" if m else ""
        parts.append(
            f"SELECT u.customer_id, u.ts, u.amount * {extra} AS amount{margin_fix} FROM __dup u "
            f"{others.format(a='u')} WHERE u.amount >= 0"
        )
    steps.append(Step("clean", " UNION ALL ".join(parts)))
    return steps


def _netting_pass(d: Dialect, k: int, key: str, purchases: str, returns: str, value_cols: list[str],
                  carried: list[str]) -> list[Step]:
    """One netting pass by (customer_id, ``key``): steps ``__r{k}`` (return groups), ``__t{k}`` (touched
    purchases, netted), ``__g{k}`` (matched groups with their net and return count) and ``__pur{k}``. All
    small; the ones later passes read twice are tables, which keeps Spark's plans from growing pass by pass.
    Money stays exact: sums of decimals; a netted value is computed in DOUBLE from them and rounded once to money
    (:data:`rules.MONEY_SQL_TYPE`, widened: a group's returns may sum beyond one value's range)."""
    one = DUCKDB.double(1.0)
    on = f"p.customer_id = r.customer_id AND p.{key} = r.{key}"
    sums = ", ".join(f"SUM({c}) AS r_{c}" for c in value_cols)
    carry = "".join(f", {n}" for n in carried)
    # a purchase's share of its group's returns: in proportion to its amount (evenly if the group's is 0)
    share = f"(CASE WHEN ga > 0 THEN CAST(amount AS DOUBLE) / CAST(ga AS DOUBLE) ELSE {one} / gn END)"

    def net_value(c):
        return f"TRY_CAST(CAST({c} AS DOUBLE) + {share} * CAST(r_{c} AS DOUBLE) AS DECIMAL(38, {rules.MONEY_DECIMALS}))"

    netted = ", ".join(f"{net_value(c)} AS {c}" for c in value_cols)
    return [
        Step(f"__r{k}", f"SELECT customer_id, {key}, {sums}, COUNT(*) AS rn FROM {returns} x GROUP BY customer_id, {key}"),
        Step(
            f"__t{k}",
            f"SELECT customer_id, ts, {netted}, order_id, pday{carry}, SUM({net_value('amount')}) "
            f"OVER (PARTITION BY customer_id, {key}) AS net FROM ("
            f"SELECT p.*, r.r_amount{''.join(f', r.r_{c}' for c in value_cols if c != 'amount')}, "
            f"SUM(p.amount) OVER (PARTITION BY p.customer_id, p.{key}) AS ga, "
            f"COUNT(*) OVER (PARTITION BY p.customer_id, p.{key}) AS gn "
            f"FROM {purchases} p JOIN __r{k} r ON {on}) x",
            True,
        ),
        Step(
            f"__g{k}",
            f"SELECT r.customer_id, r.{key}, r.rn, t.net, t.np FROM __r{k} r JOIN "
            f"(SELECT customer_id, {key}, MIN(net) AS net, COUNT(*) AS np FROM __t{k} GROUP BY customer_id, {key}) t "
            f"ON r.customer_id = t.customer_id AND r.{key} = t.{key}",
            True,
        ),
        Step(
            f"__pur{k}",
            f"SELECT p.* FROM {purchases} p ANTI JOIN __r{k} r ON {on} "
            f"UNION ALL SELECT customer_id, ts, {', '.join(value_cols)}, order_id, pday{carry} FROM __t{k} "
            f"WHERE net >= {_MONEY_ZERO}",
            True,
        ),
    ]


def rejected_rows_query(d: Dialect, cols: Columns, *, cutoff=None, duplicates: str = "drop",
                        margin_rate: float | None = None, date_format: str | None = None) -> str:
    """Every rejected row with its ``reason``, all columns as text (as the pandas CLI writes them), over the
    steps of :func:`validation_steps`: the row-level rejects, the extra copies of duplicates and the rows netting
    rejected, every column as read."""
    q = d.ident
    typed = typed_columns(d, cols, cutoff=cutoff, margin_rate=margin_rate, date_format=date_format)
    text = ", ".join(f"CAST({q(c)} AS STRING) AS {q(c)}" for c in cols.names)
    parts = [f"SELECT {text}, reason FROM (SELECT *, {typed['reason']} AS reason FROM {typed.relation('__raw')} __r) x "
             "WHERE reason IS NOT NULL"]
    if duplicates == "drop":
        parts.append(f"SELECT {text}, 'duplicate_row' AS reason FROM ({d.repeat_rows('__dup_raw', '__n - 1')}) x")
    _, carried = _carried(d, cols)
    values = ", ".join(f"CAST({n} AS STRING) AS {q(c)}" for c, n in zip(cols.names, carried))
    parts.append(f"SELECT {values}, reason FROM __netting_rejects")
    return f"SELECT * FROM ({' UNION ALL '.join(parts)}) __rejected ORDER BY {_rejects_order(cols)}"


def _rejects_order(cols: Columns) -> str:
    """The order rejected rows are written in (every column, then the reason), whatever the threads did, so that a
    rerun writes the same rows in the same order."""
    return ", ".join(str(i + 1) for i in range(len(cols.names) + 1))


def rejected_rows_text(d: Dialect, cols: Columns, source: str) -> str:
    """Rejected rows as read (the raw columns and ``reason``, from ``source``) as :func:`rejected_rows_query` gives
    them: every column as text, in the same order."""
    text = ", ".join(f"CAST({d.ident(c)} AS STRING) AS {d.ident(c)}" for c in cols.names)
    return f"SELECT {text}, reason FROM {source} ORDER BY {_rejects_order(cols)}"


def accounting_queries(has_order_id: bool, duplicates: str = "drop", text_timestamps: bool = True) -> dict[str, str]:
    """Queries whose results make the :class:`~loyalty.data.RowAccounting` (timestamp kinds are counted only
    for text timestamps: typed ones have none)."""
    passes = (1, 2) if has_order_id else (1,)
    fully = " + ".join(f"(SELECT COALESCE(SUM(rn + np), 0) FROM __g{k} WHERE net < {_MONEY_ZERO})" for k in passes)
    netted = " + ".join(f"(SELECT COALESCE(SUM(rn), 0) FROM __g{k} WHERE net >= {_MONEY_ZERO})" for k in passes)
    last = passes[-1]
    extra = "(SELECT COALESCE(SUM(__n - 1), 0) FROM __dup)" if duplicates == "drop" else "0"
    return {
        # rows by early reason, with the kinds of their timestamp text (see typed_columns)
        "early": ("SELECT reason, COUNT(*) AS n, COUNT(*) FILTER (WHERE tz = 'aware') AS aware, "
                  "COUNT(*) FILTER (WHERE tz = 'naive') AS naive, COUNT(*) FILTER (WHERE tz = 'slash') AS slash, "
                  "COUNT(*) FILTER (WHERE tz = 'aware' AND ts IS NOT NULL) AS converted FROM typed GROUP BY reason")
        if text_timestamps else "SELECT reason, COUNT(*) AS n, 0, 0, 0, 0 FROM typed GROUP BY reason",
        "offsets": "SELECT COUNT(DISTINCT tzoff) FROM typed WHERE tz = 'aware' AND ts IS NOT NULL",
        "examples": "SELECT tz, min(tstext), max(tstext) FROM typed WHERE tz IS NOT NULL GROUP BY tz",
        "netting": (
            f"SELECT {fully} AS fully_returned, {netted} AS netted, "
            "(SELECT COALESCE(SUM(rn), 0) FROM __orphans) AS orphans, "
            f"(SELECT COALESCE(SUM(r.rn), 0) FROM __r{last} r ANTI JOIN __g{last} g "
            f"ON r.customer_id = g.customer_id AND r.pday = g.pday) AS unmatched, "
            f"{extra} AS duplicates, "
            "(SELECT COUNT(*) FROM __ret) AS returns, "
            "(SELECT COUNT(*) FROM __near) - (SELECT COUNT(*) FROM __pur_last) AS cancelled"
        ),
        "zero_spend": f"SELECT COUNT(*) AS n FROM __customers WHERE spend < {_MONEY_ZERO}",
    }


def summary_steps(
    d: Dialect, *, cutoff, period: str, unit: str, holdout_end=None, has_margin: bool, source: str = "clean"
) -> list[Step]:
    """Steps from a clean log ``source`` (customer_id, ts, amount[, margin]) to ``summary``.

    Two aggregations: per (customer, period) totals (``__periods``), then one row per customer
    (``__customers``: calibration and holdout statistics side by side, and ``spend``, the customer's total
    over both, for the zero-spend count). The first period's total is ``min_by(total, period)``. Money is
    summed as exact decimals (``source``'s money columns are :data:`rules.MONEY_SQL_TYPE`), in DOUBLE from there on.
    """
    cutoff = period_end(cutoff)
    end = period_end(holdout_end) if holdout_end is not None else cutoff
    per_unit = unit_days(unit) / unit_days(period)
    periods_per_unit = d.double(per_unit)
    cutoff_ordinal = _ordinal_of(cutoff, period)
    m_sum = ", SUM(margin) AS m" if has_margin else ""
    key, ordinal = period_key(d, "ts", period)
    holdout = holdout_end is not None
    # without a holdout every row kept is in the calibration period: no flag in the (large) group key
    cal_key = f", ts <= {d.timestamp(cutoff)} AS cal" if holdout else ""
    periods = (
        f"SELECT customer_id, {key} AS period{cal_key}, SUM(amount) AS a{m_sum} "
        f"FROM {source} WHERE ts <= {d.timestamp(end)} GROUP BY customer_id, period{', cal' if holdout else ''}"
    )
    f = " FILTER (WHERE cal)" if holdout else ""
    aggregates = [
        f"COUNT(*){f} AS n", f"MIN(period){f} AS first", f"MAX(period){f} AS last", f"SUM(a){f} AS total",
        f"{d.min_by('a', 'period')}{f} AS first_total",
    ]
    if has_margin:
        aggregates += [f"SUM(m){f} AS m_total", f"{d.min_by('m', 'period')}{f} AS m_first"]
    if holdout:
        aggregates += ["COUNT(*) FILTER (WHERE NOT cal) AS h_n", "SUM(a) FILTER (WHERE NOT cal) AS h_total",
                       "SUM(a) AS spend"]
    customers = f"SELECT customer_id, {', '.join(aggregates)} FROM __periods GROUP BY customer_id"
    if not holdout:  # every period is a calibration period: the customer's spend is the calibration total
        customers = f"SELECT *, total AS spend FROM ({customers}) c"
    freq = "CAST(n - 1 AS DOUBLE)"
    zero = d.double(0.0)

    def real(name):  # a decimal sum as a DOUBLE, as pandas holds it
        return f"CAST({name} AS DOUBLE)"

    columns = [
        f"{freq} AS frequency",
        f"CAST({ordinal.format(key='last')} - {ordinal.format(key='first')} AS DOUBLE) / {periods_per_unit} AS recency",
        f"CAST({cutoff_ordinal} - {ordinal.format(key='first')} AS DOUBLE) / {periods_per_unit} AS {d.ident('T')}",
        f"CASE WHEN n > 1 THEN ({real('total')} - {real('first_total')}) / {freq} ELSE {zero} END AS monetary_value",
    ]
    if has_margin:
        columns += [
            f"CASE WHEN n > 1 THEN ({real('m_total')} - {real('m_first')}) / {freq} ELSE {zero} END AS margin_value",
            f"CASE WHEN total <> 0 THEN {real('m_total')} / {real('total')} ELSE {d.double(float('nan'))} END "
            "AS margin_rate",
        ]
    if holdout:
        duration = (_ordinal_of(end, period) - cutoff_ordinal) / per_unit
        columns += [
            "CAST(h_n AS DOUBLE) AS frequency_holdout",
            f"CASE WHEN h_n > 0 THEN {real('h_total')} / CAST(h_n AS DOUBLE) ELSE {zero} END AS monetary_holdout",
            f"{d.double(duration)} AS duration_holdout",
        ]
    return [
        Step("__periods", periods),
        Step("__customers", customers),
        Step("summary", f"SELECT customer_id, {', '.join(columns)} FROM __customers WHERE n > 0"),
    ]


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
    from ..data.summary import period_ordinal as _period_ordinal

    return int(_period_ordinal(pd.Series([timestamp]), period)[0])


def timestamp_kinds(early: list[tuple], examples) -> dict[str, int]:
    """Counts of the timestamp text's kinds from the ``early`` query; the errors of the pandas validator for slash
    dates without a ``date_format`` and for aware mixed with naive values. ``examples()`` gives ``{kind: (min,
    max)}`` of the text, for the messages."""
    kinds = {name: sum(int(row[i]) for row in early) for i, name in
             ((2, "aware"), (3, "naive"), (4, "slash"), (5, "converted"))}
    if kinds["slash"]:
        shown = examples()["slash"]
        raise DataValidationError(
            f"column 'timestamp' has {rows(kinds['slash'])} of slash dates, e.g. {shown[0]!r}, {shown[1]!r}: "
            "day or month first? Give the format, e.g. date_format='%d/%m/%Y' (or '%m/%d/%Y')"
        )
    if kinds["aware"] and kinds["naive"]:
        shown = examples()
        raise DataValidationError(
            f"column 'timestamp' mixes time-zone-aware values ({rows(kinds['aware'])}, e.g. "
            f"{shown['aware'][0]!r}) with naive ones ({rows(kinds['naive'])}, e.g. {shown['naive'][0]!r}); "
            "the zone of the naive ones is unknown: localise them first"
        )
    return kinds


def validated_accounting(fetch, has_order_id: bool, duplicates: str, text_timestamps: bool = True):
    """Run the accounting queries with ``fetch(sql) -> list of tuples`` (after the validation steps are
    registered) and return the :class:`~loyalty.data.RowAccounting`; raises the validator's errors (slash dates,
    mixed time zones, no usable row)."""
    queries = accounting_queries(has_order_id, duplicates, text_timestamps)
    early = [tuple(row) for row in fetch(queries["early"])]
    kinds = timestamp_kinds(early, lambda: {row[0]: (row[1], row[2]) for row in fetch(queries["examples"])})
    offsets = int(fetch(queries["offsets"])[0][0]) if kinds["converted"] else 0
    values = fetch(queries["netting"])[0]
    netting = dict(zip(("fully_returned", "netted", "orphans", "unmatched", "duplicates", "returns", "cancelled"),
                       values))
    zero_spend = fetch(queries["zero_spend"])[0][0]
    accounting = row_accounting(early, netting, zero_spend, kinds["converted"], offsets)
    if accounting.rows_used - accounting.returns_netted == 0:
        raise DataValidationError(f"no usable transaction among {accounting.rows_read:,} rows; {accounting}")
    return accounting


def fractional_ids(fetch, d: Dialect, cols: Columns) -> None:
    """The validator's error for fractional (or infinite) numeric ids in ``__raw``, when the ids are floats."""
    if cols.id_kind != "float":
        return
    cid = d.ident("customer_id")
    bad = f"NOT isnan({cid}) AND (NOT {d.finite(cid)} OR {cid} <> floor({cid}))"
    n = fetch(f"SELECT COUNT(*) FROM __raw WHERE {bad}")[0][0]
    if n:
        examples = [row[0] for row in fetch(f"SELECT {cid} FROM __raw WHERE {bad} LIMIT 3")]
        raise DataValidationError(
            f"column 'customer_id' has {int(n):,} non-integer numeric ids, e.g. "
            f"{', '.join(repr(v) for v in examples)}; ids must be integers or strings "
            "(casting 2.5 to an integer would merge customers 2 and 2.5)"
        )


def row_accounting(early: list[tuple], netting: dict, zero_spend: int, converted: int = 0, offsets: int = 0):
    """The :class:`~loyalty.data.RowAccounting` from the results of :func:`accounting_queries` (and the counts
    of timestamps converted to UTC and of their distinct offsets)."""
    from ..data.validate import RowAccounting

    counts = {row[0]: int(row[1]) for row in early}
    rows_read = sum(counts.values())
    valid = counts.pop(None, 0)
    duplicates = int(netting["duplicates"])
    counts["duplicate_row"] = duplicates
    orphans = int(netting["orphans"])
    counts["fully_returned"] = int(netting["fully_returned"]) + orphans
    counts["unmatched_return"] = int(netting["unmatched"])
    returns_netted = int(netting["netted"]) - orphans
    # distinct valid rows, less the returns, less the purchases netting cancelled
    clean_rows = valid - duplicates - int(netting["returns"]) - int(netting["cancelled"])
    rejected = {name: counts[name] for name in REJECT_REASONS if counts.get(name, 0) > 0}
    notes = {"timestamps_converted_to_UTC": int(converted)} if converted else {}
    if offsets > 1:
        notes["distinct_utc_offsets"] = int(offsets)
    if zero_spend:
        notes["zero_spend_customers_kept"] = int(zero_spend)
    accounting = RowAccounting(
        rows_read=rows_read,
        rows_used=clean_rows + returns_netted,
        returns_netted=returns_netted,
        rejected=rejected,
        notes=notes,
    )
    if accounting.rows_read != accounting.rows_used + accounting.rows_rejected:  # pragma: no cover
        raise AssertionError(f"row accounting does not add up: {accounting}")
    return accounting


@dataclass(frozen=True)
class SourceColumns:
    """The raw source's columns. ``original`` are the names in the file, in order; ``internal`` the names the
    SQL uses for them, position by position: the contract's name for a contract column, ``__c<i>`` for any
    other. A name from the file never becomes SQL text. ``rename`` maps contract names to the file's names;
    ``contract`` holds the kinds of the contract columns."""

    original: tuple[str, ...]
    internal: tuple[str, ...]
    rename: dict
    contract: Columns


def columns_from_types(types: dict[str, str], mapping: dict | None = None) -> SourceColumns:
    """Column kinds from ``{name: SQL type}`` (DuckDB or Spark type names, in the source's column order), after
    the contract mapping."""
    from ..data.contract import apply_column_mapping

    original = tuple(types)
    # the pandas path's mapping and its checks, on a frame of the source's columns (no rows)
    contract_names = list(apply_column_mapping(pd.DataFrame(columns=list(original)), mapping).columns)
    contract = set(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    internal = tuple(n if n in contract and n in contract_names[: i + 1] and contract_names.index(n) == i
                     else f"__c{i}" for i, n in enumerate(contract_names))
    renamed = {name: original[i] for i, name in enumerate(internal) if not name.startswith("__c")}
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
    columns = Columns(
        names=internal,
        id_kind=id_kind,
        timestamp_kind="string" if is_text(ts_type) else "timestamp",
        has_margin="margin" in renamed,
        has_order_id="order_id" in renamed,
        text_columns=frozenset(k for k, t in kind.items() if is_text(t)),
    )
    return SourceColumns(original, internal, renamed, columns)


def original_names(cols: SourceColumns) -> dict[str, str]:
    """``{internal: the file's name}`` for the columns outside the contract (which keep their contract names in
    the rejected rows, as in :func:`loyalty.data.validate_transactions`)."""
    return {i: o for i, o in zip(cols.internal, cols.original) if i.startswith("__c")}


def source_alias(d: Dialect, cols: SourceColumns, alias: str = "__src") -> str:
    """A table alias naming the source's columns by position with their internal names
    (``SELECT * FROM <source> {alias}``)."""
    return f"AS {alias}({', '.join(d.ident(n) for n in cols.internal)})"


def trusted_clean(d: Dialect, cols: Columns, margin_rate: float | None) -> str:
    """``clean`` straight from ``__raw`` for a log already validated (no checks: fastest path); money as exact
    decimals (an amount that is not money, e.g. infinite, fails the cast: such a log is not clean)."""
    money = f"AS {rules.MONEY_SQL_TYPE})"
    margin = ""
    if cols.has_margin:
        margin = f", CAST(CAST({d.ident('margin')} AS DOUBLE) {money} AS margin"
    elif margin_rate is not None:
        margin = f", CAST(CAST({d.ident('amount')} AS DOUBLE) * {d.double(margin_rate)} {money} AS margin"
    return (
        f"SELECT {d.ident('customer_id')} AS customer_id, CAST({d.ident('timestamp')} AS {d.timestamp_type}) AS ts, "
        f"CAST(CAST({d.ident('amount')} AS DOUBLE) {money} AS amount{margin} FROM __raw"
    )
