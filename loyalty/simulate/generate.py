"""Generate the world chunk by chunk, as pyarrow tables in the schemas of :func:`schemas`.

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
from .campaign import arm_behaviours, arm_expectations, assign, simulate_outcomes
from .config import COVARIATES, EFFECT_TYPES, SimulationConfig
from .history import history_purchases
from .noise import inject_noise
from .population import Population, draw_population
from .truth import ARM_OUTCOMES, uplift_column

__all__ = ["schemas", "arm_labels", "FRAMES", "FORMAT_VERSION", "Chunk", "iter_chunks", "check_seed"]

#: Version of the on-disk layout and of the generating process; bumped when either changes.
FORMAT_VERSION = 1
_NS_PER_DAY = 86_400 * 10**9
_NS_PER_SECOND = 10**9

# pandas' str dtype stores large_string, so frames convert without copying the text.
_STRING = pa.large_string()

_BASE_SCHEMAS: dict[str, list[tuple[str, pa.DataType]]] = {
    "customers": [
        ("customer_id", _STRING), ("acquired_at", pa.timestamp("ns")), ("channel", _STRING),
        ("region", _STRING), ("category_mix", _STRING), ("tenure_band", _STRING),
        ("email_engagement", pa.float64()),
    ],
    "transactions": [
        ("customer_id", _STRING), ("timestamp", pa.timestamp("ns")), ("amount", pa.float64()),
        ("margin", pa.float64()), ("order_id", _STRING), ("discount", pa.float64()),
    ],
    "assignments": [
        ("customer_id", _STRING), ("campaign_id", _STRING), ("assigned_at", pa.timestamp("ns")),
        ("treatment", None), ("propensity", pa.float64()), ("contact_cost", pa.float64()),
        ("discount_rate", pa.float64()), ("coupon_value", pa.float64()),
    ],
    "truth": [
        ("customer_id", _STRING), ("campaign_id", _STRING), ("lambda", pa.float64()),
        ("p_dropout", pa.float64()), ("nu", pa.float64()), ("expected_spend", pa.float64()),
        ("margin_rate", pa.float64()), ("alive_at_t0", pa.bool_()), ("effect_type", _STRING),
        ("segment", _STRING), ("treatment", None),
    ],
}
FRAMES = tuple(_BASE_SCHEMAS)


def arm_labels(config: SimulationConfig) -> list[str]:
    """``["control", <treated arms>...]``, indexed by the arm codes of :func:`loyalty.simulate.campaign.assign`."""
    return ["control", *config.campaign.offers()]


def schemas(config: SimulationConfig) -> dict[str, pa.Schema]:
    """Arrow schema of each frame: ``treatment`` is 0/1 (int8) for one arm, the arm name for several; the truth
    has ``<outcome>_<arm>`` for control and every arm, then the uplift columns (see :func:`truth.uplift_column`)."""
    treatment = _STRING if config.campaign.arms else pa.int8()
    out = {name: pa.schema([(col, treatment if kind is None else kind) for col, kind in fields])
           for name, fields in _BASE_SCHEMAS.items()}
    labels = arm_labels(config)
    arm_columns = [(f"{outcome}_{arm}", pa.float64()) for outcome in ARM_OUTCOMES.values() for arm in labels]
    uplift_columns = [(uplift_column(config, outcome, arm), pa.float64())
                      for outcome in ARM_OUTCOMES for arm in labels[1:]]
    out["truth"] = pa.schema(list(out["truth"]) + arm_columns + uplift_columns)
    return out


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
            for position in range(col + width - 1, col - 1, -1):  # rightmost (least significant) digit first
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
    arm, propensity = assign(rng_assign, pop, config)
    post_c, post_d, in_window, _ = simulate_outcomes(rng_out, pop, alive_t0, arm, config)

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
    rows = _clean_rows(log, pop, arm, config, start_ns)
    counts.update(clean_transactions=int(log["cust"].size), returns=0, duplicates=0)
    end_ns = start_ns + (cal.history_days + cal.horizon_days) * _NS_PER_DAY - _NS_PER_SECOND
    *rows, counts = inject_noise(noise_draws[order], config, *rows, counts, end_ns=end_ns)

    customer_id = _fixed_width_strings([b"C", (first + 1 + np.arange(n), _id_width(config.n_customers))])
    acquired_ns = (start_ns + pop.acquired_day.astype(np.int64) * _NS_PER_DAY
                   + _second_of_day(acquired_at) * _NS_PER_SECOND)
    schema = schemas(config)
    tables = {
        "customers": _customers_table(customer_id, acquired_ns, pop, schema),
        "transactions": _transactions_table(first, config, *rows, schema=schema),
        "assignments": _assignments_table(customer_id, arm, propensity, config, start_ns, schema),
        "truth": _truth_table(pop, alive_t0, arm, customer_id, config, schema),
    }
    counts.update(customers=n, transactions=tables["transactions"].num_rows, alive_at_t0=int(alive_t0.sum()),
                  treated=int((arm > 0).sum()), capped_rate=int((pop.lam >= config.purchase.max_daily_rate).sum()))
    return Chunk(tables, counts)


def _second_of_day(time_in_days: np.ndarray) -> np.ndarray:
    return np.floor((time_in_days - np.floor(time_in_days)) * 86_400).astype(np.int64)


def _clean_rows(log: dict[str, np.ndarray], pop: Population, arm: np.ndarray, config: SimulationConfig,
                start_ns: int):
    """Money and ids of the clean log: the arm's discount (and coupon) on treated purchases in the window."""
    offers = list(config.campaign.offers().values())
    discount_rate = np.array([0.0] + [offer.discount_rate for offer in offers])
    coupon_value = np.array([0.0] + [offer.coupon_value for offer in offers])
    cust, spend, window = log["cust"], log["spend"], log["window"]
    row_arm = arm[cust]
    treated_row = window & (row_arm > 0)
    discount = np.where(treated_row, spend * discount_rate[row_arm], 0.0)
    if coupon_value.any():
        first_in_window = treated_row & np.r_[True, (cust[1:] != cust[:-1]) | ~window[:-1]]
        discount = discount + np.where(first_in_window, np.minimum(coupon_value[row_arm], spend - discount), 0.0)
    timestamp = start_ns + log["day"] * _NS_PER_DAY + log["second"] * _NS_PER_SECOND
    starts = np.flatnonzero(np.r_[True, cust[1:] != cust[:-1]])
    sequence = np.arange(cust.size) - np.repeat(starts, np.diff(np.r_[starts, cust.size])) + 1
    margin = spend * pop.margin_rate[cust] - discount
    return cust, timestamp, spend - discount, margin, discount, sequence


