"""A log with no detectable attrition (issue 17): BG/NBD says so in words a user can act on and hands over the NBD
it reduces to; following the remedy works; CLV intervals are finite or absent with the reason, never NaN."""

import warnings

import numpy as np
import pandas as pd
import pytest
from nbd_log import END, bgnbd_summary, nbd_log

from loyalty.clv import NBD, BetaGeo, CLVModel, GammaGamma, customer_lifetime_value
from loyalty.data import summarize, validate_transactions
from loyalty.datasets import load_cdnow
from loyalty.errors import ConvergenceError, IdentificationError

TRUE_R, TRUE_ALPHA_DAYS = 0.8, 40.0


@pytest.fixture(scope="module")
def summary():
    """~3k customers over 7 months, nobody drops out (the UCI Online Retail II shape), in weeks."""
    return summarize(validate_transactions(nbd_log()).transactions, END, unit="W")


@pytest.fixture(scope="module")
def no_attrition(summary):
    with pytest.raises(IdentificationError) as info:
        BetaGeo().fit(summary)
    return info.value


def test_bgnbd_on_a_log_without_attrition_says_no_attrition_detected_and_names_the_nbd(no_attrition):
    message = str(no_attrition)
    assert message.startswith("no attrition detected")
    assert "reduces to NBD" in message and "loyalty.clv.NBD()" in message
    assert "Pareto/NBD" in message  # the other models that may apply are named
    assert isinstance(no_attrition, ConvergenceError)  # callers catching the old type still catch it


def test_the_no_attrition_diagnosis_never_suggests_a_penalizer(no_attrition, summary):
    assert "penalizer" not in str(no_attrition)
    # and a penalized fit reaches the same diagnosis instead of another suggestion
    with pytest.raises(IdentificationError, match="no attrition detected"):
        BetaGeo(penalizer=0.001).fit(summary)


def test_the_remedy_is_worded_for_each_interface(no_attrition):
    assert "--model nbd" in str(no_attrition.for_interface("cli"))
    # the CLI prints every LoyaltyError through render("cli") (ops' Hint mechanism): the same CLI remedy
    assert "--model nbd" in no_attrition.render("cli") and "CLVModel(model='nbd')" in no_attrition.render("python")
    assert "settings.model: nbd" in str(no_attrition.for_interface("spec"))
    assert no_attrition.for_interface("cli").diagnosis == no_attrition.diagnosis


def test_the_error_carries_the_nbd_fitted_on_the_same_data(no_attrition, summary):
    alternative = no_attrition.alternative
    refit = NBD().fit(summary)
    assert isinstance(alternative, NBD) and alternative.time_unit_ == "W"
    assert alternative.params_ == pytest.approx(refit.params_, rel=1e-6)


def test_following_the_remedy_fits_the_nbd_with_finite_standard_errors_that_cover_the_truth(summary):
    model = NBD().fit(summary)
    table = model.summary_
    assert np.all(np.isfinite(table.to_numpy()))
    truth = {"r": TRUE_R, "alpha": TRUE_ALPHA_DAYS / 7}  # alpha is in the summary's unit, weeks
    for name, value in truth.items():
        assert table.loc[name, "lower_95"] < value < table.loc[name, "upper_95"], (name, table)


def test_following_the_remedy_in_clvmodel_scores_with_finite_intervals(summary):
    model = CLVModel(model="nbd", margin_rate=0.3).fit(summary)
    scores = model.score(summary)
    assert (scores["p_alive"] == 1.0).all()
    assert {"clv_lower", "clv_upper", "clv_se"} <= set(scores.columns)
    assert np.all(np.isfinite(scores.to_numpy()))
    assert (scores["clv_lower"] <= scores["clv"]).all() and (scores["clv"] <= scores["clv_upper"]).all()


def test_clv_model_with_bgnbd_on_this_log_raises_the_same_diagnosis(summary):
    with pytest.raises(IdentificationError, match="no attrition detected"):
        CLVModel(margin_rate=0.3).fit(summary)


def test_nbd_forecasts_the_next_months_purchases_of_the_simulated_customers():
    """Calibrate on the first 5 months, forecast the next 2: the NBD's total is within 5% of what happened."""
    log = validate_transactions(nbd_log(seed=1)).transactions
    cutoff = END - pd.Timedelta(days=61)
    cal = summarize(log, cutoff, holdout_end=END, unit="W")
    model = NBD().fit(cal)
    predicted = model.expected_purchases(cal, float(cal["duration_holdout"].iloc[0])).sum()
    actual = cal["frequency_holdout"].sum()
    assert predicted == pytest.approx(actual, rel=0.05)


