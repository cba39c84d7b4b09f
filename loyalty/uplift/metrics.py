"""Uplift evaluation on randomized data: uplift and Qini curves, their normalised areas, and uplift@k.

Customers are sorted by predicted uplift (descending, ties kept together); at each cut-off the curve compares the
treated and control customers above it. Every quantity rescales the control group to the treated group's size
(or compares group means), so unequal treatment/control sizes do not bias it.

For binary outcomes the definitions are those of scikit-uplift 0.5.1 (``sklift.metrics``) exactly, including the
``negative_effect`` flag of the perfect Qini curve and the normalisation by the perfect curve's area above the
random line (parity tested to 1e-9). They extend unchanged to continuous outcomes (margin, net margin), where the
"perfect" ordering puts treated customers first by descending outcome and control customers last by ascending
outcome.

References
----------
Whether a curve shows signal or noise: :func:`average_effect` (the campaign's average effect with its interval) and
:func:`uplift_evaluation` (Qini and AUUC with bootstrap intervals next to their permutation baseline, the spread
of the same metric for scores unrelated to the outcome: the scores shuffled across customers).

Radcliffe, N. J. (2007). Using control groups to target on predicted lift. Direct Marketing Analytics Journal 3.
Devriendt, F., Guns, T. & Verbeke, W. (2020). Learning to rank for uplift modeling. arXiv:2002.05897.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import auc

from ..errors import DataValidationError

__all__ = [
    "uplift_curve",
    "qini_curve",
    "perfect_uplift_curve",
    "perfect_qini_curve",
    "uplift_auc_score",
    "qini_auc_score",
    "uplift_at_k",
    "average_effect",
    "uplift_evaluation",
]


def _inputs(y_true, uplift, treatment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float)
    t = np.asarray(treatment)
    lengths = {len(y), len(t)} if uplift is None else {len(y), len(t), len(np.asarray(uplift))}
    if len(lengths) != 1:
        raise DataValidationError(f"y_true, uplift and treatment have different lengths: {sorted(lengths)}")
    values = np.unique(t)
    if not (len(values) == 2 and set(values.tolist()) == {0, 1}):
        raise DataValidationError(
            f"treatment must contain both 0 (control) and 1 (treated) and nothing else; got values {values[:10]}"
        )
    if not np.isfinite(y).all():
        raise DataValidationError(f"y_true has {int((~np.isfinite(y)).sum()):,} missing or infinite values")
    u = None
    if uplift is not None:
        u = np.asarray(uplift, dtype=float)
        if np.isnan(u).any():
            raise DataValidationError(f"uplift has {int(np.isnan(u).sum()):,} NaN predictions")
    return y, u, t.astype(float)


def _cumulative(y, uplift, t):
    """Counts and outcome sums of each group above every distinct-score cut-off (scores descending)."""
    order = np.argsort(uplift, kind="mergesort")[::-1]
    y, uplift, t = y[order], uplift[order], t[order]
    cut = np.r_[np.where(np.diff(uplift))[0], uplift.size - 1]
    n_treated = np.cumsum(t, dtype=np.float64)[cut]
    y_treated = np.cumsum(y * (t == 1), dtype=np.float64)[cut]
    y_control = np.cumsum(y * (t == 0), dtype=np.float64)[cut]
    n_all = cut + 1
    return n_all, n_treated, n_all - n_treated, y_treated, y_control


def _from_origin(n_all, values):
    if n_all.size == 0 or values[0] != 0 or n_all[0] != 0:
        return np.r_[0, n_all], np.r_[0, values]
    return n_all, values


def uplift_curve(y_true, uplift, treatment) -> tuple[np.ndarray, np.ndarray]:
    """Uplift curve: (treated mean − control mean above the cut-off) × number of customers above it.

    Parameters
    ----------
    y_true : array of outcomes (0/1 or continuous); uplift : predicted uplift; treatment : 0/1.

    Returns
    -------
    n_targeted, incremental : arrays starting at (0, 0), one point per distinct predicted uplift.
    """
    y, u, t = _inputs(y_true, uplift, treatment)
    n_all, n_t, n_c, y_t, y_c = _cumulative(y, u, t)
    values = (np.divide(y_t, n_t, out=np.zeros_like(y_t), where=n_t != 0)
              - np.divide(y_c, n_c, out=np.zeros_like(y_c), where=n_c != 0)) * n_all
    return _from_origin(n_all, values)


def qini_curve(y_true, uplift, treatment) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve: treated outcomes above the cut-off − control outcomes rescaled to the treated count.

    Returns
    -------
    n_targeted, incremental : arrays starting at (0, 0) (Radcliffe 2007).
    """
    y, u, t = _inputs(y_true, uplift, treatment)
    n_all, n_t, n_c, y_t, y_c = _cumulative(y, u, t)
    values = y_t - y_c * np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
    return _from_origin(n_all, values)


