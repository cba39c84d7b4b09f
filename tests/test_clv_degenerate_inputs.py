"""Inputs a real log brings (issue 17): constant spend, fits a penalizer does or does not rescue, logs without
amounts, and saved model files that must not load when a value is out of range."""

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loyalty.clv import NBD, BetaGeo, CLVModel, GammaGamma, customer_lifetime_value
from loyalty.data import read_transactions, summarize, validate_transactions
from loyalty.datasets import load_cdnow
from loyalty.errors import ConvergenceError, DataValidationError, IdentificationError

SAVED = Path(__file__).parent / "data" / "clv_model_format1.json"


def _spend_summary(spend: np.ndarray) -> pd.DataFrame:
    x = np.random.default_rng(0).integers(1, 6, len(spend)).astype(float)
    return pd.DataFrame({"frequency": x, "recency": x, "T": x + 5, "monetary_value": spend})


# -- Gamma-Gamma on spend that does not vary --------------------------------------------------------------------
def test_gamma_gamma_on_constant_spend_says_the_spend_does_not_vary():
    with pytest.raises(DataValidationError, match="the spend does not vary") as info:
        GammaGamma().fit(_spend_summary(np.full(500, 9.99)))
    message = str(info.value)
    assert "9.99" in message and "500 repeat customers" in message
    assert "too few" not in message and "penalizer" not in message and "longer calibration" not in message


def test_gamma_gamma_on_nearly_constant_spend_names_the_spread_not_a_penalizer():
    spend = 10 + 0.05 * np.random.default_rng(1).standard_normal(500)
    with pytest.raises(IdentificationError, match="the spend hardly varies") as info:
        GammaGamma().fit(_spend_summary(spend))
    assert "coefficient of variation" in str(info.value) and "penalizer" not in str(info.value)


def test_gamma_gamma_on_varying_spend_still_fits():
    spend = np.random.default_rng(2).gamma(6.0, 3.0, 500)
    assert np.isfinite(GammaGamma().fit(_spend_summary(spend)).summary_.to_numpy()).all()


# -- remedies that work -------------------------------------------------------------------------------------------
TINY = pd.DataFrame({"frequency": [1.0, 0.0, 2.0], "recency": [1.0, 0.0, 3.0], "T": [5.0, 5.0, 5.0]})


def test_a_suggested_penalizer_was_tried_and_fitting_with_it_succeeds():
    with pytest.raises(ConvergenceError) as info:
        BetaGeo().fit(TINY)
    message = str(info.value)
    assert "penalizer=0.001 converges on these data" in message
    # the same remedy spelled for the command line (the CLI prints render("cli"))
    assert "--penalizer 0.001 converges on these data" in info.value.render("cli")
    fitted = BetaGeo(penalizer=0.001).fit(TINY)  # following the suggestion works
    assert np.all(np.isfinite(list(fitted.params_.values())))


def test_a_penalizer_that_fails_too_is_not_suggested(monkeypatch):
    """When the trial penalized fit fails as well, the message says so instead of suggesting it."""
    from loyalty.clv import _mle

    monkeypatch.setattr(_mle, "_TRIAL_PENALIZER", 1e-300)  # too small to change anything: fails the same way
    with pytest.raises(ConvergenceError) as info:
        BetaGeo().fit(TINY)
    assert "A penalizer does not help" in str(info.value)
    assert "converges on these data" not in str(info.value)
    assert info.value.hint is None and "{hint}" not in info.value.render("cli")


# -- logs without amounts -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def events():
    """The CDNOW sample without its amount column: purchase events only."""
    return validate_transactions(load_cdnow().drop(columns="amount"), duplicates="keep")


def test_a_log_without_amounts_validates_as_purchase_events(events):
    assert "amount" not in events.transactions.columns
    assert events.accounting.rows_read == len(load_cdnow())


def test_a_log_without_amounts_with_a_margin_is_refused_by_name():
    raw = load_cdnow().drop(columns="amount").head(10)
    with pytest.raises(DataValidationError, match="no 'amount' column"):
        validate_transactions(raw, margin_rate=0.3)


def test_bgnbd_on_a_log_without_amounts_equals_the_fit_with_amounts(events):
    clean = validate_transactions(load_cdnow(), duplicates="keep").transactions
    with_amounts = summarize(clean, cutoff="1997-09-30", period="D", unit="W")
    without = summarize(events.transactions, cutoff="1997-09-30", period="D", unit="W")
    assert "monetary_value" not in without.columns
    pd.testing.assert_frame_equal(without, with_amounts[["frequency", "recency", "T"]])
    bg = BetaGeo().fit(without)
    assert bg.params_ == pytest.approx(BetaGeo().fit(with_amounts).params_, rel=1e-9)
    assert np.isfinite(bg.p_alive(without)).all() and np.isfinite(bg.expected_purchases(without, 39)).all()


