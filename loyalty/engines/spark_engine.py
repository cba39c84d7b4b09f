"""Spark engine: the same validation and summary in Spark SQL, and CLV scoring inside Spark.

Summaries run as Spark SQL over temporary views (the SQL of :mod:`loyalty.engines._sql`); only the collapsed
statistics (or, when asked, the per-customer summary) come back to the driver. Scoring ships the fitted
model's parameters to the executors as a broadcast and scores each partition with ``mapInPandas``, writing
partitioned parquet.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..data.io import inspect_log, read_error
from ..errors import DataValidationError
from . import _sql
from .result import CollapsedStatistics, SummaryResult, finish_summary

__all__ = ["summarize", "read", "score", "SCORE_COLUMNS"]

_DIALECT = _sql.SPARK
#: Columns of the scores written by :func:`score` (besides ``customer_id`` and the partition column ``as_of``).
SCORE_COLUMNS = ("p_alive", "expected_purchases", "expected_spend", "clv")


def read(spark, path) -> "pyspark.sql.DataFrame":  # noqa: F821
    """A log file or parquet folder as a Spark DataFrame, checked first by :func:`loyalty.data.inspect_log` and
    read as pandas reads it (CSV: comma-separated, ``"`` doubled inside quoted fields, values that span lines,
    every column text, the header's names as pandas gives them)."""
    log = inspect_log(path)
    try:
        if log.format == "parquet":
            frame = spark.read.parquet(*log.files)
        else:
            frame = spark.read.csv(str(log.path), header=True, inferSchema=False, sep=",", quote='"', escape='"',
                                   multiLine=True, encoding="UTF-8", mode="FAILFAST", enforceSchema=False)
        return frame.toDF(*log.columns)  # by position: the names never go through Spark's parser
    except Exception as error:  # AnalysisException, Py4JJavaError...: the file could not be read
        raise read_error(log.path, error) from error


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
        if isinstance(source, (str, Path)) and _is_read_failure(error):  # a file that fails part way through
            raise read_error(source, error) from error
        raise


def _is_read_failure(error: BaseException) -> bool:
    """A Spark job failure caused by reading the input (a truncated gzip stream, a malformed CSV row...)."""
    if isinstance(error, DataValidationError):
        return False
    text = str(error)
    return any(word in text for word in ("EOFException", "ZipException", "Malformed", "MALFORMED", "FileReadException",
                                          "FAILED_READ_FILE", "IOException", "Unexpected end of input stream"))


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
