"""Targeting experiments as MLflow runs: one parent run per experiment, one nested run per policy and budget.

The parent run records the spec, the headline (text as a tag, numbers as metrics) and the written report
(``results.json``, ``policies.csv``, the plots, ``report.html``); each nested run records one policy at one
budget: its value per 1,000 customers with the 95% interval for every outcome, its campaign KPIs, and its
difference from the headline baseline.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import pandas as pd

from ..targeting.budgets import budget_label
from ..tracking import tracked_run

__all__ = ["run_tracked_experiment", "log_policy_runs"]


def run_tracked_experiment(path: str | Path, experiment: str | None = None) -> dict:
    """Run the experiment spec at ``path`` (``kind: experiment``) as a parent run with nested policy × budget
    runs in MLflow experiment ``experiment`` (default ``loyalty-experiment-<name>``).

    Returns ``{"run_id", "result", "policy_runs": {(policy, budget): run_id}}``.
    """
    from ..report.targeting import write_experiment
    from ..targeting import load_experiment, run_experiment

    spec = load_experiment(path)
    document = {**spec.as_dict(), "__file__": str(path)}
    with tracked_run(experiment or f"loyalty-experiment-{spec.name}", run_name=spec.name, spec=document,
                     tags={"job": "experiment"}) as parent:
        result = run_experiment(spec)
        mlflow.set_tag("headline", result.headline["text"][:5000])
        mlflow.log_metrics({f"headline.{k}": float(v) for k, v in result.headline.items()
                            if isinstance(v, (int, float)) and not isinstance(v, bool)})
        with tempfile.TemporaryDirectory() as tmp:
            write_experiment(result, tmp)
            mlflow.log_artifacts(tmp, "report")
        policy_runs = log_policy_runs(result)
        print(result.headline["text"])
        return {"run_id": parent.info.run_id, "result": result, "policy_runs": policy_runs}


def log_policy_runs(result) -> dict:
    """One nested run per policy and budget of an :class:`ExperimentResult`, inside the active run."""
    values, kpis = result.evaluation.values, result.evaluation.kpis
    baseline = result.spec.headline.get("baseline")
    runs = {}
    for policy in result.spec.policies:
        for budget in result.spec.budgets:
            if (policy, budget) not in set(zip(values["policy"], values["share"])):
                continue  # e.g. profit_positive for a policy whose score is not a profit
            with tracked_run("", run_name=f"{policy} @ {budget_label(budget)}", nested=True,
                             tags={"policy": policy, "budget": str(budget)}) as run:
                mlflow.log_params({"policy": policy, "budget": budget})
                mlflow.log_metrics(_policy_metrics(values, kpis, result.differences, policy, budget, baseline))
                runs[(policy, budget)] = run.info.run_id
    return runs


def _policy_metrics(values: pd.DataFrame, kpis: pd.DataFrame, differences: pd.DataFrame, policy: str,
                    budget: float, baseline: str | None) -> dict:
    metrics = {}
    rows = values.loc[(values["policy"] == policy) & _at(values["share"], budget)]
    for row in rows.itertuples():
        for column in ("value_per_1000", "ci_low_per_1000", "ci_high_per_1000", "total"):
            metrics[f"{row.outcome}.{column}"] = float(getattr(row, column))
    kpi = kpis.loc[(kpis["policy"] == policy) & _at(kpis["share"], budget)]
    for column in kpi.columns.drop(["policy", "share"]):
        if len(kpi) and pd.notna(kpi[column].iloc[0]):
            metrics[f"kpi.{column}"] = float(kpi[column].iloc[0])
    if baseline and policy != baseline:
        diff = differences.loc[(differences["policy"] == policy) & (differences["baseline"] == baseline)
                               & _at(differences["share"], budget)
                               & (differences["estimator"] == values["estimator"].iloc[0])]
        for row in diff.itertuples():
            metrics[f"vs_{baseline}.{row.outcome}.difference"] = float(row.difference)
            metrics[f"vs_{baseline}.{row.outcome}.ci_low"] = float(row.ci_low)
            metrics[f"vs_{baseline}.{row.outcome}.ci_high"] = float(row.ci_high)
    return metrics


def _at(shares: pd.Series, budget) -> pd.Series:
    if isinstance(budget, str):
        return shares == budget
    numeric = pd.to_numeric(shares, errors="coerce")
    return (numeric - budget).abs() < 1e-9