def test_clvmodel_without_spend_scores_purchases_and_says_clv_needs_spend(events, tmp_path):
    summary = summarize(events.transactions, cutoff="1997-09-30", period="D", unit="W")
    with pytest.warns(RuntimeWarning, match="no spend"):
        model = CLVModel().fit(summary)
    assert model.gamma_gamma_ is None
    scores = model.score(summary)
    assert list(scores.columns) == ["p_alive", "expected_purchases"]
    assert "CLV needs spend" in scores.attrs["clv_unavailable"]
    reloaded = CLVModel.load(model.save(tmp_path / "events.json"))
    pd.testing.assert_frame_equal(reloaded.score(summary), scores)


def test_clv_on_a_summary_without_spend_is_refused_naming_the_column(events):
    summary = summarize(events.transactions, cutoff="1997-09-30", period="D", unit="W")
    with_spend = summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W")
    bg, gg = BetaGeo().fit(summary), GammaGamma().fit(with_spend)
    with pytest.raises(DataValidationError, match="CLV needs spend per purchase.*'monetary_value'"):
        customer_lifetime_value(bg, gg, summary, margin_rate=0.3)


def test_read_transactions_keeps_a_log_without_amounts(tmp_path):
    path = tmp_path / "events.csv"
    load_cdnow().drop(columns="amount").head(50).to_csv(path, index=False)
    assert list(read_transactions(path).columns)[:2] == ["customer_id", "timestamp"]


# -- saved model files --------------------------------------------------------------------------------------------
def _saved(**changes) -> dict:
    data = json.loads(SAVED.read_text())
    for path, value in changes.items():
        node = data
        *parents, leaf = path.split("__")
        for key in parents:
            node = node[key]
        if value is _DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    return data


_DELETE = object()


@pytest.mark.parametrize("changes, field", [
    ({"bgnbd__params__r": math.nan}, "bgnbd.params.r"),
    ({"bgnbd__params__alpha": -1.0}, "bgnbd.params.alpha"),
    ({"gamma_gamma__params__q": math.inf}, "gamma_gamma.params.q"),
    ({"bgnbd__params__a": "0.8"}, "bgnbd.params.a"),
    ({"settings__margin_rate": 1.5}, "settings.margin_rate"),
    ({"settings__margin_rate": math.nan}, "settings.margin_rate"),
    ({"settings__horizon": -12}, "settings.horizon"),
    ({"settings__annual_discount_rate": math.nan}, "settings.annual_discount_rate"),
    ({"settings__period": "fortnight"}, "settings.period"),
    ({"settings": _DELETE}, "settings"),
    ({"bgnbd": _DELETE}, "bgnbd"),
    ({"bgnbd__params": _DELETE}, "bgnbd.params"),
    ({"bgnbd__n_customers": -3}, "bgnbd.n_customers"),
    ({"value_column": "price"}, "value_column"),
    ({"model": "pareto"}, "model"),
])
def test_a_saved_clv_model_with_a_bad_field_does_not_load_and_the_error_names_it(changes, field, tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(_saved(**changes)))  # json writes NaN and Infinity as Python reads them back
    with pytest.raises(DataValidationError, match=field.replace(".", r"\.")):
        CLVModel.load(path)


@pytest.mark.parametrize("changes, field", [
    ({"transactions__params__r": math.nan}, "transactions.params.r"),
    ({"transactions": _DELETE}, "transactions"),
    ({"transaction_model": "pareto"}, "transaction_model"),
    ({"settings__margin_rate": 1.5}, "settings.margin_rate"),
])
def test_a_format_2_file_with_a_bad_field_does_not_load_and_the_error_names_it(changes, field, tmp_path):
    summary = summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W")
    data = CLVModel(model="nbd", margin_rate=0.25).fit(summary).to_dict()
    assert data["version"] == 2 and data["transaction_model"] == "nbd"
    data = json.loads(json.dumps(data))
    for path, value in changes.items():
        node = data
        *parents, leaf = path.split("__")
        for key in parents:
            node = node[key]
        if value is _DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DataValidationError, match=field.replace(".", r"\.")):
        CLVModel.load(path)


def test_a_saved_covariance_with_an_infinite_entry_does_not_load(tmp_path):
    data = _saved()
    data["bgnbd"]["covariance"][0][1] = math.inf
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DataValidationError, match="covariance has non-finite entries"):
        CLVModel.load(path)


def test_the_nbd_clv_model_round_trips_through_its_file(tmp_path):
    summary = summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W")
    model = CLVModel(model="nbd", margin_rate=0.25).fit(summary)
    reloaded = CLVModel.load(model.save(tmp_path / "nbd.json"))
    assert isinstance(reloaded.transaction_model_, NBD) and reloaded.get_params() == model.get_params()
    pd.testing.assert_frame_equal(reloaded.score(summary), model.score(summary))


def test_nbd_from_params_refuses_non_finite_parameters():
    with pytest.raises(DataValidationError, match="'r': nan"):
        NBD.from_params({"r": float("nan"), "alpha": 3.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert NBD.from_params({"r": 1.0, "alpha": 3.0}).params_ == {"r": 1.0, "alpha": 3.0}
