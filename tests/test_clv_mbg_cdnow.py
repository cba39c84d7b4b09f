"""MBG/NBD (Batislam, Denizel & Filiztekin 2007; Wagner & Hoppe 2008 erratum) on CDNOW, against lifetimes.

No published MBG/NBD estimates exist for CDNOW, so the anchor is the peer: ``lifetimes.ModifiedBetaGeoFitter``
on the same weekly summary (2,357 customers, 39-week calibration to 1997-09-30).
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.clv import ModifiedBetaGeo
from loyalty.errors import DataValidationError

CUTOFF = "1997-09-30"


@pytest.fixture(scope="module")
def mbg(weekly_summary):
    return ModifiedBetaGeo().fit(weekly_summary)


@pytest.fixture(scope="module")
def lifetimes_mbg(weekly_summary, lifetimes_module):
    s = weekly_summary
    # as for BG/NBD: lifetimes' default tol=1e-7 stops short of the optimum; 1e-8 is the tightest it reaches
    return lifetimes_module.ModifiedBetaGeoFitter().fit(s["frequency"], s["recency"], s["T"], tol=1e-8)


def test_mbg_estimates_match_lifetimes_fit_on_cdnow(mbg, lifetimes_mbg):
    for name in ("r", "alpha", "a", "b"):
        assert mbg.params_[name] == pytest.approx(lifetimes_mbg.params_[name], rel=1e-4), name
    assert {k: round(v, 3) for k, v in mbg.params_.items()} == {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
    assert mbg.n_customers_ == 2357
    assert mbg.time_unit_ == "W"


def test_mbg_log_likelihood_at_least_lifetimes(mbg, lifetimes_mbg, weekly_summary):
    theirs = ModifiedBetaGeo.from_lifetimes(lifetimes_mbg).customer_log_likelihood(weekly_summary).sum()
    ours = mbg.customer_log_likelihood(weekly_summary).sum()
    assert ours == pytest.approx(mbg.log_likelihood_, rel=1e-12)
    assert ours >= theirs - 1e-9 * abs(theirs)


def test_mbg_fitted_predictions_equal_lifetimes_for_every_customer(mbg, lifetimes_mbg, weekly_summary):
    s = weekly_summary
    theirs = np.asarray(lifetimes_mbg.conditional_probability_alive(s["frequency"], s["recency"], s["T"]))
    np.testing.assert_allclose(mbg.p_alive(s).to_numpy(), theirs, rtol=1e-6)
    for t in (1.0, 10.0, 39.0):
        theirs = lifetimes_mbg.conditional_expected_number_of_purchases_up_to_time(t, s["frequency"], s["recency"], s["T"])
        np.testing.assert_allclose(mbg.expected_purchases(s, t).to_numpy(), np.asarray(theirs), rtol=1e-6)


def test_mbg_same_parameters_give_lifetimes_formulas(mbg, weekly_summary):
    s, fitter = weekly_summary, mbg.to_lifetimes()
    np.testing.assert_allclose(
        mbg.p_alive(s).to_numpy(),
        np.asarray(fitter.conditional_probability_alive(s["frequency"], s["recency"], s["T"])), rtol=1e-12,
    )
    np.testing.assert_allclose(
        mbg.expected_purchases(s, 26.0).to_numpy(),
        np.asarray(fitter.conditional_expected_number_of_purchases_up_to_time(26.0, s["frequency"], s["recency"], s["T"])),
        rtol=1e-10,
    )
    horizons = np.array([1.0, 39.0, 78.0])
    np.testing.assert_allclose(
        mbg.expected_purchases_new_customer(horizons), fitter.expected_number_of_purchases_up_to_time(horizons),
        rtol=1e-10,
    )


def test_mbg_customers_without_repeats_may_already_be_gone(mbg, weekly_summary):
    # the MBG/NBD difference from BG/NBD: a dropout coin right after the first purchase
    alive = mbg.p_alive(weekly_summary)
    none = weekly_summary["frequency"] == 0
    assert (alive[none] < 1).all() and (alive[none] > 0).all()
    # older one-time buyers are less likely alive
    zero = weekly_summary[none].sort_values("T")
    assert np.all(np.diff(mbg.p_alive(zero).to_numpy()) <= 1e-15)


def test_mbg_p_no_purchase_is_between_dead_share_and_one(mbg, weekly_summary):
    s = weekly_summary
    silent = mbg.p_no_purchase(s, 10.0)
    assert ((silent >= 1 - mbg.p_alive(s) - 1e-12) & (silent <= 1)).all()
    assert (mbg.p_no_purchase(s, 52.0) <= silent + 1e-12).all()


def test_mbg_summary_table_has_intervals_around_estimates(mbg, lifetimes_mbg):
    table = mbg.summary_
    assert list(table.index) == ["r", "alpha", "a", "b"]
    assert (table["lower_95"] < table["estimate"]).all() and (table["estimate"] < table["upper_95"]).all()
    for name in table.index:
        assert table.loc[name, "se"] == pytest.approx(lifetimes_mbg.standard_errors_[name], rel=1e-3), name


def test_mbg_weighted_collapsed_rows_give_the_same_fit(mbg, weekly_summary):
    s = weekly_summary[["frequency", "recency", "T"]]
    collapsed = s.groupby(["frequency", "recency", "T"]).size().rename("weights").reset_index()
    assert len(collapsed) < len(s)
    weighted = ModifiedBetaGeo().fit(collapsed)
    assert weighted.params_ == pytest.approx(mbg.params_, rel=1e-7)
    assert weighted.log_likelihood_ == pytest.approx(mbg.log_likelihood_, rel=1e-10)
    assert weighted.n_customers_ == mbg.n_customers_


def test_mbg_lifetimes_round_trip_keeps_parameters_and_errors(mbg, lifetimes_mbg):
    assert ModifiedBetaGeo.from_lifetimes(mbg.to_lifetimes()).params_ == pytest.approx(mbg.params_)
    converted = ModifiedBetaGeo.from_lifetimes(lifetimes_mbg)
    for name in ("r", "alpha", "a", "b"):
        assert converted.standard_errors_[name] == pytest.approx(mbg.standard_errors_[name], rel=1e-3)


def test_mbg_rejects_summaries_without_repeat_purchases():
    summary = pd.DataFrame({"frequency": [0, 0, 0], "recency": [0.0, 0.0, 0.0], "T": [5.0, 8.0, 9.0]})
    with pytest.raises(DataValidationError, match="frequency 0"):
        ModifiedBetaGeo().fit(summary)


def test_mbg_rejects_invalid_rows_naming_them():
    summary = pd.DataFrame({"frequency": [1, 2], "recency": [3.0, 12.0], "T": [5.0, 8.0]})
    with pytest.raises(DataValidationError, match="recency outside"):
        ModifiedBetaGeo().fit(summary)


@settings(max_examples=50, deadline=None)
@given(
    r=st.floats(0.1, 5.0), alpha=st.floats(0.5, 50.0), a=st.floats(1.05, 5.0), b=st.floats(0.2, 10.0),
    t=st.floats(0.5, 100.0),
)
def test_mbg_customer_just_acquired_is_expected_like_a_new_one(r, alpha, a, b, t):
    # conditioning on (x=0, t_x=0, T->0) must give the unconditional new-customer expectation: P(alive) = b/(a+b)
    # times (a+b)/(a-1)[...] is b/(a-1)[...], a check that ties the two formulas (and the erratum) together
    import lifetimes

    fitter = lifetimes.ModifiedBetaGeoFitter()
    fitter.params_ = pd.Series({"r": r, "alpha": alpha, "a": a, "b": b})
    model = ModifiedBetaGeo.from_lifetimes(fitter)
    fresh = pd.DataFrame({"frequency": [0], "recency": [0.0], "T": [1e-9]})
    assert model.p_alive(fresh).iloc[0] == pytest.approx(b / (a + b), rel=1e-6)
    assert model.expected_purchases(fresh, t).iloc[0] == pytest.approx(
        float(model.expected_purchases_new_customer(t)), rel=1e-6
    )


def test_mbg_on_three_customers_says_the_data_do_not_identify_it():
    from loyalty.errors import ConvergenceError

    summary = pd.DataFrame({"frequency": [1, 0, 0], "recency": [2.0, 0.0, 0.0], "T": [5.0, 5.0, 6.0]})
    with pytest.raises(ConvergenceError, match="3 customers, 1 with repeat purchases"):
        ModifiedBetaGeo().fit(summary)