def _is_binary(y: np.ndarray) -> bool:
    return bool(np.isin(y, (0.0, 1.0)).all())


def perfect_uplift_curve(y_true, treatment) -> tuple[np.ndarray, np.ndarray]:
    """The uplift curve of the best possible ordering of these customers (as sklift for binary outcomes)."""
    y, _, t = _inputs(y_true, None, treatment)
    if _is_binary(y):
        control_responders = np.sum((y == 1) & (t == 0))
        treated_non_responders = np.sum((y == 0) & (t == 1))
        summand = y if control_responders > treated_non_responders else t
        score = 2 * (y == t) + summand
    else:
        score = y * t - y * (1 - t)
    return uplift_curve(y, score, t)


def perfect_qini_curve(y_true, treatment, negative_effect: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The Qini curve of the best possible ordering.

    ``negative_effect=True``: the ordering may show negative effects at the end (treated responders first,
    control responders last). ``False``: the curve rises straight to the total effect and stays there.
    """
    y, _, t = _inputs(y_true, None, treatment)
    if not isinstance(negative_effect, bool):
        raise TypeError(f"negative_effect must be bool, got {type(negative_effect).__name__}")
    if negative_effect:
        return qini_curve(y, y * t - y * (1 - t), t)
    total = y[t == 1].sum() - (t == 1).sum() * y[t == 0].sum() / (t == 0).sum()
    return np.array([0, total, len(y)]), np.array([0, total, total])


def _area_above_random(x_actual, y_actual, x_perfect, y_perfect, normalize: bool, n: int) -> float:
    baseline = auc(np.array([0, x_perfect[-1]]), np.array([0, y_perfect[-1]]))
    actual = auc(x_actual, y_actual) - baseline
    if not normalize:
        return float(actual / float(n) ** 2)
    return float(actual / (auc(x_perfect, y_perfect) - baseline))


def uplift_auc_score(y_true, uplift, treatment, normalize: bool = True) -> float:
    """Area under the uplift curve above the random-targeting line (AUUC).

    Parameters
    ----------
    normalize : bool, default True
        True: divided by the same area of the perfect uplift curve (sklift's ``uplift_auc_score``; 1 is perfect,
        0 random). False ("raw"): divided by n², i.e. the excess incremental outcome per customer of the base,
        averaged over all targeting depths (outcome units; comparable across sample sizes).
    """
    y, u, t = _inputs(y_true, uplift, treatment)
    x_actual, y_actual = uplift_curve(y, u, t)
    x_perfect, y_perfect = perfect_uplift_curve(y, t)
    return _area_above_random(x_actual, y_actual, x_perfect, y_perfect, normalize, len(y))


def qini_auc_score(y_true, uplift, treatment, negative_effect: bool = True, normalize: bool = True) -> float:
    """Qini coefficient: area under the Qini curve above the random line, over that of the perfect curve.

    Parameters
    ----------
    negative_effect : bool, default True
        Perfect curve with (True) or without (False) negative effects, as in sklift's ``qini_auc_score``.
    normalize : bool, default True
        False ("raw"): the area above the random line divided by n² (outcome units per customer, averaged over
        targeting depths) instead of divided by the perfect curve's area.
    """
    y, u, t = _inputs(y_true, uplift, treatment)
    x_actual, y_actual = qini_curve(y, u, t)
    x_perfect, y_perfect = perfect_qini_curve(y, t, negative_effect)
    return _area_above_random(x_actual, y_actual, x_perfect, y_perfect, normalize, len(y))


def uplift_at_k(y_true, uplift, treatment, strategy: str, k: float | int = 0.3) -> float:
    """Treated mean − control mean among the customers with the highest predicted uplift.

    Parameters
    ----------
    strategy : ``"overall"``: the top k of all customers, then the two group means within them;
        ``"by_group"``: the top k of each group separately (k a share: that share of each group).
    k : float in (0, 1) (share of customers) or int (number of customers).

    Returns
    -------
    float; NaN when the top k holds no treated or no control customer (``"overall"``), as in sklift.
    """
    y, u, t = _inputs(y_true, uplift, treatment)
    if strategy not in ("overall", "by_group"):
        raise DataValidationError(f"strategy must be 'overall' or 'by_group', got {strategy!r}")
    n = len(y)
    kind = np.asarray(k).dtype.kind
    if kind not in ("i", "f") or (kind == "i" and not 0 < k < n) or (kind == "f" and not 0 < k < 1):
        raise DataValidationError(f"k={k!r} must be a share in (0, 1) or a count in (0, {n})")
    order = np.argsort(u, kind="mergesort")[::-1]
    y, t = y[order], t[order]
    if strategy == "overall":
        size = int(n * k) if kind == "f" else int(k)
        top_y, top_t = y[:size], t[:size]
        return _mean(top_y[top_t == 1]) - _mean(top_y[top_t == 0])
    n_control = int((t == 0).sum() * k) if kind == "f" else int(k)
    n_treated = int((t == 1).sum() * k) if kind == "f" else int(k)
    for group, size, have in (("control", n_control, (t == 0).sum()), ("treated", n_treated, (t == 1).sum())):
        if size > have:
            raise DataValidationError(f"k={k} asks for the top {size} {group} customers; there are {have}")
    return _mean(y[t == 1][:n_treated]) - _mean(y[t == 0][:n_control])


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def average_effect(y_true, treatment, level: float = 0.95) -> dict:
    """The campaign's average effect: treated mean − control mean, with its normal interval (Neyman's variance).

    Returns
    -------
    dict: ``effect``, ``se``, ``ci_low``, ``ci_high``, ``treated_mean``, ``control_mean``, ``n_treated``,
    ``n_control``, ``level``.
    """
    from scipy.stats import norm

    y, _, t = _inputs(y_true, None, treatment)
    treated, control = y[t == 1], y[t == 0]
    variance = (treated.var(ddof=1) / len(treated) if len(treated) > 1 else 0.0) + (
        control.var(ddof=1) / len(control) if len(control) > 1 else 0.0)
    effect, se = float(treated.mean() - control.mean()), float(np.sqrt(variance))
    z = norm.ppf(0.5 + level / 2)
    return {"effect": effect, "se": se, "ci_low": effect - z * se, "ci_high": effect + z * se,
            "treated_mean": float(treated.mean()), "control_mean": float(control.mean()),
            "n_treated": int(len(treated)), "n_control": int(len(control)), "level": level}


def uplift_evaluation(y_true, uplift, treatment, n_resamples: int = 200, n_permutations: int = 200,
                      level: float = 0.95, seed: int = 0) -> dict:
    """Qini coefficient and AUUC with what tells signal from noise.

    - ``ci``: a percentile bootstrap interval (customers resampled with replacement within each arm);
    - ``permutation``: the same metric for the scores shuffled across customers (scores unrelated to the
      outcome): its ``mean``, its ``level`` quantile ``high`` (random scores reach this often enough), and
      ``p_value``, the share of shuffled scores scoring at least as high as the real ones (with the +1 of a
      permutation test). ``signal`` is true when that p-value is below 1 − level.

    Parameters
    ----------
    y_true, uplift, treatment : as :func:`qini_auc_score` (normalised scores, ``negative_effect=True``).
    n_resamples, n_permutations : bootstrap resamples and permutations (each costs one sort of the customers).
    level, seed : interval level and random seed.

    Returns
    -------
    dict: ``average_effect`` (:func:`average_effect`), ``qini`` and ``auuc``, each ``{"value", "ci",
    "permutation": {"mean", "high", "p_value"}, "signal"}``.
    """
    y, u, t = _inputs(y_true, uplift, treatment)
    for name, count in (("n_resamples", n_resamples), ("n_permutations", n_permutations)):
        if count < 1:
            raise DataValidationError(f"{name} must be >= 1, got {count}")
    rng = np.random.default_rng(seed)
    metrics = {"qini": qini_auc_score, "auuc": uplift_auc_score}
    arms = [np.flatnonzero(t == 1), np.flatnonzero(t == 0)]
    boot = {name: np.empty(n_resamples) for name in metrics}
    for b in range(n_resamples):
        rows = np.concatenate([rng.choice(arm, size=len(arm), replace=True) for arm in arms])
        for name, metric in metrics.items():
            boot[name][b] = metric(y[rows], u[rows], t[rows])
    shuffled = {name: np.empty(n_permutations) for name in metrics}
    for b in range(n_permutations):
        permuted = rng.permutation(u)
        for name, metric in metrics.items():
            shuffled[name][b] = metric(y, permuted, t)
    tail = (1 - level) / 2
    out = {"average_effect": average_effect(y, t, level)}
    for name, metric in metrics.items():
        value = metric(y, u, t)
        p_value = float((1 + np.sum(shuffled[name] >= value)) / (1 + n_permutations))
        out[name] = {
            "value": float(value),
            "ci": [float(np.quantile(boot[name], tail)), float(np.quantile(boot[name], 1 - tail))],
            "permutation": {"mean": float(shuffled[name].mean()), "high": float(np.quantile(shuffled[name], level)),
                            "p_value": p_value},
            "signal": p_value < 1 - level,
        }
    return out
