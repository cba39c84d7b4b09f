"""The economics of an offer (net window margin, retention value, lifecycle score): properties for any inputs.

The lifecycle score is DESIGN.md section 4's "incremental margin + incremental retention × residual CLV − offer
cost" with the residual CLV of a *retained* customer, residual_clv / P(retained | control)
(:mod:`loyalty.targeting.economics`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.errors import DataValidationError
from loyalty.targeting import (
    BUILTIN_POLICIES, lifecycle_score, lifecycle_scores, net_window_margin, retention_value,
)

SETTINGS = settings(max_examples=200, deadline=None)
share = st.floats(min_value=0.0, max_value=1.0)
probability = st.floats(min_value=1e-6, max_value=1.0)
effect = st.floats(min_value=-1.0, max_value=1.0)
money = st.floats(min_value=0.0, max_value=1e4)
purchases = st.floats(min_value=0.0, max_value=50.0)


@SETTINGS
@given(spend=money, margin=share, cost=money)
def test_net_window_margin_without_uplift_or_discount_is_minus_the_contact_cost(spend, margin, cost):
    assert net_window_margin(0.0, spend, margin, 0.0, 3.0, cost) == pytest.approx(-cost)


@SETTINGS
@given(uplift=effect, spend=money, margin=share, discount=share, expected=purchases, cost=money, extra=money)
def test_net_window_margin_falls_one_for_one_with_the_contact_cost(uplift, spend, margin, discount, expected, cost,
                                                                    extra):
    base = net_window_margin(uplift, spend, margin, discount, expected, cost)
    dearer = net_window_margin(uplift, spend, margin, discount, expected, cost + extra)
    assert base - dearer == pytest.approx(extra, rel=1e-9, abs=1e-6)


@SETTINGS
@given(uplift=effect, spend=money, margin=share, discount=share, expected=purchases, cost=money)
def test_net_window_margin_is_extra_conversions_at_the_discounted_margin_minus_the_discount_on_usual_purchases(
        uplift, spend, margin, discount, expected, cost):
    """Built from its parts: each extra conversion earns s·(m − d); each usual purchase loses d·s."""
    extra_conversions = uplift * spend * (margin - discount)
    discount_given_away = discount * spend * expected
    value = net_window_margin(uplift, spend, margin, discount, expected, cost)
    assert value == pytest.approx(extra_conversions - discount_given_away - cost, rel=1e-9, abs=1e-6)
    if uplift <= 0 and margin >= discount:
        assert value <= -cost + 1e-9 * (1 + spend)


@SETTINGS
@given(p_control=probability, p_treated=share, value_if_retained=money)
def test_retention_value_is_the_change_in_residual_clv_when_the_offer_acts_on_survival(
        p_control, p_treated, value_if_retained):
    """residual CLV = P(retained) × E[post-window margin | retained]; the offer moves P(retained) only, so its worth
    is the residual CLV under the offer minus the residual CLV under control (why the score divides)."""
    residual_clv = p_control * value_if_retained
    value = retention_value(p_treated - p_control, p_control, residual_clv)
    assert value == pytest.approx(p_treated * value_if_retained - residual_clv, rel=1e-9, abs=1e-6)


@SETTINGS
@given(uplift=effect, p_control=probability, residual=money)
def test_retention_value_has_the_sign_of_the_retention_effect_and_is_zero_without_one(uplift, p_control, residual):
    value = retention_value(uplift, p_control, residual)  # residual CLV is never negative
    assert value * np.sign(uplift) >= 0
    if abs(uplift) > 1e-3 and residual > 1e-3:
        assert np.sign(value) == np.sign(uplift)
    assert retention_value(0.0, p_control, residual) == 0.0


@SETTINGS
@given(margin=st.floats(min_value=-1e4, max_value=1e4), uplift=effect, p_control=probability, residual=money)
def test_lifecycle_score_is_net_window_margin_plus_retention_value(margin, uplift, p_control, residual):
    assert lifecycle_score(margin, uplift, p_control, residual) == margin + retention_value(uplift, p_control, residual)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, np.nan])
def test_retention_value_refuses_a_control_retention_probability_outside_zero_one(bad):
    with pytest.raises(DataValidationError, match=r"p_retained_control must be within \(0, 1\]; 1 of 3 value"):
        retention_value(np.array([0.1, 0.1, 0.1]), np.array([0.5, bad, 0.5]), np.array([10.0, 10.0, 10.0]))


@SETTINGS
@given(st.lists(st.tuples(st.floats(-100, 100), effect, probability, money), min_size=1, max_size=30))
def test_lifecycle_policy_ranks_by_the_lifecycle_score_of_each_row(rows):
    customers = pd.DataFrame(rows, columns=["uplift_net_margin", "uplift_retention", "p_retained_control",
                                            "residual_clv"], index=[f"c{i}" for i in range(len(rows))])
    expected = [lifecycle_score(*row) for row in rows]
    assert lifecycle_scores(customers).tolist() == expected
    score = BUILTIN_POLICIES["lifecycle"].score(customers)
    assert score.index.equals(customers.index)
    assert score.tolist() == expected


def test_lifecycle_scores_name_the_missing_columns():
    customers = pd.DataFrame({"uplift_net_margin": [1.0], "residual_clv": [2.0]})
    with pytest.raises(DataValidationError, match=r"needs column\(s\) \['uplift_retention', 'p_retained_control'\]"):
        lifecycle_scores(customers)
