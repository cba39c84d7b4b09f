"""`loyalty run pipelines/fit_lifecycle.yaml` then `loyalty run pipelines/score_lifecycle.yaml` (policy lifecycle)
write scores whose recommended actions are the targeting experiment's lifecycle ranking of the fitted inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from loyalty.cli import main
from loyalty.clv import CLVModel
from loyalty.data import summarize, validate_transactions
from loyalty.datasets import load_cdnow
from loyalty.errors import SpecError
from loyalty.jobs import load_pipeline, read_scores, run_score
from loyalty.targeting import BUILTIN_POLICIES
from loyalty.targeting.budgets import rank_order
from loyalty.targeting.economics import LIFECYCLE_INPUTS, net_window_margin
from loyalty.tracking import load_by_alias
from loyalty.uplift.deploy import load_uplift_spec, uplift_inputs

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "1997-09-30"


def _copy(name: str, workdir: Path, edit) -> Path:
    """A shipped spec copied under ``workdir`` (same relative path), edited only in size and data source."""
    spec = yaml.safe_load((ROOT / name).read_text())
    edit(spec)
    path = workdir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec))
    return path


def _small_uplift(spec: dict) -> None:
    spec["settings"]["campaign"]["simulator"]["customers"] = 4000
    spec["settings"]["n_estimators"] = 30


def _sample_log(spec: dict) -> None:
    spec["data"]["source"] = "cdnow_sample"


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("lifecycle")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{workdir / 'mlflow.db'}")
        _copy("models/clv.yaml", workdir, lambda spec: None)
        _copy("models/uplift_lifecycle.yaml", workdir, _small_uplift)
        fit = _copy("pipelines/fit_lifecycle.yaml", workdir, _sample_log)
        score = _copy("pipelines/score_lifecycle.yaml", workdir, _sample_log)
        assert main(["run", str(fit)]) == 0
        assert main(["promote", "loyalty-clv", "1"]) == 0
        assert main(["promote", "loyalty-uplift-lifecycle", "1"]) == 0
        assert main(["run", str(score), "--as-of", AS_OF]) == 0
        scores, context = read_scores(workdir / "scores" / f"lifecycle_{AS_OF}.parquet")
        clv = load_by_alias("loyalty-clv", "champion")[0].unwrap_python_model()
        uplift = load_by_alias("loyalty-uplift-lifecycle", "champion")[0].unwrap_python_model()
        yield scores, context, clv.model, uplift.model, uplift.metadata, score


def _experiment_inputs(clv_model: CLVModel, uplift_model, metadata: dict) -> pd.DataFrame:
    """The lifecycle inputs as :func:`loyalty.targeting.score_campaign` computes them, from the fitted models."""
    clean = validate_transactions(load_cdnow(sample=True), cutoff=AS_OF, margin_rate=0.25, duplicates="keep")
    summary = summarize(clean.transactions, AS_OF, period="D", unit="W")
    window, horizon = metadata["window_days"], metadata["horizon_days"]
    rate = clv_model.annual_discount_rate
    bg, gg = clv_model.bgnbd_, clv_model.gamma_gamma_
    clv = CLVModel.from_models(bg, gg, horizon=horizon, period="D", annual_discount_rate=rate)
    short = CLVModel.from_models(bg, gg, horizon=window, period="D", annual_discount_rate=rate)
    X = uplift_inputs(clean.transactions, AS_OF, metadata).reindex(summary.index)
    margin_rate = summary["margin_rate"].fillna(summary["margin_rate"].mean())  # zero-spend customers: no rate
    out = pd.DataFrame(index=summary.index.astype(str))
    out["residual_clv"] = (clv.score(summary, interval=None)["clv"]
                           - short.score(summary, interval=None)["clv"]).to_numpy()
    out["uplift_response"] = uplift_model.response.predict(X).iloc[:, 0].to_numpy()
    out["p_retained_control"] = uplift_model.retention.predict_control(X)
    out["uplift_retention"] = uplift_model.retention.predict(X)
    out["uplift_net_margin"] = net_window_margin(
        out["uplift_response"], gg.expected_spend(summary).to_numpy(), margin_rate.to_numpy(),
        metadata["discount_rate"], bg.expected_purchases(summary, window / 7).to_numpy(), metadata["contact_cost"])
    return out.sort_index()


def test_lifecycle_scores_written_by_the_pipeline_are_the_experiments_on_the_fitted_models(scored):
    scores, context, clv_model, uplift_model, metadata, _ = scored
    expected = _experiment_inputs(clv_model, uplift_model, metadata)
    assert metadata["outcome"] == "lifecycle" and metadata["horizon_days"] == 364
    assert list(scores.index) == list(expected.index) and len(scores) > 1000
    for column in ("uplift_response", *LIFECYCLE_INPUTS):
        np.testing.assert_allclose(scores[column], expected[column], rtol=1e-9, atol=1e-12, err_msg=column)
    lifecycle = BUILTIN_POLICIES["lifecycle"].score(expected)
    np.testing.assert_allclose(scores["policy_score"], lifecycle, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(scores["uplift_lifecycle"], lifecycle, rtol=1e-9, atol=1e-12)
    assert context["targeting"]["policy"] == "lifecycle" and context["uplift"]["outcome"] == "lifecycle"


def test_recommended_actions_are_the_experiments_lifecycle_top_share(scored):
    scores, context, clv_model, uplift_model, metadata, _ = scored
    expected = _experiment_inputs(clv_model, uplift_model, metadata)
    budget = context["targeting"]["budget"]
    k = int(round(budget * len(expected)))
    ranking = rank_order(BUILTIN_POLICIES["lifecycle"].score(expected))  # as evaluate_policies ranks
    chosen = np.zeros(len(expected), dtype=bool)
    chosen[ranking[:k]] = True
    offer = metadata["arms"][0]
    np.testing.assert_array_equal(scores["recommended_action"].to_numpy(),
                                  np.where(chosen, offer, "none").astype(object))
    # the lifecycle ranking is not the short-term one: retention changes who is contacted
    short_term = np.zeros(len(expected), dtype=bool)
    short_term[rank_order(expected["uplift_net_margin"])[:k]] = True
    assert (chosen != short_term).any()


def test_a_lifecycle_uplift_model_scored_without_a_clv_model_is_refused_before_writing(scored, monkeypatch):
    # The spec reader already asks for a customer-base family; this guards run_score when that base is another
    # registered family, which has no window split to value retention with.
    *_, score = scored
    spec = load_pipeline(score)
    del spec["models"]["clv"]
    monkeypatch.chdir(score.parent.parent)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{score.parent.parent / 'mlflow.db'}")
    spec["output"]["path"] = "scores/without_clv_{as_of}.parquet"
    with pytest.raises(SpecError, match="need a CLV model to value retention: add models.clv"):
        run_score(spec, as_of=AS_OF)
    assert not (score.parent.parent / "scores" / f"without_clv_{AS_OF}.parquet").exists()


def test_a_lifecycle_uplift_spec_needs_a_horizon_beyond_the_window(tmp_path):
    spec = yaml.safe_load((ROOT / "models" / "uplift_lifecycle.yaml").read_text())
    spec["settings"]["horizon_days"] = 28
    path = tmp_path / "uplift.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match=r"settings.horizon_days \(28\) must be longer than settings.window_days"):
        load_uplift_spec(path)


@pytest.fixture(scope="module")
def short_campaign_files(tmp_path_factory):
    """A simulated campaign handed over as files whose log stops 200 days after the campaign date."""
    from loyalty.simulate import SimulationConfig, simulate

    world = simulate(SimulationConfig().replace(n_customers=1500), seed=2)
    folder = tmp_path_factory.mktemp("short_campaign")
    log = world.transactions[world.transactions["timestamp"] < world.t0 + pd.Timedelta(days=200)]
    log.to_parquet(folder / "transactions.parquet")
    world.assignments.to_csv(folder / "assignments.csv", index=False)
    return {"transactions": str(folder / "transactions.parquet"), "assignments": str(folder / "assignments.csv")}


def _lifecycle_settings(files: dict, horizon_days: int) -> dict:
    return {"campaign": {"files": files}, "outcome": "lifecycle", "window_days": 28, "horizon_days": horizon_days,
            "learner": "X", "n_estimators": 10, "seed": 0}


def test_a_lifecycle_model_refuses_a_campaign_log_shorter_than_its_horizon(short_campaign_files):
    from loyalty.errors import DataValidationError
    from loyalty.uplift.deploy import fit_uplift_model

    with pytest.raises(DataValidationError, match=r"needs 364 days of transactions after every assignment.*"
                                                  r"shorten settings.horizon_days"):
        fit_uplift_model(_lifecycle_settings(short_campaign_files, 364))
    model, features, metadata = fit_uplift_model(_lifecycle_settings(short_campaign_files, 150))
    predicted = model.predict(features)
    assert metadata["horizon_days"] == 150 and len(predicted) == len(features) == 1500
    assert ((predicted["p_retained_control"] > 0) & (predicted["p_retained_control"] < 1)).all()


def test_the_lifecycle_uplift_model_is_registered_under_its_own_name(scored):
    # so promoting it never replaces the response model (`loyalty-uplift`) that pipelines/score.yaml scores with
    from mlflow import MlflowClient

    assert {model.name for model in MlflowClient().search_registered_models()} == {"loyalty-clv",
                                                                                  "loyalty-uplift-lifecycle"}
