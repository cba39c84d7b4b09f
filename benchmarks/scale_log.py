"""A seeded, chunked BG/NBD transaction log written as a folder of parquet files (the scale benchmark's input).

Each customer is acquired on a day uniform over the first half of an 18-month window; while alive they buy at
rate λ ~ Gamma(r, rate α) per day and drop out after each repeat purchase with probability p ~ Beta(a, b)
(Fader, Hardie & Lee 2005). A purchase is an order of 1 + Poisson(1.2) lines at one time of day, each line's
amount Gamma(p_s, rate ν) with ν ~ Gamma(q, rate γ) per customer (note 025). About 10 rows per customer.
Like a real log, it is not clean: 2% of orders get a partial return (a negative line with the same
``order_id`` up to two days later) and 0.1% of rows are sent twice.

Customers are generated in chunks from streams derived from ``(seed, chunk)``, so memory is bounded by the
chunk size and the log is a function of ``(n_customers, seed, chunk_size)`` only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["PARAMS", "write_log"]

PARAMS = {
    "bgnbd": {"r": 0.65, "alpha": 40.0, "a": 0.6, "b": 4.0},
    "gamma_gamma": {"p": 6.0, "q": 4.0, "gamma": 15.0},
    "lines_per_order": 1.2,  # Poisson mean of extra lines per order
    "return_share": 0.02,
    "duplicate_share": 0.001,
}
START = np.datetime64("2023-01-01T00:00:00", "us")
DAYS = 548


def _chunk(first: int, n: int, seed: int, index: int) -> pa.Table:
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    bg, gg = PARAMS["bgnbd"], PARAMS["gamma_gamma"]
    acquired = rng.integers(0, DAYS // 2, n)
    window = (DAYS - acquired).astype(float)
    rate = rng.gamma(bg["r"], 1.0 / bg["alpha"], n)
    lifetime = rng.geometric(rng.beta(bg["a"], bg["b"], n))
    in_window = rng.poisson(rate * window)
    owner = np.repeat(np.arange(n), in_window)
    when = rng.random(len(owner)) * window[owner]
    order = np.lexsort((when, owner))
    owner, when = owner[order], when[order]
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(in_window) - in_window, in_window)
    kept = rank < lifetime[owner]
    # purchases: the first at acquisition, then the repeats; times in seconds from the start
    customer = np.concatenate([np.arange(n), owner[kept]])
    seconds = np.concatenate([acquired * 86400.0 + rng.random(n) * 86400.0,
                              (acquired[owner[kept]] + when[kept]) * 86400.0])
    seconds = np.floor(np.minimum(seconds, DAYS * 86400.0 - 1))
    by_time = np.lexsort((seconds, customer))
    customer, seconds = customer[by_time], seconds[by_time]
    n_orders = len(customer)
    starts = np.searchsorted(customer, customer)  # first order of each order's customer
    order_id = (first + customer).astype(np.int64) * 1000 + (np.arange(n_orders) - starts)
    lines = 1 + rng.poisson(PARAMS["lines_per_order"], n_orders)
    line_order = np.repeat(np.arange(n_orders), lines)
    spend_rate = rng.gamma(gg["q"], 1.0 / gg["gamma"], n)
    amount = np.maximum(np.round(rng.gamma(gg["p"], 1.0 / spend_rate[customer[line_order]]), 2), 0.01)
    line_customer, line_seconds, line_order_id = customer[line_order], seconds[line_order], order_id[line_order]
    # partial returns: half of the order's first line, within two days
    returned = np.flatnonzero(rng.random(n_orders) < PARAMS["return_share"])
    first_line = np.cumsum(lines) - lines
    ret_amount = -np.round(amount[first_line[returned]] / 2, 2)
    ret_seconds = np.minimum(seconds[returned] + rng.integers(0, 3, len(returned)) * 86400.0, DAYS * 86400.0 - 1)
    cust = np.concatenate([line_customer, customer[returned]])
    secs = np.concatenate([line_seconds, ret_seconds])
    amt = np.concatenate([amount, ret_amount])
    oid = np.concatenate([line_order_id, order_id[returned]])
    dup = np.flatnonzero(rng.random(len(cust)) < PARAMS["duplicate_share"])
    rows = np.concatenate([np.arange(len(cust)), dup])
    rows = rows[np.lexsort((secs[rows], cust[rows]))]
    ids = np.char.add("C", np.char.zfill((first + cust[rows] + 1).astype(str), 9))
    timestamp = START + (secs[rows] * 1e6).astype(np.int64).astype("timedelta64[us]")
    return pa.table({
        "customer_id": pa.array(ids.astype(object), pa.string()),
        "timestamp": pa.array(timestamp, pa.timestamp("us")),
        "amount": pa.array(amt[rows], pa.float64()),
        "order_id": pa.array(oid[rows], pa.int64()),
    })


def write_log(folder: str | Path, n_customers: int, seed: int = 0, chunk_size: int = 500_000) -> dict:
    """Write the log as ``folder/part-00000.parquet``, ...; returns ``{"customers", "rows", "files"}``.

    Written into ``folder.partial`` and renamed at the end, so an interrupted run leaves no half log behind.
    """
    folder = Path(folder)
    partial = folder.with_name(folder.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    rows = 0
    n_chunks = (n_customers + chunk_size - 1) // chunk_size
    for index in range(n_chunks):
        first = index * chunk_size
        table = _chunk(first, min(chunk_size, n_customers - first), seed, index)
        pq.write_table(table, partial / f"part-{index:05d}.parquet", row_group_size=1_000_000)
        rows += table.num_rows
    partial.rename(folder)
    return {"customers": n_customers, "rows": rows, "files": n_chunks}
