"""Generate the world chunk by chunk, hold it as a :class:`World`, and save/load it as parquet + manifest.

Each chunk of ``config.chunk_size`` customers is generated from its own random streams, derived from
``(seed, chunk index)`` with ``numpy.random.SeedSequence``; within a chunk, population, history, assignment,
outcomes and data-quality noise each have their own stream, so switching the noise off (or changing the
campaign) leaves the clean history unchanged. Output is a function of (config, seed) only.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataValidationError, SpecError
from .campaign import arm_behaviour, arm_expectations, assign, simulate_outcomes
from .config import COVARIATES, EFFECT_TYPES, SimulationConfig
from .history import purchase_days
from .population import Population, draw_population

__all__ = ["World", "simulate", "iter_chunks", "write_world", "FORMAT_VERSION", "FRAMES"]

#: Version of the on-disk layout and of the generating process; bumped when either changes.
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_NS_PER_DAY = 86_400 * 10**9
_NS_PER_SECOND = 10**9

SCHEMAS: dict[str, pa.Schema] = {
    "customers": pa.schema([
        ("customer_id", pa.string()), ("acquired_at", pa.timestamp("ns")), ("channel", pa.string()),
        ("region", pa.string()), ("category_mix", pa.string()), ("tenure_band", pa.string()),
        ("email_engagement", pa.float64()),
    ]),
    "transactions": pa.schema([
        ("customer_id", pa.string()), ("timestamp", pa.timestamp("ns")), ("amount", pa.float64()),
        ("margin", pa.float64()), ("order_id", pa.string()), ("discount", pa.float64()),
    ]),
    "assignments": pa.schema([
        ("customer_id", pa.string()), ("campaign_id", pa.string()), ("assigned_at", pa.timestamp("ns")),
        ("treatment", pa.int8()), ("propensity", pa.float64()), ("contact_cost", pa.float64()),
        ("discount_rate", pa.float64()), ("coupon_value", pa.float64()),
    ]),
    "truth": pa.schema([
        ("customer_id", pa.string()), ("campaign_id", pa.string()), ("lambda", pa.float64()),
        ("p_dropout", pa.float64()), ("nu", pa.float64()), ("expected_spend", pa.float64()),
        ("margin_rate", pa.float64()), ("alive_at_t0", pa.bool_()), ("effect_type", pa.string()),
        ("segment", pa.string()), ("treatment", pa.int8()),
        ("p_buy_control", pa.float64()), ("p_buy_treated", pa.float64()),
        ("window_margin_control", pa.float64()), ("window_margin_treated", pa.float64()),
        ("long_margin_control", pa.float64()), ("long_margin_treated", pa.float64()),
        ("response_uplift", pa.float64()), ("margin_uplift", pa.float64()), ("lifecycle_uplift", pa.float64()),
    ]),
}
FRAMES = tuple(SCHEMAS)


def _version() -> str:
    try:
        return metadata.version("loyalty")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def _id_width(n_customers: int) -> int:
    return max(7, len(str(n_customers)))


def _fixed_width_strings(parts: list[bytes | tuple[np.ndarray, int]]) -> pa.Array:
    """Strings built from literal bytes and zero-padded integers, without Python string objects.

    ``parts`` is a list of literal ``bytes`` and ``(numbers, width)`` pairs, concatenated per row.
    """
    n = next(len(p[0]) for p in parts if isinstance(p, tuple))
    widths = [len(p) if isinstance(p, bytes) else p[1] for p in parts]
    total = sum(widths)
    buf = np.empty((n, total), dtype=np.uint8)
    col = 0
    for part, width in zip(parts, widths):
        if isinstance(part, bytes):
            buf[:, col:col + width] = np.frombuffer(part, dtype=np.uint8)
        else:
            numbers = np.asarray(part[0], dtype=np.int64).copy()
            for position in range(col + width - 1, col - 1, -1):  # least significant digit last
                numbers, digit = np.divmod(numbers, 10)
                buf[:, position] = digit + 48
        col += width
    offsets = np.arange(0, (n + 1) * total, total, dtype=np.int32) if n else np.zeros(1, np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf.reshape(-1)))


def _labels(codes: np.ndarray, levels: tuple[str, ...]) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(list(levels))).cast(pa.string())


# ------------------------------------------------------------------------------------------------ a chunk
@dataclass
class _Chunk:
    tables: dict[str, pa.Table]
    counts: dict[str, int]


def _chunk(config: SimulationConfig, seed: int, index: int, first: int, n: int) -> _Chunk:
    """Generate customers ``first + 1 .. first + n`` (ids are 1-based)."""
    streams = np.random.SeedSequence(seed, spawn_key=(index,)).spawn(6)
    rng_pop, rng_hist, rng_assign, rng_out, rng_noise, rng_clock = (np.random.default_rng(s) for s in streams)
    cal, cam = config.calendar, config.campaign
    t0 = cal.history_days
    start_ns = pd.Timestamp(cal.start_date).normalize().value

    pop = draw_population(rng_pop, n, config)
    # History: first purchase on the acquisition day, then the day-grid BG/NBD process up to t0 - 1.
    hist_c, hist_d, alive_t0 = purchase_days(rng_hist, pop.acquired_day, t0 - 1, pop.lam, pop.p_dropout,
                                             np.ones(n, bool))
    treatment, propensity = assign(rng_assign, pop, config)
    post_c, post_d, in_window, _ = simulate_outcomes(rng_out, pop, alive_t0, treatment, config)

    # Spend and time of day are drawn per phase, history first, so the campaign never changes the history.
    before_c = np.concatenate([np.arange(n), hist_c])
    spend = np.concatenate([rng_hist.gamma(config.spend.p, 1.0 / pop.nu[before_c]),
                            rng_out.gamma(config.spend.p, 1.0 / pop.nu[post_c])])
    seconds = np.concatenate([rng_clock.integers(0, 86_400, size=before_c.size),
                              rng_clock.integers(0, 86_400, size=post_c.size)])
    # Uniforms for the data-quality noise, one row of 5 per clean row (same order, history first).
    noise_draws = np.concatenate([rng_noise.random((before_c.size, 5)), rng_noise.random((post_c.size, 5))])
    cust = np.concatenate([before_c, post_c])
    day = np.concatenate([pop.acquired_day.astype(np.int64), hist_d, post_d])
    window = np.concatenate([np.zeros(before_c.size, bool), in_window])
    order = np.argsort(cust, kind="stable")  # phases and rounds are already in time order per customer
    cust, day, window, spend, seconds = cust[order], day[order], window[order], spend[order], seconds[order]
    noise_draws = noise_draws[order]

    treated_row = window & (treatment[cust] == 1)
    discount = np.where(treated_row, spend * cam.discount_rate, 0.0)
    if cam.coupon_value > 0:
        first_in_window = treated_row & np.r_[True, (cust[1:] != cust[:-1]) | ~window[:-1]]
        coupon = np.where(first_in_window, np.minimum(cam.coupon_value, spend - discount), 0.0)
        discount = discount + coupon
    amount = spend - discount
    margin = spend * pop.margin_rate[cust] - discount
    timestamp = start_ns + day * _NS_PER_DAY + seconds * _NS_PER_SECOND
    starts = np.flatnonzero(np.r_[True, cust[1:] != cust[:-1]])
    sequence = np.arange(cust.size) - np.repeat(starts, np.diff(np.r_[starts, cust.size])) + 1

    counts = {"clean_transactions": int(cust.size), "returns": 0, "duplicates": 0}
    cust, timestamp, amount, margin, discount, sequence, counts = _inject_noise(
        noise_draws, config, cust, timestamp, amount, margin, discount, sequence, counts,
        end_ns=start_ns + (t0 + cal.horizon_days) * _NS_PER_DAY - _NS_PER_SECOND,
    )

    width = _id_width(config.n_customers)
    number = first + 1 + np.arange(n)
    customer_id = _fixed_width_strings([b"C", (number, width)])
    row_number = first + 1 + cust
    transactions = pa.table({
        "customer_id": _fixed_width_strings([b"C", (row_number, width)]),
        "timestamp": pa.array(timestamp.astype("datetime64[ns]")),
        "amount": amount, "margin": margin,
        "order_id": _fixed_width_strings([b"O", (row_number, width), b"-", (sequence, 5)]),
        "discount": discount,
    }, schema=SCHEMAS["transactions"])

    t0_ns = start_ns + t0 * _NS_PER_DAY
    customers = pa.table({
        "customer_id": customer_id,
        "acquired_at": pa.array((start_ns + pop.acquired_day.astype(np.int64) * _NS_PER_DAY).astype("datetime64[ns]")),
        **{name: _labels(getattr(pop, name), levels) for name, levels in COVARIATES.items()},
        "email_engagement": pop.email_engagement,
    }).select(SCHEMAS["customers"].names).cast(SCHEMAS["customers"])
    assignments = pa.table({
        "customer_id": customer_id,
        "campaign_id": pa.array([cam.campaign_id] * n, pa.string()),
        "assigned_at": pa.array(np.full(n, t0_ns, dtype=np.int64).astype("datetime64[ns]")),
        "treatment": treatment, "propensity": propensity,
        "contact_cost": np.full(n, float(cam.contact_cost)), "discount_rate": np.full(n, float(cam.discount_rate)),
        "coupon_value": np.full(n, float(cam.coupon_value)),
    }, schema=SCHEMAS["assignments"])
    truth = _truth_table(pop, alive_t0, treatment, customer_id, config)
    counts.update(customers=n, transactions=transactions.num_rows, alive_at_t0=int(alive_t0.sum()),
                  treated=int(treatment.sum()), capped_rate=int((pop.lam >= config.purchase.max_daily_rate).sum()))
    return _Chunk({"customers": customers, "transactions": transactions, "assignments": assignments,
                   "truth": truth}, counts)


def _inject_noise(draws, config, cust, timestamp, amount, margin, discount, sequence, counts, end_ns):
    """Add partial returns (negative rows sharing the order id) and exact duplicate rows.

    ``draws`` holds five uniforms per clean row (return?, returned fraction, delay in days, delay in seconds,
    duplicate?), so a row's noise does not depend on how many rows other phases produced.
    """
    noise = config.noise
    columns = {"amount": amount, "margin": margin, "discount": discount}
    extra: list[dict[str, np.ndarray]] = []
    if noise.returns and noise.return_share > 0:
        idx = np.flatnonzero((draws[:, 0] < noise.return_share) & (amount > 0) & (margin > 0))
        low, high = noise.return_fraction_min, noise.return_fraction_max
        fraction = low + (high - low) * draws[idx, 1]
        returned = {}
        for name, col in list(columns.items()):
            gross = col[idx] / (1.0 - fraction)
            returned[name] = col[idx] - gross  # gross + returned == clean value (up to rounding)
            columns[name] = col.copy()
            columns[name][idx] = gross
        delay = (1 + np.floor(14 * draws[idx, 2]).astype(np.int64)) * _NS_PER_DAY \
            + np.floor(86_400 * draws[idx, 3]).astype(np.int64) * _NS_PER_SECOND
        extra.append({"cust": cust[idx], "timestamp": np.minimum(timestamp[idx] + delay,
                                                                 np.maximum(end_ns, timestamp[idx])),
                      "sequence": sequence[idx], **returned})
        counts["returns"] = int(idx.size)
    if noise.duplicates and noise.duplicate_share > 0:
        idx = np.flatnonzero(draws[:, 4] < noise.duplicate_share)
        extra.append({"cust": cust[idx], "timestamp": timestamp[idx], "sequence": sequence[idx],
                      **{name: col[idx] for name, col in columns.items()}})
        counts["duplicates"] = int(idx.size)
    rows = {"cust": cust, "timestamp": timestamp, "sequence": sequence, **columns}
    if extra:
        rows = {name: np.concatenate([col] + [e[name] for e in extra]) for name, col in rows.items()}
        # one int64 key (customer, then second of the world) sorts faster than a lexsort on two columns
        seconds = (rows["timestamp"] - rows["timestamp"].min()) // _NS_PER_SECOND
        order = np.argsort(rows["cust"] * (int(seconds.max()) + 1) + seconds, kind="stable")
        rows = {name: col[order] for name, col in rows.items()}
    return (rows["cust"], rows["timestamp"], rows["amount"], rows["margin"], rows["discount"], rows["sequence"],
            counts)


def _truth_table(pop: Population, alive_t0, treatment, customer_id, config: SimulationConfig) -> pa.Table:
    control = arm_expectations(pop, alive_t0, arm_behaviour(pop, config, False), config)
    treated = arm_expectations(pop, alive_t0, arm_behaviour(pop, config, True), config)
    effect = np.asarray(EFFECT_TYPES, dtype=object)[pop.effect_type]
    no_effect = pop.effect_type == EFFECT_TYPES.index("no_effect")
    sure = control["p_buy"] >= config.effects.sure_thing_threshold
    segment = np.where(no_effect, np.where(sure, "sure_thing", "lost_cause"), effect)
    n = len(pop)
    return pa.table({
        "customer_id": customer_id,
        "campaign_id": pa.array([config.campaign.campaign_id] * n, pa.string()),
        "lambda": pop.lam, "p_dropout": pop.p_dropout, "nu": pop.nu, "expected_spend": config.spend.p / pop.nu,
        "margin_rate": pop.margin_rate, "alive_at_t0": alive_t0,
        "effect_type": pa.array(effect.tolist(), pa.string()), "segment": pa.array(segment.tolist(), pa.string()),
        "treatment": treatment,
        "p_buy_control": control["p_buy"], "p_buy_treated": treated["p_buy"],
        "window_margin_control": control["window_margin"], "window_margin_treated": treated["window_margin"],
        "long_margin_control": control["long_margin"], "long_margin_treated": treated["long_margin"],
        "response_uplift": treated["p_buy"] - control["p_buy"],
        "margin_uplift": treated["window_margin"] - control["window_margin"],
        "lifecycle_uplift": treated["long_margin"] - control["long_margin"],
    }, schema=SCHEMAS["truth"])


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SpecError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def iter_chunks(config: SimulationConfig, seed: int, progress: bool | None = None) -> Iterator[_Chunk]:
    """Yield the world chunk by chunk (``config.chunk_size`` customers each), with a progress bar.

    ``progress=None`` shows the bar only on a terminal and when there is more than one chunk.
    """
    from tqdm.auto import tqdm

    seed = _check_seed(seed)
    n, size = config.n_customers, config.chunk_size
    bounds = [(i, first, min(size, n - first)) for i, first in enumerate(range(0, n, size))]
    show = (sys.stderr.isatty() and len(bounds) > 1) if progress is None else progress
    with tqdm(total=n, unit="customer", unit_scale=True, desc="simulate", disable=not show) as bar:
        for index, first, count in bounds:
            yield _chunk(config, seed, index, first, count)
            bar.update(count)


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(split_blocks=True, self_destruct=True)


# ------------------------------------------------------------------------------------------------ the world
@dataclass
class World:
    """A simulated loyalty programme with known truth.

    Attributes
    ----------
    customers : one row per customer: ``customer_id``, ``acquired_at`` and observable covariates
        (``channel``, ``region``, ``category_mix``, ``tenure_band`` at ``t0``, ``email_engagement``).
    transactions : the ``loyalty.data`` contract: ``customer_id``, ``timestamp``, ``amount`` (paid, currency),
        ``margin`` (currency, after discounts), ``order_id``, ``discount`` (currency). Includes the injected
        partial returns and exact duplicates; netting returns into their order and dropping exact duplicates
        recovers the clean log, which is what the truth describes.
    assignments : one row per customer and campaign: ``customer_id``, ``campaign_id``, ``assigned_at`` (t0),
        ``treatment`` (0/1), ``propensity``, ``contact_cost``, ``discount_rate``, ``coupon_value``.
    truth : latent traits (``lambda`` per day, ``p_dropout``, ``nu``, ``expected_spend``, ``margin_rate``,
        ``alive_at_t0``, ``effect_type``, ``segment``) and, for both arms, the exact expectations
        ``p_buy_*`` (any purchase in the window), ``window_margin_*`` (window margin net of offer cost) and
        ``long_margin_*`` (margin net of offer cost over the horizon, discounted to t0), with the uplifts
        ``response_uplift``, ``margin_uplift``, ``lifecycle_uplift`` (treated − control).
    config, seed : what generated it.
    counts : row counts (transactions, returns, duplicates, alive at t0, treated, ...).
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
        tables = {name: _from_pandas(getattr(self, name), name) for name in FRAMES}
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
        frames = {}
        for name in FRAMES:
            table = pq.read_table(directory / f"{name}.parquet", schema=SCHEMAS[name])
            frames[name] = _to_pandas(table)
        return cls(**frames, config=SimulationConfig.from_dict(manifest["config"]), seed=manifest["seed"],
                   counts=manifest["counts"])


def _from_pandas(frame: pd.DataFrame, name: str) -> pa.Table:
    table = pa.Table.from_pandas(frame, schema=SCHEMAS[name], preserve_index=False)
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
        "granularity": "day: at most one purchase per customer per day by construction (no thinning)",
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


def _write_chunks(directory: Path, chunks: Iterator[_Chunk], config: SimulationConfig, seed: int) -> dict:
    """Stream chunks into one parquet file per frame (one row group per chunk), then the manifest."""
    counts: dict[str, int] = {}
    with _atomic_directory(directory) as tmp:
        writers = {name: pq.ParquetWriter(tmp / f"{name}.parquet", SCHEMAS[name]) for name in FRAMES}
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
    seed = _check_seed(seed)
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
    seed = _check_seed(seed)
    return _write_chunks(Path(directory), iter_chunks(config, seed, progress), config, seed)
