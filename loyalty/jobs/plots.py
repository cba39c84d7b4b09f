"""Figures the jobs log: the distribution of each score."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["distribution_figure"]


def distribution_figure(scores: pd.DataFrame):
    """Histograms of the CLV and churn score columns of ``scores`` (clipped at the 99th percentile), or None
    when it has none of them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [c for c in ("p_alive", "expected_purchases", "clv", "p_churn") if c in scores]
    if not columns:
        return None
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 3))
    for ax, column in zip(np.atleast_1d(axes), columns):
        values = scores[column].to_numpy(dtype=float)
        upper = np.nanquantile(values, 0.99)  # a few very large CLVs would flatten the histogram
        ax.hist(np.clip(values, None, upper), bins=40)
        ax.set_title(column if upper >= np.nanmax(values) else f"{column} (clipped at p99)")
        ax.set_ylabel("customers")
    fig.tight_layout()
    plt.close(fig)
    return fig
