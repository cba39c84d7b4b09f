"""Spark engine: the same validation and summary in Spark SQL, and CLV scoring inside Spark.

Summaries run as Spark SQL over temporary views (the SQL of :mod:`loyalty.engines._sql`); only the collapsed
statistics (or, when asked, the per-customer summary) come back to the driver. Scoring ships the fitted
model's parameters to the executors as a broadcast and scores each partition with ``mapInPandas``, writing
partitioned parquet.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pandas as pd

from ..data.io import inspect_log, read_error
from ..errors import DataValidationError
from . import _sql
from .result import CollapsedStatistics, SummaryResult, finish_summary, not_money

__all__ = ["summarize", "read", "score", "SCORE_COLUMNS"]

_DIALECT = _sql.SPARK
#: How a trusted log's value that cannot be used announces itself from inside Spark (see _check_trusted).
_UNUSABLE = "loyalty: unusable value in column "
#: Columns of the scores written by :func:`score` (besides ``customer_id`` and the partition column ``as_of``).
SCORE_COLUMNS = ("p_alive", "expected_purchases", "expected_spend", "clv")


def read(spark, path) -> "pyspark.sql.DataFrame":  # noqa: F821
    """A log file or parquet folder as a Spark DataFrame, checked first by :func:`loyalty.data.inspect_log` and
    read as pandas reads it (CSV: comma-separated, ``"`` doubled inside quoted fields, values that span lines,
    every column text, the header's names as pandas gives them)."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    log = inspect_log(path)
    try:
        if log.format == "parquet":
            frame = spark.read.parquet(*log.files)
        else:
            frame = spark.read.csv(str(log.path), header=True, inferSchema=False, sep=",", quote='"', escape='"',
                                   multiLine=True, encoding="UTF-8", mode="FAILFAST", enforceSchema=False)
        return frame.toDF(*log.columns)  # by position: the names never go through Spark's parser
    except (PySparkException, Py4JJavaError) as error:  # raised by Spark, which has only read this file so far
        raise read_error(log.path, _read_failure(error, log.path) or error) from error


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
    spark=None,
) -> SummaryResult:
    """Validate and summarise a Spark DataFrame (or a path read by Spark); see :func:`loyalty.engines.summarize`."""
    from pyspark.sql import DataFrame, SparkSession

    if isinstance(source, DataFrame):
        frame = source
        spark = spark or frame.sparkSession
    else:
        spark = spark or SparkSession.getActiveSession()
        if spark is None:
            raise DataValidationError("engine='spark' needs a SparkSession: pass spark=<session> or start one")
        frame = read(spark, source) if isinstance(source, (str, Path)) else spark.createDataFrame(source)
    cols = _sql.columns_from_types(dict(frame.dtypes), columns)
    # the SQL names the columns by position (see SourceColumns): the source's names never become SQL text
    frame.toDF(*cols.internal).createOrReplaceTempView("__raw")
    try:
        return _summarize_views(spark, cols, cutoff, period, holdout_end, unit, validate=validate,
                                duplicates=duplicates, margin_rate=margin_rate, collapse=collapse,
                                summary_path=summary_path, rejects_path=rejects_path, date_format=date_format)
    except Exception as error:
        typed = None if isinstance(error, DataValidationError) else _typed_error(error, source, cols, validate)
        if typed is not None:
            raise typed from error
        raise


def _typed_error(error: BaseException, source, cols: _sql.SourceColumns, validate: bool) -> DataValidationError | None:
    """The project's error for a Spark failure that has one: the input file failing part way through (a truncated
    gzip stream, a corrupt page), or a trusted log's money that is not money; None for every other failure, which
    propagates as Spark raised it."""
    failure = _read_failure(error, source) if isinstance(source, (str, Path)) else None
    if failure is not None:
        return read_error(source, failure)
    value = None if validate else _unusable(error)
    if value is None:
        return None
    column, text = value
    shown = f"column {cols.original[cols.internal.index(column)]!r} holds {text!r}"
    if column == "timestamp":
        return DataValidationError(f"the log (validate=False) holds a timestamp that is not a date and time: {shown}; "
                                   "validate it (validate=True)")
    return DataValidationError(not_money(shown))