def test_attrition_too_rare_to_detect_in_seven_months_is_reported_as_not_detected():
    """True dropout 0.2% per purchase (Beta(0.1, 50)): BG/NBD does no better than the NBD, and says so."""
    with pytest.raises(IdentificationError, match="no attrition detected"):
        BetaGeo().fit(bgnbd_summary(3000, r=0.8, alpha=40.0, a=0.1, b=50.0, seed=1))


def test_attrition_the_log_shows_is_fitted_not_reported_missing():
    """True dropout 12% per purchase (Beta(0.8, 6)) over the same seven months: BG/NBD fits, with finite errors."""
    model = BetaGeo().fit(bgnbd_summary(3000, r=0.8, alpha=40.0, a=0.8, b=6.0, seed=0))
    assert np.all(np.isfinite(model.summary_.to_numpy()))
    assert 0.05 < model.params_["a"] / (model.params_["a"] + model.params_["b"]) < 0.25


def test_bgnbd_with_attrition_still_fits_cdnow_to_the_published_values():
    summary = summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W")
    params = BetaGeo().fit(summary).params_
    assert {k: round(v, 3) for k, v in params.items()} == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def test_nbd_is_bgnbd_without_dropout_customer_by_customer():
    """BG/NBD's likelihood tends to the NBD's as a -> 0 (FHL 2005 eq. 6 with p = 0): same per-customer values."""
    summary = summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W")
    nbd = NBD.from_params({"r": 0.4, "alpha": 12.0})
    bgnbd = BetaGeo.from_params({"r": 0.4, "alpha": 12.0, "a": 1e-30, "b": 5.0})
    np.testing.assert_allclose(nbd.customer_log_likelihood(summary), bgnbd.customer_log_likelihood(summary),
                               rtol=1e-9)
    np.testing.assert_allclose(nbd.expected_purchases(summary, 10), bgnbd.expected_purchases(summary, 10),
                               rtol=1e-6)
    np.testing.assert_allclose(nbd.p_no_purchase(summary, 10), bgnbd.p_no_purchase(summary, 10), rtol=1e-9)


def test_nbd_log_likelihood_is_the_sum_of_its_customers_at_the_optimum():
    summary = summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W")
    model = NBD().fit(summary)
    assert model.log_likelihood_ == pytest.approx(model.customer_log_likelihood(summary).sum(), rel=1e-10)
    assert model.gradient_norm_ < 1e-6


def test_clv_interval_is_left_out_with_the_reason_when_a_covariance_is_unknown(summary):
    nbd = NBD.from_params({"r": 0.85, "alpha": 6.0}, time_unit="W")  # no covariance: standard errors unknown
    gg = GammaGamma().fit(summary)
    with pytest.warns(RuntimeWarning, match="no CLV interval"):
        clv = customer_lifetime_value(nbd, gg, summary, margin_rate=0.3)
    assert not {"clv_se", "clv_lower", "clv_upper"} & set(clv.columns)
    assert "covariance of NBD is unknown" in clv.attrs["interval_unavailable"]
    assert np.all(np.isfinite(clv.to_numpy()))


def test_clvmodel_score_never_puts_nan_intervals_next_to_numbers(summary):
    gg = GammaGamma().fit(summary)
    bgnbd = BetaGeo.from_params({"r": 0.8, "alpha": 6.0, "a": 0.5, "b": 3.0}, time_unit="W")
    model = CLVModel.from_models(bgnbd, gg, margin_rate=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scores = model.score(summary)
    assert np.all(np.isfinite(scores.to_numpy()))
    assert "clv_lower" not in scores and "interval_unavailable" in scores.attrs


def test_the_clv_job_family_stops_with_a_spec_remedy_that_works(summary):
    from loyalty.clv.family import CLV_FAMILY
    from loyalty.family import ModelData

    settings = {"horizon": 12, "period": "M", "annual_discount_rate": 0.1, "margin_rate": 0.3, "value": "margin",
                "penalizer": 0.0, "model": "bgnbd"}
    data = ModelData(date=END.date().isoformat(), summary=summary)
    with pytest.raises(IdentificationError, match="Set settings.model: nbd"):
        CLV_FAMILY.fit(settings, data)
    fitted = CLV_FAMILY.fit({**settings, "model": "nbd"}, data)
    assert fitted.metrics["nbd.r"] > 0 and np.isfinite(list(fitted.metrics.values())).all()
    scores = CLV_FAMILY.predict(fitted.model, fitted.metadata, CLV_FAMILY.inputs(data, fitted.metadata))
    assert np.all(np.isfinite(scores.to_numpy()))
