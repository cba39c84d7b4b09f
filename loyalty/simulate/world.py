"""The simulated world as a :class:`World` of pandas frames, and its parquet + manifest persistence."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataValidationError, SpecError
from .config import SimulationConfig
from .generate import FORMAT_VERSION, FRAMES, Chunk, check_seed, iter_chunks, schemas

__all__ = ["World", "simulate", "write_world", "MANIFEST"]

MANIFEST = "manifest.json"


def _version() -> str:
    try:
        return metadata.version("loyalty")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(split_blocks=True, self_destruct=True)


# ------------------------------------------------------------------------------------------------ the world
@dataclass
class World:
    """A simulated loyalty programme with known truth.

    Attributes
    ----------
    customers : one row per customer: ``customer_id``, ``acquired_at`` (first purchase) and observable covariates
        (``channel``, ``region``, ``category_mix``, ``tenure_band`` at ``t0``, ``email_engagement``).
    transactions : the ``loyalty.data`` contract: ``customer_id``, ``timestamp``, ``amount`` (paid, currency),
        ``margin`` (currency, after discounts), ``order_id``, ``discount`` (currency). Includes the injected
        partial returns and exact duplicates; netting returns into their order and dropping exact duplicates
        recovers the clean log, which is what the truth describes.
    assignments : one row per customer and campaign: ``customer_id``, ``campaign_id``, ``assigned_at`` (t0),
        ``treatment`` (0/1, or the arm name with several offers), ``propensity`` (probability of the arm
        received), ``contact_cost``, ``discount_rate``, ``coupon_value``.
    truth : latent traits (``lambda`` per day, ``p_dropout``, ``nu``, ``expected_spend``, ``margin_rate``,
        ``alive_at_t0``, ``effect_type``, ``segment``) and, for both arms, the exact expectations
        ``p_buy_*`` (any purchase in the window), ``window_margin_*`` (window margin net of offer cost) and
        ``long_margin_*`` (margin net of offer cost over the horizon, discounted to t0), with the uplifts
        ``response_uplift``, ``margin_uplift``, ``lifecycle_uplift`` (treated − control). With several offers
        the arm columns are ``<outcome>_<arm>`` and the uplifts ``<outcome>_uplift_<arm>`` (see
        :func:`loyalty.simulate.uplift_column`).
    config, seed : what generated it.
    counts : row counts: ``transactions`` (logged rows), ``clean_transactions``, ``returns``, ``duplicates``,
        ``moved_purchases`` and ``unlogged_purchases`` (see :mod:`loyalty.simulate.history`), ``alive_at_t0``,
        ``treated``, ``capped_rate`` (customers whose λ hit ``purchase.max_daily_rate``).
    """

    customers: pd.DataFrame
    transactions: pd.DataFrame
    assignments: pd.DataFrame
    truth: pd.DataFrame
    config: SimulationConfig
    seed: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def t0(self) -> pd.Timestamp:
        """Campaign start: ``start_date + history_days`` (midnight)."""
        cal = self.config.calendar
        return pd.Timestamp(cal.start_date).normalize() + pd.Timedelta(days=cal.history_days)

    @property
    def window_end(self) -> pd.Timestamp:
        """End (exclusive) of the response window."""
        return self.t0 + pd.Timedelta(days=self.config.calendar.response_window_days)

    @property
    def horizon_end(self) -> pd.Timestamp:
        """End (exclusive) of the outcome horizon."""
        return self.t0 + pd.Timedelta(days=self.config.calendar.horizon_days)

    def history(self) -> pd.DataFrame:
        """Transactions before ``t0`` (the pre-campaign history models are fitted on)."""
        return self.transactions[self.transactions["timestamp"] < self.t0].reset_index(drop=True)

    def manifest(self) -> dict[str, Any]:
        return _manifest(self.config, self.seed, self.counts)

    def save(self, directory: str | Path) -> Path:
        """Write the four frames as parquet plus ``manifest.json`` (config, seed, version, counts), atomically.

        Files are written to a temporary directory next to ``directory`` which then replaces it, so readers
        never see a half-written world. The same world always gives byte-identical files.
        """
        schema = schemas(self.config)
        tables = {name: _from_pandas(getattr(self, name), schema[name]) for name in FRAMES}
        return _write_tables(Path(directory), tables, self.manifest())

    @classmethod
    def load(cls, directory: str | Path) -> "World":
        """Read a world written by :meth:`save` or by ``loyalty simulate``."""
        directory = Path(directory)
        path = directory / MANIFEST
        if not path.is_file():
            raise DataValidationError(f"{directory} is not a simulated world: {MANIFEST} is missing")
        manifest = json.loads(path.read_text())
        if manifest.get("format_version") != FORMAT_VERSION:
            raise DataValidationError(f"{path}: format_version {manifest.get('format_version')!r} is not "
                                      f"{FORMAT_VERSION}; regenerate the world with this version of loyalty")
        config = SimulationConfig.from_dict(manifest["config"])
        schema = schemas(config)
        frames = {name: _to_pandas(pq.read_table(directory / f"{name}.parquet", schema=schema[name]))
                  for name in FRAMES}
        return cls(**frames, config=config, seed=manifest["seed"], counts=manifest["counts"])


def _from_pandas(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    return table.replace_schema_metadata(None)


def _manifest(config: SimulationConfig, seed: int, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "format": "loyalty.simulate.world",
        "format_version": FORMAT_VERSION,
        "loyalty_version": _version(),
        "seed": seed,
        "config": config.to_dict(),
        "counts": counts,
        "files": {name: f"{name}.parquet" for name in FRAMES},
        "granularity": "at most one purchase per customer and day: continuous-time BG/NBD history with same-day "
                       "purchases moved to the next free day; day-grid process from t0",
    }


def _add_counts(total: dict[str, int], counts: dict[str, int]) -> None:
    for key, value in counts.items():
        total[key] = total.get(key, 0) + value


@contextmanager
def _atomic_directory(directory: Path) -> Iterator[Path]:
    """Yield a temporary directory next to ``directory`` that replaces it when the block succeeds."""
    directory = directory.resolve()
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
    try:
        yield tmp
        _replace_directory(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_manifest(directory: Path, manifest: dict) -> None:
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _write_tables(directory: Path, tables: dict[str, pa.Table], manifest: dict) -> Path:
    with _atomic_directory(directory) as tmp:
        for name in FRAMES:
            pq.write_table(tables[name], tmp / f"{name}.parquet")
        _write_manifest(tmp, manifest)
    return directory


def _write_chunks(directory: Path, chunks: Iterator[Chunk], config: SimulationConfig, seed: int) -> dict:
    """Stream chunks into one parquet file per frame (one row group per chunk), then the manifest."""
    counts: dict[str, int] = {}
    with _atomic_directory(directory) as tmp:
        schema = schemas(config)
        writers = {name: pq.ParquetWriter(tmp / f"{name}.parquet", schema[name]) for name in FRAMES}
        try:
            for chunk in chunks:
                for name in FRAMES:
                    writers[name].write_table(chunk.tables[name])
                _add_counts(counts, chunk.counts)
        finally:
            for writer in writers.values():
                writer.close()
        manifest = _manifest(config, seed, counts)
        _write_manifest(tmp, manifest)
    return manifest


def _replace_directory(tmp: Path, directory: Path) -> None:
    if directory.exists():
        if not (directory / MANIFEST).is_file() and any(directory.iterdir()):
            raise SpecError(f"refusing to overwrite {directory}: it exists and is not a simulated world")
        old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".old", dir=directory.parent))
        os.replace(directory, old / "world")
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, directory)


# ------------------------------------------------------------------------------------------------ entry points
def simulate(config: SimulationConfig | dict | None = None, seed: int = 0, progress: bool | None = None) -> World:
    """Simulate a loyalty programme with a randomized campaign and its exact ground truth.

    Parameters
    ----------
    config : :class:`SimulationConfig`, a nested dict for :meth:`SimulationConfig.from_dict`, or None (defaults).
    seed : non-negative integer; the same (config, seed) gives identical frames and byte-identical files.
    progress : show a tqdm progress bar (None: only on a terminal with more than one chunk).

    Returns
    -------
    World
        ``customers``, ``transactions``, ``assignments`` and ``truth`` frames (see :class:`World`).

    Examples
    --------
    >>> from loyalty.simulate import SimulationConfig, simulate
    >>> world = simulate(SimulationConfig(n_customers=1000), seed=42)
    >>> len(world.customers), world.t0.date().isoformat()
    (1000, '2024-01-04')
    >>> bool((world.truth["p_buy_treated"] <= 1).all())
    True
    """
    if config is None:
        config = SimulationConfig()
    elif isinstance(config, dict):
        config = SimulationConfig.from_dict(config)
    elif not isinstance(config, SimulationConfig):
        raise SpecError(f"config must be a SimulationConfig or a dict, got {type(config).__name__}")
    seed = check_seed(seed)
    parts: dict[str, list[pa.Table]] = {name: [] for name in FRAMES}
    counts: dict[str, int] = {}
    for chunk in iter_chunks(config, seed, progress):
        for name in FRAMES:
            parts[name].append(chunk.tables[name])
        _add_counts(counts, chunk.counts)
        del chunk
    frames = {}
    for name in FRAMES:
        table = pa.concat_tables(parts.pop(name))
        frames[name] = _to_pandas(table)
        del table
    return World(**frames, config=config, seed=seed, counts=counts)


def write_world(config: SimulationConfig, seed: int, directory: str | Path, progress: bool | None = None) -> dict:
    """Generate a world straight to ``directory`` chunk by chunk (bounded memory, e.g. 10M customers).

    The files have the same content as ``simulate(config, seed).save(directory)`` (one parquet row group per
    chunk) and are written atomically. Returns the manifest.
    """
    seed = check_seed(seed)
    return _write_chunks(Path(directory), iter_chunks(config, seed, progress), config, seed)
