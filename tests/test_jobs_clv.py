"""Fit and scoring jobs for the CLV model against a real MLflow SQLite store in a fresh working folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from loyalty.churn.deploy import churn_inputs, fit_churn_model
from loyalty.churn.spec import load_churn_spec
from loyalty.clv import CLVModel
from loyalty.jobs import recommend_actions
from loyalty.tracking import use_tracking
from loyalty.uplift.deploy import fit_uplift_model, load_uplift_spec, uplift_columns, uplift_inputs
from loyalty.data import summarize, validate_transactions
from loyalty.datasets import load_cdnow
from loyalty.errors import SpecError
from loyalty.jobs import read_scores
from loyalty.jobs import run_spec
from loyalty.tracking import SignatureMismatchError, promote

ROOT = Path(__file__).resolve().parents[1]
CUTOFF = "1997-09-30"


def _spec(tmp: Path, name: str, **changes) -> Path:
    """A copy of a shipped pipeline spec in ``tmp`` with top-level / data / output fields changed."""
    spec = yaml.safe_load((ROOT / "pipelines" / name).read_text())
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            spec[section][field] = value
        else:
            spec[section] = value
    if spec.get("job") == "fit":
        spec["models"] = {k: str(ROOT / v) for k, v in spec["models"].items()}
    path = tmp / name
    path.write_text(yaml.safe_dump(spec))
    return path


def _loyalty(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loyalty.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "MLFLOW_TRACKING_URI": ""}, timeout=300)


def _in_memory_scores(sample: bool) -> pd.DataFrame:
    """CLV and churn models fitted and scored in this process, as the fit and score specs describe."""
    result = validate_transactions(load_cdnow(sample=sample), cutoff=CUTOFF, margin_rate=0.25, duplicates="keep")
    summary = summarize(result.transactions, CUTOFF, period="D", unit="W")
    scores = CLVModel.from_spec(ROOT / "models" / "clv.yaml").fit(summary).score(summary)
    churn, _, metadata = fit_churn_model(result.transactions, CUTOFF, load_churn_spec(ROOT / "models" / "churn.yaml"))
    inputs = churn_inputs(result.transactions, CUTOFF, metadata)
    scores["p_churn"] = churn.predict_proba(inputs[list(churn.feature_names_in_)])[:, 1]
    uplift, _, metadata = fit_uplift_model(load_uplift_spec(ROOT / "models" / "uplift.yaml"))
    offers = uplift.predict(uplift_inputs(result.transactions, CUTOFF, metadata))
    scores[uplift_columns(metadata)] = offers.to_numpy()
    return recommend_actions(scores, policy="margin_uplift", budget=0.2)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


@pytest.fixture
def sample_champion(workdir):
    """A CLV model fitted on the CDNOW sample, registered and promoted to champion in ``workdir``'s store."""
    run_spec(_spec(workdir, "fit.yaml", data__source="cdnow_sample"))
    for name in ("loyalty-clv", "loyalty-churn", "loyalty-uplift"):
        promote(name, 1)
    return workdir


def test_fit_then_score_in_fresh_processes_match_in_memory_model(workdir):
    fit = _loyalty("run", str(_spec(workdir, "fit.yaml")), cwd=workdir)
    assert fit.returncode == 0, fit.stderr
    for name in ("loyalty-clv", "loyalty-churn", "loyalty-uplift"):
        promoted = _loyalty("promote", name, "1", cwd=workdir)
        assert promoted.returncode == 0, promoted.stderr
    score = _loyalty("run", str(_spec(workdir, "score.yaml")), "--as-of", CUTOFF, cwd=workdir)
    assert score.returncode == 0, score.stderr

    scores, context = read_scores(workdir / "scores" / f"scores_{CUTOFF}.parquet")
    expected = _in_memory_scores(sample=False)
    assert len(scores) == 23_570 and scores.index.is_monotonic_increasing
    numbers = expected.columns.drop("recommended_action")
    pd.testing.assert_frame_equal(scores[numbers], expected[numbers], check_exact=False, rtol=1e-9, atol=1e-9,
                                  check_names=False, check_index_type=False)
    assert (scores["recommended_action"].to_numpy() == expected["recommended_action"].to_numpy()).all()
    assert (scores["recommended_action"] != "none").sum() == round(0.2 * 23_570)
    assert context["models"] == {k: f"models:/loyalty-{k}/1" for k in ("clv", "churn", "uplift")}

    use_tracking(f"sqlite:///{workdir / 'mlflow.db'}")  # tracking and registry: earlier tests pointed both elsewhere
    runs = mlflow.search_runs(search_all_experiments=True)
    assert sorted(runs["tags.job"]) == ["fit", "score"]
    assert (runs["status"] == "FINISHED").all()
    assert set(runs["metrics.data.rows_read"]) == {69_659}
    assert runs["params.data.source"].eq("cdnow").all()
    for name in ("loyalty-clv", "loyalty-churn", "loyalty-uplift"):
        version = MlflowClient().get_model_version_by_alias(name, "champion")
        assert str(version.version) == "1" and set(version.aliases) == {"champion", "challenger"}
        assert version.run_id == runs.loc[runs["tags.job"] == "fit", "run_id"].item()
    assert (workdir / "mlartifacts" / "loyalty-fit").is_dir() and not (workdir / "mlruns").exists()


