"""NBD: Poisson purchases with gamma-distributed rates and no dropout (the BG/NBD without attrition).

Ehrenberg, A. S. C. (1959). The pattern of consumer purchases. *Applied Statistics* 8(1), 26-41; in the
notation of Fader, Hardie & Lee (2005), "Counting your customers" the easy way, *Marketing Science* 24(2)
("FHL 2005"), whose BG/NBD reduces to it when the dropout probability p is 0 (a -> 0).

A customer buys at rate λ ~ Gamma(r, α) for ever. Given x repeat purchases in (0, T] after the first, the
likelihood is Γ(r + x)/Γ(r) · α^r / (α + T)^(r + x) (FHL 2005, eq. 6 with p = 0; as there, it is the density of
the purchase times, so log-likelihoods compare with BG/NBD's), the posterior rate is Gamma(r + x, α + T), and:

- P(alive) = 1 for every customer (nobody drops out; by definition, not an estimate);
- E[purchases in (T, T + t]] = (r + x) / (α + T) · t;
- P(no purchase in (T, T + t]) = ((α + T) / (α + T + t))^(r + x).

Use it when a log shows no detectable attrition (:class:`~loyalty.clv.BetaGeo` then raises an
:class:`~loyalty.errors.IdentificationError` that says so and carries this model fitted on the same data).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

from . import _maths
from ._mle import unique_counts
from ._repeat import RepeatPurchaseModel, collapse_weighted

__all__ = ["NBD"]


class NBD(RepeatPurchaseModel):
    """NBD repeat-purchase model (no dropout), fitted by maximum likelihood on (frequency, T).

    Same shape as :class:`~loyalty.clv.BetaGeo`: ``fit(summary)`` returns self; ``params_`` (``r``, ``alpha`` in
    the summary's time unit), ``standard_errors_``, ``covariance_`` (of the log parameters), ``summary_``,
    ``log_likelihood_``, ``n_customers_``, ``time_unit_``. Recency is checked but not used: without dropout,
    when the last purchase happened says nothing about the future.

    Parameters
    ----------
    penalizer, tol, max_iter :
        As for :class:`~loyalty.clv.BetaGeo`.

    Examples
    --------
    >>> from loyalty.datasets import load_cdnow
    >>> from loyalty.data import summarize
    >>> summary = summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W")
    >>> model = NBD().fit(summary)
    >>> float(model.p_alive(summary).min())
    1.0
    """

    _param_names = ("r", "alpha")
    _unidentified = "the purchase rate is not identified (its estimate is 0)"

    def fit(self, summary: pd.DataFrame) -> "NBD":
        """Fit on a summary with ``frequency``, ``recency`` and ``T`` (optionally ``weights``); returns self."""
        x, t_x, T, weights = self._rfm_inputs(summary)
        if weights is None:
            weights = np.ones(len(x))
        else:
            (x, T), weights = collapse_weighted([x, T], weights)
        self._fit_arrays(x, T, weights)
        self.time_unit_ = summary.attrs.get("unit")
        return self

    @classmethod
    def from_counts(cls, x, T, weights=None, time_unit: str | None = None, **settings) -> "NBD":
        """An NBD fitted on arrays: repeat purchases ``x``, ages ``T`` (in ``time_unit``) and optional ``weights``
        (customers per row), checked as :meth:`fit` checks a summary. Used to fit the NBD on the statistics of a
        BG/NBD fit that found no attrition."""
        x, T = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
        summary = pd.DataFrame({"frequency": x, "recency": np.where(x > 0, T, 0.0), "T": T})
        if weights is not None:
            summary["weights"] = np.asarray(weights, dtype=float)
        summary.attrs["unit"] = time_unit
        return cls(**settings).fit(summary)

    def _fit_arrays(self, x, T, weights) -> None:
        scale = self._time_scale(T)
        stats = nbd_statistics(x, T * scale, weights)
        stats["scale"] = scale
        self._fit_statistics(stats)

    # -- likelihood ------------------------------------------------------------------------------------------
    def _start(self, stats):
        w = stats["weights"]
        rate = max(float(np.sum(w * stats["x"]) / np.sum(w * stats["T"])), 1e-6)
        return np.log([1.0, 1.0 / rate])

    def _describe(self, stats):
        w = stats["weights"]
        return f"{int(w.sum()):,} customers, {int(w[stats['x'] > 0].sum()):,} with repeat purchases"

    def _objective(self, theta, stats):
        """Weighted negative log-likelihood (FHL 2005, eq. 6 with p = 0) and its gradient in log(r), log(α)."""
        return nbd_negative_log_likelihood(theta, stats)

    # -- predictions -----------------------------------------------------------------------------------------
    def p_alive(self, summary: pd.DataFrame) -> pd.Series:
        """1 for every customer: the NBD has no dropout (a definition, not an estimate)."""
        self._require_fitted()
        self._arrays(summary)
        return pd.Series(1.0, index=summary.index, name="p_alive")

    def expected_purchases(self, summary: pd.DataFrame, t: float) -> pd.Series:
        """E[purchases in (T, T + t] | x, T] = (r + x) / (α + T) · t; ``t`` in the model's time unit."""
        self._require_fitted()
        x, _, T = self._arrays(summary)
        values = _maths.nbd_expected_purchases(self.params_, x, T, np.array([float(t)]))[:, 0]
        return pd.Series(values, index=summary.index, name="expected_purchases")

    def p_no_purchase(self, summary: pd.DataFrame, t: float) -> pd.Series:
        """P(no purchase in (T, T + t] | x, T) = ((α + T) / (α + T + t))^(r + x); ``t`` in the model's time unit."""
        self._require_fitted()
        x, _, T = self._arrays(summary)
        r, alpha = self.params_["r"], self.params_["alpha"]
        values = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + float(t))))
        return pd.Series(values, index=summary.index, name="p_no_purchase")

    def expected_purchases_new_customer(self, t) -> np.ndarray:
        """E[X(t)] = r·t / α for a customer just acquired; ``t`` in the model's time unit."""
        self._require_fitted()
        return self.params_["r"] * np.asarray(t, dtype=float) / self.params_["alpha"]

    def customer_log_likelihood(self, summary: pd.DataFrame) -> pd.Series:
        """Each customer's log-likelihood at the fitted parameters (comparable with BetaGeo's)."""
        self._require_fitted()
        x, _, T = self._arrays(summary)
        r, alpha = self.params_["r"], self.params_["alpha"]
        values = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + T)
        return pd.Series(values, index=summary.index, name="log_likelihood")

