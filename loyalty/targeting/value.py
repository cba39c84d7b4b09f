"""Policy value on a randomized holdout: the inverse-propensity estimator and its paired bootstrap.

For a targeting set S on n held-out customers with treatment T_i, outcome Y_i and propensity e_i, the value of
treating S rather than nobody, per customer of the base (DESIGN.md section 3; Horvitz-Thompson):

    V(S) = (1/n) Σ_{i ∈ S} [ T_i Y_i / e_i − (1 − T_i) Y_i / (1 − e_i) ].

V is linear in per-customer contributions z_i = T_i Y_i / e_i − (1 − T_i) Y_i / (1 − e_i), so every policy ×
budget × outcome cell is one matrix product ``selection.T @ z / n``. The bootstrap reweights customers with
the same random weights for every cell (paired), so differences between policies get their own interval.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataValidationError

__all__ = ["ipw_contributions", "policy_values", "bootstrap_policy_values", "percentile_interval"]


def ipw_contributions(treatment, outcome, propensity) -> np.ndarray:
    """Per-customer contributions z_i (n, or n × outcomes) to the inverse-propensity value estimator.

    Parameters
    ----------
    treatment : array of 0/1
    outcome : array (n,) or (n, m)
        Outcomes, e.g. conversion, net margin (margin minus offer cost, which only treated customers incur).
    propensity : array or float
        P(treated) for each customer, strictly between 0 and 1.
    """
    t = np.asarray(treatment, dtype=float)
    e = np.broadcast_to(np.asarray(propensity, dtype=float), t.shape)
    y = np.asarray(outcome, dtype=float)
    if not np.isin(t, (0.0, 1.0)).all():
        raise DataValidationError(f"treatment must be 0/1, got values {np.unique(t)[:5].tolist()}")
    bad = ~np.isfinite(e) | (e <= 0) | (e >= 1)
    if bad.any():
        raise DataValidationError(
            f"propensity must be strictly between 0 and 1; {int(bad.sum()):,} values are not, e.g. {e[bad][:3].tolist()}"
        )
    if not np.isfinite(y).all():
        raise DataValidationError(f"outcome has {int((~np.isfinite(y)).sum()):,} non-finite values")
    weight = t / e - (1.0 - t) / (1.0 - e)
    return y * (weight[:, None] if y.ndim == 2 else weight)


def policy_values(selection, contributions) -> np.ndarray:
    """V for every selection column and outcome: ``selection.T @ z / n`` (cells × outcomes)."""
    selection = np.asarray(selection, dtype=float)
    z = np.asarray(contributions, dtype=float)
    z = z[:, None] if z.ndim == 1 else z
    return selection.T @ z / selection.shape[0]


def bootstrap_policy_values(
    selection, contributions, n_resamples: int = 1000, seed: int = 0, chunk_size: int = 50_000
) -> np.ndarray:
    """Paired bootstrap replicates of every cell's value: array (resamples × cells × outcomes).

    Each resample weights every customer by an independent random weight w ∈ {0, 2} with probability 1/2
    each (a multiplier bootstrap: mean 1 and variance 1, the first two moments of the Poisson(1) and multinomial
    bootstrap weights, which is all a linear statistic such as V sees). The same weights are used for every
    policy, budget and outcome, so a difference of two cells' replicates is the bootstrap of the difference.
    Weights come from random bits, and customers are processed in chunks, so memory stays at
    ``n_resamples × chunk_size`` bytes and 1,000 resamples over a million customers take seconds.
    """
    selection = np.asarray(selection, dtype=bool)
    z = np.asarray(contributions, dtype=float)
    z = z[:, None] if z.ndim == 1 else z
    n, cells = selection.shape
    outcomes = z.shape[1]
    if n_resamples < 1:
        raise DataValidationError(f"n_resamples must be >= 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    dtype = np.float64 if n <= 200_000 else np.float32  # float32 halves the cost; its rounding is far below SEs
    total = np.zeros((n_resamples, cells * outcomes), dtype=np.float64)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        m = stop - start
        bits = np.unpackbits(rng.integers(0, 256, size=(n_resamples, (m + 7) // 8), dtype=np.uint8), axis=1)
        weights = bits[:, :m].astype(dtype) * 2
        cell_z = (selection[start:stop, :, None] * z[start:stop, None, :]).reshape(m, cells * outcomes)
        total += weights @ cell_z.astype(dtype)
    return (total / n).reshape(n_resamples, cells, outcomes)


def percentile_interval(replicates: np.ndarray, level: float = 0.95, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval along ``axis``."""
    tail = (1.0 - level) / 2 * 100
    return np.percentile(replicates, tail, axis=axis), np.percentile(replicates, 100 - tail, axis=axis)
