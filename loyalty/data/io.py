"""Reading transaction logs from CSV and parquet files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..errors import DataValidationError
from .contract import apply_column_mapping

__all__ = ["read_transactions"]


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
    path = Path(path)
    if not path.exists():
        raise DataValidationError(f"transaction file {str(path)!r} does not exist")
    name = path.name.lower()
    if path.is_dir() or name.endswith(".parquet") or name.endswith(".pq"):
        frame = pd.read_parquet(path)
    elif ".csv" in name or name.endswith(".txt"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    else:
        raise DataValidationError(
            f"cannot tell the format of {str(path)!r}: use a .csv, .csv.gz or .parquet file or a parquet folder"
        )
    return apply_column_mapping(frame, columns)
