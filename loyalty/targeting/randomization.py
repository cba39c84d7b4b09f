"""Does the campaign look randomized as stated? Checked before anything is fitted.

- **Sample-ratio mismatch** (SRM): the treated and control counts against those the stated propensities
  imply (Σ e_i and Σ (1 − e_i)), Pearson's chi-square with one degree of freedom. A p-value below
  ``srm_alpha`` (default 0.001) fails: Fabijan et al. (2019), "Diagnosing sample ratio mismatch in online
  controlled experiments", KDD.
- **Covariate balance**: the standardized mean difference of each pre-period covariate between arms,
  SMD = (mean_T − mean_C) / sqrt((var_T + var_C) / 2), with each customer weighted by the inverse of the
  stated probability of the arm received (1/e for treated, 1/(1 − e) for control), so a design with unequal
  but honestly stated propensities is balanced after weighting. Categorical covariates get one SMD per level
  (its indicator); missing values are left out per covariate. |SMD| above ``max_smd`` (default 0.1) fails:
  Austin (2009), "Balance diagnostics for comparing the distribution of baseline covariates between
  treatment groups in propensity-score matched samples", Statistics in Medicine 28(25).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..errors import RandomizationError

__all__ = ["RandomizationCheck", "check_randomization", "check_arm_randomization"]


@dataclass(frozen=True)
class RandomizationCheck:
    """Result of :func:`check_randomization`: the SRM test, every covariate's SMD and the failures in words."""

    treated: int
    control: int
    expected_treated: float
    chi_square: float
    p_value: float
    smd: dict
    max_smd: float
    srm_alpha: float
    failures: tuple
    #: multi-arm campaigns: per arm (control first) ``{"customers": observed, "expected": Σ stated P(arm)}``
    arms: dict | None = None

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict:
        return {"passed": self.passed, "failures": list(self.failures), "treated": self.treated,
                "control": self.control, "expected_treated": self.expected_treated,
                "srm_chi_square": self.chi_square, "srm_p_value": self.p_value, "srm_alpha": self.srm_alpha,
                "max_smd": self.max_smd, "smd": dict(self.smd)} | ({"arms": dict(self.arms)} if self.arms else {})

    def raise_if_failed(self) -> None:
        """:class:`RandomizationError` naming every failure, and how to proceed anyway."""
        if self.failures:
            raise RandomizationError(
                "the campaign does not look randomized as stated: " + "; ".join(self.failures)
                + ". Check how customers were assigned and the propensities given; to analyse it anyway, set "
                "randomization: {allow_imbalance: true} in the spec (the report will flag it)."
            )


def check_randomization(treatment, propensity, covariates: pd.DataFrame, max_smd: float = 0.1,
                        srm_alpha: float = 0.001) -> RandomizationCheck:
    """Sample-ratio mismatch and covariate balance of a randomized campaign (module docstring).

    Parameters
    ----------
    treatment : array of 0/1, one per customer.
    propensity : stated P(treated) per customer (array) or for all (float), strictly within (0, 1).
    covariates : pre-period covariates, one row per customer (numeric, boolean or categorical columns).
    max_smd, srm_alpha : the failure thresholds.
    """
    from scipy.stats import chi2

    t = np.asarray(treatment).astype(int)
    e = np.broadcast_to(np.asarray(propensity, dtype=float), t.shape)
    treated, n = int(t.sum()), len(t)
    expected = float(e.sum())
    chi_square = (treated - expected) ** 2 / expected + (treated - expected) ** 2 / (n - expected)
    p_value = float(chi2.sf(chi_square, df=1))
    failures = []
    if p_value < srm_alpha:
        failures.append(f"sample-ratio mismatch: {treated:,} treated of {n:,} where the stated propensities "
                        f"expect {expected:,.0f} (chi-square {chi_square:.1f}, p = {p_value:.2g} < {srm_alpha:g})")
    weight = np.where(t == 1, 1.0 / e, 1.0 / (1.0 - e))
    smd = {}
    for name in covariates.columns:
        column = covariates[name]
        if isinstance(column.dtype, pd.CategoricalDtype) or ptypes.is_object_dtype(column) \
                or ptypes.is_string_dtype(column):
            for level in pd.unique(column.dropna()):
                smd[f"{name}={level}"] = _smd((column == level).to_numpy(dtype=float), t, weight)
        else:
            smd[name] = _smd(column.to_numpy(dtype=float), t, weight)
    worst = sorted(((abs(v), k) for k, v in smd.items() if not np.isnan(v) and abs(v) > max_smd), reverse=True)
    if worst:
        shown = ", ".join(f"{k} {smd[k]:+.2f}" for _, k in worst[:5])
        failures.append(f"{len(worst)} covariate(s) imbalanced between arms (|SMD| > {max_smd:g}): {shown}")
    return RandomizationCheck(treated, n - treated, expected, float(chi_square), p_value, smd, float(max_smd),
                              float(srm_alpha), tuple(failures))


