"""A campaign with several offers: assignment by arm, per-arm truth, and realised outcomes matching it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loyalty.errors import SpecError
from loyalty.simulate import SimulationConfig, World, oracle, realised_outcomes, simulate, true_policy_value

ARMS = {
    "email_10": {"share": 0.3, "discount_rate": 0.10, "lift_scale": 0.5},
    "email_25": {"share": 0.3, "discount_rate": 0.25, "lift_scale": 2.0, "coupon_value": 5.0},
}
CONFIG = SimulationConfig.from_dict({"n_customers": 60_000, "campaign": {"arms": ARMS}})


@pytest.fixture(scope="module")
def world():
    return simulate(CONFIG, seed=17)


def test_customers_are_assigned_to_arms_with_the_configured_shares(world):
    assignments = world.assignments
    assert set(assignments["treatment"]) == {"control", "email_10", "email_25"}
    for arm, share in {"control": 0.4, "email_10": 0.3, "email_25": 0.3}.items():
        in_arm = assignments["treatment"] == arm
        assert np.allclose(assignments.loc[in_arm, "propensity"], share)
        assert abs(in_arm.mean() - share) < 4 * np.sqrt(share * (1 - share) / len(assignments))


def test_assignments_carry_the_terms_of_the_offer_each_customer_got(world):
    terms = world.assignments.groupby("treatment")[["contact_cost", "discount_rate", "coupon_value"]].first()
    assert terms.loc["control"].tolist() == [0.0, 0.0, 0.0]
    assert terms.loc["email_10"].tolist() == [0.40, 0.10, 0.0]
    assert terms.loc["email_25"].tolist() == [0.40, 0.25, 5.0]


@pytest.mark.parametrize("arm", ["control", "email_10", "email_25"])
@pytest.mark.parametrize("outcome, column", [("converted", "p_buy"), ("window_margin", "window_margin"),
                                             ("long_margin", "long_margin")])
def test_realised_mean_by_arm_matches_the_expectation_within_sampling_error(world, arm, outcome, column):
    realised = realised_outcomes(world)
    in_arm = (realised["treatment"] == arm).to_numpy()
    residual = realised[outcome].to_numpy()[in_arm] - world.truth[f"{column}_{arm}"].to_numpy()[in_arm]
    assert abs(residual.mean()) < 4 * residual.std(ddof=1) / np.sqrt(in_arm.sum())


def test_a_stronger_offer_persuades_more(world):
    persuadable = world.truth[world.truth["effect_type"] == "persuadable"]
    assert persuadable["response_uplift_email_25"].mean() > 2 * persuadable["response_uplift_email_10"].mean() > 0


def test_policy_helpers_need_the_arm_in_a_multi_arm_world(world):
    with pytest.raises(ValueError, match="pass arm="):
        oracle(world, 0.2)
    chosen = oracle(world, 0.2, arm="email_25")
    assert true_policy_value(world, chosen, arm="email_25") > 0


def test_multi_arm_world_round_trips(tmp_path):
    small = simulate(CONFIG.replace(n_customers=2000), seed=3)
    small.save(tmp_path / "w")
    loaded = World.load(tmp_path / "w")
    for name in ("customers", "transactions", "assignments", "truth"):
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(small, name))


@pytest.mark.parametrize("arms, field", [
    ({"a": {"share": 0.6}, "b": {"share": 0.5}}, "campaign.arms shares"),
    ({"control": {"share": 0.2}}, "campaign.arms.control"),
    ({"a": {"discount_rate": 0.1}}, "campaign.arms.a.share"),
    ({"a": {"share": 0.2, "discount_rate": 1.5}}, "campaign.arms.a.discount_rate"),
])
def test_bad_arms_raise_spec_error_naming_the_field(arms, field):
    with pytest.raises(SpecError, match=rf"^{field.replace('.', '[.]')}"):
        SimulationConfig.from_dict({"campaign": {"arms": arms}})
