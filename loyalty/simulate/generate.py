"""Generate the world chunk by chunk, as pyarrow tables in the schemas of :data:`SCHEMAS`.

Each chunk of ``config.chunk_size`` customers is generated from its own random streams, derived from
``(seed, chunk index)`` with ``numpy.random.SeedSequence``; within a chunk, population, history, assignment,
outcomes, data-quality noise and clock each have their own stream, so switching the noise off (or changing the
campaign) leaves the clean history unchanged. Output is a function of (config, seed) only.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import SpecError
from .campaign import arm_behaviour, arm_expectations, assign, simulate_outcomes
from .config import COVARIATES, EFFECT_TYPES, SimulationConfig
from .history import history_purchases
from .noise import inject_noise
from .population import Population, draw_population

__all__ = ["SCHEMAS", "FRAMES", "FORMAT_VERSION", "Chunk", "iter_chunks", "check_seed"]

#: Version of the on-disk layout and of the generating process; bumped when either changes.
FORMAT_VERSION = 1
_NS_PER_DAY = 86_400 * 10**9
_NS_PER_SECOND = 10**9

# pandas' str dtype stores large_string, so frames convert without copying the text.
_STRING = pa.large_string()

SCHEMAS: dict[str, pa.Schema] = {
    "customers": pa.schema([
        ("customer_id", _STRING), ("acquired_at", pa.timestamp("ns")), ("channel", _STRING),
        ("region", _STRING), ("category_mix", _STRING), ("tenure_band", _STRING),
        ("email_engagement", pa.float64()),
    ]),
    "transactions": pa.schema([
        ("customer_id", _STRING), ("timestamp", pa.timestamp("ns")), ("amount", pa.float64()),
        ("margin", pa.float64()), ("order_id", _STRING), ("discount", pa.float64()),
    ]),
    "assignments": pa.schema([
        ("customer_id", _STRING), ("campaign_id", _STRING), ("assigned_at", pa.timestamp("ns")),
        ("treatment", pa.int8()), ("propensity", pa.float64()), ("contact_cost", pa.float64()),
        ("discount_rate", pa.float64()), ("coupon_value", pa.float64()),
    ]),
    "truth": pa.schema([
        ("customer_id", _STRING), ("campaign_id", _STRING), ("lambda", pa.float64()),
        ("p_dropout", pa.float64()), ("nu", pa.float64()), ("expected_spend", pa.float64()),
        ("margin_rate", pa.float64()), ("alive_at_t0", pa.bool_()), ("effect_type", _STRING),
        ("segment", _STRING), ("treatment", pa.int8()),
        ("p_buy_control", pa.float64()), ("p_buy_treated", pa.float64()),
        ("window_margin_control", pa.float64()), ("window_margin_treated", pa.float64()),
        ("long_margin_control", pa.float64()), ("long_margin_treated", pa.float64()),
        ("response_uplift", pa.float64()), ("margin_uplift", pa.float64()), ("lifecycle_uplift", pa.float64()),
    ]),
}
FRAMES = tuple(SCHEMAS)

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
    offsets = np.arange(0, (n + 1) * total, total, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf.reshape(-1)))


def _labels(codes: np.ndarray, levels: tuple[str, ...]) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(list(levels))).cast(_STRING)


# ------------------------------------------------------------------------------------------------ a chunk
@dataclass
class Chunk:
    """One chunk of the world: a pyarrow table per frame, and row counts."""

    tables: dict[str, pa.Table]
    counts: dict[str, int]


def _chunk(config: SimulationConfig, seed: int, index: int, first: int, n: int) -> Chunk:
    """Generate customers ``first + 1 .. first + n`` (ids are 1-based)."""
    streams = np.random.SeedSequence(seed, spawn_key=(index,)).spawn(6)
    rng_pop, rng_hist, rng_assign, rng_out, rng_noise, rng_clock = (np.random.default_rng(s) for s in streams)
    cal = config.calendar
    start_ns = pd.Timestamp(cal.start_date).normalize().value

    pop = draw_population(rng_pop, n, config)
    # History: the first purchase at a uniform time of the acquisition day, then continuous-time BG/NBD to t0.
    acquired_at = pop.acquired_day + rng_hist.random(n)
    hist_c, hist_time, alive_t0, counts = history_purchases(rng_hist, acquired_at, float(cal.history_days),
                                                            pop.lam, pop.p_dropout)
    treatment, propensity = assign(rng_assign, pop, config)
    post_c, post_d, in_window, _ = simulate_outcomes(rng_out, pop, alive_t0, treatment, config)

    # Spend, time of day and noise draws come per phase, history first, so the campaign never changes the history.
    before_c = np.concatenate([np.arange(n), hist_c])
    history_time = np.concatenate([acquired_at, hist_time])
    log = {
        "cust": np.concatenate([before_c, post_c]),
        "day": np.concatenate([np.floor(history_time).astype(np.int64), post_d]),
        "second": np.concatenate([_second_of_day(history_time), rng_clock.integers(0, 86_400, size=post_c.size)]),
        "spend": np.concatenate([rng_hist.gamma(config.spend.p, 1.0 / pop.nu[before_c]),
                                 rng_out.gamma(config.spend.p, 1.0 / pop.nu[post_c])]),
        "window": np.concatenate([np.zeros(before_c.size, bool), in_window]),
    }
    noise_draws = np.concatenate([rng_noise.random((before_c.size, 5)), rng_noise.random((post_c.size, 5))])
    order = np.argsort(log["cust"], kind="stable")  # phases and rounds are already in time order per customer
    log = {name: column[order] for name, column in log.items()}
    rows = _clean_rows(log, pop, treatment, config, start_ns)
    counts.update(clean_transactions=int(log["cust"].size), returns=0, duplicates=0)
    end_ns = start_ns + (cal.history_days + cal.horizon_days) * _NS_PER_DAY - _NS_PER_SECOND
    *rows, counts = inject_noise(noise_draws[order], config, *rows, counts, end_ns=end_ns)

    customer_id = _fixed_width_strings([b"C", (first + 1 + np.arange(n), _id_width(config.n_customers))])
    acquired_ns = start_ns + pop.acquired_day.astype(np.int64) * _NS_PER_DAY + _second_of_day(acquired_at) * _NS_PER_SECOND
    tables = {
        "customers": _customers_table(customer_id, acquired_ns, pop),
        "transactions": _transactions_table(first, config, *rows),
        "assignments": _assignments_table(customer_id, treatment, propensity, config, start_ns),
        "truth": _truth_table(pop, alive_t0, treatment, customer_id, config),
    }
    counts.update(customers=n, transactions=tables["transactions"].num_rows, alive_at_t0=int(alive_t0.sum()),
                  treated=int(treatment.sum()), capped_rate=int((pop.lam >= config.purchase.max_daily_rate).sum()))
    return Chunk(tables, counts)


def _second_of_day(time_in_days: np.ndarray) -> np.ndarray:
    return np.floor((time_in_days - np.floor(time_in_days)) * 86_400).astype(np.int64)


def _clean_rows(log: dict[str, np.ndarray], pop: Population, treatment: np.ndarray, config: SimulationConfig,
                start_ns: int):
    """Money and ids of the clean log: discount (and coupon) on treated purchases in the window, margin."""
    cam = config.campaign
    cust, spend, window = log["cust"], log["spend"], log["window"]
    treated_row = window & (treatment[cust] == 1)
    discount = np.where(treated_row, spend * cam.discount_rate, 0.0)
    if cam.coupon_value > 0:
        first_in_window = treated_row & np.r_[True, (cust[1:] != cust[:-1]) | ~window[:-1]]
        discount = discount + np.where(first_in_window, np.minimum(cam.coupon_value, spend - discount), 0.0)
    timestamp = start_ns + log["day"] * _NS_PER_DAY + log["second"] * _NS_PER_SECOND
    starts = np.flatnonzero(np.r_[True, cust[1:] != cust[:-1]])
    sequence = np.arange(cust.size) - np.repeat(starts, np.diff(np.r_[starts, cust.size])) + 1
    margin = spend * pop.margin_rate[cust] - discount
    return cust, timestamp, spend - discount, margin, discount, sequence


def _transactions_table(first, config, cust, timestamp, amount, margin, discount, sequence) -> pa.Table:
    width = _id_width(config.n_customers)
    number = first + 1 + cust
    return pa.table({
        "customer_id": _fixed_width_strings([b"C", (number, width)]),
        "timestamp": pa.array(timestamp.astype("datetime64[ns]")),
        "amount": amount, "margin": margin,
        "order_id": _fixed_width_strings([b"O", (number, width), b"-", (sequence, 5)]),
        "discount": discount,
    }, schema=SCHEMAS["transactions"])


def _customers_table(customer_id: pa.Array, acquired_ns: np.ndarray, pop: Population) -> pa.Table:
    return pa.table({
        "customer_id": customer_id,
        "acquired_at": pa.array(acquired_ns.astype("datetime64[ns]")),
        **{name: _labels(getattr(pop, name), levels) for name, levels in COVARIATES.items()},
        "email_engagement": pop.email_engagement,
    }).select(SCHEMAS["customers"].names).cast(SCHEMAS["customers"])


def _assignments_table(customer_id, treatment, propensity, config: SimulationConfig, start_ns: int) -> pa.Table:
    cam, n = config.campaign, len(treatment)
    t0_ns = start_ns + config.calendar.history_days * _NS_PER_DAY
    return pa.table({
        "customer_id": customer_id,
        "campaign_id": pa.array([cam.campaign_id] * n, _STRING),
        "assigned_at": pa.array(np.full(n, t0_ns, dtype=np.int64).astype("datetime64[ns]")),
        "treatment": treatment, "propensity": propensity,
        "contact_cost": np.full(n, float(cam.contact_cost)), "discount_rate": np.full(n, float(cam.discount_rate)),
        "coupon_value": np.full(n, float(cam.coupon_value)),
    }, schema=SCHEMAS["assignments"])


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
        "campaign_id": pa.array([config.campaign.campaign_id] * n, _STRING),
        "lambda": pop.lam, "p_dropout": pop.p_dropout, "nu": pop.nu, "expected_spend": config.spend.p / pop.nu,
        "margin_rate": pop.margin_rate, "alive_at_t0": alive_t0,
        "effect_type": pa.array(effect.tolist(), _STRING), "segment": pa.array(segment.tolist(), _STRING),
        "treatment": treatment,
        "p_buy_control": control["p_buy"], "p_buy_treated": treated["p_buy"],
        "window_margin_control": control["window_margin"], "window_margin_treated": treated["window_margin"],
        "long_margin_control": control["long_margin"], "long_margin_treated": treated["long_margin"],
        "response_uplift": treated["p_buy"] - control["p_buy"],
        "margin_uplift": treated["window_margin"] - control["window_margin"],
        "lifecycle_uplift": treated["long_margin"] - control["long_margin"],
    }, schema=SCHEMAS["truth"])


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SpecError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def iter_chunks(config: SimulationConfig, seed: int, progress: bool | None = None) -> Iterator[Chunk]:
    """Yield the world chunk by chunk (``config.chunk_size`` customers each), with a progress bar.

    ``progress=None`` shows the bar only on a terminal and when there is more than one chunk.
    """
    from tqdm.auto import tqdm

    seed = check_seed(seed)
    n, size = config.n_customers, config.chunk_size
    bounds = [(i, first, min(size, n - first)) for i, first in enumerate(range(0, n, size))]
    show = (sys.stderr.isatty() and len(bounds) > 1) if progress is None else progress
    with tqdm(total=n, unit="customer", unit_scale=True, desc="simulate", disable=not show) as bar:
        for index, first, count in bounds:
            yield _chunk(config, seed, index, first, count)
            bar.update(count)
