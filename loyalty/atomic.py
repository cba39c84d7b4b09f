"""Atomic file output: write to a temporary file beside the target, then rename over it.

A crash or kill mid-write leaves the previous file (or none), never a half-written file that looks complete.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

__all__ = ["atomic_write", "write_parquet", "write_json", "write_csv"]


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result to ``path`` in one rename; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def write_parquet(frame: pd.DataFrame, path: str | Path, index: bool = True) -> Path:
    return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=index))


def write_csv(frame: pd.DataFrame, path: str | Path, index: bool = True) -> Path:
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=index))


def write_json(data, path: str | Path) -> Path:
    def dump(tmp: Path) -> None:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")

    return atomic_write(path, dump)