def _transactions_table(first, config, cust, timestamp, amount, margin, discount, sequence, schema) -> pa.Table:
    width = _id_width(config.n_customers)
    number = first + 1 + cust
    return pa.table({
        "customer_id": _fixed_width_strings([b"C", (number, width)]),
        "timestamp": pa.array(timestamp.astype("datetime64[ns]")),
        "amount": amount, "margin": margin,
        "order_id": _fixed_width_strings([b"O", (number, width), b"-", (sequence, 5)]),
        "discount": discount,
    }, schema=schema["transactions"])


def _customers_table(customer_id: pa.Array, acquired_ns: np.ndarray, pop: Population, schema) -> pa.Table:
    return pa.table({
        "customer_id": customer_id,
        "acquired_at": pa.array(acquired_ns.astype("datetime64[ns]")),
        **{name: _labels(getattr(pop, name), levels) for name, levels in COVARIATES.items()},
        "email_engagement": pop.email_engagement,
    }).select(schema["customers"].names).cast(schema["customers"])


def _treatment_column(arm: np.ndarray, config: SimulationConfig):
    """0/1 for a single-arm campaign, the arm name (``"control"`` for control) for several arms."""
    return _labels(arm, tuple(arm_labels(config))) if config.campaign.arms else arm


def _assignments_table(customer_id, arm, propensity, config: SimulationConfig, start_ns: int, schema) -> pa.Table:
    cam, n = config.campaign, len(arm)
    t0_ns = start_ns + config.calendar.history_days * _NS_PER_DAY
    if cam.arms:  # each row carries the terms of the offer it got (none for control)
        offers = [None, *cam.offers().values()]
        terms = {name: np.array([0.0 if o is None else getattr(o, name) for o in offers])[arm]
                 for name in ("contact_cost", "discount_rate", "coupon_value")}
    else:  # the campaign's offer terms, on every row
        terms = {name: np.full(n, float(getattr(cam, name)))
                 for name in ("contact_cost", "discount_rate", "coupon_value")}
    return pa.table({
        "customer_id": customer_id,
        "campaign_id": pa.array([cam.campaign_id] * n, _STRING),
        "assigned_at": pa.array(np.full(n, t0_ns, dtype=np.int64).astype("datetime64[ns]")),
        "treatment": _treatment_column(arm, config), "propensity": propensity, **terms,
    }, schema=schema["assignments"])


def _truth_table(pop: Population, alive_t0, arm, customer_id, config: SimulationConfig, schema) -> pa.Table:
    labels = arm_labels(config)
    expected = {label: arm_expectations(pop, alive_t0, behaviour, config)
                for label, behaviour in zip(labels, arm_behaviours(pop, config))}
    effect = np.asarray(EFFECT_TYPES, dtype=object)[pop.effect_type]
    no_effect = pop.effect_type == EFFECT_TYPES.index("no_effect")
    sure = expected["control"]["p_buy"] >= config.effects.sure_thing_threshold
    segment = np.where(no_effect, np.where(sure, "sure_thing", "lost_cause"), effect)
    n = len(pop)
    columns = {
        "customer_id": customer_id,
        "campaign_id": pa.array([config.campaign.campaign_id] * n, _STRING),
        "lambda": pop.lam, "p_dropout": pop.p_dropout, "nu": pop.nu, "expected_spend": config.spend.p / pop.nu,
        "margin_rate": pop.margin_rate, "alive_at_t0": alive_t0,
        "effect_type": pa.array(effect.tolist(), _STRING), "segment": pa.array(segment.tolist(), _STRING),
        "treatment": _treatment_column(arm, config),
    }
    for column in ARM_OUTCOMES.values():
        for label in labels:
            columns[f"{column}_{label}"] = expected[label][column]
    for outcome, column in ARM_OUTCOMES.items():
        for label in labels[1:]:
            columns[uplift_column(config, outcome, label)] = expected[label][column] - expected["control"][column]
    return pa.table(columns, schema=schema["truth"])


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