def _spark_errors(error: BaseException):
    """``(condition, message parameters, message, class name)`` of a PySpark error and of every exception behind it:
    Python causes, and the Java exception and its causes (outermost first)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        condition = getattr(error, "getCondition", None) or getattr(error, "getErrorClass", None)  # 4.x or 3.5
        if condition is not None:
            yield condition(), dict(error.getMessageParameters() or {}), str(error), type(error).__name__
        java = getattr(error, "java_exception", None)  # a Py4JJavaError: the JVM's exception
        for _ in range(50):  # a cause chain is short; the bound only guards against a cycle
            if java is None:
                break
            yield (*_java_condition(java), str(java.getMessage() or ""), str(java.getClass().getSimpleName()))
            java = java.getCause()
        error = error.__cause__ or error.__context__


def _java_condition(java) -> tuple[str | None, dict]:
    """The error condition and message parameters of a Java exception (``(None, {})`` if it is no SparkThrowable)."""
    from py4j.protocol import Py4JError

    for method in ("getCondition", "getErrorClass"):  # Spark 4.x, 3.5
        try:
            return getattr(java, method)(), dict(java.getMessageParameters() or {})
        except Py4JError:  # not a SparkThrowable, or no such method in this Spark version
            continue
    return None, {}


#: Spark's errors for a failure while reading a file (4.x; 3.5's legacy name), with the file as parameter ``path``.
_READ_FILE_CONDITIONS = ("FAILED_READ_FILE", "_LEGACY_ERROR_TEMP_2064")


def _read_failure(error: BaseException, source) -> str | None:
    """What went wrong, when ``error`` is Spark's failure to read a file of the input ``source`` (a file or parquet
    folder); None for every other error, however it is worded (a spill or checkpoint ``IOException``, a bad
    value, an output that cannot be written).

    Spark reports a failure inside a file (a truncated gzip stream, a corrupt parquet page, a malformed CSV
    record) as ``FAILED_READ_FILE`` naming the file's URL; the detail is the innermost cause."""
    errors = list(_spark_errors(error))
    for i, (condition, parameters, _, _) in enumerate(errors):
        if not (condition or "").startswith(_READ_FILE_CONDITIONS) or "path" not in parameters:
            continue
        failed = _local_path(parameters["path"])
        if failed is None or not _within(failed, Path(source)):
            continue
        causes = [(message, name) for _, _, message, name in errors[i + 1:] if message.strip()]
        message, name = causes[-1] if causes else errors[i][2:]
        detail = f"{name}: {message.strip().splitlines()[0]}"
        return detail if _same(failed, Path(source)) else f"{detail} (in {str(failed)!r})"
    return None


def _local_path(url: str) -> Path | None:
    """The local path of a file URL as Spark spells it (``file:///a%20b/log.csv``); None for another scheme."""
    parts = urlsplit(url)
    if parts.scheme not in ("file", ""):
        return None
    return Path(unquote(parts.path))


def _same(a: Path, b: Path) -> bool:
    return os.path.abspath(a) == os.path.abspath(b) or os.path.realpath(a) == os.path.realpath(b)


def _within(path: Path, source: Path) -> bool:
    """``path`` is ``source`` or a file of the folder ``source`` (symbolic links resolved or not)."""
    for resolve in (os.path.abspath, os.path.realpath):
        inner, outer = Path(resolve(path)), Path(resolve(source))
        if inner == outer or outer in inner.parents:
            return True
    return False


def _check_trusted(spark, cols) -> None:
    """Put a check in front of ``__raw`` for the trusted path: an amount or margin that is not money (NaN,
    infinite, at least ``MONEY_MAX`` in magnitude, or text that is no number), or a timestamp that is no date and
    time, raises (``raise_error``, read by :func:`_unusable`) where the clean step reads it. Without the check
    Spark's casts give NULL for NaN and infinities, dropping the money silently, and with ANSI mode off for any
    value they cannot parse (a row whose timestamp is not one vanished); with ANSI mode on, Spark's own errors.

    The check is part of the same scan, and parses each value once: it passes on the parsed value, which the clean
    step's cast then leaves as it is."""
    d = _DIALECT
    parse, select = [], []
    for i, name in enumerate(cols.names):
        column = d.ident(name)
        if name in ("amount", "margin", "timestamp"):
            parsed = f"__parsed{i}"
            parse.append(f"{d.try_timestamp(column) if name == 'timestamp' else d.try_double(column)} AS {parsed}")
            usable = f"{parsed} IS NOT NULL" if name == "timestamp" else d.is_money(parsed)
            shown = f"substring(CAST({column} AS STRING), 1, 60)"
            fail = f"raise_error(concat({d.text(_UNUSABLE + name + ': ')}, {shown}))"
            column = f"CASE WHEN {usable} OR {column} IS NULL THEN {parsed} ELSE {fail} END AS {column}"
        select.append(column)
    # parsed in a projection of its own, which Spark keeps (it does not inline an expression read twice); the view
    # holds the analysed plan, so the new __raw reads the old one
    parsed = f"(SELECT *, {', '.join(parse)} FROM __raw)"
    spark.sql(f"SELECT {', '.join(select)} FROM {parsed}").createOrReplaceTempView("__raw")


def _unusable(error: BaseException) -> tuple[str, str] | None:
    """``(column, value)`` when ``error`` is the check of :func:`_check_trusted` failing."""
    for condition, parameters, message, _ in _spark_errors(error):
        if condition == "USER_RAISED_EXCEPTION":  # Spark 4.x; 3.5 raises a RuntimeException of the bare message
            message = parameters.get("errorMessage", "")
        if message.startswith(_UNUSABLE):
            column, _, value = message[len(_UNUSABLE):].partition(": ")
            return column, value
    return None


