"""Policy value on a randomized holdout: doubly robust and inverse-propensity estimators, their paired bootstrap,
and the aggregation of estimates over repeated cross-fitting splits.

For a targeting set S on n held-out customers with treatment T_i, outcome Y_i and propensity e_i, the value of
treating S rather than nobody, per customer of the base (DESIGN.md section 3; Horvitz-Thompson):

    V(S) = (1/n) Σ_{i ∈ S} [ T_i Y_i / e_i − (1 − T_i) Y_i / (1 − e_i) ].

V is linear in per-customer contributions z_i = T_i Y_i / e_i − (1 − T_i) Y_i / (1 − e_i), so every policy ×
budget × outcome cell is one matrix product ``selection.T @ z / n``. The bootstrap reweights customers with
the same random weights for every cell (paired), so differences between policies get their own interval.

The doubly robust (augmented IPW) contribution adds outcome models μ₀(x), μ₁(x) of each arm, fitted on other
customers (cross-fitted), and corrects them with the known propensity (Dudík, Langford & Li 2011; Athey & Wager
2021):

    ψ_i = μ₁(x_i) − μ₀(x_i) + T_i (Y_i − μ₁(x_i)) / e_i − (1 − T_i) (Y_i − μ₀(x_i)) / (1 − e_i),

and V(S) = (1/n) Σ_i 1[i ∈ S] ψ_i. With a known propensity it is unbiased whatever μ is; a μ that predicts Y
well removes most of the outcome's variance from the contributions, so the interval narrows. ψ is as linear as
z, so every cell, the paired bootstrap and every difference work unchanged.

References
----------
Dudík, M., Langford, J. & Li, L. (2011). Doubly robust policy evaluation and learning. ICML.
Athey, S. & Wager, S. (2021). Policy learning with observational data. Econometrica 89(1), 133-161.
Chernozhukov, V. et al. (2018). Double/debiased machine learning for treatment and structural parameters.
The Econometrics Journal 21(1), C1-C68 (cross-fitting; the median over repeated splits, section 3.4).
"""

from __future__ import annotations

import numpy as np

from ..errors import DataValidationError

__all__ = [
    "ipw_contributions", "dr_contributions", "policy_values", "bootstrap_policy_values",
    "percentile_interval", "median_over_splits",
]


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
    t, y, e = _checked(treatment, outcome, propensity)
    weight = t / e - (1.0 - t) / (1.0 - e)
    return y * (weight[:, None] if y.ndim == 2 else weight)


def dr_contributions(treatment, outcome, propensity, mu_control, mu_treated) -> np.ndarray:
    """Per-customer doubly robust (AIPW) contributions ψ_i (n, or n × outcomes), see the module docstring.

    Parameters
    ----------
    treatment, outcome, propensity : as :func:`ipw_contributions`.
    mu_control, mu_treated : array, same shape as ``outcome``
        Predicted outcome of each customer without and with the offer, from models not fitted on that
        customer (:func:`~loyalty.targeting.arms.cross_fit_outcome_means` with two arms gives both).
        Constant zeros give back the IPW contributions exactly.

    Returns
    -------
    ndarray shaped like ``outcome``: the value of treating customer i rather than not, in outcome units.
    """
    t, y, e = _checked(treatment, outcome, propensity)
    mu0 = np.asarray(mu_control, dtype=float)
    mu1 = np.asarray(mu_treated, dtype=float)
    for name, mu in (("mu_control", mu0), ("mu_treated", mu1)):
        if mu.shape != y.shape:
            raise DataValidationError(f"{name} has shape {mu.shape}, the outcome {y.shape}")
        if not np.isfinite(mu).all():
            raise DataValidationError(f"{name} has {int((~np.isfinite(mu)).sum()):,} non-finite predictions")
    if y.ndim == 2:
        t, e = t[:, None], e[:, None]
    return mu1 - mu0 + t * (y - mu1) / e - (1.0 - t) * (y - mu0) / (1.0 - e)


def _checked(treatment, outcome, propensity) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    return t, y, e


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


def median_over_splits(points, replicates, level: float = 0.95) -> dict:
    """One estimate and interval per cell from K repeated cross-fitting splits (Chernozhukov et al. 2018, 3.4).

    Each split k (its own folds, hence its own models, scores and contributions) gives an estimate θ_k and a
    bootstrap standard error σ_k. The aggregate is the median θ = median_k θ_k, with the variance
    σ² = median_k (σ_k² + (θ_k − θ)²): the sampling variance of one split plus how far that split's estimate
    lies from the others, so an interval built on it carries the randomness of the split. The interval is
    θ ± z σ (normal). With one split it is θ_1 ± z σ_1.

    Parameters
    ----------
    points : array (K, ...) of estimates per split.
    replicates : array (K, B, ...) of paired bootstrap replicates per split (same shape after B).
    level : two-sided confidence level.

    Returns
    -------
    dict of arrays shaped like one split's estimate: ``estimate``, ``se``, ``ci_low``, ``ci_high``, and
    ``split_se`` (the median σ_k, the spread without the split-to-split part).
    """
    from scipy.stats import norm

    points = np.asarray(points, dtype=float)
    replicates = np.asarray(replicates, dtype=float)
    if replicates.shape[0] != points.shape[0] or replicates.shape[2:] != points.shape[1:]:
        raise DataValidationError(f"replicates {replicates.shape} do not match estimates {points.shape} "
                                  "(splits × resamples × cells)")
    sigma = replicates.std(axis=1, ddof=1) if replicates.shape[1] > 1 else np.zeros_like(points)
    estimate = np.median(points, axis=0)
    se = np.sqrt(np.median(sigma**2 + (points - estimate) ** 2, axis=0))
    z = norm.ppf(0.5 + level / 2)
    return {"estimate": estimate, "se": se, "ci_low": estimate - z * se, "ci_high": estimate + z * se,
            "split_se": np.median(sigma, axis=0)}
