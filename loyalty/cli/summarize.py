"""``loyalty summarize``: validate a transaction log and write the per-customer summary."""

from __future__ import annotations

from pathlib import Path

from ._inputs import ENGINES, add_log_arguments, duplicates, load_clean, parse_mapping


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "summarize",
        help="validate a transaction log and write the per-customer RFM summary",
        description="Validate a transaction log (rejected rows written with reasons) and write one row per "
        "customer: frequency, recency, T, monetary_value (and margin, holdout columns). Runs on DuckDB by "
        "default (the log need not fit in memory); --engine pandas or spark for the others.",
    )
    add_log_arguments(parser)
    parser.add_argument("--cutoff", required=True, help="end of the calibration period (inclusive), e.g. 1997-09-30")
    parser.add_argument("--holdout-end", default=None, help="end of a holdout period after the cut-off")
    parser.add_argument("--out", type=Path, required=True, help="summary to write: parquet, or CSV when the name ends in .csv or .csv.gz")
    parser.add_argument("--rejects", type=Path, default=None, help="parquet for rejected rows (default: beside --out)")
    parser.add_argument(
        "--engine", choices=ENGINES, default=None,
        help="duckdb (default: the log is streamed, so it need not fit in memory), pandas (in memory) or spark "
        "(local Spark session unless one is running); the same summary, accounting and rejected rows on each",
    )
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory limit, e.g. 4GB (it spills beyond)")
    parser.set_defaults(func=_summarize)


def _summarize(args) -> int:
    from ..engines import default_engine

    engine = args.engine or default_engine(args.transactions)
    rejects_path = args.rejects or args.out.with_name(args.out.stem + "_rejects.parquet")
    if engine == "pandas":
        _summarize_in_memory(args, rejects_path)
    else:
        _summarize_on_engine(args, engine, rejects_path)
    return 0


def _summarize_in_memory(args, rejects_path: Path) -> None:
    from ..atomic import write_parquet, write_table
    from ..data import summarize

    result = load_clean(args, cutoff=args.holdout_end or args.cutoff)
    summary = summarize(result.transactions, args.cutoff, period=args.period, holdout_end=args.holdout_end,
                        unit=args.unit)
    write_table(summary, args.out)
    write_parquet(result.rejects.astype({c: str for c in result.rejects.columns if c not in ("row",)}),
                  rejects_path, index=False)
    print(f"summary: {len(summary):,} customers -> {args.out}")
    print(f"rejects: {result.accounting.rows_rejected:,} rows -> {rejects_path}")


def _summarize_on_engine(args, engine: str, rejects_path: Path) -> None:
    """The same summary, accounting and rejected rows on DuckDB (the default for a file) or Spark. The rejected
    rows carry no ``row`` number: a parallel scan of a file or a folder has no stable row order; rows rejected
    by netting have their values as validated."""
    from ..atomic import write_table
    from ..engines import summarize as summarize_with

    options = {"rejects_path": rejects_path}
    if engine == "duckdb" and args.memory_limit:
        options["memory_limit"] = args.memory_limit
    if engine == "spark":
        from pyspark.sql import SparkSession

        options["spark"] = SparkSession.builder.master("local[*]").config("spark.ui.enabled", "false").getOrCreate()
    summary, accounting = summarize_with(
        args.transactions, args.cutoff, period=args.period, holdout_end=args.holdout_end, unit=args.unit,
        engine=engine, columns=parse_mapping(args.columns), margin_rate=args.margin_rate,
        duplicates=duplicates(args), **options,
    )
    print(f"validation: {accounting}")
    write_table(summary, args.out)
    print(f"summary: {len(summary):,} customers -> {args.out} (engine {engine})")
    print(f"rejects: {accounting.rows_rejected:,} rows -> {rejects_path}")
