"""Choosing the transaction model on the holdout: fit each candidate on the calibration summary, score them on
fit (log-likelihood, AIC, BIC, the period-transactions chi-square) and on how well they forecast the holdout.

References: Fader, Hardie & Lee (2005), "Counting your customers" the easy way, *Marketing Science* 24(2)
("FHL 2005": the calibration histogram of repeat transactions against the model's, eq. 8, and the holdout
forecast as the test of a model); Fader & Hardie (2006), "Deriving an expression for P(X(t) = x) under the
Pareto/NBD model", brucehardie.com/notes/012; Batislam, Denizel & Filiztekin (2007) (MBG/NBD); Fader, Hardie &
Shang (2010), "Customer-base analysis in a discrete-time noncontractual setting", *Marketing Science* 29(6)
(BG/BB, eq. 8 for P(X(n) = x)).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import betaln, gammaln

from ..errors import DataValidationError, LoyaltyError
from ._repeat import customer_weights
from .beta_geo import BetaGeo
from .beta_geo_beta_binom import BetaGeoBetaBinom
from .modified_beta_geo import ModifiedBetaGeo
from .nbd import NBD
from .pareto_nbd import ParetoNBD

__all__ = ["TRANSACTION_MODELS", "DISCRETE_MODELS", "compare_models", "repeat_transaction_pmf"]

TRANSACTION_MODELS = {"bgnbd": BetaGeo, "mbgnbd": ModifiedBetaGeo, "paretonbd": ParetoNBD, "nbd": NBD}
"""The continuous-time transaction models :func:`compare_models` knows, by the name used in tables, specs and the
CLI (summaries with ``frequency``, ``recency``, ``T``)."""
DISCRETE_MODELS = {"bgbb": BetaGeoBetaBinom}
"""The discrete-opportunity models (summaries with ``frequency``, ``recency``, ``n_periods``)."""
_ALL_MODELS = {**TRANSACTION_MODELS, **DISCRETE_MODELS}

_HOLDOUT_COLUMNS = ("frequency_holdout", "duration_holdout")
_COLUMNS = ["model", "n_params", "log_likelihood", "aic", "bic", "holdout_actual", "holdout_predicted",
            "holdout_error", "holdout_mae", "chi2", "chi2_df", "chi2_p", "params", "error"]
_FAILURES = (LoyaltyError, ArithmeticError, ValueError, np.linalg.LinAlgError)


def compare_models(calibration_summary: pd.DataFrame, holdout: pd.DataFrame | None = None,
                   candidates=None, penalizer: float = 0.0, max_bin: int = 7) -> pd.DataFrame:
    """Fit each candidate transaction model on the calibration summary and rank them by the holdout.

    Parameters
    ----------
    calibration_summary : DataFrame
        ``frequency``, ``recency``, ``T`` per customer (see :func:`loyalty.data.summarize`), or for discrete
        opportunities ``frequency``, ``recency``, ``n_periods``; an optional ``weights`` column counts the
        customers of each row (the fits, the histogram and the holdout measures use it).
    holdout : DataFrame, optional
        ``frequency_holdout`` (repeat purchases in the holdout) and ``duration_holdout`` (its length, in the
        summary's time unit; for discrete data a whole number of opportunities) for the same customers; default:
        those columns of ``calibration_summary`` (``summarize(..., holdout_end=...)`` adds them).
    candidates : iterable of str, optional
        Names in :data:`TRANSACTION_MODELS` or :data:`DISCRETE_MODELS`; default all of the first (``bgnbd``,
        ``mbgnbd``, ``paretonbd``, ``nbd``), or ``bgbb`` when the summary has ``n_periods`` and no ``T`` (discrete data).
    penalizer : float
        Passed to every model.
    max_bin : int
        The chi-square's histogram has bins 0, 1, ..., ``max_bin`` - 1 and ``max_bin``+ repeat transactions
        (FHL 2005 use 0..6 and 7+).

    Returns
    -------
    DataFrame
        One row per candidate (index ``model``), best first: ``n_params``, ``log_likelihood``, ``aic``,
        ``bic``, ``holdout_actual`` and ``holdout_predicted`` (total repeat purchases in the holdout),
        ``holdout_error`` (predicted / actual - 1), ``holdout_mae`` (mean absolute error per customer),
        ``chi2``, ``chi2_df``, ``chi2_p`` (calibration histogram of repeat transactions, observed against the
        model's expectation ``Σ_i P(X(T_i) = x)``), ``params`` and ``error``. A candidate whose fit fails keeps
        its row with the reason in ``error`` and NaN elsewhere; it is ranked last.

    Notes
    -----
    The choice rule: the lowest per-customer holdout MAE wins, ties broken by the absolute aggregate error and
    then by BIC. Likelihood and chi-square describe the fit to the calibration data; a model that fits it at a
    boundary (BG/NBD with "nobody ever drops out" on a short log) can look fine there and still forecast the
    holdout worse, which is what the ranking is for. ``table.attrs["choice"]`` names the winner.

    Examples
    --------
    >>> from loyalty.datasets import load_cdnow
    >>> from loyalty.data import summarize
    >>> summary = summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W", holdout_end="1998-06-30")
    >>> table = compare_models(summary)
    >>> table.attrs["choice"] in TRANSACTION_MODELS
    True
    """
    actual, duration = _holdout(calibration_summary, holdout)
    if int(max_bin) < 1:
        raise DataValidationError(f"max_bin must be at least 1, got {max_bin}")
    if candidates is None:
        discrete = "n_periods" in calibration_summary.columns and "T" not in calibration_summary.columns
        candidates = tuple(DISCRETE_MODELS) if discrete else tuple(TRANSACTION_MODELS)
    candidates = list(candidates)
    unknown = [name for name in candidates if name not in _ALL_MODELS]
    if unknown or not candidates:
        raise DataValidationError(f"unknown candidate model(s) {unknown}; choose among {list(_ALL_MODELS)}")
    weights = customer_weights(calibration_summary)
    weights = np.ones(len(calibration_summary)) if weights is None else weights
    rows = [_evaluate(name, calibration_summary, actual, duration, weights, penalizer, int(max_bin))
            for name in candidates]
    table = pd.DataFrame(rows, columns=_COLUMNS).set_index("model")
    table["_abs_error"] = table["holdout_error"].abs()
    table = table.sort_values(["holdout_mae", "_abs_error", "bic"], na_position="last").drop(columns="_abs_error")
    fitted = table[table["error"].isna()]
    table.attrs["choice"] = fitted.index[0] if len(fitted) else None
    table.attrs["rule"] = "lowest holdout_mae, then lowest |holdout_error|, then lowest bic"
    return table


def _holdout(summary: pd.DataFrame, holdout: pd.DataFrame | None) -> tuple[np.ndarray, float]:
    source = summary if holdout is None else holdout
    missing = [c for c in _HOLDOUT_COLUMNS if c not in source.columns]
    if missing:
        raise DataValidationError(
            f"the holdout needs columns {missing}: summarize the log with holdout_end=<date> "
            "(loyalty.data.summarize) or pass a holdout frame with frequency_holdout and duration_holdout"
        )
    if holdout is not None:
        absent = summary.index.difference(holdout.index)
        if len(absent):
            raise DataValidationError(f"the holdout has no row for {len(absent):,} customers of the calibration "
                                      f"summary, e.g. {list(absent[:3])}")
        source = holdout.reindex(summary.index)
    duration = source["duration_holdout"].to_numpy(dtype=float)
    if len(duration) == 0 or not np.all(duration == duration[0]) or not duration[0] > 0:
        raise DataValidationError("duration_holdout must be one positive length shared by every customer")
    actual = source["frequency_holdout"].to_numpy(dtype=float)
    if not np.all(np.isfinite(actual)) or np.any(actual < 0):
        raise DataValidationError("frequency_holdout must be finite and non-negative for every customer")
    return actual, float(duration[0])


def _evaluate(name: str, summary: pd.DataFrame, actual: np.ndarray, duration: float, weights: np.ndarray,
              penalizer: float, max_bin: int) -> dict:
    row = {"model": name}
    try:
        if name in DISCRETE_MODELS and not float(duration).is_integer():
            raise DataValidationError(f"{name} forecasts whole opportunities; duration_holdout is {duration:g}")
        model = _ALL_MODELS[name](penalizer=penalizer).fit(summary)
        predicted = model.expected_purchases(summary, duration).to_numpy(dtype=float)
        if not np.all(np.isfinite(predicted)):
            raise ArithmeticError(f"{int((~np.isfinite(predicted)).sum()):,} holdout forecasts are not finite")
        chi2, df, p = period_transactions_chi2(model, summary, max_bin)
        n = float(weights.sum())
    except _FAILURES as error:
        return {**row, "error": f"{type(error).__name__}: {error}"}
    k, ll = len(model.params_), model.log_likelihood_
    total, forecast = float(weights @ actual), float(weights @ predicted)
    return {
        **row, "n_params": k, "log_likelihood": ll, "aic": 2 * k - 2 * ll, "bic": k * np.log(n) - 2 * ll,
        "holdout_actual": total, "holdout_predicted": forecast,
        "holdout_error": forecast / total - 1 if total > 0 else np.nan,
        "holdout_mae": float(weights @ np.abs(predicted - actual) / n),
        "chi2": chi2, "chi2_df": df, "chi2_p": p,
        "params": ", ".join(f"{key}={value:.4g}" for key, value in model.params_.items()), "error": None,
    }


def period_transactions_chi2(model, summary: pd.DataFrame, max_bin: int = 7) -> tuple[float, int, float]:
    """Pearson's chi-square of the calibration histogram of repeat transactions (bins 0 .. ``max_bin`` - 1 and
    ``max_bin``+) against the model's expected histogram Σ_i P(X(T_i) = x) (FHL 2005, figure 2 and eq. 8).

    Bins the model gives probability 0 (BG/BB: more transactions than opportunities) are left out. Returns the
    statistic, its degrees of freedom (bins - 1 - number of parameters, at least 1) and p-value.
    """
    x = summary["frequency"].to_numpy(dtype=float)
    T = summary["n_periods" if isinstance(model, BetaGeoBetaBinom) else "T"].to_numpy(dtype=float)
    weights = customer_weights(summary)
    weights = np.ones(len(x)) if weights is None else weights
    observed = np.bincount(np.minimum(x, max_bin).astype(int), weights=weights, minlength=max_bin + 1)
    ages, inverse = np.unique(T, return_inverse=True)
    pmf = repeat_transaction_pmf(model, ages, max_bin)
    expected = np.bincount(inverse, weights=weights, minlength=len(ages)) @ pmf
    possible = expected > 0  # a bin the model cannot fill (more transactions than opportunities) is left out
    with np.errstate(divide="ignore"):
        chi2 = float(np.sum((observed - expected)[possible] ** 2 / expected[possible]))
    chi2 = chi2 if observed[~possible].sum() == 0 else np.inf
    df = max(int(possible.sum()) - 1 - len(model.params_), 1)
    return chi2, df, float(stats.chi2.sf(chi2, df))


def repeat_transaction_pmf(model, t, max_bin: int) -> np.ndarray:
    """P(X(t) = x) for x = 0 .. ``max_bin`` - 1 and P(X(t) ≥ ``max_bin``): rows ``t`` (customer ages in the
    model's time unit), for a fitted ``BetaGeo`` (FHL 2005, eq. 8), ``ModifiedBetaGeo`` (the same with a
    dropout chance at time 0), ``ParetoNBD`` (note 012, as a one-dimensional integral over the dropout time),
    ``NBD`` (no dropout: the NBD pmf itself; Ehrenberg 1959) or ``BetaGeoBetaBinom`` (``t`` whole opportunities n;
    FHS 2010, eq. 8).
    """
    t = np.asarray(t, dtype=float)[:, None]
    xs = np.arange(max_bin, dtype=float)[None, :]
    p = model.params_
    if isinstance(model, BetaGeoBetaBinom):
        head = _bgbb_pmf(p["alpha"], p["beta"], p["gamma"], p["delta"], t, xs)
    elif isinstance(model, NBD):
        head = _nbd_pmf(p["r"], p["alpha"], t, xs)
    elif isinstance(model, ParetoNBD):
        head = _pareto_pmf(p["r"], p["alpha"], p["s"], p["beta"], t, xs)
    elif isinstance(model, (BetaGeo, ModifiedBetaGeo)):
        r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
        nbd = _nbd_pmf(r, alpha, t, xs)
        below = np.cumsum(nbd, axis=1) - nbd  # P(N(t) < x)
        shift = 1.0 if isinstance(model, ModifiedBetaGeo) else 0.0  # MBG/NBD: a dropout chance at time 0 too
        survive = np.exp(betaln(a, b + xs + shift) - betaln(a, b))  # P(no dropout at purchases up to x)
        with np.errstate(invalid="ignore"):
            drop_at = np.where(xs + shift > 0, np.exp(betaln(a + 1, b + xs + shift - 1) - betaln(a, b)), 0.0)
        head = survive * nbd + drop_at * (1.0 - below)
    else:
        raise DataValidationError(f"no repeat-transaction distribution for {type(model).__name__}")
    return np.column_stack([head, np.clip(1.0 - head.sum(axis=1), 0.0, None)])


def _nbd_pmf(r, alpha, t, xs):
    """P(N(t) = x) for Poisson purchasing at a Gamma(r, α)-distributed rate (the NBD)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_rate = np.where(xs > 0, xs * (np.log(t) - np.log(alpha + t)), 0.0)
    return np.exp(gammaln(r + xs) - gammaln(r) - gammaln(xs + 1) + r * (np.log(alpha) - np.log(alpha + t)) + log_rate)


def _pareto_pmf(r, alpha, s, beta, t, xs, nodes: int = 96):
    """P(X(t) = x) under the Pareto/NBD: alive throughout (P(τ > t) = (β/(β+t))^s) or gone at τ < t, when
    X(t) = N(τ); the second part integrated over u = P(τ ≤ τ') by Gauss-Legendre (smooth in u)."""
    alive = (beta / (beta + t)) ** s
    u_nodes, u_weights = np.polynomial.legendre.leggauss(nodes)
    top = 1.0 - alive  # P(τ ≤ t), per row
    u = (u_nodes[None, :] + 1.0) / 2.0 * top  # rows t, columns nodes
    tau = beta * np.expm1(-np.log1p(-u) / s)
    gone = np.einsum("tn,tnx->tx", u_weights[None, :] * top / 2.0, _nbd_pmf(r, alpha, tau[:, :, None], xs[None]))
    return _nbd_pmf(r, alpha, t, xs) * alive + gone


def _bgbb_pmf(alpha, beta, gamma, delta, n, xs):
    """P(X(n) = x) under the BG/BB: alive through all n opportunities, or alive for exactly i < n of them
    (FHS 2010, eq. 8); rows n (whole numbers), columns x."""
    def log_choose(a, b):
        return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)

    with np.errstate(invalid="ignore"):
        alive = np.where(xs <= n, np.exp(log_choose(n, np.minimum(xs, n)) + betaln(alpha + xs, beta + n - xs)
                                         - betaln(alpha, beta) + betaln(gamma, delta + n) - betaln(gamma, delta)), 0.0)
    gone = np.zeros_like(alive)
    for i in range(int(n.max())):  # alive for exactly i opportunities, i = 0 .. n - 1
        with np.errstate(invalid="ignore"):
            term = np.exp(log_choose(float(i), np.minimum(xs, i)) + betaln(alpha + xs, beta + i - xs)
                          - betaln(alpha, beta) + betaln(gamma + 1, delta + i) - betaln(gamma, delta))
        gone += np.where((xs <= i) & (i < n), term, 0.0)
    return alive + gone
