"""Plots and reports. Figures are returned (matplotlib, non-interactive backend) for the caller to save or log."""

from .clv import clv_distribution_plot, holdout_purchases_plot

__all__ = ["holdout_purchases_plot", "clv_distribution_plot"]