def nbd_statistics(x: np.ndarray, T: np.ndarray, weights: np.ndarray) -> dict:
    """Sufficient statistics of the NBD likelihood: customers per distinct x, and per distinct T the customers
    and their repeat purchases (the likelihood needs nothing else)."""
    ux, inv_x = unique_counts(x)
    inv_T, uT = pd.factorize(T)
    return {
        "x": x, "T": T, "weights": weights,
        "ux": ux, "wx": np.bincount(inv_x, weights=weights, minlength=len(ux)),
        "uT": np.asarray(uT, dtype=float), "wT": np.bincount(inv_T, weights=weights, minlength=len(uT)),
        "xT": np.bincount(inv_T, weights=weights * x, minlength=len(uT)),
    }


def nbd_negative_log_likelihood(theta, stats: dict) -> tuple[float, np.ndarray]:
    """Weighted NBD negative log-likelihood at log parameters ``theta = (log r, log α)`` over
    :func:`nbd_statistics`, and its gradient in ``theta``."""
    r, alpha = np.exp(theta)
    ux, wx, uT, wT, xT = stats["ux"], stats["wx"], stats["uT"], stats["wT"], stats["xT"]
    total = float(np.sum(wx))
    log_aT = np.log(alpha + uT)
    ll = (np.sum(wx * (gammaln(r + ux) - gammaln(r))) + total * r * np.log(alpha)
          - np.sum((r * wT + xT) * log_aT))
    d_r = np.sum(wx * (digamma(r + ux) - digamma(r))) + total * np.log(alpha) - np.sum(wT * log_aT)
    d_alpha = total * r / alpha - np.sum((r * wT + xT) / (alpha + uT))
    return -ll, -np.array([d_r * r, d_alpha * alpha])


