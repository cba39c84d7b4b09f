"""The inverse-propensity policy value and its paired bootstrap (DESIGN.md section 3)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.errors import DataValidationError, SpecError
from loyalty.targeting import (
    ColumnPolicy, RandomPolicy, TopShare, bootstrap_policy_values, evaluate_policies, ipw_contributions,
    policy_values, select,
)


def _campaign(n=4000, seed=0, propensity=0.3):
    rng = np.random.default_rng(seed)
    t = (rng.random(n) < propensity).astype(int)
    effect = rng.normal(0.5, 1.0, n)
    y = rng.normal(1.0, 2.0, n) + t * effect
    return pd.DataFrame({"treatment": t, "propensity": propensity, "y": y, "effect": effect,
                         "score": effect + rng.normal(0, 0.5, n), "converted": (y > 1).astype(int)})


def test_value_of_treating_nobody_is_zero_and_everybody_the_ate_estimate():
    frame = _campaign()
    result = evaluate_policies(frame, [ColumnPolicy("s", "score"), RandomPolicy()], {"y": "y"},
                               shares=[0.0, 0.5, 1.0], n_resamples=200)
    values = result.values.set_index(["policy", "share"])["value"]
    t, y, e = frame["treatment"], frame["y"], frame["propensity"]
    horvitz_thompson = np.mean(t * y / e - (1 - t) * y / (1 - e))
    for policy in ("s", "random"):
        assert values[(policy, 0.0)] == 0.0
        assert values[(policy, 1.0)] == pytest.approx(horvitz_thompson, rel=1e-12)


def test_unequal_propensities_are_weighted():
    frame = _campaign(n=200_000, propensity=0.2, seed=3)
    z = ipw_contributions(frame["treatment"], frame["y"], frame["propensity"])
    # the estimator is unbiased for the average effect whatever the treated share
    se = z.std() / np.sqrt(len(z))
    assert abs(z.mean() - frame["effect"].mean()) < 4 * se


def test_bootstrap_spread_matches_the_analytic_standard_error():
    frame = _campaign(n=50_000, seed=5)
    z = ipw_contributions(frame["treatment"], frame["y"], frame["propensity"])
    chosen = np.column_stack([frame["score"].to_numpy() > 0.5, np.ones(len(frame), bool)])
    replicates = bootstrap_policy_values(chosen, z, n_resamples=1000, seed=1)
    analytic = np.array([(z * chosen[:, k]).std() / np.sqrt(len(z)) for k in range(2)])
    np.testing.assert_allclose(replicates[:, :, 0].std(axis=0), analytic, rtol=0.08)  # 1000 draws: ~2.2% MC error
    centre_error = np.abs(replicates[:, :, 0].mean(axis=0) - policy_values(chosen, z)[:, 0])
    assert np.all(centre_error < 4 * analytic / np.sqrt(1000))


def test_paired_difference_interval_is_narrower_than_unpaired():
    frame = _campaign(n=20_000, seed=7)
    result = evaluate_policies(frame, [ColumnPolicy("s", "score"), ColumnPolicy("s_noisy", "y")], {"y": "y"},
                               shares=[0.5], n_resamples=1000, seed=2)
    diff = result.difference("s", "s_noisy", 0.5, "y")
    separate = result.replicates[:, :, 0, 0].std(axis=0)
    assert diff["se"] < np.sqrt((separate**2).sum())
    assert diff["ci_low"] < diff["difference"] < diff["ci_high"]


def test_better_targeting_is_worth_more():
    frame = _campaign(n=20_000, seed=11)
    result = evaluate_policies(frame, [ColumnPolicy("informed", "score"), RandomPolicy()], {"y": "y"},
                               shares=[0.2], truth={"y": "effect"}, n_resamples=300)
    diff = result.difference("informed", "random", 0.2, "y")
    assert diff["ci_low"] > 0
    true = result.values.set_index("policy")["true_value"]
    assert true["informed"] > true["random"]


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 200), st.floats(0.0, 1.0), st.integers(0, 10_000))
def test_top_share_selects_the_rounded_count_of_highest_scores(n, share, seed):
    scores = pd.Series(np.random.default_rng(seed).integers(0, 5, n).astype(float), name="s")
    chosen = select(scores, TopShare(share))
    k = int(round(share * n))
    assert chosen.sum() == k
    if 0 < k < n:
        assert scores[chosen].min() >= scores[~chosen].max()


def test_bad_inputs_are_named():
    with pytest.raises(SpecError, match="within \\[0, 1\\]"):
        TopShare(1.5)
    with pytest.raises(DataValidationError, match="strictly between 0 and 1"):
        ipw_contributions([0, 1], [1.0, 2.0], [0.5, 1.0])
    with pytest.raises(DataValidationError, match="treated and control"):
        evaluate_policies(pd.DataFrame({"treatment": [1, 1], "propensity": 0.5, "y": [1.0, 2.0], "s": [0.1, 0.2]}),
                          [ColumnPolicy("s", "s")], {"y": "y"}, shares=[0.5], n_resamples=100)
    with pytest.raises(DataValidationError, match="needs column"):
        ColumnPolicy("p", "missing").score(pd.DataFrame({"x": [1]}))
