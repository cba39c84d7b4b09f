"""A model family registered from outside is fitted, logged, registered and scored by the jobs unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from loyalty.data import summarize, validate_transactions
from loyalty.datasets import load_cdnow
from loyalty.errors import SpecError
from loyalty.family import Fitted, ModelData, ModelFamily
from loyalty.jobs import families, read_scores, register_family, run_spec, unregister_family
from loyalty.specs import read_model_settings
from loyalty.tracking import promote

ROOT = Path(__file__).resolve().parents[1]
CUTOFF, LATER = "1997-09-30", "1998-03-31"


# -- a toy family: repeat purchases per week of tenure, shrunk towards the cohort mean ---------------------------
def _read(path) -> dict:
    settings, _ = read_model_settings(path, "toy", {"prior_weeks": (int, float)})
    settings.setdefault("prior_weeks", 4.0)
    return settings


def _fit(settings: dict, data: ModelData) -> Fitted:
    summary = data.summary
    mean_rate = float(summary["frequency"].sum() / summary["T"].sum())
    model = {"mean_rate": mean_rate, "prior_weeks": float(settings["prior_weeks"])}
    return Fitted(model, summary[["frequency", "T"]], {"fitted_on": data.date}, {"toy.mean_rate": mean_rate})


def _inputs(data: ModelData, metadata: dict) -> pd.DataFrame:
    return data.summary[["frequency", "T"]]


def _predict(model: dict, metadata: dict, inputs: pd.DataFrame) -> pd.DataFrame:
    prior = model["prior_weeks"]
    rate = (inputs["frequency"] + prior * model["mean_rate"]) / (inputs["T"] + prior)
    return pd.DataFrame({"toy_rate": rate.to_numpy(dtype=float)}, index=inputs.index)


def _save(model: dict, metadata: dict, directory: Path) -> None:
    directory.mkdir(parents=True)
    (directory / "toy.json").write_text(json.dumps({"model": model, "metadata": metadata}))


def _load(directory: Path):
    saved = json.loads((directory / "toy.json").read_text())
    return saved["model"], saved["metadata"]


TOY = ModelFamily(name="toy", read_settings=_read, fit=_fit, inputs=_inputs, predict=_predict, save=_save,
                  load=_load, context=lambda model, metadata: {"fitted_on": metadata["fitted_on"]})


@pytest.fixture
def toy_family():
    register_family(TOY)
    yield TOY
    unregister_family("toy")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def _write(path: Path, spec: dict) -> Path:
    path.write_text(yaml.safe_dump(spec))
    return path


def _data() -> dict:
    return {"source": "cdnow_sample", "margin_rate": 0.25, "duplicates": "keep", "period": "D", "unit": "W"}


def test_a_registered_family_is_fitted_and_scored_without_runner_changes(toy_family, workdir):
    toy_spec = _write(workdir / "toy.yaml", {"kind": "model", "family": "toy", "settings": {"prior_weeks": 8}})
    fit = _write(workdir / "fit.yaml", {"kind": "pipeline", "job": "fit", "data": _data(), "cutoff": CUTOFF,
                                        "models": {"clv": str(ROOT / "models" / "clv.yaml"), "toy": str(toy_spec)}})
    fitted = run_spec(fit)
    assert set(fitted["models"]) == {"clv", "toy"} and fitted["models"]["toy"]["name"] == "loyalty-toy"
    promote("loyalty-clv", 1)
    promote("loyalty-toy", 1)
    score = _write(workdir / "score.yaml", {"kind": "pipeline", "job": "score", "data": _data(),
                                            "models": {"clv": {}, "toy": {}},
                                            "output": {"path": "scores_{as_of}.parquet"}})
    run_spec(score, as_of=LATER)

    scores, context = read_scores(workdir / f"scores_{LATER}.parquet")
    clean = validate_transactions(load_cdnow(sample=True), cutoff=LATER, margin_rate=0.25, duplicates="keep")
    at_fit = summarize(clean.transactions, CUTOFF, period="D", unit="W")
    at_score = summarize(clean.transactions, LATER, period="D", unit="W")
    model = _fit({"prior_weeks": 8}, ModelData(CUTOFF, at_fit)).model
    expected = _predict(model, {}, at_score)["toy_rate"]
    expected.index = expected.index.astype(str)
    assert len(scores) == len(at_score) and scores["toy_rate"].notna().all()
    pd.testing.assert_series_equal(scores["toy_rate"], expected.sort_index(), check_names=False,
                                   check_index_type=False, rtol=1e-12)
    assert context["toy"] == {"fitted_on": CUTOFF} and context["models"]["toy"] == "models:/loyalty-toy/1"


def test_an_unregistered_family_in_a_spec_is_named(workdir):
    assert "toy" not in families()
    spec = _write(workdir / "fit.yaml", {"kind": "pipeline", "job": "fit", "data": _data(), "cutoff": CUTOFF,
                                         "models": {"toy": "toy.yaml"}})
    with pytest.raises(SpecError, match=r"unknown model\(s\) \['toy'\]; allowed are \['clv', 'churn', 'uplift'\]"):
        run_spec(spec)


def test_a_family_name_is_registered_once(toy_family):
    with pytest.raises(ValueError, match="'toy' is registered already"):
        register_family(TOY)


def test_a_registered_model_name_is_never_pasted_into_a_registry_filter(workdir):
    from loyalty.tracking import use_tracking

    use_tracking(f"sqlite:///{workdir / 'mlflow.db'}")
    with pytest.raises(SpecError, match="use letters, digits"):
        promote("loyalty-clv' OR name LIKE '%", 1)
