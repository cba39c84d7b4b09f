"""DuckDB engine: validation and summary of CSV / parquet logs that need not fit in memory.

DuckDB streams the files and spills its hash tables to ``temp_directory`` when ``memory_limit`` is reached,
so peak memory is bounded by the setting, not by the log. The SQL is in :mod:`loyalty.engines._sql`.

A log in parquet files sorted by customer (exported sorted or partitioned by customer: the row groups' id
statistics tell, and the rows are checked as they come) is instead streamed in that order, cut into chunks that
share no customer, and each chunk validated (:mod:`loyalty.engines.sorted_chunks`, with ``validate=True``) and
summarised in memory by :func:`loyalty.data.summarize` (see :func:`customer_order`): the pandas path's numbers, bit
for bit, without the SQL steps' passes over every row (two aggregations with about as many groups as rows). Logs in
another order, CSV files, validated logs whose rejected rows are to be written (``rejects_path``) and the rare
chunk the vectorised rules cannot take (an id with whitespace at an end) go through the SQL steps, with the same
accounting.
"""

from __future__ import annotations

import bisect
import re
import sys
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from ..data.io import inspect_log, log_format, read_error
from ..data.rules import MONEY_MAX, period_end
from ..data.summary import summary_and_order
from ..data.validate import RowAccounting
from ..errors import DataValidationError, SpecError
from . import _sql
from .sorted_chunks import ChunkAccounts, NotSimple, supported, validate_chunk, with_ids
from .result import MISSING_IDS, CollapsedStatistics, SummaryResult, finish_summary, not_money

__all__ = ["summarize", "build_features", "score", "connect", "connection_settings", "source_sql"]

_DIALECT = _sql.DUCKDB


