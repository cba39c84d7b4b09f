"""BG/NBD and Gamma-Gamma on CDNOW: the published numbers, and parity with lifetimes on the same summaries.

Anchors: Fader, Hardie & Lee (2005), "Counting your customers the easy way", Marketing Science 24(2):
r=0.243, alpha=4.414, a=0.793, b=2.426, LL=-9582.4 on the 2,357-customer sample, 39-week calibration;
Fader, Hardie & Lee (2005), "RFM and CLV", JMR 42(4) / Fader & Hardie note 025: p=6.25, q=3.74, gamma=15.44.
"""

import numpy as np
import pytest

from loyalty.clv import BetaGeo, GammaGamma, customer_lifetime_value
from loyalty.data import summarize
from loyalty.datasets import load_cdnow

CUTOFF = "1997-09-30"


@pytest.fixture(scope="module")
def bg(weekly_summary):
    return BetaGeo().fit(weekly_summary)


@pytest.fixture(scope="module")
def gg(weekly_summary):
    return GammaGamma().fit(weekly_summary)


@pytest.fixture(scope="module")
def lifetimes_bg(weekly_summary, lifetimes_module):
    s = weekly_summary
    # lifetimes' default tol=1e-7 stops early enough that its P(alive) differs from the optimum's by 1.3e-6;
    # 1e-8 is the tightest it converges at (1e-9 ends in "precision loss"), so give it that.
    return lifetimes_module.BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"], tol=1e-8)


def test_bgnbd_reproduces_fader_hardie_lee_2005(bg):
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert {k: round(v, 3) for k, v in bg.params_.items()} == published
    assert bg.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)
    assert bg.n_customers_ == 2357


def test_bgnbd_summary_table_has_intervals_around_estimates(bg):
    table = bg.summary_
    assert list(table.index) == ["r", "alpha", "a", "b"]
    assert (table["lower_95"] < table["estimate"]).all() and (table["estimate"] < table["upper_95"]).all()
    assert (table["se"] > 0).all()


def test_gamma_gamma_reproduces_published_estimates(gg, weekly_summary, lifetimes_module):
    assert gg.n_customers_ == 946
    published = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    for name, value in published.items():
        assert gg.params_[name] == pytest.approx(value, abs=0.02), name
    repeat = weekly_summary[weekly_summary["frequency"] > 0]
    theirs = lifetimes_module.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"]).params_
    for ours_name, their_name in (("p", "p"), ("q", "q"), ("gamma", "v")):
        assert gg.params_[ours_name] == pytest.approx(theirs[their_name], abs=0.01), ours_name


def test_bgnbd_log_likelihood_at_least_lifetimes(bg, lifetimes_bg, weekly_summary):
    theirs = BetaGeo.from_lifetimes(lifetimes_bg, time_unit="W").customer_log_likelihood(weekly_summary).sum()
    ours = bg.customer_log_likelihood(weekly_summary).sum()
    assert ours == pytest.approx(bg.log_likelihood_, rel=1e-12)
    assert ours >= theirs - 1e-6 * abs(theirs)


def test_fitted_predictions_equal_lifetimes_for_every_customer(bg, lifetimes_bg, weekly_summary):
    s = weekly_summary
    theirs_alive = np.asarray(lifetimes_bg.conditional_probability_alive(s["frequency"], s["recency"], s["T"]))
    np.testing.assert_allclose(bg.p_alive(s).to_numpy(), theirs_alive, rtol=1e-6)
    for t in (1.0, 10.0, 39.0):
        theirs = np.asarray(
            lifetimes_bg.conditional_expected_number_of_purchases_up_to_time(t, s["frequency"], s["recency"], s["T"])
        )
        np.testing.assert_allclose(bg.expected_purchases(s, t).to_numpy(), theirs, rtol=1e-6)


def test_same_parameters_give_identical_formulas(bg, weekly_summary):
    s = weekly_summary
    fitter = bg.to_lifetimes()
    np.testing.assert_allclose(
        bg.p_alive(s).to_numpy(),
        np.asarray(fitter.conditional_probability_alive(s["frequency"], s["recency"], s["T"])),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        bg.expected_purchases_new_customer([1.0, 39.0, 78.0]),
        np.asarray(fitter.expected_number_of_purchases_up_to_time(np.array([1.0, 39.0, 78.0]))),
        rtol=1e-10,
    )


