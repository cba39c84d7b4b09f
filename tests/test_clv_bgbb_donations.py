"""BG/BB on the 11,104 donors of Fader, Hardie & Shang (2010), "Customer-base analysis in a discrete-time
noncontractual setting", Marketing Science 29(6): published alpha=1.204, beta=0.750, gamma=0.657, delta=2.783,
LL=-33,225.6; and parity with ``lifetimes.BetaGeoBetaBinomFitter`` on the same data.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from loyalty.clv import BetaGeoBetaBinom
from loyalty.datasets import load_donations
from loyalty.errors import ConvergenceError, DataValidationError


@pytest.fixture(scope="module")
def donations():
    return load_donations()


@pytest.fixture(scope="module")
def bgbb(donations):
    return BetaGeoBetaBinom().fit(donations)


@pytest.fixture(scope="module")
def lifetimes_bgbb(donations):
    import lifetimes  # the reference peer, a test dependency only

    d = donations
    return lifetimes.BetaGeoBetaBinomFitter().fit(d["frequency"], d["recency"], d["n_periods"], d["weights"])


def _history(donations):
    return donations["frequency"], donations["recency"], donations["n_periods"]


def test_bgbb_reproduces_fader_hardie_shang_2010(bgbb):
    published = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
    assert {k: round(v, 3) for k, v in bgbb.params_.items()} == published
    assert round(bgbb.log_likelihood_, 1) == -33225.6
    assert bgbb.n_customers_ == 11104


def test_bgbb_log_likelihood_at_least_lifetimes(bgbb, lifetimes_bgbb, donations):
    w = donations["weights"].to_numpy()
    ours = float(np.sum(w * bgbb.customer_log_likelihood(donations).to_numpy()))
    theirs_model = BetaGeoBetaBinom.from_lifetimes(lifetimes_bgbb)
    theirs = float(np.sum(w * theirs_model.customer_log_likelihood(donations).to_numpy()))
    assert ours == pytest.approx(bgbb.log_likelihood_, rel=1e-12)
    assert ours >= theirs - 1e-9 * abs(theirs)
    assert theirs == pytest.approx(-lifetimes_bgbb._negative_log_likelihood_ * w.sum(), rel=1e-12)


def test_bgbb_fitted_predictions_equal_lifetimes(bgbb, lifetimes_bgbb, donations):
    x, t_x, n = _history(donations)
    for ahead in (0, 1, 5):
        theirs = np.asarray(lifetimes_bgbb.conditional_probability_alive(ahead, x, t_x, n))
        np.testing.assert_allclose(bgbb.p_alive(donations, periods_ahead=ahead).to_numpy(), theirs, rtol=1e-6)
    for future in (1, 5, 10):
        theirs = np.asarray(lifetimes_bgbb.conditional_expected_number_of_purchases_up_to_time(future, x, t_x, n))
        np.testing.assert_allclose(bgbb.expected_purchases(donations, future).to_numpy(), theirs, rtol=1e-6)


def test_bgbb_same_parameters_give_lifetimes_formulas(bgbb, donations):
    fitter, (x, t_x, n) = bgbb.to_lifetimes(), _history(donations)
    np.testing.assert_allclose(
        bgbb.p_alive(donations).to_numpy(),  # the paper's P(alive in period n + 1)
        np.asarray(fitter.conditional_probability_alive(1, x, t_x, n)), rtol=1e-10,
    )
    np.testing.assert_allclose(
        bgbb.expected_purchases(donations, 5).to_numpy(),
        np.asarray(fitter.conditional_expected_number_of_purchases_up_to_time(5, x, t_x, n)), rtol=1e-10,
    )


def test_bgbb_dert_is_the_discounted_sum_of_expected_transactions(bgbb, donations):
    d = 0.1
    cumulative = np.column_stack([bgbb.expected_purchases(donations, k).to_numpy() for k in range(401)])
    per_period = np.diff(cumulative, axis=1)  # expected transactions at opportunity n + k, k = 1..400
    direct = per_period @ (1.0 + d) ** -np.arange(1, 401)
    np.testing.assert_allclose(bgbb.dert(donations, d).to_numpy(), direct, rtol=1e-8)


def test_bgbb_dert_rewards_recent_frequent_donors(bgbb, donations):
    dert = bgbb.dert(donations, 0.1).to_numpy()
    best = (donations["frequency"] == 6).to_numpy()
    never = (donations["frequency"] == 0).to_numpy()
    assert dert[best].min() > dert[~best].max()
    assert dert[never].max() < dert[~never].min()


def test_bgbb_new_customer_expectation_is_mean_rate_times_expected_alive_periods(bgbb):
    a, b, g, dl = (bgbb.params_[k] for k in ("alpha", "beta", "gamma", "delta"))
    from scipy.special import betaln

    t = np.arange(1, 12)
    alive = np.exp(betaln(g, dl + t) - betaln(g, dl))  # P(alive at opportunity t)
    np.testing.assert_allclose(bgbb.expected_purchases_new_customer(t), a / (a + b) * np.cumsum(alive), rtol=1e-10)


@settings(max_examples=60, deadline=None)
@given(
    gamma=st.floats(0.05, 20.0), delta=st.floats(0.05, 20.0), n=st.integers(1, 30), m=st.integers(1, 40),
)
@example(gamma=1.0, delta=2.0, n=6, m=10)  # the closed form's 0/0 point, taken as its limit
@example(gamma=1.0 + 1e-11, delta=2.0, n=6, m=10)
@example(gamma=1.0 - 1e-7, delta=2.0, n=6, m=10)
def test_bgbb_expected_purchases_closed_form_equals_the_sum_for_any_parameters(gamma, delta, n, m):
    import lifetimes
    from scipy.special import betaln

    fitter = lifetimes.BetaGeoBetaBinomFitter()
    fitter.params_ = pd.Series({"alpha": 1.3, "beta": 0.8, "gamma": gamma, "delta": delta})
    model = BetaGeoBetaBinom.from_lifetimes(fitter)
    row = pd.DataFrame({"frequency": [1], "recency": [1], "n_periods": [n]})
    k = np.arange(1, m + 1)
    alive = np.exp(betaln(gamma, delta + n + k) - betaln(gamma, delta))
    front = np.exp(betaln(1.3 + 2, 0.8 + n - 1) - betaln(1.3, 0.8) - model.customer_log_likelihood(row).iloc[0])
    assert model.expected_purchases(row, m).iloc[0] == pytest.approx(front * alive.sum(), rel=1e-8)


def test_bgbb_one_row_per_donor_gives_the_weighted_fit(bgbb, donations):
    expanded = donations.loc[donations.index.repeat(donations["weights"]), ["frequency", "recency", "n_periods"]]
    assert len(expanded) == 11104
    fitted = BetaGeoBetaBinom().fit(expanded.reset_index(drop=True))
    assert fitted.params_ == pytest.approx(bgbb.params_, rel=1e-7)
    assert fitted.log_likelihood_ == pytest.approx(bgbb.log_likelihood_, rel=1e-12)


def test_bgbb_summary_and_standard_errors_match_lifetimes(bgbb, lifetimes_bgbb):
    table = bgbb.summary_
    assert list(table.index) == ["alpha", "beta", "gamma", "delta"]
    assert (table["lower_95"] < table["estimate"]).all() and (table["estimate"] < table["upper_95"]).all()
    for name in table.index:
        assert table.loc[name, "se"] == pytest.approx(lifetimes_bgbb.standard_errors_[name], rel=1e-3), name
    converted = BetaGeoBetaBinom.from_lifetimes(lifetimes_bgbb)
    assert converted.standard_errors_ == pytest.approx(bgbb.standard_errors_, rel=1e-3)
    assert BetaGeoBetaBinom.from_lifetimes(bgbb.to_lifetimes()).params_ == pytest.approx(bgbb.params_)


def test_bgbb_names_the_missing_column(donations):
    with pytest.raises(DataValidationError, match="n_periods"):
        BetaGeoBetaBinom().fit(donations.rename(columns={"n_periods": "periods"}))


def test_bgbb_rejects_impossible_histories_with_examples():
    table = pd.DataFrame({"frequency": [2, 3, 1], "recency": [4, 2, 7], "n_periods": [6, 6, 6]})
    with pytest.raises(DataValidationError, match="2 of 3 rows"):
        BetaGeoBetaBinom().fit(table)


def test_bgbb_without_any_transaction_says_so():
    table = pd.DataFrame({"frequency": [0, 0], "recency": [0, 0], "n_periods": [6, 6], "weights": [10, 5]})
    with pytest.raises(DataValidationError, match="frequency 0"):
        BetaGeoBetaBinom().fit(table)


def test_bgbb_that_cannot_identify_dropout_says_what_in_the_data_is_wrong():
    # everyone but one donor gave at every appeal: nothing tells how fast donors drop out
    table = pd.DataFrame({"frequency": [6, 3], "recency": [6, 6], "n_periods": [6, 6], "weights": [150, 1]})
    with pytest.raises(ConvergenceError, match="150 who transacted at every opportunity"):
        BetaGeoBetaBinom().fit(table)


def test_shipped_donations_are_lifetimes_file_byte_for_byte(donations):
    import gzip
    import hashlib
    from importlib import resources

    raw = gzip.decompress((resources.files("loyalty.datasets") / "data" / "donations.csv.gz").read_bytes())
    # the sha256 recorded in loyalty/datasets/README.md (lifetimes' datasets/donations.csv)
    assert hashlib.sha256(raw).hexdigest() == "82c25f26a201ff047e1cd5fe3d7967a45db92a025ecedee72ff8940e50104544"
    assert int(donations["weights"].sum()) == 11104 and len(donations) == 22
