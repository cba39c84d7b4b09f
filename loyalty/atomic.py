"""Atomic file output: write to a temporary file beside the target, then rename over it.

A crash or kill mid-write leaves the previous file (or none), never a half-written file that looks complete.

Several processes may write the same path at once (two scoring jobs for one date): each writes its own
temporary file, named after its process (``.<name>.loyalty-<pid>-<host>-<random>.tmp``), and the last rename
wins with a complete file. A temporary file left by a killed writer is removed by the next write of that path,
and only when its process is gone: a running writer's file is never touched.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

__all__ = ["atomic_write", "write_parquet", "write_json", "write_csv", "write_table", "remove_stale_temporaries", "HOST_ID",
           "process_running", "process_started"]

#: This machine, as 8 hex digits (a hash of the host name): which host a temporary file or a run belongs to.
HOST_ID = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
_HOST = HOST_ID
_TEMPORARY = re.compile(r"\.loyalty-(\d+)-([0-9a-f]{8})-[^.]*\.tmp")


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result to ``path`` in one rename; returns ``path``.

    Temporary files of ``path`` left by writers that died (on this host) are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.loyalty-{os.getpid()}-{_HOST}-", suffix=".tmp",
                               dir=path.parent)
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


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove the temporary files of ``path`` whose writing process (on this host) no longer runs; returns them.

    Files of live processes, of other hosts (a shared folder) and of unknown form are kept."""
    path = Path(path)
    removed = []
    prefix = f".{path.name}"
    for candidate in path.parent.glob(f"{glob.escape(prefix)}.loyalty-*.tmp"):
        match = _TEMPORARY.fullmatch(candidate.name[len(prefix):])
        if match and match.group(2) == _HOST and not process_running(int(match.group(1))):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def process_running(pid: int, started: str | None = None) -> bool:
    """Whether process ``pid`` runs on this host; with ``started`` (:func:`process_started` recorded when it
    ran), whether it is still that process and not a later one given the same id."""
    if pid == os.getpid():
        return started is None or started == process_started(pid)
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):
        return False
    except PermissionError:  # another user's process
        pass
    return started is None or process_started(pid) in (None, started)


def process_started(pid: int | None = None) -> str | None:
    """When process ``pid`` (default: this one) started, in clock ticks since boot (Linux ``/proc``); None where
    unknown."""
    try:
        stat = Path(f"/proc/{pid or os.getpid()}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: starttime (fields counted after the command name)


def write_parquet(frame: pd.DataFrame, path: str | Path, index: bool = True) -> Path:
    return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=index))


def write_csv(frame: pd.DataFrame, path: str | Path, index: bool = True) -> Path:
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=index))


def write_table(frame: pd.DataFrame, path: str | Path, index: bool = True) -> Path:
    """Write ``frame`` atomically in the format its name asks for: CSV for ``.csv`` (gzip-compressed for
    ``.csv.gz``), parquet for anything else (``.parquet``, or no suffix)."""
    name = Path(path).name.lower()
    if name.endswith(".csv"):
        return write_csv(frame, path, index=index)
    if name.endswith(".csv.gz"):
        return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=index, compression="gzip"))
    return write_parquet(frame, path, index=index)


def write_json(data, path: str | Path) -> Path:
    def dump(tmp: Path) -> None:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")

    return atomic_write(path, dump)
