"""Targeting on the simulated world, where every policy's true value is known exactly (loyalty.simulate)."""

import numpy as np
import pandas as pd
import pytest

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
def test_every_policys_share_of_the_oracle(default_world):
    values = default_world.evaluation.values
    true = values[(values["share"] == 0.2) & (values["outcome"] == "long_net_margin")].set_index("policy")["true_value"]
    share = (true / true["oracle"]).drop("oracle").sort_values(ascending=False)
    print("true long-horizon value per 1,000 at 20%:", (true * 1000).round(1).to_dict())
    print("share of the oracle's true value:", share.round(2).to_dict())
    # measured (seed 1, 100k): margin_uplift -0.45, churn_risk -0.50, lifecycle -0.53, random -1.36, uplift -2.2,
    # response -3.7, clv -3.9: the value-aware policies lose least, but lifecycle does not (yet) lead them
    for weaker in ("response", "clv", "uplift", "random"):
        assert share["lifecycle"] > share[weaker]
