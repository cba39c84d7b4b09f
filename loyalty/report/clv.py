"""CLV plots: predicted vs actual holdout purchases (the follow-up check) and the CLV distribution."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["holdout_purchases_plot", "clv_distribution_plot", "holdout_table"]


def holdout_table(summary: pd.DataFrame, predicted: pd.Series, max_frequency: int = 7) -> pd.DataFrame:
    """Mean predicted vs actual holdout purchases by calibration frequency (grouping frequencies >= max)."""
    group = summary["frequency"].clip(upper=max_frequency).astype(int)
    table = pd.DataFrame({"frequency": group, "actual": summary["frequency_holdout"], "predicted": predicted})
    out = table.groupby("frequency").agg(customers=("actual", "size"), actual=("actual", "mean"),
                                         predicted=("predicted", "mean"))
    out.index = [f"{i}+" if i == max_frequency else str(i) for i in out.index]
    out.index.name = "calibration frequency"
    return out


def holdout_purchases_plot(summary: pd.DataFrame, predicted: pd.Series, max_frequency: int = 7):
    """Fader-Hardie-Lee (2005, fig. 4) style check: conditional expectations vs what customers then did."""
    table = holdout_table(summary, predicted, max_frequency)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    positions = np.arange(len(table))
    ax.plot(positions, table["actual"], "o-", label="actual", color="#1f77b4")
    ax.plot(positions, table["predicted"], "s--", label="BG/NBD predicted", color="#d62728")
    ax.set_xticks(positions, table.index)
    ax.set_xlabel("repeat purchases in calibration period")
    ax.set_ylabel("mean repeat purchases in holdout")
    ax.set_title("Predicted vs actual holdout purchases")
    ax.legend()
    fig.tight_layout()
    return fig


def clv_distribution_plot(clv: pd.Series, label: str = "CLV (discounted margin)"):
    """Histogram of CLV on a log axis with the shares of value held by the top 10% and 20% of customers."""
    values = np.sort(clv.to_numpy())[::-1]
    total = values.sum()
    top10 = values[: max(1, len(values) // 10)].sum() / total if total > 0 else np.nan
    top20 = values[: max(1, len(values) // 5)].sum() / total if total > 0 else np.nan
    fig, ax = plt.subplots(figsize=(7, 4.2))
    positive = values[values > 0]
    bins = np.logspace(np.log10(max(positive.min(), 1e-3)), np.log10(positive.max()), 50)
    ax.hist(positive, bins=bins, color="#2ca02c", alpha=0.8)
    ax.set_xscale("log")
    ax.set_xlabel(label)
    ax.set_ylabel("customers")
    ax.set_title(f"CLV distribution: top 10% hold {top10:.0%}, top 20% hold {top20:.0%} of value")
    fig.tight_layout()
    return fig
