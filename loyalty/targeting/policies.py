"""Targeting policies: a name and a score per customer (higher = target first).

The built-in policies read columns of a *customer frame* (one row per customer, as built by the comparison
pipeline); users add their own with :class:`ColumnPolicy`, :class:`FormulaPolicy` or any object with ``name``
and ``score(customers) -> Series``.

========================= ===================================================== ===================================
policy                    ranks customers by (columns)                          economics it stands for
========================= ===================================================== ===================================
``random``                a seeded random number                                baseline
``response``              ``p_buy_treated``: P(buy | treated)                   campaign response
``churn_risk``            ``p_churn``                                           retention by risk
``clv``                   ``clv``                                               value without incrementality
``uplift``                ``uplift_response``: P(buy | T) − P(buy | C)         incremental response
``margin_uplift``         ``uplift_net_margin``: incremental window margin       short-term profit
                          net of the offer's cost
``lifecycle``             ``uplift_net_margin + uplift_retention /              lifecycle economics
                          p_retained_control × residual_clv``, computed by
                          :func:`~loyalty.targeting.economics.lifecycle_scores`
``oracle``                ``true_lifecycle_uplift`` (simulator only)            the ceiling
========================= ===================================================== ===================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataValidationError, SpecError
from .economics import LIFECYCLE_INPUTS, lifecycle_scores

__all__ = ["Policy", "ColumnPolicy", "FormulaPolicy", "RandomPolicy", "BUILTIN_POLICIES", "get_policy"]


class Policy:
    """Interface: ``name``, ``money`` (True when the score is an amount of money), ``net_value`` (True when the
    score is a predicted *incremental* profit net of the offer's cost, so "score > 0" is a budget:
    ``profit_positive``), ``score``."""

    name: str
    money: bool = False
    net_value: bool = False
    requires: tuple[str, ...] = ()

    def score(self, customers: pd.DataFrame) -> pd.Series:  # pragma: no cover - interface
        raise NotImplementedError

    def _check(self, customers: pd.DataFrame) -> None:
        missing = [c for c in self.requires if c not in customers.columns]
        if missing:
            raise DataValidationError(
                f"policy {self.name!r} needs column(s) {missing}; the customer frame has {list(customers.columns)}"
            )


@dataclass(frozen=True)
class ColumnPolicy(Policy):
    """Rank by one column."""

    name: str
    column: str
    money: bool = False
    net_value: bool = False

    @property
    def requires(self) -> tuple[str, ...]:
        return (self.column,)

    def score(self, customers: pd.DataFrame) -> pd.Series:
        self._check(customers)
        return customers[self.column].astype(float).rename(self.name)


@dataclass(frozen=True)
class FormulaPolicy(Policy):
    """Rank by a function of several columns."""

    name: str
    formula: Callable[[pd.DataFrame], pd.Series]
    requires: tuple[str, ...] = field(default=())
    money: bool = False
    net_value: bool = False

    def score(self, customers: pd.DataFrame) -> pd.Series:
        self._check(customers)
        return pd.Series(np.asarray(self.formula(customers), dtype=float), index=customers.index, name=self.name)


@dataclass(frozen=True)
class RandomPolicy(Policy):
    """Random order (seeded): the baseline every policy must beat."""

    name: str = "random"
    seed: int = 0

    def score(self, customers: pd.DataFrame) -> pd.Series:
        rng = np.random.default_rng(self.seed)
        return pd.Series(rng.random(len(customers)), index=customers.index, name=self.name)


BUILTIN_POLICIES: dict[str, Policy] = {
    "random": RandomPolicy(),
    "response": ColumnPolicy("response", "p_buy_treated"),
    "churn_risk": ColumnPolicy("churn_risk", "p_churn"),
    "clv": ColumnPolicy("clv", "clv", money=True),
    "uplift": ColumnPolicy("uplift", "uplift_response"),
    "margin_uplift": ColumnPolicy("margin_uplift", "uplift_net_margin", money=True, net_value=True),
    "lifecycle": FormulaPolicy("lifecycle", lifecycle_scores, requires=LIFECYCLE_INPUTS, money=True,
                               net_value=True),
    "oracle": ColumnPolicy("oracle", "true_lifecycle_uplift", money=True, net_value=True),
}


def get_policy(name: str) -> Policy:
    """A built-in policy by name; unknown names are a :class:`SpecError` listing the known ones."""
    try:
        return BUILTIN_POLICIES[name]
    except KeyError:
        raise SpecError(f"unknown policy {name!r}; known policies are {sorted(BUILTIN_POLICIES)}") from None
