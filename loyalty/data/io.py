"""Reading transaction logs from CSV and parquet files: one definition of what every engine accepts.

:func:`inspect_log` checks a file before any engine reads it and gives its column names, so pandas, DuckDB and Spark
accept the same files, read them the same way (CSV: comma-separated, ``"`` quotes doubled inside quoted fields,
UTF-8, the first record the header, every value as text) and refuse the same ones with the same
:class:`~loyalty.errors.DataReadError`: a missing path, a folder without parquet files, a name that tells no format,
an empty file, a header without rows, a corrupt gzip stream, binary data named ``.csv``, a file named ``.parquet``
that is not parquet. Errors an engine meets later in a file (a truncated gzip stream, a row with too many fields)
are raised as the same exception by each engine.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import DataReadError
from .contract import EVENT_COLUMNS, apply_column_mapping

__all__ = ["read_transactions", "log_format", "inspect_log", "LogFile", "CSV_DIALECT"]

#: How every engine reads a CSV log (pandas' defaults, set explicitly in DuckDB and Spark instead of sniffed).
CSV_DIALECT = {"delimiter": ",", "quote": '"', "escape": '"', "encoding": "utf-8"}
_CSV_SUFFIXES = (".csv", ".csv.gz", ".txt", ".txt.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_PROBE_BYTES = 1 << 16


@dataclass(frozen=True)
class LogFile:
    """A log file (or parquet folder) checked by :func:`inspect_log`.

    Attributes
    ----------
    path : Path
    format : {"csv", "parquet"}
    compression : {"gzip", None}
    columns : tuple of str
        The column names, in file order (CSV: the header; parquet: the schema).
    files : tuple of str
        The parquet files (a folder's, sorted), or the one path.
    header_lines : int
        Physical lines the CSV header takes (more than one when a quoted name holds a line break).
    """

    path: Path
    format: str
    compression: str | None
    columns: tuple[str, ...]
    files: tuple[str, ...]
    header_lines: int = 1


def read_transactions(path: str | Path, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a transaction log from a CSV (optionally gzip-compressed) or parquet file or folder of parquet files.

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

    Raises
    ------
    DataReadError
        The file cannot be read as a log (see :func:`inspect_log`).
    """
    log = inspect_log(path)
    try:
        if log.format == "parquet":
            frame = pd.read_parquet(log.path)
        else:
            frame = pd.read_csv(log.path, dtype=str, keep_default_na=False, na_values=[""], sep=",",
                                quotechar='"', doublequote=True, encoding="utf-8", compression=log.compression)
    except (OSError, EOFError, ValueError, zlib.error, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise read_error(log.path, error) from error
    # a log without amounts is read as purchase events; validate_transactions decides what it can be used for
    return apply_column_mapping(frame, columns, required=EVENT_COLUMNS)


def read_error(path, error: BaseException | str) -> DataReadError:
    """The :class:`DataReadError` for an engine's failure to read ``path``: the error's (or the detail's) first line,
    not a traceback."""
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return DataReadError(f"cannot read {str(path)!r}: {detail[:300]}")


def log_format(path: str | Path) -> str:
    """``"parquet"`` for a ``.parquet``/``.pq`` file or a folder (of parquet files), ``"csv"`` for a
    ``.csv``/``.csv.gz``/``.txt`` file; a :class:`DataReadError` when the path is missing or its name tells
    neither. Every engine reads the same files this way."""
    path = Path(path)
    if not path.exists():
        raise DataReadError(f"transaction file {str(path)!r} does not exist")
    name = path.name.lower()
    if path.is_dir() or name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    raise DataReadError(
        f"cannot tell the format of {str(path)!r}: use a .csv, .csv.gz or .parquet file or a parquet folder"
    )


def inspect_log(path: str | Path) -> LogFile:
    """Check that ``path`` can be read as a log and return its format and column names.

    Raises
    ------
    DataReadError
        Naming the path and the problem: missing, a folder without ``*.parquet`` files, an unknown extension, an
        empty file, a CSV with a header and no rows (or no header), binary or non-UTF-8 data in a CSV, a gzip
        file that is not gzip, a parquet file without parquet's magic bytes or with an unreadable footer.
    """
    path = Path(path)
    kind = log_format(path)
    if kind == "parquet":
        return _inspect_parquet(path)
    return _inspect_csv(path)


def _inspect_parquet(path: Path) -> LogFile:
    import pyarrow.parquet as pq

    if path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if p.is_file())
        if not files:
            raise DataReadError(f"folder {str(path)!r} holds no *.parquet file")
    else:
        files = [path]
    names = None
    for file in files:
        size = file.stat().st_size
        if size == 0:
            raise DataReadError(f"parquet file {str(file)!r} is empty (0 bytes)")
        with open(file, "rb") as handle:
            head = handle.read(4)
            handle.seek(max(0, size - 4))
            tail = handle.read(4)
        if head != b"PAR1" or tail != b"PAR1" or size < 12:
            raise DataReadError(f"{str(file)!r} is not a parquet file (no parquet magic bytes at its start and end)")
        try:
            schema = pq.read_schema(file)
        except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ...: all say the footer is unreadable
            raise read_error(file, error) from error
        if names is None:
            names = tuple(schema.names)
        elif tuple(schema.names) != names:
            raise DataReadError(
                f"parquet files in {str(path)!r} have different columns: {list(names)} and {list(schema.names)} "
                f"({str(file)!r})"
            )
    return LogFile(path, "parquet", None, names, tuple(str(f) for f in files))


def _inspect_csv(path: Path) -> LogFile:
    compression = "gzip" if path.name.lower().endswith(".gz") else None
    if path.stat().st_size == 0:
        raise DataReadError(f"CSV file {str(path)!r} is empty (0 bytes): no header and no rows")
    try:
        if compression:
            with gzip.open(path, "rb") as handle:
                probe = handle.read(_PROBE_BYTES)
        else:
            with open(path, "rb") as handle:
                probe = handle.read(_PROBE_BYTES)
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise DataReadError(f"cannot read {str(path)!r} as gzip-compressed CSV: {error}") from error
    if not probe.strip():
        raise DataReadError(f"CSV file {str(path)!r} holds no header and no rows (only blank space)")
    if b"\x00" in probe:
        raise DataReadError(f"{str(path)!r} is not a text CSV file: it holds NUL bytes (binary data)")
    try:
        text = probe.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(probe) - 3:  # not just a character cut at the probe's end
            raise DataReadError(
                f"{str(path)!r} is not UTF-8 text at byte {error.start:,}: save the CSV as UTF-8"
            ) from error
        text = probe[: error.start].decode("utf-8")
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=",", quotechar='"', doublequote=True, strict=False)
    records = []
    try:
        for record in reader:
            if record:  # pandas skips blank lines
                records.append((record, reader.line_num))
            if len(records) == 2:
                break
    except csv.Error as error:
        raise DataReadError(f"cannot read {str(path)!r} as CSV: {error}") from error
    if not records:
        raise DataReadError(f"CSV file {str(path)!r} holds no header and no rows")
    header, header_lines = records[0]
    if len(records) == 1 and len(probe) < _PROBE_BYTES:
        raise DataReadError(f"CSV file {str(path)!r} has a header ({', '.join(map(repr, header))}) but no rows")
    # the names as pandas gives them (duplicates numbered "a.1", blanks "Unnamed: 2"), for every engine
    names = pd.read_csv(io.StringIO(text, newline=""), nrows=0, dtype=str, sep=",", quotechar='"').columns
    return LogFile(path, "csv", compression, tuple(str(n) for n in names), (str(path),), header_lines)
