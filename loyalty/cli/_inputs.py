"""Arguments shared by the commands that read a transaction log, and reading the log they name."""

from __future__ import annotations

import argparse
from pathlib import Path

#: Purchase periods of :func:`loyalty.data.summarize` (``loyalty.data.summary.PERIODS``; a test keeps them equal).
PERIODS = ("D", "W", "h")
#: Engines of :func:`loyalty.engines.summarize` (``loyalty.engines.ENGINES``; a test keeps them equal).
ENGINES = ("pandas", "duckdb", "spark")


def add_log_arguments(parser: argparse.ArgumentParser) -> None:
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
    """``contract=yours,...`` as a dict; raises :class:`loyalty.errors.DataValidationError` on a malformed entry."""
    from ..errors import DataValidationError

    mapping = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in part:
            raise DataValidationError(f"--columns entries look like contract=yours; got {part!r}")
        key, value = (s.strip() for s in part.split("=", 1))
        mapping[key] = value
    return mapping


def duplicates(args: argparse.Namespace) -> str:
    return "keep" if args.keep_duplicates else "drop"


def load_clean(args: argparse.Namespace, cutoff=None):
    """Read and validate the log named in ``args`` (:func:`loyalty.data.validate_transactions`); prints the row
    accounting and returns the :class:`loyalty.data.ValidationResult`."""
    from ..data import read_transactions, validate_transactions

    raw = read_transactions(args.transactions, parse_mapping(args.columns))
    result = validate_transactions(raw, cutoff=cutoff, margin_rate=args.margin_rate, duplicates=duplicates(args))
    print(f"validation: {result.accounting}")
    return result
