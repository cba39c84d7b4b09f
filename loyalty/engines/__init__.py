"""Engines: the same validation and summary on pandas frames, files through DuckDB, or Spark DataFrames.

>>> from loyalty.engines import summarize
>>> summary, accounting = summarize("transactions.parquet", cutoff="2024-06-30")   # doctest: +SKIP

- ``engine="pandas"``: in-memory frames (:func:`loyalty.data.validate_transactions` + :func:`loyalty.data.summarize`).
- ``engine="duckdb"``: CSV / parquet files or folders of parquet, streamed with bounded memory (the default
  for a path).
- ``engine="spark"``: Spark DataFrames, or paths read by Spark (the default for a Spark DataFrame).

Every engine gives the same summary and the same :class:`~loyalty.data.RowAccounting`. With ``collapse=True``
the result is :class:`CollapsedStatistics` (unique (frequency, recency, T) rows with ``weights``), which is
all the models need to fit, so fitting a hundred million customers stays on one machine.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..data.io import read_transactions
from ..data.rules import check_margin_rate, format_regex
from ..data.summary import PERIODS
from ..data.summary import summarize as _pandas_summarize
from ..data.validate import validate_transactions
from ..errors import DataValidationError
from .result import CollapsedStatistics, SummaryResult, collapsed_statistics

__all__ = [
    "ENGINES", "summarize", "score", "default_engine", "collapsed_statistics", "CollapsedStatistics", "SummaryResult",
]

ENGINES = ("pandas", "duckdb", "spark")


def default_engine(source) -> str:
    """``pandas`` for a pandas DataFrame, ``spark`` for a Spark DataFrame, ``duckdb`` for a path."""
    if isinstance(source, pd.DataFrame):
        return "pandas"
    if isinstance(source, (str, Path)):
        return "duckdb"
    if type(source).__module__.startswith("pyspark"):
        return "spark"
    raise DataValidationError(
        f"cannot summarise a {type(source).__name__}: pass a pandas DataFrame, a Spark DataFrame or a path"
    )


def summarize(
    source,
    cutoff,
    period: str = "D",
    holdout_end=None,
    unit: str | None = None,
    *,
    engine: str | None = None,
    columns: dict | None = None,
    validate: bool = True,
    duplicates: str = "drop",
    margin_rate: float | None = None,
    collapse: bool = False,
    date_format: str | None = None,
    **engine_options,
) -> SummaryResult:
    """Validate a raw transaction log and summarise it per customer, on the engine that suits its size.

    Parameters
    ----------
    source : pandas DataFrame, Spark DataFrame, or path
        A raw log (``customer_id``, ``timestamp``, ``amount``, optionally ``margin``, ``order_id``, ...): a
        ``.csv``/``.csv.gz``/``.parquet`` file or a folder of parquet files for DuckDB and Spark.
    cutoff, period, holdout_end, unit :
        As in :func:`loyalty.data.summarize` (calibration up to ``cutoff``; holdout ``(cutoff, holdout_end]``).
    engine : {"pandas", "duckdb", "spark"}, optional
        Default: :func:`default_engine`.
    columns : mapping, optional
        ``{contract_name: your_name}``.
    validate : bool, default True
        Apply :func:`loyalty.data.validate_transactions` (rows after ``holdout_end or cutoff`` are rejected
        as ``after_cutoff``). ``False`` trusts the log (already clean): no accounting, fastest.
    duplicates : {"drop", "keep"}
        Exact duplicate rows rejected (default) or kept.
    margin_rate : float, optional
        Margin as a share of amount when the log has no ``margin``.
    collapse : bool, default False
        Return :class:`CollapsedStatistics` instead of the per-customer summary.
    date_format : str, optional
        How timestamp text is written when not ISO 8601 (``"%d/%m/%Y"``): see
        :func:`loyalty.data.validate_transactions`. The same rules (:mod:`loyalty.data.rules`) on every engine.
    **engine_options :
        DuckDB: ``memory_limit`` (e.g. ``"4GB"``), ``temp_directory``, ``threads``, ``summary_path`` (write the
        per-customer summary there as parquet, for scoring), ``rejects_path`` (write every rejected row there
        with its ``reason``, columns as text: one more pass over the log), ``connection``. Spark: ``spark``
        (the session), ``summary_path``, ``rejects_path`` (a parquet folder).

    Returns
    -------
    SummaryResult
        ``(summary, accounting)``: the summary as :func:`loyalty.data.summarize` returns it (or the collapsed
        statistics) and the :class:`~loyalty.data.RowAccounting` (``None`` with ``validate=False``).
    """
    if period not in PERIODS:
        raise DataValidationError(f"period must be one of {sorted(PERIODS)}, got {period!r}")
    if duplicates not in ("drop", "keep"):
        raise DataValidationError(f"duplicates must be 'drop' or 'keep', got {duplicates!r}")
    if holdout_end is not None and pd.Timestamp(holdout_end) <= pd.Timestamp(cutoff):
        raise DataValidationError(f"holdout_end {holdout_end} must be after cutoff {cutoff}")
    margin_rate = check_margin_rate(margin_rate)
    if date_format is not None:
        format_regex(date_format)  # a SpecError for a format the rules cannot read, before any engine starts
    engine = engine or default_engine(source)
    if engine not in ENGINES:
        raise DataValidationError(f"engine must be one of {ENGINES}, got {engine!r}")
    options = dict(columns=columns, validate=validate, duplicates=duplicates, margin_rate=margin_rate,
                   collapse=collapse, date_format=date_format)
    if engine == "duckdb":
        from . import duckdb_engine

        return duckdb_engine.summarize(source, cutoff, period, holdout_end, unit, **options, **engine_options)
    if engine == "spark":
        from . import spark_engine

        return spark_engine.summarize(source, cutoff, period, holdout_end, unit, **options, **engine_options)
    if engine_options:
        raise DataValidationError(f"options {sorted(engine_options)} do not apply to engine='pandas'")
    return _summarize_pandas(source, cutoff, period, holdout_end, unit, **options)


def _summarize_pandas(source, cutoff, period, holdout_end, unit, *, columns, validate, duplicates, margin_rate,
                      collapse, date_format=None) -> SummaryResult:
    if not isinstance(source, pd.DataFrame):  # a path: read with the mapping, which then is applied
        source, columns = read_transactions(source, columns), None
    raw = source
    accounting = None
    if validate:
        result = validate_transactions(raw, columns=columns, cutoff=holdout_end or cutoff, duplicates=duplicates,
                                       margin_rate=margin_rate, date_format=date_format)
        clean, accounting = result.transactions, result.accounting
    else:
        clean = raw.rename(columns={v: k for k, v in (columns or {}).items()})
        if margin_rate is not None and "margin" not in clean.columns:  # as the validator and the SQL engines do
            clean = clean.assign(margin=clean["amount"] * margin_rate)
    summary = _pandas_summarize(clean, cutoff, period=period, holdout_end=holdout_end, unit=unit)
    return SummaryResult(collapsed_statistics(summary) if collapse else summary, accounting)


def score(summary, model, out_path, as_of, *, engine: str | None = None, interval: float | None = None,
          **engine_options) -> Path:
    """Score every customer of a per-customer summary with a fitted :class:`~loyalty.clv.CLVModel` and write
    the scores to ``out_path/as_of=<date>/`` (parquet), replacing that date's scores.

    ``summary`` is a pandas summary (``engine="pandas"``), the path of a summary parquet written by
    ``summarize(..., summary_path=...)`` (``"duckdb"``: scored in batches, bounded memory) or a Spark DataFrame
    (``"spark"``: ``mapInPandas`` with the parameters broadcast). Returns the date's folder.
    """
    engine = engine or default_engine(summary)
    if engine == "duckdb":
        from . import duckdb_engine

        return duckdb_engine.score(summary, model, out_path, as_of, interval=interval, **engine_options)
    if engine == "spark":
        from . import spark_engine

        return spark_engine.score(summary, model, out_path, as_of, interval=interval) / f"as_of={_day(as_of)}"
    if engine != "pandas":
        raise DataValidationError(f"engine must be one of {ENGINES}, got {engine!r}")
    from ..atomic import write_parquet

    target = Path(out_path) / f"as_of={_day(as_of)}"
    write_parquet(model.score(summary, interval=interval).reset_index(), target / "part-0.parquet", index=False)
    return target


def _day(as_of) -> str:
    return str(pd.Timestamp(as_of).date())
