"""Gamma-Gamma model of spend per transaction.

Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: using iso-value curves for customer base
analysis. *Journal of Marketing Research* 42(4), 415-430; and Fader & Hardie (2013), "The Gamma-Gamma model of
monetary value" (brucehardie.com/notes/025), whose equation numbers are cited below.

Each transaction's value z ~ Gamma(p, ν) with ν ~ Gamma(q, γ) across customers; the mean m of a customer's
x repeat transactions is sufficient: x·m ~ Gamma(p·x, ν). Fitted on repeat customers only (x > 0).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

from ..errors import DataValidationError, IdentificationError
from . import _maths
from ._mle import LikelihoodModel, unique_counts
from ._repeat import collapse_weighted, customer_weights

__all__ = ["GammaGamma"]


class GammaGamma(LikelihoodModel):
    """Gamma-Gamma spend model, fitted by maximum likelihood on (frequency, mean repeat value).

    Parameters
    ----------
    penalizer : float, default 0
        L2 penalty, as ``lifetimes``' ``penalizer_coef``.
    tol, max_iter :
        Optimiser settings.

    Attributes
    ----------
    params_ : dict
        ``p``, ``q``, ``gamma`` (``lifetimes`` calls γ ``v``).
    standard_errors_, covariance_, summary_, log_likelihood_ :
        As for :class:`~loyalty.clv.BetaGeo`.
    n_customers_ : int
        Customers the fit used (frequency > 0 and value > 0).
    n_excluded_ : dict
        Customers left out and why: ``no_repeat_purchase`` (frequency 0) and ``nonpositive_value``
        (repeat purchases with a mean value <= 0, e.g. free items; the model needs positive spend).
    spend_frequency_correlation_ : float
        Pearson correlation of frequency and mean value among the customers fitted. The model assumes spend is
        independent of frequency; a warning is raised when |correlation| > 0.3.
    value_column_ : str

    Examples
    --------
    >>> from loyalty.datasets import load_cdnow
    >>> from loyalty.data import validate_transactions, summarize
    >>> summary = summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W")
    >>> model = GammaGamma().fit(summary)
    >>> {k: round(v, 2) for k, v in model.params_.items()}
    {'p': 6.25, 'q': 3.74, 'gamma': 15.44}
    """

    _param_names = ("p", "q", "gamma")

    def fit(self, summary: pd.DataFrame, value_column: str = "monetary_value") -> "GammaGamma":
        """Fit on ``frequency`` and the mean repeat value in ``value_column``; returns self.

        ``value_column="margin_value"`` fits the model to margin per transaction instead of revenue. A
        ``weights`` column makes each row stand for that many customers (collapsed statistics).
        """
        x, m = _xm_arrays(summary, value_column)
        given = customer_weights(summary)
        rows = np.ones(len(x)) if given is None else given  # customers per row
        repeat = x > 0
        usable = repeat & (m > 0)
        self.n_excluded_ = {
            "no_repeat_purchase": int(rows[~repeat].sum()),
            "nonpositive_value": int(rows[repeat & (m <= 0)].sum()),
        }
        if rows[usable].sum() < 3:
            raise DataValidationError(
                f"GammaGamma needs customers with repeat purchases and positive {value_column!r}; found "
                f"{int(rows[usable].sum())} of {int(rows.sum()):,} ({self.n_excluded_}). "
                "Use a longer calibration period."
            )
        _require_varying_spend(m[usable], value_column, int(rows[usable].sum()))
        if given is None:
            # mean values are continuous, so identical (x, m) rows are rare: collapsing would cost more than it saves
            ux, um, weights = x[usable], m[usable], np.ones(int(usable.sum()))
        else:
            (ux, um), weights = collapse_weighted([x[usable], m[usable]], given[usable])
        scale = float(np.average(um, weights=weights))  # values rescaled to mean 1: gamma is then unit-free
        stats = _statistics(ux, um / scale, weights)
        stats["scale"] = scale
        self._fit_statistics(stats)
        self.value_column_ = value_column
        if given is None:
            self.spend_frequency_correlation_ = float(np.corrcoef(x[usable], m[usable])[0, 1])
        else:
            covariance = np.cov(x[usable], m[usable], aweights=given[usable])
            self.spend_frequency_correlation_ = float(covariance[0, 1] / np.sqrt(covariance[0, 0] * covariance[1, 1]))
        if abs(self.spend_frequency_correlation_) > 0.3:
            warnings.warn(
                f"frequency and mean {value_column} correlate ({self.spend_frequency_correlation_:+.2f}) among "
                "repeat customers; Gamma-Gamma assumes they are independent, so its spend forecasts may be biased",
                RuntimeWarning,
                stacklevel=2,
            )
        if self.params_["q"] <= 1:
            warnings.warn(
                f"q = {self.params_['q']:.3f} <= 1: the population mean spend p*gamma/(q-1) is undefined, so "
                "expected_spend is too",
                RuntimeWarning,
                stacklevel=2,
            )
        return self

    def _start(self, stats):
        w, m = stats["weights"], stats["m"]
        mean, var = np.average(m, weights=w), np.average((m - np.average(m, weights=w)) ** 2, weights=w)
        p = max(mean**2 / max(var, 1e-12), 0.5)
        return np.log([min(p, 50.0), 3.0, 2.0 * mean / p])

    def _subsample(self, stats, customers):
        rng = np.random.default_rng(0)
        if np.all(stats["weights"] == 1):  # one row per customer: a plain random subset
            keep = np.sort(rng.choice(len(stats["x"]), size=customers, replace=False))
            return _statistics(stats["x"][keep], stats["m"][keep], np.ones(customers))
        share = customers / float(stats["weights"].sum())
        weights = rng.binomial(stats["weights"].astype(np.int64), share).astype(float)
        keep = weights > 0
        return _statistics(stats["x"][keep], stats["m"][keep], weights[keep]) if keep.sum() >= 3 else None

    def _to_natural(self, theta, stats):
        natural = np.array(theta, dtype=float)
        natural[2] += np.log(stats["scale"])
        return natural

    def _log_likelihood_shift(self, stats):
        # the density of a mean value m in currency is the rescaled density divided by the scale
        return float(-np.log(stats["scale"]) * stats["total_w"])

    def _boundary_error(self, theta, negative_ll, stats):
        # p -> infinity: each customer's purchases cost the same (no variation within customers); q -> infinity
        # as well: every customer has the same mean. Either way there is no spread left for the model to describe.
        p, q, _ = np.exp(np.asarray(theta, dtype=float))
        if not (p > np.exp(10) or q > np.exp(10)):
            return None
        w, m = stats["weights"], stats["m"] * stats["scale"]
        mean = float(np.average(m, weights=w))
        spread = float(np.sqrt(np.average((m - mean) ** 2, weights=w)) / mean)
        where = "within customers" + (" and between them" if q > np.exp(10) else "")
        return IdentificationError(
            f"the spend hardly varies {where}: Gamma-Gamma's shape parameter{'s run' if q > np.exp(10) else ' runs'} "
            f"to infinity (p={p:.3g}, q={q:.3g}); the mean spend per purchase of the {int(w.sum()):,} repeat "
            f"customers is {mean:.4g} with a coefficient of variation of {spread:.3g} across customers.",
            {"library": f"Use the mean, {mean:.4g}, as every customer's expected spend per purchase: multiply "
                        "expected purchases by it (BetaGeo().fit(summary).expected_purchases(summary, t), or NBD's).",
             "cli": f"CLV with Gamma-Gamma is not available on this log; its mean spend per purchase is {mean:.4g}.",
             "spec": f"CLV with Gamma-Gamma is not available on this log; its mean spend per purchase is {mean:.4g}."},
        )

    def _describe(self, stats):
        w, m = stats["weights"], stats["m"]
        mean = np.average(m, weights=w)
        spread = np.sqrt(np.average((m - mean) ** 2, weights=w)) / mean
        return (f"{int(w.sum()):,} repeat customers, max frequency {int(stats['x'].max())}, coefficient of "
                f"variation of their mean spend {spread:.3g}")

    def _objective(self, theta, stats):
        """Negative log-likelihood of the mean values (note 025, eq. 1 summed) and its log-parameter gradient."""
        p, q, gamma = np.exp(theta)
        ux, wx = stats["ux"], stats["wx"]
        w, x = stats["weights"], stats["x"]
        px_u = p * ux
        log_xm_g = np.log(stats["xm"] + gamma)
        total_w = stats["total_w"]
        ll = (
            np.sum(wx * (gammaln(px_u + q) - gammaln(px_u)))
            - total_w * gammaln(q)
            + total_w * q * np.log(gamma)
            + p * stats["s_wx_logm"] - stats["s_w_logm"]
            + p * stats["s_wx_logx"]
            - np.sum(w * (p * x + q) * log_xm_g)
        )
        inv_xm_g = 1.0 / (stats["xm"] + gamma)
        d_p = (
            np.sum(wx * ux * (digamma(px_u + q) - digamma(px_u)))
            + stats["s_wx_logm"] + stats["s_wx_logx"]
            - np.sum(w * x * log_xm_g)
        )
        d_q = np.sum(wx * digamma(px_u + q)) - total_w * digamma(q) + total_w * np.log(gamma) - np.sum(w * log_xm_g)
        d_gamma = total_w * q / gamma - np.sum(w * (p * x + q) * inv_xm_g)
        return -ll, -np.array([d_p * p, d_q * q, d_gamma * gamma])

    # -- predictions -----------------------------------------------------------------------------------------
    def expected_spend(self, summary: pd.DataFrame, value_column: str | None = None) -> pd.Series:
        """E[value per transaction | x, m] = p(γ + x·m) / (p·x + q − 1) (note 025, eq. 5).

        With ``x = 0`` this is the population mean p·γ / (q − 1). Uses the column the model was fitted on
        (``monetary_value`` by default), so a model fitted on ``margin_value`` returns expected margin.
        """
        self._require_fitted()
        column = value_column or self.value_column_
        x, m = _xm_arrays(summary, column)
        return pd.Series(_maths.expected_spend(self.params_, x, m), index=summary.index, name="expected_spend")

    def expected_margin(self, summary: pd.DataFrame, margin_rate=None) -> pd.Series:
        """Expected margin per transaction: expected spend times the customer's margin rate.

        ``margin_rate`` is a scalar or a Series aligned with ``summary``; by default the summary's
        ``margin_rate`` column (margin / amount over the customer's calibration purchases), with customers
        whose rate is undefined (no spend) given the mean rate of the others.
        """
        spend = self.expected_spend(summary)
        rate = _maths.margin_rate(summary, margin_rate)
        return (spend * rate).rename("expected_margin")

    @property
    def population_mean_spend_(self) -> float:
        """p·γ / (q − 1): mean value per transaction across customers."""
        self._require_fitted()
        return self.params_["p"] * self.params_["gamma"] / (self.params_["q"] - 1)

    # -- conversion ------------------------------------------------------------------------------------------
    @classmethod
    def from_params(cls, params: dict, covariance=None, value_column: str = "monetary_value",
                    log_likelihood: float = np.nan, n_customers: int = 0, **settings) -> "GammaGamma":
        """A fitted ``GammaGamma`` with given ``p``, ``q``, ``gamma`` (e.g. a saved model's).

        ``value_column`` is the summary column the spend model describes (``monetary_value``, or
        ``margin_value`` for a model of margin per purchase); ``covariance`` is that of the log parameters in the
        order ``(p, q, gamma)``. The other arguments are as in
        :meth:`loyalty.clv._mle.LikelihoodModel.from_params`.

        Examples
        --------
        >>> model = GammaGamma.from_params({"p": 6.25, "q": 3.74, "gamma": 15.44})
        >>> round(model.population_mean_spend_, 2)
        35.22
        """
        model = super().from_params(params, covariance, log_likelihood, n_customers, **settings)
        model.value_column_ = value_column
        return model

    @classmethod
    def from_lifetimes(cls, fitter) -> "GammaGamma":
        """A fitted ``GammaGamma`` from a fitted ``lifetimes.GammaGammaFitter`` (``v`` becomes ``gamma``)."""
        params = {"p": fitter.params_["p"], "q": fitter.params_["q"], "gamma": fitter.params_["v"]}
        covariance = None
        matrix = getattr(fitter, "variance_matrix_", None)
        if matrix is not None:
            natural = np.asarray(pd.DataFrame(matrix).loc[["p", "q", "v"], ["p", "q", "v"]], dtype=float)
            scale = np.array([params["p"], params["q"], params["gamma"]])
            covariance = natural / np.outer(scale, scale)
        return cls.from_params(params, covariance, value_column="monetary_value",
                               penalizer=getattr(fitter, "penalizer_coef", 0.0))

    def to_lifetimes(self):
        """A ``lifetimes.GammaGammaFitter`` with these parameters (needs ``lifetimes`` installed)."""
        self._require_fitted()
        from lifetimes import GammaGammaFitter

        fitter = GammaGammaFitter(penalizer_coef=self.penalizer)
        fitter.params_ = pd.Series({"p": self.params_["p"], "q": self.params_["q"], "v": self.params_["gamma"]})
        return fitter


def _xm_arrays(summary: pd.DataFrame, value_column: str):
    for column in ("frequency", value_column):
        if column not in summary.columns:
            raise DataValidationError(
                f"Required column {column!r} missing from the summary; got {list(summary.columns)}"
            )
    x = summary["frequency"].to_numpy(dtype=float)
    m = summary[value_column].to_numpy(dtype=float)
    bad = ~np.isfinite(x) | (x < 0) | (~np.isfinite(m) & (x > 0))
    if bad.any():
        raise DataValidationError(
            f"summary has {int(bad.sum()):,} rows with invalid frequency or {value_column!r}, e.g. "
            f"{summary.loc[bad, ['frequency', value_column]].head(3).to_dict('index')}"
        )
    return x, m


#: Mean values per customer that differ by less than this share of their mean count as one value (money is
#: rounded to cents; a spend of 9.99 stored as 9.990000000000002 does not vary).
_CONSTANT_SPEND_TOLERANCE = 1e-9


def _require_varying_spend(m: np.ndarray, value_column: str, customers: int) -> None:
    """Gamma-Gamma describes how spend varies within and between customers: when every repeat customer's mean
    spend is the same value there is nothing to model (the fit runs p, q -> infinity), so say that."""
    low, high = float(np.min(m)), float(np.max(m))
    if high - low <= _CONSTANT_SPEND_TOLERANCE * abs(high):
        raise DataValidationError(
            f"the spend does not vary: all {customers:,} repeat customers have the same mean {value_column!r} "
            f"({low:g}), so Gamma-Gamma (a model of how spend varies within and between customers) has nothing to "
            f"fit. The expected spend per purchase is {low:g} for everyone: multiply expected purchases by it "
            "(BetaGeo().fit(summary).expected_purchases(summary, t), or NBD's)."
        )


def _statistics(x, m, weights) -> dict:
    ux, inv_x = unique_counts(x)
    log_m = np.log(m)
    return {
        "x": x, "m": m, "xm": x * m, "weights": weights, "total_w": float(weights.sum()),
        "ux": ux, "inv_x": inv_x, "wx": np.bincount(inv_x, weights=weights, minlength=len(ux)),
        "s_wx_logm": float(np.sum(weights * x * log_m)), "s_w_logm": float(np.sum(weights * log_m)),
        "s_wx_logx": float(np.sum(weights * x * np.log(x))),
    }
