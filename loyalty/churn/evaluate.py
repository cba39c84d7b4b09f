"""Churn model evaluation on a holdout: discrimination, calibration, lift, and the reliability plot."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from ..errors import DataValidationError

__all__ = [
    "churn_metrics",
    "evaluation_table",
    "lift_at",
    "calibration_bins",
    "expected_calibration_error",
    "ece_tolerance",
    "reliability_plot",
]

_EPS = 1e-12


def churn_metrics(y_true, p_churn, n_bins: int = 10) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision), Brier score, log loss, lift at the top decile and ECE.

    Parameters
    ----------
    y_true : array of 0/1
        1 = churned.
    p_churn : array of float in [0, 1]
        Predicted churn probabilities.
    n_bins : int
        Equal-count bins for the expected calibration error.
    """
    y, p = _check(y_true, p_churn)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, _EPS, 1 - _EPS), labels=[0, 1])),
        "lift_top_decile": lift_at(y, p, 0.10),
        "ece": expected_calibration_error(y, p, n_bins),
        "churn_rate": float(y.mean()),
        "mean_predicted": float(p.mean()),
        "n": int(len(y)),
    }


def evaluation_table(y_true, predictions: Mapping[str, np.ndarray], n_bins: int = 10) -> pd.DataFrame:
    """:func:`churn_metrics` of several models on the same labels, one row per model (side by side)."""
    rows = {name: churn_metrics(y_true, np.asarray(p), n_bins) for name, p in predictions.items()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def lift_at(y_true, score, share: float = 0.10) -> float:
    """Churn rate among the top ``share`` of customers by ``score``, divided by the overall churn rate.

    Ties at the boundary count in proportion (the expected lift under a random order among tied scores), so a
    model that gives many customers the same score is not credited or penalised for how a sort breaks ties.
    """
    y, s = _check(y_true, score, probabilities=False)
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    k = share * len(y)
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    boundary = s_sorted[min(int(np.ceil(k)) - 1, len(s) - 1)]
    above = s_sorted > boundary
    tied = s_sorted == boundary
    taken_from_ties = k - above.sum()
    positives = y_sorted[above].sum() + taken_from_ties * y_sorted[tied].mean()
    base = y.mean()
    return float((positives / k) / base) if base > 0 else float("nan")


def calibration_bins(y_true, p_churn, n_bins: int = 10) -> pd.DataFrame:
    """Equal-count bins of predicted probability: ``n``, ``mean_predicted``, ``observed`` (churn rate) and
    ``se`` (binomial standard error of the observed rate if the predictions were right)."""
    y, p = _check(y_true, p_churn)
    order = np.argsort(p, kind="stable")
    bins = np.empty(len(p), dtype=int)
    bins[order] = np.minimum(np.arange(len(p)) * n_bins // len(p), n_bins - 1)
    frame = pd.DataFrame({"bin": bins, "p": p, "y": y}).groupby("bin")
    out = pd.DataFrame({"n": frame.size(), "mean_predicted": frame["p"].mean(), "observed": frame["y"].mean()})
    out["se"] = np.sqrt(out["mean_predicted"] * (1 - out["mean_predicted"]) / out["n"])
    return out


def expected_calibration_error(y_true, p_churn, n_bins: int = 10) -> float:
    """Σ_b (n_b / n) |observed_b − mean_predicted_b| over equal-count bins."""
    bins = calibration_bins(y_true, p_churn, n_bins)
    return float(np.sum(bins["n"] / bins["n"].sum() * (bins["observed"] - bins["mean_predicted"]).abs()))


def ece_tolerance(p_churn, n_bins: int = 10, z: float = 3.0) -> float:
    """The ECE a perfectly calibrated model could show by chance: Σ_b (n_b / n) · z · SE_b.

    SE_b = sqrt(p̄_b (1 − p̄_b) / n_b) is the binomial standard error of a bin's churn rate when the
    predictions are the true probabilities; ``z = 3`` makes exceeding it in a bin a ~0.3% event. The bound
    shrinks like 1/sqrt(n), so it is the natural pass mark for a calibration test on n customers.
    """
    p = np.asarray(p_churn, dtype=float)
    bins = calibration_bins(np.zeros(len(p), dtype=int), p, n_bins)
    return float(np.sum(bins["n"] / bins["n"].sum() * z * bins["se"]))


def reliability_plot(y_true, predictions: Mapping[str, np.ndarray], n_bins: int = 10, ax=None):
    """Reliability (calibration) diagram of one or more models: observed churn rate against mean predicted
    probability per equal-count bin, with ±2 binomial standard errors. Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 5.0))
    else:
        fig = ax.figure
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    for name, p in predictions.items():
        bins = calibration_bins(y_true, np.asarray(p), n_bins)
        ece = expected_calibration_error(y_true, np.asarray(p), n_bins)
        ax.errorbar(bins["mean_predicted"], bins["observed"], yerr=2 * bins["se"], marker="o", capsize=2,
                    label=f"{name} (ECE {ece:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted churn probability")
    ax.set_ylabel("observed churn rate")
    ax.set_title("Churn reliability")
    ax.legend(loc="upper left", fontsize="small")
    return fig


def _check(y_true, p, probabilities: bool = True) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(float).ravel()
    p = np.asarray(p, dtype=float).ravel()
    if len(y) != len(p):
        raise DataValidationError(f"{len(y):,} labels but {len(p):,} predictions")
    if len(y) == 0:
        raise DataValidationError("no customers to evaluate (empty holdout)")
    if not np.isin(y, (0.0, 1.0)).all():
        raise DataValidationError("churn labels must be 0/1")
    if not np.all(np.isfinite(p)) or (probabilities and (p.min() < 0 or p.max() > 1)):
        raise DataValidationError("predicted churn probabilities must be finite numbers in [0, 1]")
    return y.astype(int), p