def test_scoring_twice_for_one_date_gives_byte_identical_files(sample_champion):
    spec = _spec(sample_champion, "score.yaml", data__source="cdnow_sample")
    path = run_spec(spec, as_of=CUTOFF)["path"]
    first = path.read_bytes()
    run_spec(spec, as_of=CUTOFF)
    assert path.read_bytes() == first


def _kill_mid_write(cmd: list[str], cwd: Path, target: Path) -> bool:
    """Start ``cmd`` and SIGKILL it as soon as its temporary output file appears; True if killed mid-write."""
    process = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while process.poll() is None:
            if any(target.parent.glob(f".{target.name}.*.tmp")):
                process.send_signal(signal.SIGKILL)
                process.wait()
                return True
            time.sleep(0.0005)
        return False
    finally:
        if process.poll() is None:
            process.kill()


def test_scoring_killed_mid_write_leaves_previous_output_or_none(sample_champion):
    spec = _spec(sample_champion, "score.yaml", data__source="cdnow_sample",
                 output={"path": "scores/scores_{as_of}.parquet", "row_group_size": 10})
    target = sample_champion / "scores" / f"scores_{CUTOFF}.parquet"
    cmd = [sys.executable, "-m", "loyalty.cli", "run", str(spec), "--as-of", CUTOFF]

    assert _kill_mid_write(cmd, sample_champion, target), "the job finished before it could be killed mid-write"
    assert not target.exists()

    rerun = subprocess.run(cmd, cwd=sample_champion, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    complete = target.read_bytes()
    assert not any(target.parent.glob("*.tmp"))

    assert _kill_mid_write(cmd, sample_champion, target), "the job finished before it could be killed mid-write"
    assert target.read_bytes() == complete
    assert pd.read_parquet(target).shape[0] == 2_357


def test_model_whose_signature_does_not_match_is_refused_before_writing(sample_champion):
    # fitted with margin columns (margin_rate 0.25); scored on a log without margin: no margin_value column
    spec = _spec(sample_champion, "score.yaml", data={"source": "cdnow_sample", "duplicates": "keep"})
    with pytest.raises(SignatureMismatchError, match=r"margin_rate.*margin_value|margin_value"):
        run_spec(spec, as_of=CUTOFF)
    assert not (sample_champion / "scores").exists()


def test_scoring_without_a_champion_says_how_to_promote(workdir):
    run_spec(_spec(workdir, "fit.yaml", data__source="cdnow_sample"))
    with pytest.raises(SpecError, match=r"loyalty promote loyalty-clv"):
        run_spec(_spec(workdir, "score.yaml", data__source="cdnow_sample"), as_of=CUTOFF)


def test_promote_moves_champion_and_new_versions_are_challengers(workdir):
    spec = _spec(workdir, "fit.yaml", data__source="cdnow_sample")
    run_spec(spec)
    run_spec(spec, as_of="1997-06-30")
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("loyalty-clv", "challenger").version) == "2"
    assert promote("loyalty-clv", 1) == ""
    assert promote("loyalty-clv", 2) == "1"
    assert str(client.get_model_version_by_alias("loyalty-clv", "champion").version) == "2"
    with pytest.raises(SpecError, match=r"no version 7; versions: \[1, 2\]"):
        promote("loyalty-clv", 7)


def test_scores_can_also_replace_a_database_table(sample_champion):
    url = f"sqlite:///{sample_champion / 'scores.db'}"
    spec = _spec(sample_champion, "score.yaml", data__source="cdnow_sample",
                 output={"path": "scores/s_{as_of}.parquet", "table": {"url": url, "name": "scores"}})
    for _ in range(2):  # the second run replaces the table, it does not append
        result = run_spec(spec, as_of=CUTOFF)
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    table = pd.read_sql_table("scores", engine, index_col="customer_id")
    engine.dispose()
    assert len(table) == 2_357
    np.testing.assert_allclose(table["clv"].to_numpy(), result["scores"]["clv"].to_numpy(), rtol=1e-12)


def test_score_run_logs_accounting_distributions_and_plot(sample_champion):
    result = run_spec(_spec(sample_champion, "score.yaml", data__source="cdnow_sample"), as_of=CUTOFF)
    run = MlflowClient().get_run(result["run_id"])
    assert run.data.metrics["data.rows_read"] == 6_919
    assert run.data.metrics["data.rows_read"] == run.data.metrics["data.rows_used"] + run.data.metrics["data.rows_rejected"]
    assert run.data.metrics["scores.clv.mean"] == pytest.approx(result["scores"]["clv"].mean())
    assert run.data.tags["code_git_commit"] and run.data.tags["model.clv"] == "models:/loyalty-clv/1"
    artifacts = {a.path for a in MlflowClient().list_artifacts(result["run_id"], "plots")}
    assert "plots/score_distribution.png" in artifacts


def test_a_model_spec_runs_as_a_fit_on_the_named_data(workdir):
    result = run_spec(ROOT / "models" / "clv.yaml", as_of=CUTOFF, data="cdnow_sample", margin_rate=0.25)
    assert str(result["models"]["clv"]["version"]) == "1"
    assert len(result["fitted"]) == 1
    run = MlflowClient().get_run(result["run_id"])
    assert run.data.params["models.clv.spec"].endswith("clv.yaml") and run.data.metrics["bgnbd.r"] > 0
    assert run.data.params["models.clv.name"] == "loyalty-clv"
    artifacts = {a.path for a in MlflowClient().list_artifacts(result["run_id"])}
    assert {"spec.yaml", "data_accounting.json", "plots", "tables"} <= artifacts
