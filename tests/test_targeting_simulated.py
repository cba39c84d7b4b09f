"""Targeting on the simulated world, where every policy's true value is known exactly (loyalty.simulate)."""

import numpy as np
import pandas as pd
import pytest

from loyalty.report.targeting import results_document
from loyalty.targeting import experiment_from_dict, run_experiment


def _experiment(customers, seed, policies, resamples=1000, n_estimators=100, splits=3):
    return experiment_from_dict({
        "name": f"sim-{seed}", "data": {"simulator": {"customers": customers, "seed": seed}},
        "economics": {"annual_discount_rate": 0.1, "response_window_days": 28, "horizon_days": 364},
        "models": {"folds": 2, "n_estimators": n_estimators, "splits": splits},
        "policies": policies, "budgets": [0.2],
        "headline": {"budget": 0.2, "policy": "lifecycle", "baseline": "response"},
        "bootstrap": {"resamples": resamples, "seed": seed},
    })


@pytest.fixture(scope="module")
def fifty_worlds():
    """50 small default worlds, each run as the shipped experiment (DR, IPW cross-check, decision), one split."""
    rows = []
    for seed in range(50):
        spec = _experiment(10_000, seed, ["random", "response", "churn_risk", "clv", "uplift", "margin_uplift",
                                          "lifecycle", "oracle"], resamples=400, n_estimators=50, splits=1)
        spec.budgets.append("profit_positive")
        result = run_experiment(spec)
        values = pd.concat([result.evaluation.values, result.evaluation.cross_check])
        at = values[(values["share"] == 0.2) & (values["outcome"] == "long_net_margin")]
        d = result.differences.set_index(["estimator", "policy", "share", "outcome"])
        truth = result.evaluation.values.query("outcome == 'long_net_margin'").set_index(["policy", "share"])
        decision = result.decision
        rows.append({
            "seed": seed, "values": at[["estimator", "policy", "value", "ci_low", "ci_high", "true_value"]],
            "headline": {e: d.loc[(e, "lifecycle", 0.2, "long_net_margin")] for e in ("dr", "ipw")},
            "recommended": None if decision.send_nothing else (decision.value, decision.ci_low, decision.ci_high,
                                                               truth.loc[(decision.policy, decision.budget),
                                                                         "true_value"]),
            "candidate": (decision.candidate["ci_low"], decision.candidate["ci_high"],
                          truth.loc[(decision.candidate["policy"], decision.candidate["budget"]), "true_value"]),
        })
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ["dr", "ipw"])
def test_paired_interval_covers_the_true_difference_in_90_to_99_percent_of_worlds(fifty_worlds, estimator):
    table = pd.DataFrame([{"estimate": w["headline"][estimator]["difference"], "low": w["headline"][estimator]["ci_low"],
                           "high": w["headline"][estimator]["ci_high"],
                           "truth": w["headline"][estimator]["true_difference"]} for w in fifty_worlds])
    covered = ((table["low"] <= table["truth"]) & (table["truth"] <= table["high"])).mean()
    error = table["estimate"] - table["truth"]
    print(f"{estimator}: coverage {covered:.0%} over 50 worlds; mean error {error.mean():.4f}, its SE "
          f"{error.std() / np.sqrt(50):.4f}; mean width {(table['high'] - table['low']).mean() * 1000:.1f} per 1,000")
    assert 0.90 <= covered <= 0.99
    assert abs(error.mean()) < 2 * error.std(ddof=1) / np.sqrt(len(error))


@pytest.mark.slow
def test_dr_interval_of_each_policys_value_covers_its_truth_in_90_to_99_percent(fifty_worlds):
    values = pd.concat([w["values"] for w in fifty_worlds]).query("estimator == 'dr' and policy != 'oracle'")
    covered = (values["ci_low"] <= values["true_value"]) & (values["true_value"] <= values["ci_high"])
    by_policy = covered.groupby(values["policy"]).mean()
    print("DR coverage at 20% by policy:", by_policy.round(2).to_dict())
    assert 0.90 <= covered.mean() <= 0.99
    error = values["value"] - values["true_value"]
    for policy, errors in error.groupby(values["policy"]):
        assert abs(errors.mean()) < 2 * errors.std(ddof=1) / np.sqrt(len(errors)) + 1e-12, policy


