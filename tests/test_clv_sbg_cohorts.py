"""sBG on the two cohorts of Fader & Hardie (2007), "How to project customer retention", Journal of Interactive
Marketing 21(1): fitted on years 0-7, high end gamma=0.668, delta=3.806 and regular gamma=0.704, delta=1.182;
years 8-12 are the holdout of the projection. DEL/DERL as in Fader & Hardie (2010), Marketing Science 29(1).
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.clv import ShiftedBetaGeo
from loyalty.datasets import load_retention_cohorts
from loyalty.errors import ConvergenceError, DataValidationError

PUBLISHED = {"high_end": {"gamma": 0.668, "delta": 3.806}, "regular": {"gamma": 0.704, "delta": 1.182}}


@pytest.fixture(scope="module")
def cohorts():
    return load_retention_cohorts()


@pytest.fixture(scope="module")
def fitted(cohorts):
    return {name: ShiftedBetaGeo().fit(cohorts.loc[0:7, name]) for name in PUBLISHED}


def _customers(counts):
    """One row per customer of a cohort observed over the given counts (periods active, churned)."""
    counts = np.asarray(counts)
    rows = [(t, True) for t in range(1, len(counts)) for _ in range(int(counts[t - 1] - counts[t]))]
    rows += [(len(counts), False)] * int(counts[-1])
    return pd.DataFrame(rows, columns=["periods", "churned"])


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_sbg_reproduces_fader_hardie_2007(fitted, name):
    model = fitted[name]
    assert {k: round(v, 3) for k, v in model.params_.items()} == PUBLISHED[name]
    assert model.n_customers_ == 1000
    assert (model.summary_["lower_95"] < model.summary_["estimate"]).all()
    assert (model.summary_["se"] > 0).all()


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_sbg_projection_of_years_8_to_12_is_close_and_beats_constant_retention(fitted, cohorts, name):
    actual = cohorts.loc[8:12, name].to_numpy(dtype=float)
    sbg_error = 1000 * fitted[name].survival(np.arange(8, 13)) - actual
    # the homogeneous (geometric) model's maximum-likelihood churn on the same years 0-7
    calibration = cohorts.loc[0:7, name].to_numpy(dtype=float)
    churn = (calibration[0] - calibration[-1]) / calibration[:-1].sum()
    geometric_error = 1000 * (1 - churn) ** np.arange(8, 13) - actual
    assert np.all(np.abs(sbg_error) < np.abs(geometric_error))
    # measured: high end -1.6% (year 8) to -4.1% (year 12), regular -1.3% to -1.7%
    assert np.max(np.abs(sbg_error / actual)) < 0.05


def test_sbg_per_customer_rows_give_the_cohort_fit(fitted, cohorts):
    customers = _customers(cohorts.loc[0:7, "regular"].to_numpy())
    assert len(customers) == 1000
    model = ShiftedBetaGeo().fit(customers)
    assert model.params_ == pytest.approx(fitted["regular"].params_, rel=1e-8)
    assert model.log_likelihood_ == pytest.approx(fitted["regular"].log_likelihood_, rel=1e-12)
    weighted = customers.value_counts().rename("weights").reset_index()
    assert ShiftedBetaGeo().fit(weighted).params_ == pytest.approx(model.params_, rel=1e-8)


def test_sbg_a_plain_list_of_counts_fits_like_the_series(fitted):
    model = ShiftedBetaGeo().fit([1000, 869, 743, 653, 593, 551, 517, 491])
    assert model.params_ == pytest.approx(fitted["high_end"].params_, rel=1e-10)


def test_sbg_retention_rises_as_the_churn_prone_leave(fitted):
    rates = fitted["regular"].retention_rate(np.arange(1, 13))
    assert np.all(np.diff(rates) > 0)
    survival = fitted["regular"].survival(np.arange(0, 13))
    np.testing.assert_allclose(rates, survival[1:] / survival[:-1], rtol=1e-12)
    churn = fitted["regular"].churn_probability(np.arange(1, 13))
    np.testing.assert_allclose(churn, survival[:-1] - survival[1:], rtol=1e-10)


@settings(max_examples=50, deadline=None)
@given(
    gamma=st.floats(0.05, 10.0), delta=st.floats(0.05, 10.0), n=st.integers(1, 20), d=st.floats(0.02, 0.5),
)
def test_sbg_derl_and_del_equal_their_discounted_sums(gamma, delta, n, d):
    model = ShiftedBetaGeo().fit([1000, 869, 743, 653])  # any fitted model, then the drawn parameters set
    model.params_ = {"gamma": gamma, "delta": delta}
    horizon = np.arange(0, 4000)
    survival = model.survival(horizon)
    z = 1.0 / (1.0 + d)
    assert model.discounted_expected_lifetime(d) == pytest.approx(np.sum(survival * z**horizon), rel=1e-8)
    residual = np.sum(survival[n:] / survival[n - 1] * z ** horizon[: len(horizon) - n])
    assert model.discounted_expected_residual_lifetime(n, d) == pytest.approx(residual, rel=1e-8)


def test_sbg_residual_value_is_margin_times_derl_for_active_customers(fitted):
    customers = pd.DataFrame({"periods": [1, 8, 8, 3], "churned": [False, False, True, True]})
    value = fitted["high_end"].residual_value(customers, margin_per_period=100.0, discount_rate=0.1)
    derl = fitted["high_end"].discounted_expected_residual_lifetime([1, 8], 0.1)
    np.testing.assert_allclose(value.to_numpy()[:2], 100.0 * derl, rtol=1e-12)
    assert (value.to_numpy()[2:] == 0).all()
    assert value.iloc[1] > value.iloc[0]  # survivors of eight years are the loyal ones


def test_sbg_without_churners_says_the_churn_is_not_identified():
    with pytest.raises(ConvergenceError, match="no customer churned"):
        ShiftedBetaGeo().fit([500, 500, 500, 500])


def test_sbg_with_only_the_first_renewal_observed_says_so():
    customers = pd.DataFrame({"periods": [1, 1, 2, 2], "churned": [True, True, False, False]})
    with pytest.raises(ConvergenceError, match="first renewal only"):
        ShiftedBetaGeo().fit(customers)


def test_sbg_on_falling_retention_names_the_observed_rates():
    # retention 0.869 then 0.855: no sign of heterogeneity, the likelihood runs to the constant-churn boundary
    with pytest.raises(ConvergenceError, match="0.869, 0.855"):
        ShiftedBetaGeo().fit([1000, 869, 743])


def test_sbg_rejects_a_cohort_that_grows():
    with pytest.raises(DataValidationError, match="period 2 has 900 active after 800"):
        ShiftedBetaGeo().fit([1000, 800, 900, 700])


def test_sbg_rejects_bad_customer_rows_with_examples():
    customers = pd.DataFrame({"periods": [0, 3, 2.5], "churned": [True, "yes", False]})
    with pytest.raises(DataValidationError, match="3 of 3 rows"):
        ShiftedBetaGeo().fit(customers)


def test_shipped_cohorts_are_the_reference_copy_byte_for_byte():
    import gzip
    import hashlib
    from importlib import resources

    raw = gzip.decompress((resources.files("loyalty.datasets") / "data" / "retention_cohorts_fader_hardie_2007.csv.gz")
                          .read_bytes())
    # the sha256 recorded in loyalty/datasets/README.md for the project's reference copy
    assert hashlib.sha256(raw).hexdigest() == "3d70b04f547b713e7c57fa6ee05b82b8c07c4556b7eb07e9bd0b7eb88732ff82"