def connect(memory_limit: str | None = None, temp_directory: str | Path | None = None,
            threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a memory limit (e.g. ``"2GB"``) and a spill directory.

    The settings are checked (:func:`connection_settings`) and handed to DuckDB as configuration values, never
    as SQL text.

    Raises
    ------
    SpecError
        A memory limit that is not a number and a unit, a thread count that is not a positive integer.
    """
    config = connection_settings(memory_limit, temp_directory, threads)
    return duckdb.connect(":memory:", config=config)


#: A memory limit: a number and one of DuckDB's units (powers of 1000 or of 1024), nothing else.
_MEMORY_LIMIT = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
_UNITS = {u.lower(): u for u in ("B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB")}


def connection_settings(memory_limit: str | None = None, temp_directory: str | Path | None = None,
                        threads: int | None = None) -> dict:
    """The DuckDB configuration for these settings, each checked: ``memory_limit`` a number and a unit
    (``"512MB"``, ``"4GB"``, ``"1.5GiB"``), ``threads`` a positive integer, ``temp_directory`` a path."""
    config = {"preserve_insertion_order": False}  # lets large scans and writes stream
    if memory_limit is not None:
        match = _MEMORY_LIMIT.fullmatch(str(memory_limit).strip())
        if match is None:
            raise SpecError(
                f"memory limit {str(memory_limit)!r} is not a size: give a number and a unit, e.g. 512MB, 4GB, "
                "1.5GiB (units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
            )
        config["memory_limit"] = f"{match.group(1)}{_UNITS[match.group(2).lower()]}"
    if temp_directory is not None:
        config["temp_directory"] = str(Path(temp_directory))
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
            raise SpecError(f"threads must be a positive integer, got {threads!r}")
        config["threads"] = int(threads)
    return config


def source_sql(source, names: tuple[str, ...] | None = None) -> str:
    """A table expression reading ``source``, checked first by :func:`loyalty.data.inspect_log`: a
    ``.csv``/``.csv.gz`` file (all columns as text, as the pandas reader does), a ``.parquet`` file or a folder of
    parquet files. ``names`` renames the columns by position (default: the file's own names, quoted)."""
    log = inspect_log(source)
    names = log.columns if names is None else tuple(names)
    if len(names) != len(log.columns):
        raise DataValidationError(f"{len(names)} names for the {len(log.columns)} columns of {str(log.path)!r}")
    if log.format == "parquet":
        files = ", ".join(_literal(f) for f in log.files)
        return f"read_parquet([{files}]) AS __src({', '.join(_DIALECT.ident(n) for n in names)})"
    # the dialect pandas reads (comma, double quotes doubled inside quoted fields, every value text), given rather
    # than sniffed from the file (a header holding a semicolon must not make the semicolon the separator), with the
    # columns named by position: the header's text is never parsed as a name. DuckDB's strict mode reads no row
    # at all after a header whose quoted name spans lines, so such a file is read in its lenient mode.
    positional = ", ".join(f"{_literal(f'__c{i}')}: 'VARCHAR'" for i in range(len(names)))
    strict = "true" if log.header_lines == 1 else "false"
    return (f"read_csv({_literal(str(log.path))}, auto_detect = false, header = true, delim = ',', quote = '\"', "
            f"escape = '\"', compression = {_literal(log.compression or 'none')}, strict_mode = {strict}, "
            f"columns = {{{positional}}}) AS __src({', '.join(_DIALECT.ident(n) for n in names)})")


def summarize(
    source,
    cutoff,
    period: str = "D",
    holdout_end=None,
    unit: str | None = None,
    *,
    columns: dict | None = None,
    validate: bool = True,
    duplicates: str = "drop",
    margin_rate: float | None = None,
    collapse: bool = False,
    summary_path: str | Path | None = None,
    rejects_path: str | Path | None = None,
    date_format: str | None = None,
    memory_limit: str | None = None,
    temp_directory: str | Path | None = None,
    threads: int | None = None,
    connection: duckdb.DuckDBPyConnection | None = None,
) -> SummaryResult:
    """Validate and summarise a log file with DuckDB; see :func:`loyalty.engines.summarize`."""
    own = connection is None
    con = connection or connect(memory_limit, temp_directory, threads)
    restore = _values_not_statistics(con) if validate else None
    try:
        if isinstance(source, pd.DataFrame):
            con.register("__source", source)
            table = "__source"
        else:
            table = source_sql(source)
        described = con.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()
        cols = _sql.columns_from_types({row[0]: row[1] for row in described}, columns)
        # from here on the SQL names the columns by position (see SourceColumns), not by the file's names
        if isinstance(source, pd.DataFrame):
            table = f"__source {_sql.source_alias(_DIALECT, cols)}"
        else:
            table = source_sql(source, cols.internal)
        settings = {"period": period, "unit": unit or period, "cutoff": cutoff, "holdout_end": holdout_end}
        # a log in parquet files sorted by customer is streamed, validated and summarised a chunk at a time
        order = None if isinstance(source, pd.DataFrame) else \
            customer_order(source, cols.rename["customer_id"], allow_missing=validate)
        summary, accounting = None, None
        if order is not None:
            checks = {"duplicates": duplicates, "rejects_path": rejects_path} if validate else None
            summary, accounting = _summary_streamed(con, cols, order, margin_rate, settings, checks)
        if summary is not None:
            if summary_path is not None or collapse:  # the steps below read the summary in SQL
                con.execute("DROP VIEW IF EXISTS summary")
                con.register("summary", pa.Table.from_pandas(summary.reset_index(), preserve_index=False))
        else:
            con.execute(f"CREATE OR REPLACE TEMP VIEW __raw AS SELECT * FROM {table}")
            reread = collapse or summary_path is not None
            accounting = _summary_in_sql(con, cols.contract, settings, validate=validate, duplicates=duplicates,
                                         margin_rate=margin_rate, reread=reread, rejects_path=rejects_path,
                                         original_names=_sql.original_names(cols), date_format=date_format)
            # without validation a missing id is one more "customer"; the per-customer frame is checked when
            # fetched (finish_summary), the summary table here before it is written or collapsed
            if not validate and reread and con.execute(
                    "SELECT count(*) FROM summary WHERE customer_id IS NULL").fetchall()[0][0]:
                raise DataValidationError(MISSING_IDS)
        ordered = "SELECT * FROM summary ORDER BY customer_id"
        if summary_path is not None:
            _copy_parquet(con, ordered, summary_path)
        if collapse:
            queries = _sql.collapse_steps(_DIALECT)
            collapsed = CollapsedStatistics.from_frames(
                con.execute(queries["bgnbd"]).df(), con.execute(queries["gamma_gamma"]).df(), settings
            )
            return SummaryResult(collapsed, accounting)
        if summary is None:
            # through Arrow: a third of the time of DuckDB's own DataFrame conversion for a million rows
            summary = finish_summary(con.sql(ordered).to_arrow_table().to_pandas(), settings, sorted_ids=True)
        return SummaryResult(summary, accounting)
    except (duckdb.IOException, duckdb.InvalidInputException) as error:  # a file that fails part way through
        raise read_error(source if not isinstance(source, pd.DataFrame) else "the frame", error) from error
    except duckdb.ConversionException as error:  # only a trusted log casts without checks (see trusted_clean)
        detail = str(error).splitlines()[0]
        raise DataValidationError(not_money(detail) if "DECIMAL" in detail.upper() else (
            f"the log (validate=False) holds a value that is not of its column's kind: {detail}; "
            "validate it (validate=True)")) from error
    finally:
        if restore is not None:
            restore()
        if own:
            con.close()


def _values_not_statistics(con):
    """Turn off DuckDB's statistics propagation on ``con``; returns the function that restores the setting.

    DuckDB folds a comparison to a constant when a parquet column's min/max statistics decide it, and those
    statistics leave NaN out: a row group holding ``NaN`` and ``1.0`` has the range [1, 1], so ``abs(amount) < 1e15``
    comes out true for the NaN amount and the row is not rejected (seen with DuckDB 2.0.1). The validation steps
    must read the rows' own values. Row-group pruning (a different step) is unaffected and still applies.
    """
    before = con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0] or ""
    names = [name.strip() for name in str(before).split(",") if name.strip()]
    if "statistics_propagation" in names:
        return lambda: None
    con.execute(f"SET disabled_optimizers = {_literal(', '.join(names + ['statistics_propagation']))}")
    return lambda: con.execute(f"SET disabled_optimizers = {_literal(', '.join(names))}")


def _summary_in_sql(con, cols: _sql.Columns, settings: dict, *, validate: bool, duplicates: str,
                    margin_rate: float | None, reread: bool, rejects_path, original_names: dict[str, str],
                    date_format: str | None = None) -> RowAccounting | None:
    """Validation (when ``validate``) and the summary of the view ``__raw`` as SQL steps, ending in ``summary``
    (a table when ``reread``: collapsing or writing it reads it again); returns the row accounting."""
    cutoff, holdout_end = settings["cutoff"], settings["holdout_end"]

    def fetch(sql):
        return con.execute(sql).fetchall()

    if validate:
        _sql.fractional_ids(fetch, _DIALECT, cols)
        steps = _sql.validation_steps(_DIALECT, cols, cutoff=holdout_end or cutoff, duplicates=duplicates,
                                      margin_rate=margin_rate, date_format=date_format)
    else:
        steps = [_sql.Step("clean", _sql.trusted_clean(_DIALECT, cols, margin_rate))]
    steps += _sql.summary_steps(_DIALECT, cutoff=cutoff, period=settings["period"], unit=settings["unit"],
                                holdout_end=holdout_end, has_margin=cols.has_margin or margin_rate is not None)
    # tables where several queries read a step (accounting, collapsing, writing); views stream otherwise
    materialised = {step.name for step in steps if step.table}
    if validate:
        materialised.add("__customers")
    if reread:
        materialised.add("summary")
    for step in steps:
        kind = "TABLE" if step.name in materialised else "VIEW"
        con.execute(f"CREATE OR REPLACE TEMP {kind} {step.name} AS {step.sql}")
    if not validate:
        return None
    accounting = _sql.validated_accounting(fetch, cols.has_order_id, duplicates,
                                            cols.timestamp_kind == "string")
    if rejects_path is not None:
        query = _sql.rejected_rows_query(_DIALECT, cols, cutoff=holdout_end or cutoff, duplicates=duplicates,
                                         margin_rate=margin_rate, date_format=date_format)
        _copy_parquet(con, query, rejects_path, names=original_names)
    return accounting


#: Rows summarised at a time when a log sorted by customer is streamed (see :func:`customer_order`): with the rows
#: read meanwhile and at most one chunk more than there are workers in the works, this bounds the memory of the
#: step (about 30 bytes a row).
CHUNK_ROWS = 1_000_000


@dataclass(frozen=True)
class CustomerOrder:
    """A parquet log whose row groups, read in the order of ``files``, never hold an id below one of an earlier
    group: sorted by customer at the row-group level, ``rows`` long, ``missing`` of them without an id."""

    files: tuple[str, ...]
    rows: int
    missing: int = 0


def customer_order(source, id_column: str, allow_missing: bool = False) -> CustomerOrder | None:
    """The order of a parquet log's files in which its row groups' id ranges (their min/max statistics) follow
    one another, or ``None`` when there is none (a CSV, a log sorted by time, groups without statistics, a log
    of one row group).

    The per-customer summary needs each customer's distinct purchase periods and first period's spend: in SQL, two
    aggregations, by (customer, period) then by customer, which take 2 to 4 times a plain ``GROUP BY
    customer_id`` (and at 10M customers the first's hash table holds 43M groups); validation adds passes over every
    row (duplicates, returns, the reject counts). A log exported sorted (or partitioned) by customer needs none of
    them: streamed in this order, it is cut into chunks that share no customer, each validated and summarised in
    memory (see :func:`_summary_streamed`).

    ``allow_missing``: rows without an id are counted (``missing``; a validated log rejects them), not an error.

    Raises
    ------
    DataValidationError
        When the statistics count missing ids and ``allow_missing`` is false (the summary of a trusted log needs
        every id).

    >>> customer_order("transactions/", "customer_id")  # doctest: +SKIP
    CustomerOrder(files=('transactions/part-0.parquet', 'transactions/part-1.parquet'), rows=11267211, missing=0)
    """
    import pyarrow.parquet as pq

    path = Path(source)
    if log_format(path) != "parquet":
        return None
    files, without_ids = [], []  # (row groups as (min, max), file); files of rows without an id
    missing = rows = 0
    for file in sorted(path.rglob("*.parquet")) if path.is_dir() else [path]:
        metadata = pq.ParquetFile(file).metadata
        names = [metadata.schema.column(i).path for i in range(metadata.num_columns)]
        if id_column not in names:
            return None
        column = names.index(id_column)
        groups = []
        for g in range(metadata.num_row_groups):
            group = metadata.row_group(g)
            stats = group.column(column).statistics
            if group.num_rows == 0:
                continue
            if stats is None or not stats.has_null_count:
                return None
            missing += stats.null_count
            rows += group.num_rows
            if stats.null_count < group.num_rows:
                if not stats.has_min_max:
                    return None
                groups.append((stats.min, stats.max))
        if groups:
            files.append((groups, str(file)))
        elif metadata.num_rows:  # rows without an id only: read last (they are rejected, or an error)
            without_ids.append(str(file))
    if missing and not allow_missing:
        raise DataValidationError(
            f"column {id_column!r} has {missing:,} missing values of {rows:,} rows (parquet statistics); a log "
            f"summarised with validate=False must be clean: validate it"
        )
    files.sort(key=lambda f: f[0][0][0])  # by the file's first id
    groups = [group for file_groups, _ in files for group in file_groups]
    if len(groups) < 2 or any(low < high for (_, high), (low, _) in zip(groups, groups[1:])):
        return None
    return CustomerOrder(tuple(file for _, file in files) + tuple(without_ids), rows, missing)


def _summary_streamed(con, cols: _sql.SourceColumns, order: CustomerOrder, margin_rate: float | None,
                      settings: dict, checks: dict | None = None) -> tuple[pd.DataFrame | None, RowAccounting | None]:
    """:func:`loyalty.engines.summarize` of a log sorted by customer at the row-group level (see
    :func:`customer_order`), streamed in that order by DuckDB: the summary and, with ``checks`` (``{"duplicates":
    ..., "rejects_path": ...}``: a validated log), the row accounting; the rejected rows are written to
    ``rejects_path`` (when given) as the SQL steps write them. ``(None, None)`` when the stream cannot give the pandas path's
    result: rows not sorted within the groups, or (validated) a column type or an id the chunk rules do not take
    (see :mod:`loyalty.engines.sorted_chunks`); the caller then runs the SQL steps.

    The stream is cut into chunks of about :data:`CHUNK_ROWS` rows before the last customer read (a search that
    holds for rows sorted by customer); workers validate (:func:`~loyalty.engines.sorted_chunks.validate_chunk`)
    and summarise (:func:`loyalty.data.summarize`) the chunks while DuckDB reads on, each on half the connection's
    threads (DuckDB's setting is restored afterwards, as is ``preserve_insertion_order``). Each chunk's smallest and
    largest id are checked to follow the previous chunk's: a customer in two chunks (rows not sorted within a group)
    cannot go unnoticed. Rows without an id are counted from the parquet statistics and not read. A progress bar
    counts the rows on a terminal.
    """
    d = _DIALECT
    cutoff, holdout_end = period_end(settings["cutoff"]), settings["holdout_end"]
    end = period_end(holdout_end) if holdout_end is not None else cutoff
    files = ", ".join(_literal(f) for f in order.files)
    source = f"read_parquet([{files}]) {_sql.source_alias(d, cols)}"
    if checks is None:
        # amounts as DOUBLE, as pandas holds them (each chunk is summed in order, so reruns are identical);
        # checked to be money in the workers (see _trusted_money)
        contract = cols.contract
        money = "CAST({} AS DOUBLE)"
        margin = ""
        if contract.has_margin:
            margin = f", {money.format(d.ident('margin'))} AS margin"
        elif margin_rate is not None:
            margin = f", {money.format(d.ident('amount'))} * {d.double(margin_rate)} AS margin"
        query = (f"SELECT {d.ident('customer_id')} AS customer_id, CAST({d.ident('timestamp')} AS "
                 f"{d.timestamp_type}) AS timestamp, {money.format(d.ident('amount'))} AS amount{margin} "
                 f"FROM {source} WHERE CAST({d.ident('timestamp')} AS {d.timestamp_type}) <= {d.timestamp(end)}")
    else:
        query = f"SELECT * FROM {source} WHERE {d.ident('customer_id')} IS NOT NULL"
    rejects_path = None if checks is None else checks["rejects_path"]
    validation = None if checks is None else {"cutoff": holdout_end or settings["cutoff"],
                                              "duplicates": checks["duplicates"], "margin_rate": margin_rate,
                                              "rejects": rejects_path is not None}

    def summarize_chunk(chunk: pa.Table) -> tuple:
        """The chunk's smallest and largest id, its summary (``None`` if no customer started by the cut-off), its
        row counts and its rejected rows (validated)."""
        summary, ids_sorted, accounts, rejected = None, False, None, None
        if validation is None:
            _trusted_money(chunk)
            # split_blocks: each column its own block, as Arrow has it, instead of copies into 2-D blocks
            frame = chunk.to_pandas(split_blocks=True) if len(chunk) and pc.min(
                chunk.column("timestamp")).as_py() <= cutoff else None
        else:
            frame, accounts, distinct, rejected = validate_chunk(chunk, **validation)
            if len(frame) == 0 or frame["timestamp"].min() > cutoff:
                frame = None
        if frame is not None:
            summary, ids_sorted = summary_and_order(frame, settings["cutoff"], settings["period"], holdout_end,
                                                     settings["unit"])
            if validation is not None:
                summary = with_ids(summary, distinct)
        ids = chunk.column("customer_id")
        if ids_sorted and validation is None:
            return ids[0].as_py(), ids[len(ids) - 1].as_py(), summary, accounts, rejected
        low_high = pc.min_max(ids)
        return low_high["min"].as_py(), low_high["max"].as_py(), summary, accounts, rejected

    def split(table: pa.Table) -> int:
        """The rows of ``table`` before its last customer's, if sorted by customer."""
        ids = table.column("customer_id")
        return bisect.bisect_left(ids, ids[len(ids) - 1].as_py(), key=lambda scalar: scalar.as_py())

    # DuckDB gives the rows in the files' order only when told to keep it; and it reads on half the connection's
    # threads, the workers summarising on the other half (reading and summarising cost about the same: with every
    # thread DuckDB's, 1.4x the floor's time at 1M on 2 cores, with half 1.2x)
    preserve, threads = con.execute(
        "SELECT current_setting('preserve_insertion_order'), current_setting('threads')").fetchall()[0]
    workers = max(2, threads - threads // 2)
    chunks, pending, writer = [], deque(), None
    rows_path = None if rejects_path is None else Path(rejects_path).with_name(Path(rejects_path).name + ".rows")

    def write_rejected(rejected: pa.Table) -> None:
        """Rejected rows go to a file at once (not kept in memory)."""
        nonlocal writer
        if writer is None:
            import pyarrow.parquet as pq

            rows_path.parent.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(rows_path, rejected.schema)
        writer.write_table(rejected.cast(writer.schema))

    def collect(result: tuple) -> None:
        if result[4] is not None:
            write_rejected(result[4])
        chunks.append(result[:4])

    def submit(chunk: pa.Table) -> None:
        if len(pending) > workers:  # bounded memory: wait for the oldest chunk before queueing more
            collect(pending.popleft().result())
        pending.append(pool.submit(summarize_chunk, chunk))

    con.execute("SET preserve_insertion_order = true")
    con.execute(f"SET threads = {max(1, int(threads) // 2)}")
    try:
        relation = con.sql(query)
        batch_rows = max(2048, CHUNK_ROWS // 2)
        reader = relation.to_arrow_reader(batch_rows) if hasattr(relation, "to_arrow_reader") else \
            relation.fetch_record_batch(batch_rows)
        reader_schema = reader.schema
        if validation is not None and not supported(reader_schema):
            return None, None
        with ThreadPoolExecutor(workers) as pool, tqdm(total=order.rows, unit="row", unit_scale=True,
                                                       desc="summarize", disable=not sys.stderr.isatty()) as bar:
            batches, buffered = [], 0
            for batch in reader:
                bar.update(batch.num_rows)
                batches.append(batch)
                buffered += batch.num_rows
                if buffered >= CHUNK_ROWS:
                    table = pa.Table.from_batches(batches)
                    head = split(table)
                    if head:
                        submit(table.slice(0, head))
                        batches, buffered = table.slice(head).to_batches(), len(table) - head
            if buffered:
                submit(pa.Table.from_batches(batches))
            for future in pending:
                collect(future.result())
        if rejects_path is not None and order.missing:  # the rows without an id, not streamed
            missing = con.sql(f"SELECT *, 'missing_customer_id' AS reason FROM {source} "
                              f"WHERE {d.ident('customer_id')} IS NULL").to_arrow_table()
            write_rejected(missing)
    except NotSimple:
        return _discard(writer, rows_path)
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if preserve else 'false'}")
        con.execute(f"SET threads = {int(threads)}")
        if writer is not None:
            writer.close()
    if any(a[1] >= b[0] for a, b in zip(chunks, chunks[1:])):  # a customer in two chunks
        return _discard(None, rows_path)
    accounting = None
    if validation is not None:
        accounts = ChunkAccounts(rows_read=order.missing)
        if order.missing:
            accounts.rejected["missing_customer_id"] = order.missing
        for chunk in chunks:
            accounts.add(chunk[3])
        accounting = accounts.accounting()
        if accounting.rows_used - accounting.returns_netted == 0:
            _discard(None, rows_path)
            raise DataValidationError(f"no usable transaction among {accounting.rows_read:,} rows; {accounting}")
        if rejects_path is not None:
            _write_rejects(con, cols, rows_path if writer is not None else None, reader_schema, rejects_path)
    summaries = [summary for _, _, summary, _ in chunks if summary is not None]
    if not summaries:
        raise DataValidationError(f"no transaction on or before the cutoff {cutoff} in the log's {order.rows:,} rows")
    summary = pd.concat(summaries) if len(summaries) > 1 else summaries[0]
    summary.attrs = dict(summaries[0].attrs)
    return summary, accounting


def _discard(writer, rows_path: Path | None) -> tuple[None, None]:
    """Give up the stream: its rejected rows so far are removed (the SQL steps write them all)."""
    if writer is not None:
        writer.close()
    if rows_path is not None:
        rows_path.unlink(missing_ok=True)
    return None, None


def _write_rejects(con, cols: _sql.SourceColumns, rows_path: Path | None, schema: pa.Schema, rejects_path) -> None:
    """The stream's rejected rows (in ``rows_path``, as read, with their reason; ``None``: there were none) written
    to ``rejects_path`` as the SQL steps write them: every column as text under the file's names, in one order."""
    try:
        if rows_path is None:
            empty = pa.Table.from_batches([], schema.append(pa.field("reason", pa.string())))
            con.register("__stream_rejects", empty)  # replaced on the next call, like the other views
            source = "__stream_rejects"
        else:
            source = f"read_parquet({_literal(str(rows_path))})"
        _copy_parquet(con, _sql.rejected_rows_text(_DIALECT, cols.contract, source), rejects_path,
                      names=_sql.original_names(cols))
    finally:
        if rows_path is not None:
            rows_path.unlink(missing_ok=True)


def _trusted_money(chunk: pa.Table) -> None:
    """The error for a trusted log's amount or margin that is not money (as the SQL steps' decimal cast raises)."""
    for name in ("amount", "margin"):
        if name in chunk.column_names:
            values = chunk.column(name).to_numpy(zero_copy_only=False)
            bad = ~(np.abs(values) < MONEY_MAX)
            if bad.any():
                raise DataValidationError(not_money(f"{name} {float(values[bad][0])!r}"))


def _literal(value) -> str:
    """A SQL literal of a text or a number (an id bound, as parquet statistics give them; a file name)."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value) if isinstance(value, float) else str(int(value))


def build_features(source, as_of, windows, returns=None, memory_limit: str | None = None,
                   temp_directory: str | Path | None = None, threads: int | None = None,
                   connection: duckdb.DuckDBPyConnection | None = None) -> pd.DataFrame:
    """:func:`loyalty.data.features.build_features` of a clean log file (or frame) in SQL aggregates; the same
    features, indexed by sorted ``customer_id``, as floats. ``returns`` is a path or a frame."""
    from ._features_sql import feature_query

    own = connection is None
    con = connection or connect(memory_limit, temp_directory, threads)
    try:
        names = {}
        for name, given in (("__log", source), ("__returns", returns)):
            if given is None:
                continue
            if isinstance(given, pd.DataFrame):
                con.register(f"{name}_frame", given)
                table = f"{name}_frame"
            else:
                table = source_sql(given)
            con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {table}")
            names[name] = _check_feature_log(con, name, "transactions" if name == "__log" else "returns")
        first = con.execute("SELECT min(timestamp) FROM __log").fetchall()[0][0]
        if pd.Timestamp(as_of) < pd.Timestamp(first):
            raise DataValidationError(
                f"as_of {pd.Timestamp(as_of)} is before the first transaction ({first}): no customer has any "
                "history yet; choose a later date"
            )
        query = feature_query("__log", as_of, windows, has_margin="margin" in names["__log"],
                              has_discount="discount" in names["__log"],
                              returns="__returns" if returns is not None else None)
        features = con.sql(query).to_arrow_table().to_pandas().set_index("customer_id")
    finally:
        if own:
            con.close()
    features = features.astype(float)
    features.attrs["as_of"] = str(pd.Timestamp(as_of))
    return features


def _check_feature_log(con, view: str, what: str) -> dict[str, str]:
    """The log's column types, after checking the contract columns, their types and the ids."""
    types = {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()}
    missing = [c for c in ("customer_id", "timestamp", "amount") if c not in types]
    if missing:
        raise DataValidationError(f"Required column {missing[0]!r} missing from {what}; got {list(types)}")
    if not types["timestamp"].upper().startswith("TIMESTAMP") or "TIME ZONE" in types["timestamp"].upper():
        raise DataValidationError(
            f"column 'timestamp' of {what} must be a naive timestamp (got {types['timestamp']}); "
            "run loyalty.data.validate_transactions first"
        )
    rows, missing_ids = con.execute(f"SELECT COUNT(*), COUNT(*) - COUNT(customer_id) FROM {view}").fetchall()[0]
    if rows == 0:
        raise DataValidationError(f"{what} is empty (0 rows)")
    if missing_ids:
        raise DataValidationError(
            f"column 'customer_id' of {what} has {missing_ids:,} missing values; run loyalty.data.validate_transactions first"
        )
    return types


def _copy_parquet(con, query: str, path, names: dict[str, str] | None = None) -> None:
    """Write a query's result to ``path`` atomically (a temporary name, then a rename); ``names`` renames its
    columns (the file's own names for the internal ones), outside SQL."""
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    if names is None:
        con.execute(f"COPY ({query}) TO {_literal(str(partial))} (FORMAT parquet)")
    else:
        reader = con.sql(query).to_arrow_reader(100_000)
        schema = pa.schema([field.with_name(names.get(field.name, field.name)) for field in reader.schema])
        with pq.ParquetWriter(partial, schema) as writer:
            for batch in reader:
                writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=schema))
    partial.replace(path)