@pytest.mark.slow
def test_decision_is_honest_over_fifty_worlds(fifty_worlds):
    """Every actionable policy truly loses in these worlds' likeness at most budgets: a recommendation is rarely
    right, so the decision must rarely make one, and the best candidate's interval must cover its truth."""
    recommended = [w["recommended"] for w in fifty_worlds if w["recommended"] is not None]
    false = sum(truth <= 0 for _, _, _, truth in recommended)
    # the action shown: the recommended one, else the best-looking candidate marked "not proven"
    shown = [w["recommended"][1:] if w["recommended"] else w["candidate"] for w in fifty_worlds]
    covered = np.mean([low <= truth <= high for low, high, truth in shown])
    print(f"recommended in {len(recommended)} of 50 worlds, {false} with a true value <= 0; the shown action's "
          f"simultaneous interval covers its truth in {covered:.0%}")
    assert false <= 0.05 * 50
    assert all(value > 0 for value, _, _, _ in recommended)
    assert covered >= 0.90


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
def test_decision_on_the_default_world_is_send_nothing_and_says_every_policy_loses_first(default_world):
    """Every actionable policy truly loses money at every budget here (the best, lifecycle at 5%, about -14 per
    1,000), so the honest decision is to send nothing, and the report opens with the losses at 20%."""
    decision = default_world.decision
    print(decision.text)
    assert decision.send_nothing
    assert decision.all_lose_at_headline_budget and decision.text.startswith("Every policy loses money at the 20%")
    assert decision.candidate["ci_low"] <= 0


@pytest.mark.slow
def test_dr_headline_interval_is_at_most_three_quarters_as_wide_as_ipws(default_world):
    d = default_world.differences.set_index(["estimator", "policy", "share", "outcome"])
    width = {e: d.loc[(e, "lifecycle", 0.2, "long_net_margin"), "ci_high"]
             - d.loc[(e, "lifecycle", 0.2, "long_net_margin"), "ci_low"] for e in ("dr", "ipw")}
    print(f"headline interval width per 1,000: DR {width['dr'] * 1000:.1f}, IPW {width['ipw'] * 1000:.1f}, "
          f"ratio {width['dr'] / width['ipw']:.2f}")
    assert width["dr"] <= 0.75 * width["ipw"]


@pytest.mark.slow
def test_response_targeting_wins_on_response_rate(default_world):
    rates = default_world.headline["response_rate"]
    assert rates["response"] > rates["lifecycle"]


@pytest.mark.slow
def test_lifecycle_captures_the_largest_share_of_the_oracles_true_value(default_world):
    """Must-show 2: every non-oracle policy's true long-horizon value at 20% (from the truth columns, as for
    ``true_difference``) as a share of the oracle's; lifecycle's is the largest.

    True values are the mean over the 3 cross-fitting splits of the truth of each split's targets. Measured (seed 1,
    100k, splits seeded 1): lifecycle -0.43, margin_uplift -0.46, churn_risk -0.50, random -1.36, uplift -2.2,
    response -3.7, clv -3.9, with the oracle at +187 per 1,000. Every share is negative: what the
    features tell about a customer's latent response type leaves only about 2% of customers with a positive
    expected value, so at 20% every non-oracle policy mostly pays the contact cost of customers who have lapsed, and
    the ranking is about who loses least. On seed 2, lifecycle and margin_uplift are within noise of each other
    (which leads depends on the cross-fitting folds).
    """
    evaluation, customers = default_world.evaluation, default_world.scores
    values = evaluation.values
    true = values[(values["share"] == 0.2) & (values["outcome"] == "long_net_margin")].set_index("policy")["true_value"]
    # the oracle's targets do not depend on the split: its truth is the truth columns' sum over its first-split targets
    truth = customers[default_world.data.truth["long_net_margin"]].to_numpy()
    oracle_targets = evaluation.selections["oracle"][:, evaluation.shares.index(0.2)]
    assert true["oracle"] == pytest.approx(truth[oracle_targets].sum() / len(customers), rel=1e-12)
    assert true["oracle"] > 0
    share = (true / true["oracle"]).drop("oracle").sort_values(ascending=False)
    print("true long-horizon value per 1,000 at 20%:", (true * 1000).round(1).to_dict())
    print("share of the oracle's true value:", share.round(3).to_dict())
    reported = results_document(default_world)["oracle_share"]
    assert reported["by_budget"]["0.2"] == pytest.approx(share.to_dict())
    assert share.index[0] == "lifecycle", f"best non-oracle policy is {share.index[0]}: {share.round(3).to_dict()}"
    assert reported["best_policy"]["0.2"] == "lifecycle"