def _summarize_views(spark, cols, cutoff, period, holdout_end, unit, *, validate, duplicates, margin_rate, collapse,
                     summary_path, rejects_path, date_format) -> SummaryResult:
    """The validation and summary steps over the view ``__raw``."""
    def fetch(sql):
        return [tuple(row) for row in spark.sql(sql).collect()]

    if validate:
        _sql.fractional_ids(fetch, _DIALECT, cols.contract)
        steps = _sql.validation_steps(_DIALECT, cols.contract, cutoff=holdout_end or cutoff,
                                      duplicates=duplicates, margin_rate=margin_rate, date_format=date_format)
    else:
        _check_trusted(spark, cols.contract)
        steps = [_sql.Step("clean", _sql.trusted_clean(_DIALECT, cols.contract, margin_rate))]
    has_margin = cols.contract.has_margin or margin_rate is not None
    steps += _sql.summary_steps(_DIALECT, cutoff=cutoff, period=period, unit=unit or period,
                                holdout_end=holdout_end, has_margin=has_margin)
    persisted = []
    for step in steps:
        view = spark.sql(step.sql)
        if step.table or step.name in ("__customers", "summary"):  # read by several queries: computed once
            # a local checkpoint, not persist(): it also cuts the lineage, so that plans reading several of
            # these steps stay small (cached plans nest their sources' plans, and grow with every step)
            view = view.localCheckpoint(eager=True)
            persisted.append(view)
        view.createOrReplaceTempView(step.name)
    try:
        accounting = None
        if validate:
            accounting = _sql.validated_accounting(fetch, cols.contract.has_order_id, duplicates,
                                                    cols.contract.timestamp_kind == "string")
        if rejects_path is not None and validate:
            query = _sql.rejected_rows_query(_DIALECT, cols.contract, cutoff=holdout_end or cutoff,
                                             duplicates=duplicates, margin_rate=margin_rate, date_format=date_format)
            names = _sql.original_names(cols)
            rejected = spark.sql(query)
            rejected.toDF(*[names.get(c, c) for c in rejected.columns]).write.mode("overwrite").parquet(
                str(rejects_path))
        if summary_path is not None:
            spark.table("summary").write.mode("overwrite").parquet(str(summary_path))
        settings = {"period": period, "unit": unit or period, "cutoff": cutoff, "holdout_end": holdout_end}
        if collapse:
            queries = _sql.collapse_steps(_DIALECT)
            return SummaryResult(
                CollapsedStatistics.from_frames(
                    spark.sql(queries["bgnbd"]).toPandas(), spark.sql(queries["gamma_gamma"]).toPandas(), settings
                ),
                accounting,
            )
        return SummaryResult(finish_summary(spark.table("summary").toPandas(), settings), accounting)
    finally:
        for view in persisted:
            view.unpersist()


def score(summary, model, out_path, as_of, interval: float | None = None) -> Path:
    """Score every customer of a Spark summary with a fitted :class:`~loyalty.clv.CLVModel`, inside Spark.

    The model's parameters go to the executors once as a broadcast; each partition is scored with
    ``mapInPandas`` (the same :meth:`CLVModel.score` as on one machine) and written as parquet partitioned by
    ``as_of``, overwriting only that date's partition, so re-running a date gives the same output.

    Parameters
    ----------
    summary : pyspark DataFrame
        Per-customer summary (``customer_id``, ``frequency``, ``recency``, ``T``, ``monetary_value``, and
        ``margin_rate`` for margin CLV without a fixed rate), e.g. written by ``summarize(..., summary_path=...)``.
    model : CLVModel
        Fitted (e.g. on the collapsed statistics).
    out_path : path
        Parquet folder; the scores land in ``out_path/as_of=<date>/``.
    as_of : date-like
        Scoring date (the summary's cut-off).
    interval : float, optional
        Also the ``clv_lower``/``clv_upper`` interval at this level.
    """
    from pyspark.sql import functions as F

    spark = summary.sparkSession
    state = spark.sparkContext.broadcast(model.to_dict())
    columns = ["customer_id", *SCORE_COLUMNS] + (["clv_se", "clv_lower", "clv_upper"] if interval else [])
    id_type = dict(summary.dtypes)["customer_id"]
    schema = ", ".join([f"customer_id {id_type}"] + [f"{c} double" for c in columns[1:]])

    def score_partition(batches):
        from loyalty.clv import CLVModel

        fitted = CLVModel.from_dict(state.value)
        for batch in batches:
            if len(batch) == 0:
                continue
            scores = fitted.score(batch.set_index("customer_id"), interval=interval)
            yield scores.reset_index()[columns]

    day = str(pd.Timestamp(as_of).date())
    scores = summary.mapInPandas(score_partition, schema).withColumn("as_of", F.lit(day))
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    scores.write.mode("overwrite").partitionBy("as_of").parquet(str(out_path))
    state.unpersist()
    return Path(out_path)
