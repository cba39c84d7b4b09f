"""The truth is exact: closed forms match a day-by-day recursion, and realised outcomes match expectations."""

from __future__ import annotations

import numpy as np
import pytest

from loyalty.simulate import SimulationConfig, oracle, realised_outcomes, simulate, true_policy_value
from loyalty.simulate.truth import expected_outcomes

ARMS = {0: "control", 1: "treated"}
OUTCOMES = {"converted": "p_buy", "window_margin": "window_margin", "long_margin": "long_margin"}


def _recursion(keep, lam1, p1, lam2, p2, m1, m2, coupon, fixed, w, h, delta):
    """Day-by-day expectation of the day-grid process, the slow and obvious way."""
    alive, never_bought = keep, 1.0
    p_buy = window = long = 0.0
    for day in range(h):
        lam, p, margin = (lam1, p1, m1) if day < w else (lam2, p2, m2)
        buys = alive * lam
        first = keep * never_bought * lam if day < w else 0.0
        value = buys * margin - first * coupon
        if day < w:
            p_buy += first
            window += value
            never_bought *= 1 - lam
        long += value * np.exp(-delta * day)
        alive *= 1 - lam * p
    return p_buy, window - fixed, long - fixed


def test_closed_forms_match_a_day_by_day_recursion():
    rng = np.random.default_rng(0)
    n, w, h, delta = 50, 28, 364, np.log1p(0.1) / 365.25
    args = dict(keep=rng.uniform(0, 1, n), lam_window=rng.uniform(0, 1, n), p_window=rng.uniform(0, 1, n),
                lam_after=rng.uniform(0, 0.2, n), p_after=rng.uniform(0, 1, n), margin_window=rng.normal(5, 3, n),
                margin_after=rng.uniform(1, 10, n), coupon_cost=rng.uniform(0, 3, n), fixed_cost=0.4)
    args["lam_window"][:3] = [1.0, 1e-9, 0.3]
    args["p_window"][:3] = [1.0, 0.5, 0.0]
    closed = expected_outcomes(**args, window_days=w, horizon_days=h, daily_discount=delta)
    for i in range(n):
        p_buy, window, long = _recursion(args["keep"][i], args["lam_window"][i], args["p_window"][i],
                                         args["lam_after"][i], args["p_after"][i], args["margin_window"][i],
                                         args["margin_after"][i], args["coupon_cost"][i], 0.4, w, h, delta)
        assert closed["p_buy"][i] == pytest.approx(p_buy, rel=1e-9, abs=1e-12)
        assert closed["window_margin"][i] == pytest.approx(window, rel=1e-9, abs=1e-9)
        assert closed["long_margin"][i] == pytest.approx(long, rel=1e-9, abs=1e-9)


@pytest.fixture(scope="module")
def world_with_coupon():
    config = SimulationConfig.from_dict({"n_customers": 60_000, "campaign": {"coupon_value": 5.0}})
    world = simulate(config, seed=21)
    return world, realised_outcomes(world)


@pytest.mark.parametrize("arm", sorted(ARMS))
@pytest.mark.parametrize("outcome", sorted(OUTCOMES))
def test_realised_mean_by_arm_matches_the_expectation_within_sampling_error(world_with_coupon, arm, outcome):
    world, realised = world_with_coupon
    in_arm = (realised["treatment"] == arm).to_numpy()
    residual = (realised[outcome].to_numpy()[in_arm]
                - world.truth[f"{OUTCOMES[outcome]}_{ARMS[arm]}"].to_numpy()[in_arm])
    standard_error = residual.std(ddof=1) / np.sqrt(in_arm.sum())
    print(f"{outcome} arm {arm}: mean(realised - expected) = {residual.mean():.4f}, SE {standard_error:.4f}")
    assert abs(residual.mean()) < 4 * standard_error


def test_realised_uplift_matches_the_true_average_uplift(world_with_coupon):
    world, realised = world_with_coupon
    treated = realised["treatment"].to_numpy() == 1
    y = realised["long_margin"].to_numpy()
    estimate = y[treated].mean() - y[~treated].mean()
    standard_error = np.sqrt(y[treated].var(ddof=1) / treated.sum() + y[~treated].var(ddof=1) / (~treated).sum())
    assert abs(estimate - world.truth["lifecycle_uplift"].mean()) < 4 * standard_error


def test_stratified_propensities_are_recorded_and_realised():
    config = SimulationConfig.from_dict({"n_customers": 20_000, "campaign": {
        "stratify_by": "channel", "strata": {"app": 0.8, "store": 0.3}, "propensity": 0.5}})
    world = simulate(config, seed=2)
    frame = world.assignments.assign(channel=world.customers["channel"])
    for channel, share in {"app": 0.8, "store": 0.3, "online": 0.5}.items():
        group = frame[frame["channel"] == channel]
        assert (group["propensity"] == share).all()
        standard_error = np.sqrt(share * (1 - share) / len(group))
        assert abs(group["treatment"].mean() - share) < 4 * standard_error


def test_oracle_treats_only_positive_uplift_within_budget_and_beats_other_sets():
    world = simulate(SimulationConfig(n_customers=5000), seed=8)
    chosen = oracle(world, 0.2)
    truth = world.truth.set_index("customer_id")
    assert 0 < len(chosen) <= 1000
    assert (truth.loc[chosen, "lifecycle_uplift"] > 0).all()
    by_response = world.truth.nlargest(1000, "p_buy_treated")["customer_id"]
    assert true_policy_value(world, chosen) > true_policy_value(world, by_response)
    assert true_policy_value(world, chosen) == pytest.approx(truth.loc[chosen, "lifecycle_uplift"].sum() / 5000)


def test_dead_customers_have_no_purchase_and_pay_only_the_contact_cost():
    world = simulate(SimulationConfig(n_customers=5000), seed=9)
    dead = world.truth[~world.truth["alive_at_t0"]]
    assert len(dead) > 0
    assert (dead["p_buy_control"] == 0).all() and (dead["long_margin_control"] == 0).all()
    assert np.allclose(dead["lifecycle_uplift"], -world.config.campaign.contact_cost)
