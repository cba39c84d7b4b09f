"""`loyalty run experiments/<name>.yaml`: a parent run per experiment, a nested run per policy and budget."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import yaml

from loyalty.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def hillstrom_runs(tmp_path, monkeypatch):
    """experiments/hillstrom.yaml with small models and resamples, run from the CLI in a fresh folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    spec = yaml.safe_load((ROOT / "experiments" / "hillstrom.yaml").read_text())
    spec["models"].update({"n_estimators": 20, "learner": "T"})
    spec["bootstrap"]["resamples"] = 100
    spec["budgets"] = [0.1, 0.2]
    path = tmp_path / "hillstrom.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path)]) == 0
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return spec, mlflow.search_runs(experiment_names=["loyalty-experiment-hillstrom"])


def test_experiment_run_has_one_nested_run_per_policy_and_budget(hillstrom_runs):
    spec, runs = hillstrom_runs
    parent = runs.loc[runs["tags.mlflow.parentRunId"].isna()]
    nested = runs.loc[runs["tags.mlflow.parentRunId"].notna()]
    assert len(parent) == 1 and parent["tags.headline"].item().startswith("At a 20% budget")
    assert (nested["tags.mlflow.parentRunId"] == parent["run_id"].item()).all()
    pairs = sorted(zip(nested["params.policy"], nested["params.budget"].astype(float)))
    assert pairs == sorted((p, b) for p in spec["policies"] for b in spec["budgets"])
    assert parent["params.bootstrap.resamples"].item() == "100"


def test_nested_runs_carry_the_policy_value_with_its_interval(hillstrom_runs):
    _, runs = hillstrom_runs
    row = runs.loc[(runs["params.policy"] == "margin_uplift") & (runs["params.budget"] == "0.2")].iloc[0]
    low, value, high = (row[f"metrics.net_margin.{c}_per_1000"] for c in ("ci_low", "value", "ci_high"))
    assert low <= value <= high
    assert row["metrics.kpi.targeted"] > 0
    assert "metrics.vs_response.net_margin.difference" in row.index


def test_report_is_logged_on_the_parent_run(hillstrom_runs):
    _, runs = hillstrom_runs
    parent = runs.loc[runs["tags.mlflow.parentRunId"].isna(), "run_id"].item()
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(parent, "report")}
    assert {"report/results.json", "report/report.html"} <= names
