"""Budgets: how many customers a policy may treat.

- :class:`TopShare`: the top share of the base by score (e.g. 0.2 = 20%).
- :class:`MoneyBudget`: the top customers by score until their expected offer cost reaches an amount.
- :class:`ProfitPositive`: everyone whose score, an expected incremental profit, is > 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataValidationError, SpecError

__all__ = ["TopShare", "MoneyBudget", "ProfitPositive", "PROFIT_POSITIVE", "rank_order", "select", "budget_label"]

#: How an experiment spec and its results name the :class:`ProfitPositive` budget.
PROFIT_POSITIVE = "profit_positive"


@dataclass(frozen=True)
class TopShare:
    share: float

    def __post_init__(self):
        if not 0.0 <= self.share <= 1.0:
            raise SpecError(f"budget share must be within [0, 1], got {self.share}")

    @property
    def label(self) -> str:
        return f"top {self.share:.0%}"


@dataclass(frozen=True)
class MoneyBudget:
    amount: float
    cost_column: str = "expected_offer_cost"

    def __post_init__(self):
        if self.amount < 0:
            raise SpecError(f"money budget must be >= 0, got {self.amount}")

    @property
    def label(self) -> str:
        return f"spend {self.amount:,.0f}"


@dataclass(frozen=True)
class ProfitPositive:
    @property
    def label(self) -> str:
        return "profit > 0"


def rank_order(scores: pd.Series, seed: int = 0) -> np.ndarray:
    """Positions sorted by descending score; ties broken by a seeded random order, never by input order."""
    values = scores.to_numpy(dtype=float)
    if np.isnan(values).any():
        raise DataValidationError(
            f"policy {scores.name!r} gave {int(np.isnan(values).sum()):,} NaN scores; scores must be numbers"
        )
    tiebreak = np.random.default_rng(seed).random(len(values))
    return np.lexsort((tiebreak, -values))


def select(scores: pd.Series, budget, customers: pd.DataFrame | None = None, money: bool = False, seed: int = 0) -> np.ndarray:
    """Boolean mask of the customers a policy treats under ``budget``."""
    n = len(scores)
    chosen = np.zeros(n, dtype=bool)
    if isinstance(budget, TopShare):
        k = int(round(budget.share * n))
        chosen[rank_order(scores, seed)[:k]] = True
    elif isinstance(budget, MoneyBudget):
        if customers is None or budget.cost_column not in customers.columns:
            raise DataValidationError(f"a money budget needs the column {budget.cost_column!r} (expected offer cost)")
        order = rank_order(scores, seed)
        cost = customers[budget.cost_column].to_numpy(dtype=float)[order]
        chosen[order[np.cumsum(cost) <= budget.amount]] = True
    elif isinstance(budget, ProfitPositive):
        if not money:
            raise SpecError(
                f"budget 'profit > 0' needs a policy whose score is an expected profit; {scores.name!r} is not"
            )
        chosen = scores.to_numpy(dtype=float) > 0
    else:
        raise SpecError(f"unknown budget {budget!r}")
    return chosen


def budget_label(budget) -> str:
    """A budget as people read it: a share (``0.2``) is ``"top 20%"``, :data:`PROFIT_POSITIVE` is ``"profit > 0"``."""
    if budget == PROFIT_POSITIVE:
        return ProfitPositive().label
    return TopShare(float(budget)).label
