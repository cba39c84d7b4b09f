"""Parameter recovery: fits on logs simulated from known parameters find them, and the intervals are honest."""

import numpy as np
import pandas as pd
import pytest

from bgnbd_log import bgnbd_log
from loyalty.clv import BetaGeo, GammaGamma
from loyalty.data import summarize
from loyalty.errors import ConvergenceError, DataValidationError

# CDNOW's estimates (weeks, dollars): a realistic, hard case (a < 1, many one-time buyers)
TRUE_BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
TRUE_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def _fit(n, seed):
    tx, cutoff = bgnbd_log(n, TRUE_BG, TRUE_GG, seed)
    summary = summarize(tx, cutoff=cutoff, period="h", unit="W")
    return BetaGeo().fit(summary), GammaGamma().fit(summary)


@pytest.mark.slow
def test_95_percent_intervals_cover_true_parameters_in_at_least_16_of_20_seeds():
    covered = {name: 0 for name in [*TRUE_BG, *TRUE_GG]}
    for seed in range(20):
        bg, gg = _fit(100_000, seed)
        for model, truth in ((bg, TRUE_BG), (gg, TRUE_GG)):
            table = model.summary_
            for name, value in truth.items():
                covered[name] += int(table.loc[name, "lower_95"] <= value <= table.loc[name, "upper_95"])
    print("coverage of 20 seeds:", covered)
    assert all(count >= 16 for count in covered.values()), covered


def test_estimates_converge_on_truth_with_more_customers():
    small, _ = _fit(5_000, 101)
    large, _ = _fit(100_000, 101)
    err = lambda m: max(abs(np.log(m.params_[k] / v)) for k, v in TRUE_BG.items())  # noqa: E731
    assert err(large) < err(small)
    assert all(large.standard_errors_[k] < small.standard_errors_[k] for k in TRUE_BG)


def test_all_zero_frequency_is_a_clear_error():
    summary = pd.DataFrame({"frequency": [0.0] * 4, "recency": [0.0] * 4, "T": [5.0, 10.0, 20.0, 30.0]})
    with pytest.raises(DataValidationError, match="all 4 customers have frequency 0"):
        BetaGeo().fit(summary)


def test_a_handful_of_customers_is_an_identification_error_not_nan():
    summary = pd.DataFrame(
        {"frequency": [1.0, 0, 2, 0, 3], "recency": [5.0, 0, 8, 0, 9], "T": [10.0, 12, 20, 15, 30]}
    )
    with pytest.raises(ConvergenceError, match=r"diverged.*5 customers, 3 with repeat purchases.*penalizer"):
        BetaGeo().fit(summary)


def test_a_penalizer_makes_a_handful_of_customers_fit():
    summary = pd.DataFrame(
        {"frequency": [1.0, 0, 2, 0, 3], "recency": [5.0, 0, 8, 0, 9], "T": [10.0, 12, 20, 15, 30]}
    )
    model = BetaGeo(penalizer=0.01).fit(summary)
    assert all(np.isfinite(v) and v > 0 for v in model.params_.values())


def test_huge_frequencies_fit_without_overflow():
    tx, cutoff = bgnbd_log(20_000, TRUE_BG, TRUE_GG, 7)
    summary = summarize(tx, cutoff=cutoff, period="h", unit="W")
    heavy = pd.DataFrame({"frequency": [5000.0, 20000.0], "recency": [70.0, 75.0], "T": [78.0, 78.0],
                          "monetary_value": [20.0, 30.0]}, index=["heavy1", "heavy2"])
    model = BetaGeo().fit(pd.concat([summary, heavy]))
    assert all(np.isfinite(v) for v in model.params_.values())
    assert np.isfinite(model.log_likelihood_)
    alive = model.p_alive(heavy)
    assert np.all((alive >= 0) & (alive <= 1))


def test_invalid_summary_rows_are_named():
    summary = pd.DataFrame({"frequency": [1.0, 2.0], "recency": [5.0, 50.0], "T": [10.0, 20.0]})
    with pytest.raises(DataValidationError, match=r"1 invalid rows \(recency outside \[0, T\]\)"):
        BetaGeo().fit(summary)


def test_gamma_gamma_spend_scale_does_not_change_shape_parameters():
    tx, cutoff = bgnbd_log(20_000, TRUE_BG, TRUE_GG, 3)
    summary = summarize(tx, cutoff=cutoff, period="h", unit="W")
    dollars = GammaGamma().fit(summary)
    cents = summary.assign(monetary_value=summary["monetary_value"] * 100)
    in_cents = GammaGamma().fit(cents)
    assert in_cents.params_["p"] == pytest.approx(dollars.params_["p"], rel=1e-6)
    assert in_cents.params_["q"] == pytest.approx(dollars.params_["q"], rel=1e-6)
    assert in_cents.params_["gamma"] == pytest.approx(100 * dollars.params_["gamma"], rel=1e-6)


def test_gamma_gamma_needs_repeat_customers():
    summary = pd.DataFrame({"frequency": [0.0, 0.0, 1.0], "recency": [0, 0, 3.0], "T": [5.0, 6, 7],
                            "monetary_value": [0.0, 0.0, 10.0]})
    with pytest.raises(DataValidationError, match="found 1 of 3"):
        GammaGamma().fit(summary)


def test_a_large_fit_started_from_a_subsample_lands_on_the_same_optimum_as_a_cold_start(monkeypatch):
    """Above 200k customers the fit starts from a 50k-customer subsample and steps with its curvature; the
    result must be the optimum a plain L-BFGS-B run from the default start finds (same log-likelihood, same
    parameters and standard errors)."""
    import loyalty.clv._mle as mle

    tx, cutoff = bgnbd_log(250_000, TRUE_BG, TRUE_GG, seed=3)
    summary = summarize(tx, cutoff=cutoff, period="h", unit="W")
    warm = BetaGeo().fit(summary)
    monkeypatch.setattr(mle, "_WARM_START_CUSTOMERS", 10**9)  # no subsample: the cold path
    cold = BetaGeo().fit(summary)
    assert warm.log_likelihood_ >= cold.log_likelihood_ - 1e-9 * abs(cold.log_likelihood_)
    for name in TRUE_BG:
        assert warm.params_[name] == pytest.approx(cold.params_[name], rel=1e-7)
        assert warm.standard_errors_[name] == pytest.approx(cold.standard_errors_[name], rel=1e-5)