def test_revenue_clv_equals_lifetimes_with_the_same_discounting(lifetimes_module):
    # lifetimes discounts monthly over 30-day steps: (1 + 0.01)^k. The same cash flows with an annual rate:
    summary = summarize(load_cdnow(sample=False), cutoff=CUTOFF, period="D")
    bg, gg = BetaGeo().fit(summary), GammaGamma().fit(summary)
    ours = customer_lifetime_value(
        bg, gg, summary, horizon=12, period=30, annual_discount_rate=1.01 ** (365.25 / 30) - 1,
        value="revenue", interval=None,
    )
    theirs = gg.to_lifetimes().customer_lifetime_value(
        bg.to_lifetimes(), summary["frequency"], summary["recency"], summary["T"], summary["monetary_value"],
        time=12, discount_rate=0.01, freq="D",
    )
    np.testing.assert_allclose(ours["clv"].to_numpy(), np.asarray(theirs), rtol=1e-6)


def test_margin_clv_is_revenue_clv_times_margin_rate(bg, gg, weekly_summary):
    revenue = customer_lifetime_value(bg, gg, weekly_summary, horizon=52, period="W", value="revenue", interval=None)
    margin = customer_lifetime_value(bg, gg, weekly_summary, horizon=52, period="W", margin_rate=0.3, interval=None)
    np.testing.assert_allclose(margin["clv"].to_numpy(), 0.3 * revenue["clv"].to_numpy(), rtol=1e-12)


def test_margin_clv_needs_a_margin_source(bg, gg, weekly_summary):
    from loyalty.errors import DataValidationError

    with pytest.raises(DataValidationError, match="margin_rate"):
        customer_lifetime_value(bg, gg, weekly_summary, horizon=12, period="M")


def test_clv_interval_brackets_the_estimate_and_grows_with_horizon(bg, gg, weekly_summary):
    short = customer_lifetime_value(bg, gg, weekly_summary, horizon=6, period="M", margin_rate=0.3)
    long = customer_lifetime_value(bg, gg, weekly_summary, horizon=36, period="M", margin_rate=0.3)
    for frame in (short, long):
        assert (frame["clv_lower"] <= frame["clv"]).all() and (frame["clv"] <= frame["clv_upper"]).all()
        assert (frame["clv_se"] > 0).all()
    assert (long["clv"] > short["clv"]).all()
    assert long["clv_se"].sum() > short["clv_se"].sum()


def test_clv_interval_matches_parameter_simulation(bg, gg, weekly_summary):
    """The delta-method standard error agrees with a parametric bootstrap over the parameters' sampling law."""
    from loyalty.clv._maths import expected_purchases_matrix

    s = weekly_summary.iloc[:200]
    clv = customer_lifetime_value(bg, gg, s, horizon=12, period="M", margin_rate=1.0, annual_discount_rate=0.0)
    rng = np.random.default_rng(0)
    draws_bg = rng.multivariate_normal(bg.log_params_, bg.covariance_, size=400)
    draws_gg = rng.multivariate_normal(gg.log_params_, gg.covariance_, size=400)
    x = s["frequency"].to_numpy()
    m = np.where(x > 0, s["monetary_value"].to_numpy(), 0.0)
    horizon = 12 * 365.25 / 12 / 7
    values = []
    for tb, tg in zip(draws_bg, draws_gg):
        pb = dict(zip(("r", "alpha", "a", "b"), np.exp(tb)))
        p, q, g = np.exp(tg)
        purchases = expected_purchases_matrix(pb, x, s["recency"].to_numpy(), s["T"].to_numpy(), [horizon])[:, 0]
        values.append(purchases * p * (g + x * m) / (p * x + q - 1))
    bootstrap_sd = np.std(values, axis=0)
    ratio = clv["clv_se"].to_numpy() / bootstrap_sd
    # first-order agreement: median ratio near 1 (400 draws give about 3.5% Monte Carlo error on an SD)
    assert np.median(ratio) == pytest.approx(1.0, abs=0.1)


def test_lifetimes_parameters_round_trip(bg, gg):
    assert BetaGeo.from_lifetimes(bg.to_lifetimes()).params_ == pytest.approx(bg.params_)
    assert GammaGamma.from_lifetimes(gg.to_lifetimes()).params_ == pytest.approx(gg.params_)


def test_from_lifetimes_carries_standard_errors(lifetimes_bg, bg):
    converted = BetaGeo.from_lifetimes(lifetimes_bg)
    for name in ("r", "alpha", "a", "b"):
        assert converted.standard_errors_[name] == pytest.approx(bg.standard_errors_[name], rel=1e-3)
