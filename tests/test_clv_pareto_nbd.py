"""Pareto/NBD on CDNOW: the published numbers, parity with lifetimes, and a likelihood that stays finite.

Anchor: Fader, Hardie & Lee (2005), "A note on deriving the Pareto/NBD model and related expressions"
(brucehardie.com/notes/009), on the 2,357-customer CDNOW sample, 39-week calibration, weeks:
r=0.5534, alpha=10.5802, s=0.6061, beta=11.6686, LL=-9594.98.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.special import gammaln

from loyalty.clv import ParetoNBD
from loyalty.clv.pareto_nbd import pareto_nbd_log_likelihood
from loyalty.data import summarize
from loyalty.datasets import load_cdnow
from loyalty.errors import DataValidationError, NotFittedError

CUTOFF = "1997-09-30"
PUBLISHED = {"r": 0.5534, "alpha": 10.5802, "s": 0.6061, "beta": 11.6686}


@pytest.fixture(scope="module")
def model(weekly_summary):
    return ParetoNBD().fit(weekly_summary)


@pytest.fixture(scope="module")
def lifetimes_fit(weekly_summary, lifetimes_module):
    s = weekly_summary
    return lifetimes_module.ParetoNBDFitter().fit(s["frequency"], s["recency"], s["T"])


def _quadrature_log_likelihood(r, alpha, s, beta, x, t_x, T):
    """Eq. 18 with the death-between-t_x-and-T term as a numerical integral (adaptive quadrature): an independent
    reference for the ₂F₁ evaluation. The integral is taken in v = log(alpha + u), where the integrand is a
    smooth exponential even when (alpha + u)^-(r+x) falls by orders of magnitude just after t_x, and scaled by
    its value at t_x so nothing over- or underflows."""
    def log_integrand(v):  # f(u) du with u = exp(v) - alpha
        u = np.exp(v) - alpha
        return -(r + x) * v - (s + 1) * np.log(beta + u) + v

    start, stop = np.log(alpha + t_x), np.log(alpha + T)
    top = log_integrand(start)
    integral, _ = integrate.quad(lambda v: np.exp(log_integrand(v) - top), start, stop, epsabs=0, epsrel=1e-13,
                                 limit=1000)
    front = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    died = np.log(s) + top + np.log(integral) if integral > 0 else -np.inf
    return front + np.logaddexp(alive, died)


# -- published values -------------------------------------------------------------------------------------------
def test_log_likelihood_reproduces_the_published_value(model):
    assert round(model.log_likelihood_, 2) == -9594.98
    assert model.n_customers_ == 2357


def test_estimates_agree_with_the_published_ones_to_the_precision_the_likelihood_identifies(model, weekly_summary):
    # The published estimates lie on a flat ridge of the likelihood next to the optimum: at them the
    # log-likelihood is 2e-5 lower than at ours (gradient below 1e-9), and they differ from ours in the fourth
    # digit of r and alpha, by less than a hundredth of a standard error.
    x, t_x, T = (weekly_summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    at_published = pareto_nbd_log_likelihood(*PUBLISHED.values(), x, t_x, T).sum()
    assert model.log_likelihood_ >= at_published
    assert round(at_published, 2) == -9594.98
    decimals = {"r": 3, "alpha": 2, "s": 3, "beta": 2}  # one digit fewer than published
    assert {k: round(v, decimals[k]) for k, v in model.params_.items()} == {
        k: round(v, decimals[k]) for k, v in PUBLISHED.items()
    }
    for name, value in PUBLISHED.items():
        assert abs(model.params_[name] - value) < 0.01 * model.standard_errors_[name], name


def test_summary_table_has_intervals_around_estimates(model):
    table = model.summary_
    assert list(table.index) == ["r", "alpha", "s", "beta"]
    assert list(table.columns) == ["estimate", "se", "lower_95", "upper_95"]
    assert (table["lower_95"] < table["estimate"]).all() and (table["estimate"] < table["upper_95"]).all()
    assert (table["se"] > 0).all()
    assert model.gradient_norm_ < 1e-6


# -- parity with lifetimes ----------------------------------------------------------------------------------
def test_log_likelihood_at_least_lifetimes(model, lifetimes_fit, weekly_summary):
    theirs = ParetoNBD.from_lifetimes(lifetimes_fit, time_unit="W").customer_log_likelihood(weekly_summary).sum()
    ours = model.customer_log_likelihood(weekly_summary).sum()
    assert ours == pytest.approx(model.log_likelihood_, rel=1e-12)
    assert ours >= theirs


def test_likelihood_equals_lifetimes_formula_where_lifetimes_is_finite(model, weekly_summary, lifetimes_module):
    s = weekly_summary
    params = [model.params_[k] for k in ("r", "alpha", "s", "beta")]
    theirs = lifetimes_module.ParetoNBDFitter._conditional_log_likelihood(
        params, s["frequency"].to_numpy(), s["recency"].to_numpy(), s["T"].to_numpy()
    )
    np.testing.assert_allclose(model.customer_log_likelihood(s).to_numpy(), theirs, rtol=1e-10)


def test_predictions_equal_lifetimes_at_the_same_parameters(model, weekly_summary):
    s = weekly_summary
    fitter = model.to_lifetimes()
    f, r, T = s["frequency"], s["recency"], s["T"]
    np.testing.assert_allclose(
        model.p_alive(s).to_numpy(), np.asarray(fitter.conditional_probability_alive(f, r, T)), rtol=1e-6
    )
    for t in (1.0, 10.0, 39.0):
        theirs = np.asarray(fitter.conditional_expected_number_of_purchases_up_to_time(t, f, r, T))
        np.testing.assert_allclose(model.expected_purchases(s, t).to_numpy(), theirs, rtol=1e-6)
        theirs_none = np.asarray(fitter.conditional_probability_of_n_purchases_up_to_time(0, t, f, r, T))
        np.testing.assert_allclose(model.p_no_purchase(s, t).to_numpy(), theirs_none, rtol=1e-6)
    horizons = np.array([1.0, 39.0, 78.0])
    np.testing.assert_allclose(
        model.expected_purchases_new_customer(horizons), fitter.expected_number_of_purchases_up_to_time(horizons),
        rtol=1e-10,
    )


def test_lifetimes_parameters_round_trip(model):
    back = ParetoNBD.from_lifetimes(model.to_lifetimes(), time_unit="W")
    assert back.params_ == model.params_
    assert list(back.summary_.index) == ["r", "alpha", "s", "beta"]


# -- numerics -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "r, alpha, s, beta, x, t_x, T",
    [
        (0.55, 10.58, 0.61, 11.67, 2, 30.43, 38.86),  # CDNOW-like
        (0.5, 0.1, 0.7, 50.0, 300, 5.0, 39.0),  # alpha << beta, heavy buyer: lifetimes gives NaN
        (0.5, 0.01, 0.5, 100.0, 1000, 1.0, 52.0),  # lifetimes gives NaN
        (0.5, 50.0, 0.7, 0.1, 300, 5.0, 39.0),  # alpha >> beta
        (0.3, 1e-3, 2.0, 5.0, 150, 0.5, 100.0),
        (0.6, 20.0, 0.9, 0.01, 0, 0.0, 39.0),  # no repeat purchase
        (1.0, 5.0, 1.0, 5.0, 7, 3.0, 10.0),  # alpha == beta
        (1.0, 11.0, 1.0, 1.0, 169, 1e-3, 1.0),  # s whole: scipy's hyp2f1 returns NaN in the series we sum
        (1.0, 0.01, 1.0, 1.0, 24, 1e-3, 140.0),  # integrand falls by 2^25 just after t_x
    ],
)
def test_likelihood_matches_quadrature_where_lifetimes_overflows(r, alpha, s, beta, x, t_x, T):
    ours = pareto_nbd_log_likelihood(r, alpha, s, beta, x, t_x, T)
    assert np.isfinite(ours)
    assert ours == pytest.approx(_quadrature_log_likelihood(r, alpha, s, beta, x, t_x, T), rel=1e-10, abs=1e-10)


def test_lifetimes_likelihood_is_nan_where_ours_matches_quadrature(lifetimes_module):
    # alpha << beta with a heavy buyer: lifetimes' 2F1(r+s+x, r+x; r+s+x+1; z) overflows before its log is taken
    params, history = (0.5, 0.01, 0.5, 100.0), (np.array([1000]), np.array([1.0]), np.array([52.0]))
    with np.errstate(all="ignore"):
        theirs = lifetimes_module.ParetoNBDFitter._conditional_log_likelihood(params, *history)
    assert np.isnan(theirs).all()
    ours = pareto_nbd_log_likelihood(*params, *history)
    assert ours[0] == pytest.approx(_quadrature_log_likelihood(*params, 1000, 1.0, 52.0), rel=1e-10)


def test_likelihood_is_continuous_across_alpha_equal_beta():
    at = pareto_nbd_log_likelihood(0.7, 4.0, 1.3, 4.0, 5, 12.0, 30.0)
    below = pareto_nbd_log_likelihood(0.7, 4.0 - 1e-9, 1.3, 4.0, 5, 12.0, 30.0)
    above = pareto_nbd_log_likelihood(0.7, 4.0 + 1e-9, 1.3, 4.0, 5, 12.0, 30.0)
    assert below == pytest.approx(at, abs=1e-8) and above == pytest.approx(at, abs=1e-8)


@settings(max_examples=40, deadline=None)
@given(
    r=st.floats(0.05, 5), alpha=st.floats(0.01, 100), s=st.floats(0.05, 5), beta=st.floats(0.01, 100),
    x=st.integers(0, 400), recency_share=st.floats(0.0, 1.0), T=st.floats(0.5, 200),
)
def test_likelihood_matches_quadrature_for_any_parameters(r, alpha, s, beta, x, recency_share, T):
    t_x = 0.0 if x == 0 else max(recency_share * T, 1e-3)
    ours = pareto_nbd_log_likelihood(r, alpha, s, beta, x, t_x, T)
    assert ours == pytest.approx(_quadrature_log_likelihood(r, alpha, s, beta, x, t_x, T), rel=1e-8, abs=1e-8)


# -- data handling ------------------------------------------------------------------------------------------
def test_collapsed_rows_with_weights_give_the_same_fit(model, weekly_summary):
    collapsed = (
        weekly_summary.groupby(["frequency", "recency", "T"]).size().rename("weights").reset_index()
    )
    collapsed.attrs["unit"] = "W"
    weighted = ParetoNBD().fit(collapsed)
    assert len(collapsed) < len(weekly_summary)
    assert weighted.n_customers_ == model.n_customers_
    assert weighted.log_likelihood_ == pytest.approx(model.log_likelihood_, abs=1e-6)
    for name in model.params_:
        assert weighted.params_[name] == pytest.approx(model.params_[name], rel=1e-5)


def test_time_unit_scales_alpha_and_beta_and_shifts_the_likelihood(model):
    daily = summarize(load_cdnow(), cutoff=CUTOFF, period="D", unit="D")
    in_days = ParetoNBD().fit(daily)
    assert in_days.params_["alpha"] == pytest.approx(7 * model.params_["alpha"], rel=1e-5)
    assert in_days.params_["beta"] == pytest.approx(7 * model.params_["beta"], rel=1e-5)
    assert in_days.params_["r"] == pytest.approx(model.params_["r"], rel=1e-5)
    # a density in time^-x: LL in days = LL in weeks - sum(x) log 7
    shift = daily["frequency"].sum() * np.log(7.0)
    assert in_days.log_likelihood_ == pytest.approx(model.log_likelihood_ - shift, abs=1e-5)
    with pytest.raises(DataValidationError, match="unit"):
        in_days.p_alive(summarize(load_cdnow(), cutoff=CUTOFF, period="D", unit="W"))


def test_p_no_purchase_is_a_probability_falling_with_the_window(model, weekly_summary):
    short, long = model.p_no_purchase(weekly_summary, 1.0), model.p_no_purchase(weekly_summary, 52.0)
    assert ((0 < long) & (long < short) & (short < 1)).all()
    alive = model.p_alive(weekly_summary)
    assert (long >= 1 - alive - 1e-12).all()  # the dead never buy
    assert np.allclose(model.p_no_purchase(weekly_summary, 1e-9), 1.0, atol=1e-8)


def test_expected_purchases_grow_with_the_horizon_and_p_alive(model, weekly_summary):
    e10, e39 = model.expected_purchases(weekly_summary, 10.0), model.expected_purchases(weekly_summary, 39.0)
    assert (e39 > e10).all() and (e10 > 0).all()
    new = model.expected_purchases_new_customer(np.array([10.0, 39.0]))
    assert 0 < new[0] < new[1]


def test_all_zero_frequencies_are_rejected_with_a_reason():
    summary = pd.DataFrame({"frequency": [0.0, 0.0], "recency": [0.0, 0.0], "T": [10.0, 20.0]})
    with pytest.raises(DataValidationError, match="not identified"):
        ParetoNBD().fit(summary)


def test_predicting_before_fitting_says_so(weekly_summary):
    with pytest.raises(NotFittedError):
        ParetoNBD().p_alive(weekly_summary)


def test_a_population_that_never_drops_out_raises_a_convergence_error_naming_the_cause():
    from loyalty.errors import ConvergenceError

    # Poisson buyers who never leave: the dropout rate runs to zero (s -> 0, beta -> infinity)
    rng = np.random.default_rng(0)
    n = 3000
    rate, T = rng.gamma(2.0, 1 / 4.0, n), rng.uniform(26, 52, n)
    count = rng.poisson(rate * T)
    recency = np.where(count > 0, T * rng.random(n) ** (1 / np.maximum(count, 1)), 0.0)
    summary = pd.DataFrame({"frequency": count.astype(float), "recency": recency, "T": T})
    with pytest.raises(ConvergenceError, match=r"(?s)\['s', 'beta'\].*bought in the last tenth"):
        ParetoNBD().fit(summary)
