"""Churn on a log without detectable attrition (issue 17): LightGBM runs without the BG/NBD step, the BG/NBD and
hybrid rows say why they are missing, the CLI stops with remedies in its own syntax that work, and saved churn
models with out-of-range fields do not load."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from nbd_log import END, nbd_log

from loyalty.churn import LightGBMChurn, churn_dataset, compare_churn_models
from loyalty.churn.deploy import churn_inputs, fit_churn_model
from loyalty.cli import main
from loyalty.data import validate_transactions
from loyalty.errors import DataValidationError, IdentificationError

HORIZON = 60  # days
CUTOFF = (END - pd.Timedelta(days=HORIZON + 1)).date().isoformat()
FAST = {"n_estimators": 60, "learning_rate": 0.1}
LAST_DAY = (END - pd.Timedelta(days=1)).date().isoformat()  # the log's last whole day


@pytest.fixture(scope="module")
def log():
    return validate_transactions(nbd_log()).transactions


@pytest.fixture(scope="module")
def comparison(log):
    data = churn_dataset(log, CUTOFF, HORIZON, "D")
    return compare_churn_models(data, HORIZON, "D", test_size=0.3, lightgbm_params=FAST)


def test_lightgbm_churn_runs_when_bgnbd_is_not_identified(comparison):
    assert list(comparison.table.index) == ["lightgbm"]
    assert comparison.table.loc["lightgbm", "roc_auc"] > 0.6  # buying rates differ a lot between customers
    assert list(comparison.predictions.columns) == ["churned", "lightgbm"]
    assert np.isfinite(comparison.predictions["lightgbm"]).all()


def test_the_comparison_says_why_bgnbd_and_the_hybrid_are_missing(comparison):
    assert comparison.bgnbd is None and comparison.hybrid is None
    assert "no attrition detected" in comparison.skipped["bgnbd"]
    assert "BG/NBD outputs as features" in comparison.skipped["hybrid"]


def test_the_hybrid_job_stops_with_the_diagnosis_and_a_spec_remedy_that_works(log):
    settings = {"model": "hybrid", "horizon": HORIZON, "horizon_unit": "D", "windows": [30, 90], "lightgbm": FAST}
    with pytest.raises(IdentificationError, match="no attrition detected") as info:
        fit_churn_model(log, LAST_DAY, settings)
    assert "settings.model: lightgbm" in str(info.value.for_interface("spec"))
    model, features, metadata = fit_churn_model(log, LAST_DAY, {**settings, "model": "lightgbm"})
    scores = model.predict_proba(churn_inputs(log, LAST_DAY, metadata))[:, 1]
    assert len(scores) == features.shape[0] and np.isfinite(scores).all()


@pytest.fixture(scope="module")
def log_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("no_attrition") / "log.csv"
    nbd_log().to_csv(path, index=False)
    return path


def test_cli_churn_fit_hybrid_stops_with_one_line_and_lightgbm_as_the_remedy(log_csv, tmp_path, capsys):
    common = ["churn", "fit", str(log_csv), "--cutoff", CUTOFF, "--horizon", str(HORIZON), "--n-estimators", "60"]
    assert main([*common, "--out", str(tmp_path / "hybrid")]) == 2
    error = capsys.readouterr().err
    assert "no attrition detected" in error and "Rerun with --model lightgbm" in error
    assert error.count("\n") == 1
    assert main([*common, "--model", "lightgbm", "--out", str(tmp_path / "lightgbm")]) == 0
    assert main(["churn", "score", str(log_csv), "--model", str(tmp_path / "lightgbm"), "--as-of", END.date().isoformat(),
                 "--out", str(tmp_path / "scores.parquet")]) == 0
    assert np.isfinite(pd.read_parquet(tmp_path / "scores.parquet")["p_churn"]).all()


def test_cli_clv_fit_stops_with_the_diagnosis_and_model_nbd_works(log_csv, tmp_path, capsys):
    common = ["clv", "fit", str(log_csv), "--cutoff", END.date().isoformat(), "--unit", "W",
              "--clv-margin-rate", "0.3"]
    assert main([*common, "--out", str(tmp_path / "bgnbd.json")]) == 2
    error = capsys.readouterr().err
    assert "no attrition detected" in error and "Rerun with --model nbd" in error and "loyalty.clv" not in error
    assert not (tmp_path / "bgnbd.json").exists()
    assert main([*common, "--model", "nbd", "--out", str(tmp_path / "nbd.json")]) == 0
    assert main(["clv", "score", str(log_csv), "--model", str(tmp_path / "nbd.json"), "--as-of",
                 END.date().isoformat(), "--unit", "W", "--out", str(tmp_path / "scores.parquet")]) == 0
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    assert {"clv", "clv_lower", "clv_upper"} <= set(scores.columns) and np.isfinite(scores.to_numpy()).all()


# -- saved churn models --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_churn(log, tmp_path_factory):
    settings = {"model": "lightgbm", "horizon": HORIZON, "horizon_unit": "D", "windows": [30, 90], "lightgbm": FAST}
    model, _, metadata = fit_churn_model(log, LAST_DAY, settings)
    return model.save(tmp_path_factory.mktemp("churn") / "model", metadata)


def _edited_copy(saved, tmp_path, edit):
    target = tmp_path / "edited"
    shutil.copytree(saved, target)
    state = json.loads((target / "model.json").read_text())
    edit(state)
    (target / "model.json").write_text(json.dumps(state))
    return target


@pytest.mark.parametrize("edit, field", [
    (lambda s: s.update(calibration="sigmoid", calibrator={"method": "sigmoid", "slope": float("nan"),
                                                             "intercept": 0.0}), "calibrator"),
    (lambda s: s.update(best_iteration=-1), "best_iteration"),
    (lambda s: s.pop("classes"), "classes"),
    (lambda s: s["params"].update(shrinkage=2), "params"),
    (lambda s: s.update(feature_importances=[float("nan")] * s["n_features"]), "feature_importances"),
])
def test_a_saved_churn_model_with_a_bad_field_does_not_load(saved_churn, tmp_path, edit, field):
    with pytest.raises(DataValidationError, match=f"field '{field}'"):
        LightGBMChurn.load(_edited_copy(saved_churn, tmp_path, edit))


@pytest.mark.parametrize("edit, field", [
    (lambda m: m.update(horizon=float("nan")), "horizon"),
    (lambda m: m.update(horizon=-60), "horizon"),
    (lambda m: m.update(windows=[30, 0]), "windows"),
    (lambda m: m.update(kind="forest"), "kind"),
    (lambda m: m.update(kind="hybrid", bgnbd_params={"r": float("nan"), "alpha": 1, "a": 1, "b": 1}), "'r': nan"),
])
def test_saved_churn_metadata_out_of_range_is_refused_before_scoring(saved_churn, log, edit, field):
    _, metadata = LightGBMChurn.load(saved_churn)
    edit(metadata)
    with pytest.raises(DataValidationError, match=field):
        churn_inputs(log, LAST_DAY, metadata)
