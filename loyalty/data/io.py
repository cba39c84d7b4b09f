"""Reading transaction logs from CSV and parquet files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..errors import DataValidationError
from .contract import EVENT_COLUMNS, apply_column_mapping

__all__ = ["read_transactions", "log_format"]


def read_transactions(path: str | Path, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a transaction log from a CSV (optionally compressed) or parquet file or folder of parquet files.

    Values are read as they are (ids and timestamps as text from CSV) so that
    :func:`loyalty.data.validate_transactions` can report bad values instead of a parser silently coercing them.

    Parameters
    ----------
    path : str or Path
        ``*.csv``, ``*.csv.gz``, ``*.parquet`` or a directory of parquet files.
    columns : mapping, optional
        ``{contract_name: user_name}`` column mapping (see :func:`loyalty.data.apply_column_mapping`).

    Returns
    -------
    DataFrame
        The raw log with contract column names.
    """
    if log_format(path) == "parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    # a log without amounts is read as purchase events; validate_transactions decides what it can be used for
    return apply_column_mapping(frame, columns, required=EVENT_COLUMNS)


def log_format(path: str | Path) -> str:
    """``"parquet"`` for a ``.parquet``/``.pq`` file or a folder (of parquet files), ``"csv"`` for a
    ``.csv``/``.csv.gz``/``.txt`` file; a clear error when the file is missing or the name tells neither. Every
    engine reads the same files this way."""
    path = Path(path)
    if not path.exists():
        raise DataValidationError(f"transaction file {str(path)!r} does not exist")
    name = path.name.lower()
    if path.is_dir() or name.endswith((".parquet", ".pq")):
        return "parquet"
    if ".csv" in name or name.endswith(".txt"):
        return "csv"
    raise DataValidationError(
        f"cannot tell the format of {str(path)!r}: use a .csv, .csv.gz or .parquet file or a parquet folder"
    )
