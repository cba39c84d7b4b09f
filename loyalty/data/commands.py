"""``loyalty summarize``: validate a transaction log and write the per-customer summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..atomic import write_parquet
from ..errors import DataValidationError
from .io import read_transactions
from .summary import PERIODS, summarize
from .validate import ValidationResult, validate_transactions


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments every command that reads a transaction log shares."""
    parser.add_argument("transactions", type=Path, help="transaction log: .csv, .csv.gz, .parquet or parquet folder")
    parser.add_argument(
        "--columns", default="", metavar="MAP",
        help="column mapping contract=yours, comma-separated, e.g. customer_id=member,timestamp=sold_at",
    )
    parser.add_argument("--margin-rate", type=float, default=None,
                        help="margin as a share of amount when the log has no margin column")
    parser.add_argument("--keep-duplicates", action="store_true",
                        help="keep exact duplicate rows as genuine repeat records (default: reject them)")
    parser.add_argument("--period", choices=sorted(PERIODS), default="D", help="purchase period (default D)")
    parser.add_argument("--unit", default=None, help="unit of recency and T (default: the period), e.g. W")


def parse_mapping(text: str) -> dict[str, str]:
    mapping = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in part:
            raise DataValidationError(f"--columns entries look like contract=yours; got {part!r}")
        key, value = (s.strip() for s in part.split("=", 1))
        mapping[key] = value
    return mapping


def load_clean(args: argparse.Namespace, cutoff=None) -> ValidationResult:
    """Read and validate the log named in ``args``; prints the row accounting."""
    raw = read_transactions(args.transactions, parse_mapping(args.columns))
    result = validate_transactions(
        raw, cutoff=cutoff, margin_rate=args.margin_rate, duplicates="keep" if args.keep_duplicates else "drop"
    )
    print(f"validation: {result.accounting}")
    return result


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "summarize",
        help="validate a transaction log and write the per-customer RFM summary",
        description="Validate a transaction log (rejected rows written with reasons) and write one row per "
        "customer: frequency, recency, T, monetary_value (and margin, holdout columns). Runs on DuckDB by "
        "default (the log need not fit in memory); --engine pandas or spark for the others.",
    )
    add_input_arguments(parser)
    parser.add_argument("--cutoff", required=True, help="end of the calibration period (inclusive), e.g. 1997-09-30")
    parser.add_argument("--holdout-end", default=None, help="end of a holdout period after the cut-off")
    parser.add_argument("--out", type=Path, required=True, help="summary parquet to write")
    parser.add_argument("--rejects", type=Path, default=None, help="parquet for rejected rows (default: beside --out)")
    parser.add_argument(
        "--engine", choices=("pandas", "duckdb", "spark"), default=None,
        help="duckdb (default: the log is streamed, so it need not fit in memory), pandas (in memory) or spark "
        "(local Spark session unless one is running); the same summary, accounting and rejected rows on each",
    )
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory limit, e.g. 4GB (it spills beyond)")
    parser.set_defaults(func=_summarize)


def _summarize(args) -> int:
    from ..engines import default_engine

    if (args.engine or default_engine(args.transactions)) != "pandas":
        return _summarize_with_engine(args)
    cutoff = args.holdout_end or args.cutoff
    result = load_clean(args, cutoff=cutoff)
    summary = summarize(result.transactions, args.cutoff, period=args.period, holdout_end=args.holdout_end,
                        unit=args.unit)
    write_parquet(summary, args.out)
    rejects_path = args.rejects or args.out.with_name(args.out.stem + "_rejects.parquet")
    write_parquet(result.rejects.astype({c: str for c in result.rejects.columns if c not in ("row",)}),
                  rejects_path, index=False)
    print(f"summary: {len(summary):,} customers -> {args.out}")
    print(f"rejects: {result.accounting.rows_rejected:,} rows -> {rejects_path}")
    return 0


def _summarize_with_engine(args) -> int:
    """``loyalty summarize`` on DuckDB (the default for a file) or Spark: the same summary, accounting and
    rejected rows as in memory. The rejected rows carry no ``row`` number: a parallel scan of a file or a
    folder has no stable row order; rows rejected by netting have their values as validated."""
    from ..engines import default_engine
    from ..engines import summarize as summarize_with

    engine = args.engine or default_engine(args.transactions)
    rejects_path = args.rejects or args.out.with_name(args.out.stem + "_rejects.parquet")
    options = {"rejects_path": rejects_path}
    if engine == "duckdb" and args.memory_limit:
        options["memory_limit"] = args.memory_limit
    if engine == "spark":
        from pyspark.sql import SparkSession

        options["spark"] = SparkSession.builder.master("local[*]").config("spark.ui.enabled", "false").getOrCreate()
    summary, accounting = summarize_with(
        args.transactions, args.cutoff, period=args.period, holdout_end=args.holdout_end, unit=args.unit,
        engine=engine, columns=parse_mapping(args.columns), margin_rate=args.margin_rate,
        duplicates="keep" if args.keep_duplicates else "drop", **options,
    )
    print(f"validation: {accounting}")
    write_parquet(summary, args.out)
    print(f"summary: {len(summary):,} customers -> {args.out} (engine {engine})")
    print(f"rejects: {accounting.rows_rejected:,} rows -> {rejects_path}")
    return 0