#: Mean dropout probability per purchase, a / (a + b), below which a BG/NBD fit at a boundary may be read as "no
#: attrition"; the likelihood-ratio test against the NBD decides.
NO_ATTRITION_DROPOUT = 0.05
#: 95% point of the chi-square with one degree of freedom: BG/NBD must beat the NBD it nests by more than half
#: of it in log-likelihood for attrition to count as detected (conservative at a boundary, where the reference
#: distribution is a 50:50 mixture of 0 and chi-square(1)).
LIKELIHOOD_RATIO_CRITICAL = 3.841


def no_attrition_error(theta, negative_ll: float, stats: dict, describe: str):
    """The :class:`~loyalty.errors.IdentificationError` for a BG/NBD fit that ran to "no dropout", or None.

    ``theta`` are BG/NBD's internal log parameters ``(r, α·scale, a, b)`` where its fit stopped, ``negative_ll``
    its weighted negative log-likelihood there and ``stats`` its sufficient statistics (time rescaled by
    ``stats["scale"]``; ``stats["unit"]`` the summary's time unit). None when the mean dropout a / (a + b) is not
    near 0, or when BG/NBD beats the NBD by a likelihood ratio above :data:`LIKELIHOOD_RATIO_CRITICAL`: then
    attrition is there and the boundary is another one.
    """
    r, _, a, b = np.exp(np.asarray(theta, dtype=float))
    dropout = a / (a + b) if np.isfinite(a + b) and a + b > 0 else 0.0
    if not dropout < NO_ATTRITION_DROPOUT:
        return None
    scale = stats["scale"]
    nbd = NBD.from_counts(stats["x"], stats["T"] / scale, stats["weights"], time_unit=stats.get("unit"))
    # BG/NBD's likelihood is a density of x purchase times too: back from rescaled time as NBD.fit does
    bgnbd_ll = float(-negative_ll + np.log(scale) * np.sum(stats["weights"] * stats["x"]))
    ratio = 2.0 * (bgnbd_ll - nbd.log_likelihood_)
    if ratio > LIKELIHOOD_RATIO_CRITICAL:
        return None
    from ..errors import IdentificationError

    nbd_params = {k: float(f"{v:.4g}") for k, v in nbd.params_.items()}
    diagnosis = (
        f"no attrition detected: BG/NBD's fit runs to a boundary (a={a:.3g}, b={b:.3g}, mean dropout per purchase "
        f"a/(a+b)={dropout:.2g}) and fits no better than the NBD, where nobody drops out (log-likelihood "
        f"{bgnbd_ll:,.2f} against the NBD's {nbd.log_likelihood_:,.2f}, likelihood ratio {max(ratio, 0.0):.2f} < "
        f"{LIKELIHOOD_RATIO_CRITICAL}): the model reduces to NBD (Poisson-gamma purchases). BG/NBD's parameters "
        f"and intervals are not identified on these data ({describe}), and its P(alive) says nothing."
    )
    others = ("Models with another dropout process (Pareto/NBD, MBG/NBD) may apply where the log is longer; "
              "compare them on a holdout.")
    remedies = {
        "library": f"Fit loyalty.clv.NBD() instead (on these data: {nbd_params}; P(alive) = 1 by definition), or "
                   f"CLVModel(model='nbd'); the fitted NBD is this error's .alternative. {others}",
        "cli": f"Rerun with --model nbd (NBD, no dropout; on these data {nbd_params}). {others}",
        "spec": f"Set settings.model: nbd in the CLV model spec (NBD, no dropout; on these data {nbd_params}). "
                f"{others}",
    }
    return IdentificationError(diagnosis, remedies, alternative=nbd)
