"""A transaction log with no attrition, drawn from the NBD directly: the shape of UCI Online Retail II (about 3k
customers over 7 months, where BG/NBD's dropout probability runs to 0).

Each customer is acquired uniformly over the first 60% of the window and then buys at rate λ ~ Gamma(r, α) (per
day) for ever, as a Poisson process: given the count on (first, end] the purchase times are uniform there.
"""

import numpy as np
import pandas as pd

START = pd.Timestamp("2009-12-01")
DAYS = 210  # seven months
END = START + pd.Timedelta(days=DAYS)


def nbd_log(n_customers: int = 3000, r: float = 0.8, alpha: float = 40.0, seed: int = 0,
            constant_spend: float | None = None) -> pd.DataFrame:
    """``customer_id``, ``timestamp``, ``amount`` (Gamma(6, scale 3) per purchase, or ``constant_spend``)."""
    rng = np.random.default_rng(seed)
    first = rng.uniform(0, 0.6 * DAYS, n_customers)
    rate = rng.gamma(r, 1.0 / alpha, n_customers)
    repeats = rng.poisson(rate * (DAYS - first))
    owner = np.repeat(np.arange(n_customers), repeats)
    later = first[owner] + rng.uniform(0, 1, len(owner)) * (DAYS - first[owner])
    customer = np.concatenate([np.arange(n_customers), owner])
    day = np.concatenate([first, later])
    amount = (np.full(len(day), constant_spend) if constant_spend is not None
              else np.round(rng.gamma(6.0, 3.0, len(day)), 2))
    return pd.DataFrame({
        "customer_id": [f"c{i:05d}" for i in customer],
        "timestamp": START + pd.to_timedelta(day, unit="D").round("s"),
        "amount": amount,
    }).sort_values(["timestamp", "customer_id"], ignore_index=True)


def bgnbd_summary(n_customers: int, r: float, alpha: float, a: float, b: float, seed: int) -> pd.DataFrame:
    """A weekly summary drawn from the BG/NBD itself (rates per day; dropout p ~ Beta(a, b) after each purchase),
    over the same seven months and acquisition pattern as :func:`nbd_log`."""
    rng = np.random.default_rng(seed)
    first = rng.uniform(0, 0.6 * DAYS, n_customers)
    rate, dropout = rng.gamma(r, 1.0 / alpha, n_customers), rng.beta(a, b, n_customers)
    age = DAYS - first
    t, x, t_x = np.zeros(n_customers), np.zeros(n_customers), np.zeros(n_customers)
    alive = np.ones(n_customers, dtype=bool)
    while alive.any():
        t = t + rng.exponential(1.0 / rate)
        buys = alive & (t <= age)
        x[buys] += 1
        t_x[buys] = t[buys]
        alive = buys & (rng.uniform(size=n_customers) > dropout)
    summary = pd.DataFrame({"frequency": x, "recency": t_x / 7, "T": age / 7})
    summary.attrs["unit"] = "W"
    return summary