def score(summary_path, model, out_path, as_of, interval: float | None = None, batch_rows: int = 500_000,
          connection: duckdb.DuckDBPyConnection | None = None) -> Path:
    """Score every customer of a per-customer summary parquet with a fitted :class:`~loyalty.clv.CLVModel`,
    batch by batch, so memory is bounded by ``batch_rows`` and not by the number of customers.

    Scores (``customer_id``, ``p_alive``, ``expected_purchases``, ``expected_spend``, ``clv`` and the interval
    columns with ``interval``) are written to ``out_path/as_of=<date>/part-0.parquet``; the date's folder is
    replaced as a whole, so re-running a date gives the same output and a failed run leaves the old one.
    """
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    day = str(pd.Timestamp(as_of).date())
    target = Path(out_path) / f"as_of={day}"
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    con = connection or connect()
    writer = None
    try:
        reader = con.sql(f"SELECT * FROM {source_sql(summary_path)}").to_arrow_reader(batch_rows)
        for batch in reader:
            frame = batch.to_pandas().set_index("customer_id")
            scores = pa.Table.from_pandas(model.score(frame, interval=interval).reset_index(), preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(partial / "part-0.parquet", scores.schema)
            writer.write_table(scores)
    finally:
        if writer is not None:
            writer.close()
        if connection is None:
            con.close()
    if target.exists():
        shutil.rmtree(target)
    partial.rename(target)
    return target
