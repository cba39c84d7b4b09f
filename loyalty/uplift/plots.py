"""Qini and uplift curve figures (matplotlib, no display needed: figures are drawn on the Agg canvas)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .metrics import perfect_qini_curve, perfect_uplift_curve, qini_auc_score, qini_curve, uplift_auc_score, uplift_curve

__all__ = ["plot_qini_curve", "plot_uplift_curve"]


def _figure(ax):
    if ax is not None:
        return ax.figure, ax
    figure = Figure(figsize=(6.4, 4.8))
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _predictions(uplift) -> Mapping[str, np.ndarray]:
    return uplift if isinstance(uplift, Mapping) else {"model": uplift}


def _plot(kind, y_true, uplift, treatment, ax, perfect, title, **score_kwargs):
    curve, perfect_curve, score = {
        "qini": (qini_curve, perfect_qini_curve, qini_auc_score),
        "uplift": (uplift_curve, perfect_uplift_curve, uplift_auc_score),
    }[kind]
    figure, ax = _figure(ax)
    for label, prediction in _predictions(uplift).items():
        x, y = curve(y_true, prediction, treatment)
        ax.plot(x, y, label=f"{label} ({score(y_true, prediction, treatment, **score_kwargs):.3f})")
    x_best, y_best = perfect_curve(y_true, treatment, **score_kwargs)
    if perfect:
        ax.plot(x_best, y_best, color="0.4", linestyle=":", label="perfect")
    ax.plot([0, x_best[-1]], [0, y_best[-1]], color="0.6", linestyle="--", label="random")
    ax.set_xlabel("customers targeted (by predicted uplift, descending)")
    ax.set_ylabel("incremental outcome")
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    return figure


def plot_qini_curve(y_true, uplift, treatment, ax=None, perfect: bool = True, negative_effect: bool = True) -> Figure:
    """Qini curve(s) with the random line and (optionally) the perfect curve; legend shows the Qini coefficient.

    ``uplift`` is one prediction array or a mapping label -> predictions (several models on one figure).
    Returns the Figure (save with ``figure.savefig(path)``).
    """
    return _plot("qini", y_true, uplift, treatment, ax, perfect, "Qini curve", negative_effect=negative_effect)


def plot_uplift_curve(y_true, uplift, treatment, ax=None, perfect: bool = True) -> Figure:
    """Uplift curve(s) with the random line and the perfect curve; legend shows the normalised AUUC."""
    return _plot("uplift", y_true, uplift, treatment, ax, perfect, "Uplift curve")
