"""The follow-up job: an earlier scoring run's predictions against what customers then did.

Reads the scores written at ``predictions.as_of``, recomputes expected purchases and value to date with the
model version that scoring run used (recorded in the scores file), compares them, and churn over the churn
model's horizon, with the log up to ``--as-of``; logs calibration metrics, a predicted-vs-actual plot and
drift flags to MLflow.
"""

from __future__ import annotations

import copy
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from ..clv import CLVModel
from ..errors import DataValidationError, SpecError
from ..tracking import log_accounting, tracked_run
from .data import job_date, load_log, summarize_log
from .score import read_scores
from .spec import spec_date

__all__ = ["run_follow_up", "follow_up_table", "follow_up_metrics", "churn_follow_up_metrics",
           "purchases_by_frequency"]


def run_follow_up(spec: dict, as_of=None) -> dict:
    """Compare the predictions made at ``predictions.as_of`` with what customers did up to ``as_of``.

    Logs, per quantity, the predicted and actual totals, their ratio, the mean absolute error and a drift flag
    (``|ratio - 1| > drift_threshold``): purchases to date (BG/NBD expected purchases over the elapsed
    window, from the model version the scoring run used) and margin to date (undiscounted CLV over the window);
    and, when the scores have ``p_churn`` and its horizon has elapsed, the churn Brier score, calibration
    error and predicted vs observed churn rate (:func:`churn_follow_up_metrics`). Returns ``{"run_id", "metrics", "by_frequency"}``.
    """
    as_of = job_date(spec.get("as_of"), as_of, spec, "as_of")
    predicted_at = spec_date(spec["predictions"]["as_of"], "predictions.as_of")
    if pd.Timestamp(as_of) <= pd.Timestamp(predicted_at):
        raise SpecError(f"{spec['__file__']}: --as-of {as_of} must be after predictions.as_of {predicted_at}")
    data = spec["data"]
    threshold = float(spec["drift_threshold"])
    path = Path(spec["predictions"]["path"].format(as_of=predicted_at))
    with tracked_run(spec["experiment"], run_name=f"follow-up {predicted_at} -> {as_of}", spec=spec,
                     tags={"job": "follow_up", "as_of": as_of, "predicted_as_of": predicted_at}) as run:
        predictions, context = read_scores(path)
        mlflow.set_tags({"predictions.path": str(path), **{f"model.{k}": v for k, v in context["models"].items()}})
        result = load_log(data, spec, as_of)
        log_accounting(result.accounting)
        summary = summarize_log(result.transactions, data, predicted_at, holdout_end=as_of)
        model = mlflow.pyfunc.load_model(context["models"]["clv"]).unwrap_python_model().model
        comparison = follow_up_table(model, summary, result.transactions, predicted_at, as_of)
        comparison = comparison.join(predictions.drop(columns=comparison.columns, errors="ignore"), how="left")
        metrics = follow_up_metrics(comparison, threshold)
        if "p_churn" in predictions and "churn" in context:
            metrics.update(churn_follow_up_metrics(predictions["p_churn"], result.transactions, predicted_at, as_of,
                                                   context["churn"], threshold))
        mlflow.log_metrics(metrics)
        by_frequency = purchases_by_frequency(comparison)
        mlflow.log_table(by_frequency.reset_index(), "tables/purchases_by_frequency.json")
        mlflow.log_figure(_follow_up_figure(by_frequency, predicted_at, as_of), "plots/predicted_vs_actual.png")
        drifted = [k.removeprefix("drift.") for k, v in metrics.items() if k.startswith("drift.") and v]
        mlflow.set_tag("drift", ",".join(drifted) or "none")
        for name in drifted:
            print(f"drift: {name} off by more than {threshold:.0%} (predicted {metrics[f'{name}.predicted']:,.4g}, "
                  f"actual {metrics[f'{name}.actual']:,.4g})")
        print(f"follow-up {predicted_at} -> {as_of}: purchases predicted {metrics['purchases.predicted']:,.1f}, "
              f"actual {metrics['purchases.actual']:,.0f}; drift: {', '.join(drifted) or 'none'}")
        return {"run_id": run.info.run_id, "metrics": metrics, "by_frequency": by_frequency}


