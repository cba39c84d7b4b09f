"""``CLVModel`` as an estimator: settings in ``__init__``, fitted models in ``bgnbd_`` / ``gamma_gamma_``, ``fit``
returns the model; saved models (including files written before the estimator change) load and score the same."""

import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SklearnNotFitted
from sklearn.utils.validation import check_is_fitted

from loyalty.clv import BetaGeo, CLVModel, GammaGamma
from loyalty.errors import DataValidationError, NotFittedError

SAVED_BEFORE = Path(__file__).parent / "data" / "clv_model_format1.json"


@pytest.fixture(scope="module")
def fitted(weekly_summary):
    return CLVModel(margin_rate=0.25).fit(weekly_summary)


def test_init_stores_settings_only_and_fit_returns_the_model_with_fitted_parts(weekly_summary):
    model = CLVModel(horizon=6, period="W", margin_rate=0.3, penalizer=0.0)
    assert model.get_params() == {"horizon": 6, "period": "W", "annual_discount_rate": 0.10, "margin_rate": 0.3,
                                  "value": "margin", "penalizer": 0.0, "model": "bgnbd"}
    with pytest.raises(SklearnNotFitted):
        check_is_fitted(model)
    assert model.fit(weekly_summary) is model
    check_is_fitted(model)
    assert isinstance(model.bgnbd_, BetaGeo) and isinstance(model.gamma_gamma_, GammaGamma)
    assert not hasattr(clone(model), "bgnbd_")


def test_scoring_an_unfitted_model_says_to_fit_or_load(weekly_summary):
    with pytest.raises(NotFittedError, match=r"call fit\(summary\) or CLVModel.load\(path\)"):
        CLVModel().score(weekly_summary)


def test_a_model_saved_before_the_estimator_change_loads_and_scores_like_a_fresh_fit(weekly_summary, fitted):
    """tests/data/clv_model_format1.json: ``CLVModel(margin_rate=0.25).fit(summary).save(...)`` by the code before
    the change (the dataclass with ``bgnbd`` / ``gg`` fields), on the CDNOW sample to 1997-09-30 in weeks."""
    loaded = CLVModel.load(SAVED_BEFORE)
    assert loaded.get_params() == fitted.get_params()
    assert loaded.bgnbd_.time_unit_ == "W" and loaded.gamma_gamma_.value_column_ == "monetary_value"
    pd.testing.assert_frame_equal(loaded.score(weekly_summary), fitted.score(weekly_summary), rtol=1e-9)


def test_save_then_load_round_trips_exactly(weekly_summary, fitted, tmp_path):
    path = fitted.save(tmp_path / "model.json")
    saved, before = json.loads(path.read_text()), json.loads(SAVED_BEFORE.read_text())
    # format 2 names the transaction model and stores it under "transactions" (format 1: "bgnbd", always BG/NBD)
    assert saved.keys() == (before.keys() - {"bgnbd"}) | {"transaction_model", "transactions"}
    assert saved["transaction_model"] == "bgnbd" and saved["transactions"] == before["bgnbd"]
    pd.testing.assert_frame_equal(CLVModel.load(path).score(weekly_summary), fitted.score(weekly_summary))


def test_from_models_shares_fitted_models_across_horizons(weekly_summary, fitted):
    short = CLVModel.from_models(fitted.bgnbd_, fitted.gamma_gamma_, horizon=1, margin_rate=0.25)
    assert short.bgnbd_ is fitted.bgnbd_
    assert (short.score(weekly_summary, interval=None)["clv"]
            <= fitted.score(weekly_summary, interval=None)["clv"] + 1e-12).all()
    with pytest.raises(NotFittedError, match="transaction_model is not fitted"):
        CLVModel.from_models(BetaGeo(), fitted.gamma_gamma_)


def test_loading_a_file_of_another_format_or_version_names_it(tmp_path):
    data = json.loads(SAVED_BEFORE.read_text())
    (tmp_path / "v3.json").write_text(json.dumps({**data, "version": 3}))
    with pytest.raises(DataValidationError, match="format version 3"):
        CLVModel.load(tmp_path / "v3.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something"}))
    with pytest.raises(DataValidationError, match="not a saved CLVModel"):
        CLVModel.load(tmp_path / "other.json")
