"""The purchase process: continuous-time BG/NBD before ``t0``, a day-grid process after it.

Granularity (the "several purchases on one day" trap)
-----------------------------------------------------
The summary that BG/NBD is fitted on counts at most one transaction per day and sums the spend of same-day
purchases, so a continuous-time truth whose heavy buyers sometimes buy twice a day looks several per cent off
in alpha and in Gamma-Gamma p and gamma. Here the log never has two purchases by one customer on one day:

* **History (before t0)** is the continuous-time BG/NBD exactly (Fader, Hardie & Lee 2005): from the
  acquisition instant (first purchase, at a uniform time of its day), purchases at rate λ, dropout with
  probability p after each repeat purchase. Each purchase is logged at its own time, except that one falling on
  a day that already has a purchase is logged on the next free day (its time of day kept). Nothing is merged or
  thinned: every purchase keeps its own spend draw and its dropout coin, counts are exactly BG/NBD's, and only
  the rare moved purchases (counted in the manifest as ``moved_purchases``) shift recency by a day or so.
  A purchase that would be moved to ``t0`` or later is not logged (``unlogged_purchases``; its dropout coin
  still counts).
* **Outcomes (from t0)** are on the day grid: on each day while alive a customer buys with probability λ and
  drops out with probability p after each purchase. Every expectation the truth needs is then a finite
  geometric sum (:mod:`loyalty.simulate.truth`), so the truth is exact for the process that generated the log.
  For λ ≪ 1 per day this is the discretised BG/NBD: P(buy in w days) is 1 − (1 − λ)ʷ, not 1 − e^(−λw).

Measured (default config, 100k customers, seeds 1-16): BG/NBD and Gamma-Gamma fitted on the daily summary of
the history recover the planted parameters; the mean z-score (estimate − planted) / se is +0.3 for r and alpha
and within ±0.3 for the others, 13 of 16 worlds have all seven inside their 95% intervals, and 4 of 112
intervals miss. The daily summary gives the same estimates as the exact continuous-time (x, t_x, T) to within
0.2 standard errors. An earlier day-grid history (at most one Bernoulli purchase per day) was ~1.5 standard
errors high in r and alpha: counts of at most one per day are less dispersed than Poisson counts.
"""

from __future__ import annotations

import numpy as np

__all__ = ["purchase_days", "history_purchases"]


def purchase_days(
    rng: np.random.Generator,
    last_day: np.ndarray,
    end_day: int | np.ndarray,
    lam: np.ndarray,
    p_dropout: np.ndarray,
    alive: np.ndarray,
):
    """Simulate purchase days after ``last_day`` up to ``end_day`` (inclusive) for every customer.

    Parameters
    ----------
    rng : numpy Generator.
    last_day : int array, the day before the first day at risk (e.g. the acquisition day), per customer.
    end_day : last day at risk (scalar or per customer).
    lam : probability of a purchase on each day while alive, in [0, 1] (0: never buys).
    p_dropout : probability of dropping out right after each purchase, in (0, 1].
    alive : bool array, who is alive at the start.

    Returns
    -------
    customer : int64 array, index of the buying customer, per purchase (ordered by customer's rounds).
    day : int64 array, purchase day, per purchase.
    alive_after : bool array, who is still alive after ``end_day``.

    Notes
    -----
    Vectorised over customers: each round draws every active customer's next purchase day (a geometric
    gap, memoryless, so restarting at a phase boundary is exact) and dropout coin; loops run once per
    purchase of the busiest customer, not once per customer.
    """
    end = np.broadcast_to(np.asarray(end_day, dtype=np.int64), lam.shape)
    day = np.asarray(last_day, dtype=np.int64).copy()
    alive_after = np.asarray(alive, dtype=bool).copy()
    active = np.flatnonzero(alive_after & (day < end) & (lam > 0))
    customers, days = [], []
    while active.size:
        gap = rng.geometric(lam[active])  # may be huge for tiny λ: compare before adding (no overflow)
        within = gap <= end[active] - day[active]
        active = active[within]
        next_day = day[active] + gap[within]
        customers.append(active)
        days.append(next_day)
        day[active] = next_day
        dies = rng.random(active.size) < p_dropout[active]
        alive_after[active[dies]] = False
        active = active[~dies]
    if customers:
        return np.concatenate(customers), np.concatenate(days), alive_after
    return np.empty(0, np.int64), np.empty(0, np.int64), alive_after


def history_purchases(
    rng: np.random.Generator,
    acquired_at: np.ndarray,
    end_time: float,
    lam: np.ndarray,
    p_dropout: np.ndarray,
):
    """Continuous-time BG/NBD repeat purchases from ``acquired_at`` up to ``end_time``, logged one per day.

    Parameters
    ----------
    rng : numpy Generator.
    acquired_at : float array, first-purchase instant per customer, in days since the start of the world.
    end_time : end of the history (``t0``), days since the start; purchases on or after it are not history.
    lam : purchase rate per day while alive.
    p_dropout : probability of dropping out right after each repeat purchase.

    Returns
    -------
    customer : int64 array per logged purchase.
    time : float array, purchase instant in days since the start (after any move to the next free day).
    alive_at_end : bool array per customer.
    counts : dict with ``moved_purchases`` and ``unlogged_purchases``.

    Notes
    -----
    Vectorised by rounds, like :func:`purchase_days`: one round per purchase of the busiest customer.
    """
    n = lam.shape[0]
    instant = np.asarray(acquired_at, dtype=float).copy()
    shown_day = np.floor(instant).astype(np.int64)
    last_day = int(np.ceil(end_time)) - 1
    alive = np.ones(n, dtype=bool)
    active = np.flatnonzero(lam > 0)
    customers, times = [], []
    moved = unlogged = 0
    while active.size:
        next_instant = instant[active] + rng.exponential(1.0, size=active.size) / lam[active]
        within = next_instant < end_time
        active, next_instant = active[within], next_instant[within]
        instant[active] = next_instant
        day = np.floor(next_instant).astype(np.int64)
        collides = day <= shown_day[active]
        day = np.where(collides, shown_day[active] + 1, day)
        logged = day <= last_day
        moved += int((collides & logged).sum())
        unlogged += int((~logged).sum())
        shown_day[active[logged]] = day[logged]
        customers.append(active[logged])
        times.append((day + (next_instant - np.floor(next_instant)))[logged])
        dies = rng.random(active.size) < p_dropout[active]
        alive[active[dies]] = False
        active = active[~dies]
    counts = {"moved_purchases": moved, "unlogged_purchases": unlogged}
    if customers:
        return np.concatenate(customers), np.concatenate(times), alive, counts
    return np.empty(0, np.int64), np.empty(0, float), alive, counts