def follow_up_table(model: CLVModel, summary: pd.DataFrame, transactions: pd.DataFrame, predicted_at, as_of):
    """Per customer of ``summary`` (calibration to ``predicted_at``, holdout to ``as_of``): predicted and actual
    purchase periods and value (margin or revenue, as the model's ``value``) in ``(predicted_at, as_of]``."""
    days = (pd.Timestamp(as_of) - pd.Timestamp(predicted_at)).days
    window = copy.copy(model)  # the fitted model, its value undiscounted over the elapsed days
    window.horizon, window.period, window.annual_discount_rate = days, "D", 0.0
    predicted = window.score(summary, interval=None)
    column = "margin" if model.value == "margin" else "amount"
    if column not in transactions:
        raise DataValidationError(f"the log has no {column!r} column to follow up {model.value} CLV; set "
                                  "data.margin_rate in the spec")
    timestamps = transactions["timestamp"]
    after = transactions.loc[(timestamps > pd.Timestamp(predicted_at)) & (timestamps <= pd.Timestamp(as_of))]
    actual_value = after.groupby("customer_id")[column].sum().reindex(summary.index, fill_value=0.0)
    return pd.DataFrame({
        "frequency": summary["frequency"],
        "purchases_predicted": predicted["expected_purchases"],
        "purchases_actual": summary["frequency_holdout"].astype(float),
        "value_predicted": predicted["clv"],
        "value_actual": actual_value.astype(float),
    })


def follow_up_metrics(comparison: pd.DataFrame, threshold: float) -> dict:
    """Calibration metrics of a :func:`follow_up_table` (joined with the scores) and drift flags."""
    metrics = {"customers": float(len(comparison))}
    for name, stem in (("purchases", "purchases"), ("value_to_date", "value")):
        predicted, actual = comparison[f"{stem}_predicted"], comparison[f"{stem}_actual"]
        ratio = float(predicted.sum() / actual.sum()) if actual.sum() else float("nan")
        metrics.update({
            f"{name}.predicted": float(predicted.sum()), f"{name}.actual": float(actual.sum()),
            f"{name}.ratio": ratio, f"{name}.mae": float((predicted - actual).abs().mean()),
            f"{name}.rmse": float(np.sqrt(((predicted - actual) ** 2).mean())),
            f"drift.{name}": float(not abs(ratio - 1.0) <= threshold),
        })
    return metrics


def churn_follow_up_metrics(p_churn: pd.Series, transactions: pd.DataFrame, predicted_at, as_of, churn: dict,
                            threshold: float) -> dict:
    """Predicted vs observed churn over the model's horizon after ``predicted_at`` (empty until it has elapsed
    by ``as_of``): rates, Brier score, expected calibration error and a drift flag
    (``|predicted rate - observed rate| > threshold``)."""
    from ..churn.evaluate import expected_calibration_error
    from ..units import convert

    start = pd.Timestamp(predicted_at)
    end = start + pd.Timedelta(days=float(convert(churn["horizon"], churn["horizon_unit"], "D")))
    if end > pd.Timestamp(as_of):
        return {}
    timestamps = transactions["timestamp"]
    buyers = transactions.loc[(timestamps > start) & (timestamps <= end), "customer_id"].unique()
    churned = (~p_churn.index.isin(buyers)).astype(float)
    predicted = p_churn.to_numpy(dtype=float)
    gap = float(predicted.mean() - churned.mean())
    return {"churn.predicted_rate": float(predicted.mean()), "churn.actual_rate": float(churned.mean()),
            "churn.brier": float(np.mean((predicted - churned) ** 2)),
            "churn.ece": expected_calibration_error(churned, predicted), "drift.churn": float(not abs(gap) <= threshold)}


def purchases_by_frequency(comparison: pd.DataFrame, top: int = 7) -> pd.DataFrame:
    """Mean predicted and actual purchases by calibration repeat purchases (0 .. ``top``+), as in FHL (2005)."""
    group = comparison["frequency"].clip(upper=top).astype(int).rename("frequency")
    return comparison.groupby(group)[["purchases_predicted", "purchases_actual"]].mean().assign(
        customers=comparison.groupby(group).size())


def _follow_up_figure(by_frequency: pd.DataFrame, predicted_at: str, as_of: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    labels = [str(f) if f < by_frequency.index.max() else f"{f}+" for f in by_frequency.index]
    ax.plot(labels, by_frequency["purchases_actual"], "o-", label="actual")
    ax.plot(labels, by_frequency["purchases_predicted"], "s--", label="predicted")
    ax.set_xlabel(f"repeat purchases to {predicted_at}")
    ax.set_ylabel(f"mean purchases ({predicted_at}, {as_of}]")
    ax.legend()
    fig.tight_layout()
    plt.close(fig)
    return fig
