"""Uplift evaluation that tells signal from noise: the average effect with its interval, Qini/AUUC with bootstrap
intervals next to the permutation baseline (the same metric for scores unrelated to the outcome)."""

import numpy as np
import pytest

from loyalty.errors import DataValidationError
from loyalty.uplift import average_effect, uplift_evaluation


def _campaign(n=6000, seed=0, effect_strength=0.15):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = (rng.random(n) < 0.5).astype(int)
    p = 0.1 + t * effect_strength * (x > 0)
    return (rng.random(n) < p).astype(int), x, t


def test_average_effect_is_the_difference_in_means_with_neymans_standard_error():
    y, _, t = _campaign(seed=1)
    result = average_effect(y, t)
    treated, control = y[t == 1], y[t == 0]
    assert result["effect"] == pytest.approx(treated.mean() - control.mean())
    se = np.sqrt(treated.var(ddof=1) / len(treated) + control.var(ddof=1) / len(control))
    assert result["se"] == pytest.approx(se)
    assert result["ci_low"] == pytest.approx(result["effect"] - 1.959964 * se, rel=1e-5)
    assert result["ci_low"] < 0.075 < result["ci_high"]  # the true average effect: 0.15 × P(x > 0)


def test_informative_scores_beat_the_permutation_baseline():
    y, x, t = _campaign(seed=2)
    result = uplift_evaluation(y, x, t, n_resamples=100, n_permutations=100)
    qini = result["qini"]
    assert qini["signal"] and qini["permutation"]["p_value"] < 0.05
    assert qini["value"] > qini["permutation"]["high"]
    assert qini["ci"][0] < qini["value"] < qini["ci"][1]
    assert result["auuc"]["signal"]


def test_scores_unrelated_to_the_outcome_are_reported_as_noise():
    y, _, t = _campaign(seed=3)
    noise = np.random.default_rng(99).normal(size=len(y))
    result = uplift_evaluation(y, noise, t, n_resamples=50, n_permutations=200)
    qini = result["qini"]
    assert not qini["signal"]
    assert abs(qini["permutation"]["mean"]) < 0.1  # shuffled scores are random targeting on average


def test_bad_counts_are_named():
    y, x, t = _campaign(n=200)
    with pytest.raises(DataValidationError, match="n_permutations must be >= 1"):
        uplift_evaluation(y, x, t, n_permutations=0)
