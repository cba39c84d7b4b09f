"""A seeded synthetic transaction log drawn from known BG/NBD and Gamma-Gamma parameters (for benchmarks).

Each customer is acquired on a day uniform over the first half of the window and buys at that day. While
alive they buy at rate λ ~ Gamma(r, rate α) per day and drop out after each repeat purchase with probability
p ~ Beta(a, b) (Fader, Hardie & Lee 2005); each purchase's amount is Gamma(shape p_s, rate ν) with
ν ~ Gamma(q, rate γ) per customer (Fader & Hardie 2013, note 025). Timestamps are calendar days, so purchases
on one day are several rows, as in a real log.

This is a benchmark fixture, not the simulator in ``loyalty.simulate``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["TRUE_PARAMS", "synthetic_transactions"]

#: Parameters the log is drawn from; BG/NBD times are in days. About 4 rows per customer on average.
TRUE_PARAMS = {
    "bgnbd": {"r": 0.75, "alpha": 40.0, "a": 0.8, "b": 3.0},
    "gamma_gamma": {"p": 6.0, "q": 4.0, "gamma": 15.0},
}


def synthetic_transactions(
    n_customers: int,
    seed: int = 0,
    start: str = "2023-01-01",
    days: int = 548,
    params: dict | None = None,
) -> pd.DataFrame:
    """A transaction log of ``n_customers`` customers over ``days`` days from ``start``.

    Returns
    -------
    DataFrame
        ``customer_id`` (``"C0000001"``, ...), ``timestamp`` (datetime64, midnight of the purchase day) and
        ``amount`` (> 0, currency), sorted by customer then time.
    """
    params = params or TRUE_PARAMS
    bg, gg = params["bgnbd"], params["gamma_gamma"]
    rng = np.random.default_rng(seed)
    acquired = rng.integers(0, days // 2, n_customers)
    window = (days - acquired).astype(float)  # days from acquisition to the end, where repeats can fall
    rate = rng.gamma(bg["r"], 1.0 / bg["alpha"], n_customers)
    dropout = rng.beta(bg["a"], bg["b"], n_customers)
    # The customer dies right after repeat number `lifetime`; a Poisson process's event times in the window
    # are sorted uniforms, so the repeats are the first min(count in window, lifetime) of them.
    lifetime = rng.geometric(dropout)
    in_window = rng.poisson(rate * window)
    owner = np.repeat(np.arange(n_customers), in_window)
    when = rng.random(len(owner)) * window[owner]
    order = np.lexsort((when, owner))
    owner, when = owner[order], when[order]
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(in_window) - in_window, in_window)
    kept = rank < lifetime[owner]
    repeat_owner, repeat_day = owner[kept], acquired[owner[kept]] + np.floor(when[kept]).astype(np.int64)
    repeat_day = np.minimum(repeat_day, days - 1)

    customer = np.concatenate([np.arange(n_customers), repeat_owner])
    day = np.concatenate([acquired, repeat_day])
    order = np.lexsort((day, customer))
    customer, day = customer[order], day[order]

    spend_rate = rng.gamma(gg["q"], 1.0 / gg["gamma"], n_customers)
    amount = rng.gamma(gg["p"], 1.0 / spend_rate[customer])
    amount = np.maximum(np.round(amount, 2), 0.01)

    ids = np.char.add("C", np.char.zfill(np.arange(1, n_customers + 1).astype(str), 7))
    return pd.DataFrame(
        {
            "customer_id": pd.array(ids[customer], dtype="str"),
            "timestamp": np.datetime64(start, "ns") + day.astype("timedelta64[D]"),
            "amount": amount,
        }
    )
