"""The data step every job shares: the spec's transaction log validated up to the job's date and summarised."""

from __future__ import annotations

import pandas as pd

from ..data import read_transactions, summarize, validate_transactions
from ..errors import SpecError
from .spec import resolve_path, spec_date

__all__ = ["load_log", "load_summary", "summarize_log", "job_date"]


def _source(data: dict, spec: dict):
    """The spec's ``data.source``: the shipped CDNOW log as a frame, or the path of a file that exists."""
    source = data["source"]
    if source in ("cdnow", "cdnow_sample"):
        from ..datasets import load_cdnow

        return load_cdnow(sample=source == "cdnow_sample")
    path = resolve_path(source, spec)
    if not path.exists():
        raise SpecError(f"{spec['__file__']}: field 'data.source': file {source!r} does not exist")
    return path


def load_log(data: dict, spec: dict, cutoff):
    """Read the spec's ``data`` source and validate it up to ``cutoff``; returns the ValidationResult."""
    source = _source(data, spec)
    raw = source if isinstance(source, pd.DataFrame) else read_transactions(source, data.get("columns") or None)
    return validate_transactions(raw, cutoff=cutoff, margin_rate=data.get("margin_rate"),
                                 duplicates=data["duplicates"])


def load_summary(data: dict, spec: dict, cutoff, *, keep_log: bool = False):
    """The spec's data validated up to ``cutoff`` and summarised on ``data.engine``.

    Returns ``(summary, accounting, transactions)``. ``transactions`` is the clean log in memory, which the
    churn and uplift features are built from: with ``keep_log`` on an engine other than pandas it is read and
    validated in memory as well (the summary, the step that grows with the log, stays on the engine);
    otherwise it is ``None`` off pandas.
    """
    engine = data.get("engine") or ("pandas" if data["source"] in ("cdnow", "cdnow_sample") else "duckdb")
    if engine == "pandas":
        result = load_log(data, spec, cutoff)
        return summarize_log(result.transactions, data, cutoff), result.accounting, result.transactions
    from ..engines import summarize as summarize_on

    source = _source(data, spec)
    options = {}
    if engine == "spark":
        from pyspark.sql import SparkSession

        options["spark"] = SparkSession.builder.master("local[*]").config("spark.ui.enabled", "false").getOrCreate()
    summary, accounting = summarize_on(
        source, cutoff, period=data["period"], unit=data["unit"], engine=engine, columns=data.get("columns") or None,
        duplicates=data["duplicates"], margin_rate=data.get("margin_rate"), **options,
    )
    transactions = load_log(data, spec, cutoff).transactions if keep_log else None
    return summary, accounting, transactions


def summarize_log(transactions: pd.DataFrame, data: dict, cutoff, holdout_end=None) -> pd.DataFrame:
    """The customer summary at ``cutoff`` with the spec's ``data.period`` and ``data.unit``."""
    return summarize(transactions, cutoff, period=data["period"], unit=data["unit"], holdout_end=holdout_end)


def job_date(value, override, spec: dict, field: str) -> str:
    """The job's date: ``override`` (``--as-of``) if given, else the spec's ``value``, as ``YYYY-MM-DD``."""
    chosen = override if override is not None else value
    if chosen is None or chosen == "as_of":
        raise SpecError(f"{spec['__file__']}: no {field}: set field {field!r} in the spec or pass --as-of DATE")
    return spec_date(chosen, f"{spec['__file__']}: {field}")
