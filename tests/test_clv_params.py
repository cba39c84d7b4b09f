"""Fitted CLV models from given parameters (``from_params``): the same predictions as the fit they came from,
and errors that name a missing or impossible parameter.

Anchors: Fader, Hardie & Lee (2005), CDNOW sample, 39-week calibration (r=0.243, alpha=4.414, a=0.793, b=2.426);
Fader & Hardie note 025 (p=6.25, q=3.74, gamma=15.44).
"""

import numpy as np
import pandas as pd
import pytest

from loyalty.clv import BetaGeo, GammaGamma, customer_lifetime_value
from loyalty.errors import DataValidationError


@pytest.fixture(scope="module")
def fitted(weekly_summary):
    return BetaGeo().fit(weekly_summary), GammaGamma().fit(weekly_summary)


def test_models_from_fitted_parameters_predict_exactly_what_the_fit_does(fitted, weekly_summary):
    bg, gg = fitted
    bg2 = BetaGeo.from_params(bg.params_, bg.covariance_, time_unit=bg.time_unit_,
                              log_likelihood=bg.log_likelihood_, n_customers=bg.n_customers_)
    gg2 = GammaGamma.from_params(gg.params_, gg.covariance_, log_likelihood=gg.log_likelihood_,
                                 n_customers=gg.n_customers_)
    pd.testing.assert_frame_equal(bg2.summary_, bg.summary_)
    pd.testing.assert_frame_equal(gg2.summary_, gg.summary_)
    assert (bg2.log_likelihood_, bg2.n_customers_, bg2.time_unit_) == (bg.log_likelihood_, 2357, "W")
    pd.testing.assert_series_equal(bg2.p_alive(weekly_summary), bg.p_alive(weekly_summary))
    ours = customer_lifetime_value(bg2, gg2, weekly_summary, margin_rate=0.25)
    theirs = customer_lifetime_value(bg, gg, weekly_summary, margin_rate=0.25)
    pd.testing.assert_frame_equal(ours, theirs)


def test_published_parameters_give_lifetimes_expected_purchases_of_a_new_customer(lifetimes_module):
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    bg = BetaGeo.from_params(published, time_unit="W")
    peer = lifetimes_module.BetaGeoFitter()
    peer.params_ = pd.Series(published)
    weeks = np.array([1.0, 39.0, 52.0, 78.0])
    assert bg.expected_purchases_new_customer(weeks) == pytest.approx(
        peer.expected_number_of_purchases_up_to_time(weeks), rel=1e-10)
    assert bg.summary_["se"].isna().all()  # no covariance given: standard errors unknown, not invented


def test_from_params_passes_settings_to_the_model():
    gg = GammaGamma.from_params({"p": 6.25, "q": 3.74, "gamma": 15.44}, value_column="margin_value", penalizer=0.01)
    assert (gg.penalizer, gg.value_column_) == (0.01, "margin_value")
    assert gg.population_mean_spend_ == pytest.approx(6.25 * 15.44 / 2.74)


@pytest.mark.parametrize("params, message", [
    ({"r": 0.2, "alpha": 4.0, "a": 0.8}, r"parameter\(s\) \['b'\] missing"),
    ({"r": 0.2, "alpha": -4.0, "a": 0.8, "b": 2.4}, r"positive and finite, got \{'alpha': -4.0\}"),
    ({"r": np.nan, "alpha": 4.0, "a": 0.8, "b": 2.4}, r"positive and finite, got \{'r': nan\}"),
    ({"r": "x", "alpha": 4.0, "a": 0.8, "b": 2.4}, r"positive and finite, got \{'r': 'x'\}"),
])
def test_from_params_names_a_missing_or_impossible_parameter(params, message):
    with pytest.raises(DataValidationError, match=message):
        BetaGeo.from_params(params)


def test_from_params_rejects_a_covariance_of_the_wrong_shape():
    with pytest.raises(DataValidationError, match=r"covariance must be 3x3 .* got shape \(2, 2\)"):
        GammaGamma.from_params({"p": 6.25, "q": 3.74, "gamma": 15.44}, np.eye(2))
