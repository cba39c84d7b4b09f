"""Time-invariant customer covariates for the repeat-purchase models (Fader & Hardie 2007, note 019).

Fader, P. S. & Hardie, B. G. S. (2007). "Incorporating time-invariant covariates into the Pareto/NBD and BG/NBD
models" (http://brucehardie.com/notes/019/). The parametrisation is CLVTools' (Meierer et al.): a covariate
vector z_i scales the gamma rate of the purchase process, α_i = α exp(-γ₁ᵀz_i), so a positive purchase
coefficient means more purchases. For Pareto/NBD the dropout rate's gamma rate, β_i = β exp(-γ₂ᵀz_i), so a
positive dropout coefficient means a shorter life; for BG/NBD both beta parameters of the dropout
probability, a_i = a exp(γ₂ᵀz_i) and b_i = b exp(γ₂ᵀz_i), so a positive coefficient concentrates the dropout
probabilities around their mean a/(a + b) (CLVTools' choice: the mean itself does not move).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, gammaln

from ..errors import DataValidationError
from ._mle import LikelihoodModel, stats_norm_ppf

__all__ = ["covariate_matrix", "coefficients_on_natural_scale", "beta_geo_customer_params",
           "fit_beta_geo_with_covariates"]


def covariate_matrix(summary: pd.DataFrame, names: list[str]) -> np.ndarray:
    """The named covariate columns as a float matrix (rows: customers), checked: present, numeric, finite.

    Raises :class:`~loyalty.errors.DataValidationError` naming the column (and an example row) otherwise.
    """
    if len(set(names)) != len(names):
        raise DataValidationError(f"covariates named more than once: {names}")
    missing = [n for n in names if n not in summary.columns]
    if missing:
        raise DataValidationError(
            f"covariate column(s) {missing} missing from the summary; got {list(summary.columns)}"
        )
    if not names:
        return np.zeros((len(summary), 0))
    for name in names:
        if not pd.api.types.is_numeric_dtype(summary[name]):
            raise DataValidationError(
                f"covariate {name!r} has dtype {summary[name].dtype}; covariates must be numeric or boolean "
                "(encode categories as 0/1 indicator columns)"
            )
    z = summary[names].to_numpy(dtype=float)
    bad = ~np.isfinite(z)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataValidationError(
            f"covariates have {int(bad.any(axis=1).sum()):,} rows with missing or infinite values, e.g. "
            f"column {names[col]!r} at row {summary.index[row]!r}"
        )
    return z


def coefficients_on_natural_scale(model, first: int) -> None:
    """Report parameters from position ``first`` on as coefficients γ (the base reports exp(log parameter))."""
    z = stats_norm_ppf(0.975)
    se = np.sqrt(np.diag(model.covariance_))
    for i, name in enumerate(list(model.params_)[first:], start=first):
        gamma = float(model.log_params_[i])
        model.params_[name] = gamma
        model.standard_errors_[name] = float(se[i])
        model.summary_.loc[name] = [gamma, se[i], gamma - z * se[i], gamma + z * se[i]]


# -- BG/NBD ------------------------------------------------------------------------------------------------------
def beta_geo_customer_params(params: dict, names: list[str], summary: pd.DataFrame) -> dict:
    """Each customer's BG/NBD parameters under covariates (CLVTools): α_i = α exp(-γ_pᵀz_i),
    a_i = a exp(γ_dᵀz_i), b_i = b exp(γ_dᵀz_i) (one dropout coefficient vector for both a and b)."""
    z = covariate_matrix(summary, names)
    g_purchase = np.array([params[f"purchase:{c}"] for c in names])
    g_dropout = np.array([params[f"dropout:{c}"] for c in names])
    life = np.exp(z @ g_dropout)
    return {"r": params["r"], "alpha": params["alpha"] * np.exp(-z @ g_purchase),
            "a": params["a"] * life, "b": params["b"] * life}


def fit_beta_geo_with_covariates(model, x, t_x, T, weights, z, names: list[str]) -> None:
    """Fit BG/NBD with covariates (parametrisation of :func:`beta_geo_customer_params`) and set ``model``'s
    fitted attributes: ``params_`` etc. with ``purchase:<column>`` and ``dropout:<column>`` coefficients."""
    if model.penalizer:
        raise ValueError("penalizer is not available with covariates; fit with penalizer=0")
    fit = _BetaGeoCovariates(tol=model.tol, max_iter=model.max_iter)
    scale = 10.0 / float(T.max())  # time rescaled for conditioning, as in BetaGeo
    stats = {"x": x, "t_x": t_x * scale, "T": T * scale, "weights": weights, "z": z, "scale": scale}
    fit.estimate(stats, ("r", "alpha", "a", "b") + tuple(
        f"{side}:{name}" for side in ("purchase", "dropout") for name in names
    ))
    coefficients_on_natural_scale(fit, 4)
    for attribute in ("params_", "log_params_", "covariance_", "standard_errors_", "log_likelihood_",
                      "n_customers_", "n_iterations_", "gradient_norm_", "summary_"):
        setattr(model, attribute, getattr(fit, attribute))


class _BetaGeoCovariates(LikelihoodModel):
    """The BG/NBD likelihood (Fader, Hardie & Lee 2005, eq. 6) with per-customer α_i, a_i, b_i."""

    def estimate(self, stats: dict, param_names: tuple[str, ...]) -> None:
        """Maximise the likelihood on ``stats`` for parameters named ``param_names`` (base ones, then the
        coefficients), setting the fitted attributes."""
        self._param_names = param_names
        self._fit_statistics(stats)

    def _start(self, stats):
        w = stats["weights"]
        rate = max(np.sum(w * stats["x"]) / w.sum(), 1e-3) / (np.sum(w * stats["T"]) / w.sum())
        return np.concatenate([np.log([1.0, 1.0 / rate, 1.0, 2.0]), np.zeros(2 * stats["z"].shape[1])])

    def _to_natural(self, theta, stats):
        natural = np.array(theta, dtype=float)
        natural[1] -= np.log(stats["scale"])
        return natural

    def _log_likelihood_shift(self, stats):
        return float(np.log(stats["scale"]) * np.sum(stats["weights"] * stats["x"]))

    def _describe(self, stats):
        w = stats["weights"]
        return f"{int(w.sum()):,} customers, {int(w[stats['x'] > 0].sum()):,} with repeat purchases"

    def _objective(self, theta, stats):
        """Weighted negative log-likelihood and its analytic gradient in θ = (log r, log α, log a, log b, γ_p,
        γ_d): per-customer derivatives in the log parameters, then the chain rule (log α_i = log α - zᵢᵀγ_p,
        log a_i = log a + zᵢᵀγ_d, log b_i = log b + zᵢᵀγ_d)."""
        x, t_x, T, w, z = stats["x"], stats["t_x"], stats["T"], stats["weights"], stats["z"]
        k = z.shape[1]
        r = np.exp(theta[0])
        alpha = np.exp(theta[1] - z @ theta[4:4 + k])
        life = np.exp(z @ theta[4 + k:])
        a, b = np.exp(theta[2]) * life, np.exp(theta[3]) * life
        repeat = x > 0
        a3 = -(r + x) * np.log(alpha + T)
        with np.errstate(divide="ignore"):
            a4 = np.where(repeat, np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0))
                          - (r + x) * np.log(alpha + t_x), -np.inf)
        tail = np.logaddexp(a3, a4)
        ll = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b) + tail
        w4 = np.exp(a4 - tail)
        w3 = 1.0 - w4
        d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w3 * np.log(alpha + T) - w4 * np.log(alpha + t_x)
        d_alpha = r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x))
        d_a = digamma(a + b) - digamma(a + b + x) + w4 / a
        d_b = (digamma(b + x) - digamma(a + b + x) - digamma(b) + digamma(a + b)
               - w4 / np.where(repeat, b + x - 1, 1.0))
        log_r, log_alpha, log_a, log_b = r * d_r, alpha * d_alpha, a * d_a, b * d_b  # per log parameter
        grad = np.concatenate([
            [np.sum(w * log_r), np.sum(w * log_alpha), np.sum(w * log_a), np.sum(w * log_b)],
            -(w * log_alpha) @ z, (w * (log_a + log_b)) @ z,
        ])
        return -float(np.sum(w * ll)), -grad
