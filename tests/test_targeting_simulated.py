"""Targeting on the simulated world, where every policy's true value is known exactly (loyalty.simulate)."""

import numpy as np
import pandas as pd
import pytest

from loyalty.report.targeting import results_document
from loyalty.targeting import experiment_from_dict, run_experiment


def _experiment(customers, seed, policies, resamples=1000, n_estimators=100):
    return experiment_from_dict({
        "name": f"sim-{seed}", "data": {"simulator": {"customers": customers, "seed": seed}},
        "economics": {"annual_discount_rate": 0.1, "response_window_days": 28, "horizon_days": 364},
        "models": {"folds": 2, "n_estimators": n_estimators},
        "policies": policies, "budgets": [0.2],
        "headline": {"budget": 0.2, "policy": "lifecycle", "baseline": "response"},
        "bootstrap": {"resamples": resamples, "seed": seed},
    })


@pytest.mark.slow
def test_paired_interval_covers_the_true_difference_in_90_to_99_percent_of_seeds():
    rows = []
    for seed in range(50):
        result = run_experiment(_experiment(10_000, seed, ["response", "lifecycle"], resamples=400, n_estimators=50))
        d = result.differences.set_index(["policy", "outcome"]).loc[("lifecycle", "long_net_margin")]
        rows.append({"estimate": d["difference"], "low": d["ci_low"], "high": d["ci_high"], "se": d["se"],
                     "truth": d["true_difference"]})
    table = pd.DataFrame(rows)
    covered = ((table["low"] <= table["truth"]) & (table["truth"] <= table["high"])).mean()
    error = table["estimate"] - table["truth"]
    print(f"coverage {covered:.0%} over 50 seeds; mean error {error.mean():.4f}, its SE {error.std() / np.sqrt(50):.4f}")
    assert 0.90 <= covered <= 0.99
    assert abs(error.mean()) < 2 * error.std(ddof=1) / np.sqrt(len(error))


@pytest.fixture(scope="module")
def default_world():
    policies = ["random", "response", "churn_risk", "clv", "uplift", "margin_uplift", "lifecycle", "oracle"]
    return run_experiment(_experiment(100_000, 1, policies))


@pytest.mark.slow
def test_lifecycle_beats_response_on_long_horizon_margin_with_interval_above_zero(default_world):
    h = default_world.headline
    print(h["text"])
    assert h["outcome"] == "long_net_margin" and h["ci_per_1000"][0] > 0 and h["verdict"] == "policy_wins"


@pytest.mark.slow
def test_response_targeting_wins_on_response_rate(default_world):
    rates = default_world.headline["response_rate"]
    assert rates["response"] > rates["lifecycle"]


@pytest.mark.slow
def test_lifecycle_captures_the_largest_share_of_the_oracles_true_value(default_world):
    """Must-show 2: every non-oracle policy's true long-horizon value at 20% (from the truth columns, as for
    ``true_difference``) as a share of the oracle's; lifecycle's is the largest.

    Measured (seed 1, 100k, folds seeded 1): lifecycle -0.43, margin_uplift -0.45, churn_risk -0.50, random -1.36,
    uplift -2.1, response -3.7, clv -3.9, with the oracle at +187 per 1,000. Every share is negative: what the
    features tell about a customer's latent response type leaves only about 2% of customers with a positive
    expected value, so at 20% every non-oracle policy mostly pays the contact cost of customers who have lapsed, and
    the ranking is about who loses least. On seed 2, lifecycle and margin_uplift are within noise of each other
    (which leads depends on the cross-fitting folds).
    """
    evaluation, customers = default_world.evaluation, default_world.scores
    at_20 = evaluation.shares.index(0.2)
    truth = customers[default_world.data.truth["long_net_margin"]].to_numpy()
    true = pd.Series({policy: truth[chosen[:, at_20]].sum() / len(customers)
                      for policy, chosen in evaluation.selections.items()})
    assert true["oracle"] > 0
    share = (true / true["oracle"]).drop("oracle").sort_values(ascending=False)
    print("true long-horizon value per 1,000 at 20%:", (true * 1000).round(1).to_dict())
    print("share of the oracle's true value:", share.round(3).to_dict())
    reported = results_document(default_world)["oracle_share"]
    assert reported["by_budget"]["0.2"] == pytest.approx(share.to_dict())
    assert share.index[0] == "lifecycle", f"best non-oracle policy is {share.index[0]}: {share.round(3).to_dict()}"
    assert reported["best_policy"]["0.2"] == "lifecycle"
