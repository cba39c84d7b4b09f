"""An exact BG/NBD + Gamma-Gamma transaction log generator for recovery tests.

Per customer: λ ~ Gamma(r, rate α), p ~ Beta(a, b), ν ~ Gamma(q, rate γ). Repeat purchases arrive as a
Poisson(λ) process; after each one the customer drops out with probability p, so the number of repeat purchases
before dropout is N ~ Geometric(p) and, with C ~ Poisson(λT) events in (0, T], x = min(C, N). Given C, the
event times are C sorted uniforms on (0, T], of which the first x are kept. Spend per purchase ~ Gamma(p_gg, ν).
Times are continuous, so a summary at hourly periods sees (almost) no same-period collisions.
"""

import numpy as np
import pandas as pd

START = pd.Timestamp("2020-01-01")


def bgnbd_log(n, params, gg_params, seed, t_min=30.0, t_max=80.0, unit_days=7.0):
    """Return (transactions, cutoff): first purchases spread so that T ~ Uniform(t_min, t_max) in ``unit_days``."""
    rng = np.random.default_rng(seed)
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    p_gg, q, gamma = (gg_params[k] for k in ("p", "q", "gamma"))
    lam = rng.gamma(r, 1.0 / alpha, n)
    drop = rng.beta(a, b, n)
    nu = rng.gamma(q, 1.0 / gamma, n)
    T = rng.uniform(t_min, t_max, n)
    events = rng.poisson(lam * T)
    lifetime = rng.geometric(drop)
    x = np.minimum(events, lifetime)
    owner = np.repeat(np.arange(n), events)
    times = rng.uniform(0.0, 1.0, owner.size) * T[owner]
    order = np.lexsort((times, owner))
    owner, times = owner[order], times[order]
    rank = np.arange(owner.size) - np.repeat(np.cumsum(events) - events, events)
    keep = rank < x[owner]
    owner, times = owner[keep], times[keep]
    all_owner = np.concatenate([np.arange(n), owner])
    all_time = np.concatenate([np.zeros(n), times])
    cutoff = START + pd.Timedelta(days=float(t_max * unit_days) + 1)
    first = cutoff - pd.to_timedelta(T * unit_days, unit="D")
    stamps = first.to_numpy()[all_owner] + pd.to_timedelta(all_time * unit_days, unit="D").to_numpy()
    amount = rng.gamma(p_gg, 1.0 / nu[all_owner])
    tx = pd.DataFrame({"customer_id": all_owner, "timestamp": stamps, "amount": amount})
    return tx.sort_values(["customer_id", "timestamp"], ignore_index=True), cutoff
