"""CLVModel with any transaction model, and the fit job's ``model: auto`` (issue 18), on the CDNOW sample."""

import numpy as np
import pandas as pd
import pytest

from loyalty.clv import CLVModel, ModifiedBetaGeo, ParetoNBD, compare_models
from loyalty.clv.family import CLV_FAMILY
from loyalty.data import summarize, validate_transactions
from loyalty.datasets import load_cdnow
from loyalty.errors import SpecError
from loyalty.family import ModelData


@pytest.fixture(scope="module")
def clean():
    return validate_transactions(load_cdnow(), duplicates="keep").transactions


@pytest.fixture(scope="module")
def weekly_summary(clean):
    return summarize(clean, "1997-09-30", period="D", unit="W")


@pytest.fixture(scope="module")
def pareto_clv(weekly_summary):
    return CLVModel(model="paretonbd", margin_rate=0.25).fit(weekly_summary)


def test_clv_model_fits_the_named_transaction_model(pareto_clv, weekly_summary):
    assert isinstance(pareto_clv.transaction_model_, ParetoNBD)
    assert pareto_clv.transaction_model_.log_likelihood_ == pytest.approx(-9594.98, abs=0.01)
    assert not hasattr(pareto_clv, "bgnbd_")  # bgnbd_ is only the BG/NBD
    scores = pareto_clv.score(weekly_summary)
    months_in_weeks = 12 * 365.25 / 12 / 7
    expected = pareto_clv.transaction_model_.expected_purchases(weekly_summary, months_in_weeks)
    np.testing.assert_allclose(scores["expected_purchases"], expected, rtol=1e-12)
    assert np.isfinite(scores[["clv", "clv_se", "clv_lower", "clv_upper"]].to_numpy()).all()
    assert (scores["clv_se"] > 0).all()


def test_undiscounted_one_step_clv_is_purchases_times_value_for_any_transaction_model(weekly_summary):
    model = CLVModel(model="mbgnbd", horizon=1, period="Y", annual_discount_rate=0.0, margin_rate=0.25)
    scores = model.fit(weekly_summary).score(weekly_summary, interval=None)
    assert isinstance(model.transaction_model_, ModifiedBetaGeo)
    np.testing.assert_allclose(scores["clv"], scores["expected_purchases"] * scores["expected_spend"] * 0.25,
                               rtol=1e-12)


def test_a_saved_pareto_clv_model_loads_as_pareto_and_scores_the_same(pareto_clv, weekly_summary, tmp_path):
    loaded = CLVModel.load(pareto_clv.save(tmp_path / "clv.json"))
    assert loaded.model == "paretonbd" and isinstance(loaded.transaction_model_, ParetoNBD)
    pd.testing.assert_frame_equal(loaded.score(weekly_summary), pareto_clv.score(weekly_summary), rtol=1e-12)


def test_fit_job_model_auto_chooses_on_the_holdout_and_records_the_table(clean):
    # a fit at 1998-06-30 with a 273-day holdout compares the models on exactly FHL's calibration/holdout split
    summary = summarize(clean, "1998-06-30", period="D", unit="W")
    settings = {**CLVModel(margin_rate=0.25).get_params(), "model": "auto", "holdout_days": 273}
    fitted = CLV_FAMILY.fit(settings, ModelData("1998-06-30", summary, clean, "D", "W"))
    table = fitted.tables["clv_model_comparison"].set_index("model")
    expected = compare_models(summarize(clean, "1997-09-30", period="D", unit="W", holdout_end="1998-06-30"))
    assert list(table.index) == list(expected.index) == ["paretonbd", "mbgnbd", "bgnbd", "nbd"]
    np.testing.assert_allclose(table["holdout_mae"], expected["holdout_mae"], rtol=1e-12)
    assert fitted.metrics["compare.paretonbd.holdout_mae"] == pytest.approx(expected.loc["paretonbd", "holdout_mae"])
    # the chosen model is then fitted on everything up to the fit date
    assert fitted.model.model == "paretonbd" and fitted.model.transaction_model_.n_customers_ == len(summary)
    assert "paretonbd.log_likelihood" in fitted.metrics


def test_model_auto_without_the_log_in_memory_says_what_to_change(weekly_summary):
    settings = {**CLVModel().get_params(), "model": "auto", "holdout_days": 91}
    with pytest.raises(SpecError, match="engine: pandas"):
        CLV_FAMILY.fit(settings, ModelData("1997-09-30", weekly_summary, None, "D", "W"))


def test_spec_settings_accept_auto_for_the_job_but_a_single_model_refuses_it(tmp_path):
    path = tmp_path / "clv.yaml"
    path.write_text("kind: model\nfamily: clv\nsettings:\n  model: auto\n  holdout_days: 60\n")
    settings = CLV_FAMILY.read_settings(path)
    assert settings["model"] == "auto" and settings["holdout_days"] == 60 and settings["horizon"] == 12
    with pytest.raises(SpecError, match="auto"):
        CLVModel.from_spec(path)
    path.write_text("kind: model\nfamily: clv\nsettings:\n  model: nbd_typo\n")
    with pytest.raises(SpecError, match="paretonbd"):
        CLV_FAMILY.read_settings(path)


def test_fit_job_with_model_auto_logs_the_comparison_and_registers_the_winner(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from loyalty.jobs import run_spec

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    spec = tmp_path / "clv_auto.yaml"
    spec.write_text("kind: model\nfamily: clv\nsettings:\n  model: auto\n  holdout_days: 273\n")
    result = run_spec(spec, as_of="1998-06-30", data="cdnow_sample", margin_rate=0.25)
    client = MlflowClient()
    run = client.get_run(result["run_id"])
    assert run.data.metrics["compare.paretonbd.holdout_mae"] < run.data.metrics["compare.bgnbd.holdout_mae"]
    assert "paretonbd.log_likelihood" in run.data.metrics
    tables = {a.path for a in client.list_artifacts(result["run_id"], "tables")}
    assert "tables/clv_model_comparison.json" in tables
    assert result["fitted"]["clv"].model == "paretonbd"