def check_arm_randomization(arm, arm_propensity, covariates: pd.DataFrame, labels, max_smd: float = 0.1,
                            srm_alpha: float = 0.001) -> RandomizationCheck:
    """Sample-ratio mismatch over all arms and covariate balance of each offer arm against control (module
    docstring).

    Parameters
    ----------
    arm : int array, the arm each customer received (0 control, 1..K).
    arm_propensity : array (customers × (K + 1)): stated P(arm) per customer, control first.
    covariates : pre-period covariates, one row per customer.
    labels : the K + 1 arms' names, control first (they name the failures and the SMDs: ``"recency [arm B]"``).
    max_smd, srm_alpha : the failure thresholds.
    """
    from scipy.stats import chi2

    a = np.asarray(arm).astype(int)
    p = np.asarray(arm_propensity, dtype=float)
    observed = np.bincount(a, minlength=p.shape[1]).astype(float)
    expected = p.sum(axis=0)
    chi_square = float(((observed - expected) ** 2 / expected).sum())
    p_value = float(chi2.sf(chi_square, df=p.shape[1] - 1))
    failures = []
    if p_value < srm_alpha:
        shown = ", ".join(f"{label} {int(o):,} (expected {e:,.0f})" for label, o, e in zip(labels, observed, expected))
        failures.append(f"sample-ratio mismatch: {shown} (chi-square {chi_square:.1f} on {p.shape[1] - 1} df, "
                        f"p = {p_value:.2g} < {srm_alpha:g})")
    weight = 1.0 / p[np.arange(len(a)), a]
    smd = {}
    for k in range(1, p.shape[1]):
        pair = (a == 0) | (a == k)
        t = (a[pair] == k).astype(int)
        for name in covariates.columns:
            column = covariates[name][pair]
            if isinstance(column.dtype, pd.CategoricalDtype) or ptypes.is_object_dtype(column) \
                    or ptypes.is_string_dtype(column):
                for level in pd.unique(column.dropna()):
                    smd[f"{name}={level} [{labels[k]}]"] = _smd((column == level).to_numpy(dtype=float), t,
                                                                weight[pair])
            else:
                smd[f"{name} [{labels[k]}]"] = _smd(column.to_numpy(dtype=float), t, weight[pair])
    worst = sorted(((abs(v), k) for k, v in smd.items() if not np.isnan(v) and abs(v) > max_smd), reverse=True)
    if worst:
        shown = ", ".join(f"{k} {smd[k]:+.2f}" for _, k in worst[:5])
        failures.append(f"{len(worst)} covariate(s) imbalanced between an arm and control (|SMD| > {max_smd:g}): "
                        f"{shown}")
    treated = int((a != 0).sum())
    arms = {str(label): {"customers": int(o), "expected": float(e)} for label, o, e in zip(labels, observed, expected)}
    return RandomizationCheck(treated, len(a) - treated, float(expected[1:].sum()), chi_square, p_value, smd,
                              float(max_smd), float(srm_alpha), tuple(failures), arms)


def _smd(x: np.ndarray, t: np.ndarray, weight: np.ndarray) -> float:
    known = np.isfinite(x)
    moments = []
    for arm in (1, 0):
        rows = known & (t == arm)
        if not rows.any():
            return float("nan")
        w = weight[rows]
        mean = np.average(x[rows], weights=w)
        moments.append((mean, np.average((x[rows] - mean) ** 2, weights=w)))
    (m1, v1), (m0, v0) = moments
    spread = np.sqrt((v1 + v0) / 2)
    if spread == 0:
        return 0.0 if m1 == m0 else float("inf")
    return float((m1 - m0) / spread)
