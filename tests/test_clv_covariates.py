"""Time-invariant covariates (Fader & Hardie 2007, note 019; CLVTools' parametrisation): recovery and contract.

The simulator in ``loyalty.simulate`` draws the traits first and the covariates as noisy functions of them, so
given its covariates λ is not gamma with a covariate-scaled rate: no covariate model holds there exactly. The
recovery test therefore draws customers from the Pareto/NBD covariate model itself (λ ~ Gamma(r, α_i),
μ ~ Gamma(s, β_i)); the simulator's covariates are checked for the direction of their planted tie to λ.
"""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from loyalty.clv import ParetoNBD
from loyalty.clv.pareto_nbd import pareto_nbd_log_likelihood
from loyalty.errors import DataValidationError

PLANTED = {
    "r": 0.8, "alpha": 8.0, "s": 0.7, "beta": 12.0,
    "purchase:z_cont": 0.5, "purchase:z_bin": -0.4, "dropout:z_cont": -0.3, "dropout:z_bin": 0.6,
}
COVARIATES = ["z_cont", "z_bin"]


def simulate_pareto_nbd(n: int, seed: int, planted: dict = PLANTED) -> pd.DataFrame:
    """(frequency, recency, T) in weeks of ``n`` customers drawn from the Pareto/NBD covariate model.

    z_cont ~ N(0, 1), z_bin ~ Bernoulli(0.4); λ ~ Gamma(r, rate α exp(-γ₁ᵀz)), μ ~ Gamma(s, rate β exp(-γ₂ᵀz));
    T ~ U(26, 52); lifetime ~ Exp(μ); purchases Poisson(λ) until min(lifetime, T), the last at t_x (the maximum
    of x uniforms on that window).
    """
    rng = np.random.default_rng(seed)
    z = np.column_stack([rng.standard_normal(n), (rng.random(n) < 0.4).astype(float)])
    g1 = np.array([planted[f"purchase:{c}"] for c in COVARIATES])
    g2 = np.array([planted[f"dropout:{c}"] for c in COVARIATES])
    lam = rng.gamma(planted["r"], 1.0 / (planted["alpha"] * np.exp(-z @ g1)))
    mu = rng.gamma(planted["s"], 1.0 / (planted["beta"] * np.exp(-z @ g2)))
    T = rng.uniform(26.0, 52.0, n)
    window = np.minimum(rng.exponential(1.0 / mu), T)
    x = rng.poisson(lam * window).astype(float)
    t_x = np.where(x > 0, window * rng.random(n) ** (1.0 / np.maximum(x, 1.0)), 0.0)
    summary = pd.DataFrame({"frequency": x, "recency": t_x, "T": T, "z_cont": z[:, 0], "z_bin": z[:, 1]})
    summary.attrs["unit"] = "W"
    return summary


def _covered(model) -> dict:
    table = model.summary_
    return {name: bool(table.loc[name, "lower_95"] <= value <= table.loc[name, "upper_95"])
            for name, value in PLANTED.items()}


@pytest.fixture(scope="module")
def world():
    return simulate_pareto_nbd(4000, seed=0)


@pytest.fixture(scope="module")
def fitted(world):
    return ParetoNBD().fit(world, covariates=COVARIATES)


def test_covariate_fit_reports_coefficients_with_standard_errors(fitted):
    assert list(fitted.summary_.index) == list(PLANTED)
    assert list(fitted.params_) == list(PLANTED)
    assert fitted.covariates_ == COVARIATES
    assert (fitted.summary_["se"] > 0).all()
    coefficients = fitted.summary_.loc["purchase:z_cont":]
    # coefficients' intervals are symmetric on the natural scale; r, alpha, s, beta's on the log scale
    np.testing.assert_allclose(coefficients["upper_95"] - coefficients["estimate"],
                               coefficients["estimate"] - coefficients["lower_95"], rtol=1e-12)


def test_covariate_fit_covers_the_planted_values_in_one_world(fitted):
    assert all(_covered(fitted).values()), fitted.summary_


@pytest.mark.slow
def test_covariate_intervals_cover_the_planted_values_in_most_of_20_worlds():
    coverage = pd.DataFrame([_covered(ParetoNBD().fit(simulate_pareto_nbd(4000, seed), covariates=COVARIATES))
                             for seed in range(1, 21)])
    print("\nworlds (of 20) whose 95% interval covers the planted value:\n" + coverage.sum().to_string())
    # 95% intervals: at least 16 of 20 for each parameter (P(<= 15 | p = 0.95) = 0.3% per parameter)
    assert (coverage.sum() >= 16).all(), coverage.sum()


def test_covariate_fit_beats_the_fit_without_covariates(world, fitted):
    plain = ParetoNBD().fit(world[["frequency", "recency", "T"]])
    # 4 extra parameters: a likelihood-ratio statistic far above chi2(4)'s 99.9% point (18.5)
    assert 2 * (fitted.log_likelihood_ - plain.log_likelihood_) > 18.5


def test_predictions_use_each_customers_own_alpha_and_beta(fitted, world):
    own = fitted.customer_params(world)
    g1 = np.array([fitted.params_[f"purchase:{c}"] for c in COVARIATES])
    np.testing.assert_allclose(own["alpha"], fitted.params_["alpha"] * np.exp(-world[COVARIATES].to_numpy() @ g1))
    x, t_x, T = (world[c].to_numpy() for c in ("frequency", "recency", "T"))
    r, s = fitted.params_["r"], fitted.params_["s"]
    ll = pareto_nbd_log_likelihood(r, own["alpha"].to_numpy(), s, own["beta"].to_numpy(), x, t_x, T)
    np.testing.assert_allclose(fitted.customer_log_likelihood(world).to_numpy(), ll, rtol=1e-12)
    assert fitted.customer_log_likelihood(world).sum() == pytest.approx(fitted.log_likelihood_, rel=1e-10)
    # buyers with a higher purchase score are expected to buy more, all else equal
    twins = pd.DataFrame({"frequency": [2.0, 2.0], "recency": [20.0, 20.0], "T": [40.0, 40.0],
                          "z_cont": [-1.0, 1.0], "z_bin": [0.0, 0.0]})
    twins.attrs["unit"] = "W"
    low, high = fitted.expected_purchases_new_customer([10.0], twins)[:, 0]
    assert high > low
    assert fitted.p_alive(twins).between(0, 1).all()
    assert fitted.p_no_purchase(twins, 10.0).between(0, 1).all()


def test_predictions_need_the_covariate_columns(fitted, world):
    with pytest.raises(DataValidationError, match="z_bin"):
        fitted.p_alive(world.drop(columns="z_bin"))
    with pytest.raises(DataValidationError, match="pass summary"):
        fitted.expected_purchases_new_customer(10.0)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.assign(z_cont=s["z_cont"].astype(str)), "numeric"),
        (lambda s: s.assign(z_cont=s["z_cont"].where(s.index != 3)), "missing or infinite"),
        (lambda s: s.drop(columns="z_cont"), "missing from the summary"),
    ],
)
def test_unusable_covariates_are_rejected_with_the_column_named(world, change, message):
    with pytest.raises(DataValidationError, match=message):
        ParetoNBD().fit(change(world), covariates=COVARIATES)


def test_penalizer_and_lifetimes_conversion_are_refused_with_covariates(world, fitted):
    with pytest.raises(ValueError, match="penalizer"):
        ParetoNBD(penalizer=0.01).fit(world, covariates=COVARIATES)
    with pytest.raises(ValueError, match="no covariates"):
        fitted.to_lifetimes()


@pytest.mark.slow
def test_simulator_covariates_move_the_purchase_rate_in_the_planted_direction():
    # The simulator ties e-mail engagement to the purchase rate (logit = 0.6 z_lambda - 0.5 z_p + noise) and so
    # to a longer life (lower dropout): both coefficients carry that sign, without the model holding exactly.
    from loyalty.data import summarize
    from loyalty.simulate import SimulationConfig, simulate

    config = SimulationConfig.from_dict({"n_customers": 10_000, "noise": {"returns": False, "duplicates": False}})
    world = simulate(config, seed=1)
    summary = summarize(world.history(), cutoff=world.t0 - pd.Timedelta(1, "ns"), period="D", unit="W")
    engagement = world.customers.set_index("customer_id")["email_engagement"].reindex(summary.index)
    summary["email_z"] = (engagement - engagement.mean()) / engagement.std()
    model = ParetoNBD().fit(summary, covariates=["email_z"])
    table = model.summary_
    assert table.loc["purchase:email_z", "lower_95"] > 0
    assert table.loc["dropout:email_z", "upper_95"] < 0


# -- BG/NBD ------------------------------------------------------------------------------------------------------
BG_PLANTED = {
    "r": 0.6, "alpha": 5.0, "a": 0.9, "b": 3.0,
    "purchase:z_cont": 0.4, "purchase:z_bin": -0.3, "dropout:z_cont": 0.5, "dropout:z_bin": -0.6,
}


def simulate_bgnbd(n: int, seed: int, planted: dict = BG_PLANTED) -> pd.DataFrame:
    """(frequency, recency, T) in weeks of ``n`` customers drawn from the BG/NBD covariate model (CLVTools):
    λ ~ Gamma(r, rate α exp(-γ_pᵀz)), p ~ Beta(a exp(γ_dᵀz), b exp(γ_dᵀz)); purchases Poisson(λ) on (0, T], the
    customer gone right after repeat purchase L ~ Geometric(p), so x = min(N(T), L) and t_x is the x-th of the
    N(T) uniform event times (a Beta(x, N - x + 1) share of T)."""
    rng = np.random.default_rng(seed)
    z = np.column_stack([rng.standard_normal(n), (rng.random(n) < 0.4).astype(float)])
    alpha = planted["alpha"] * np.exp(-z @ np.array([planted[f"purchase:{c}"] for c in COVARIATES]))
    life = np.exp(z @ np.array([planted[f"dropout:{c}"] for c in COVARIATES]))
    lam = rng.gamma(planted["r"], 1.0 / alpha)
    p = np.clip(rng.beta(planted["a"] * life, planted["b"] * life), 1e-12, 1.0)
    T = rng.uniform(26.0, 52.0, n)
    events = rng.poisson(lam * T)
    x = np.minimum(events, rng.geometric(p))
    t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(events - x + 1, 1)), 0.0)
    summary = pd.DataFrame({"frequency": x.astype(float), "recency": t_x, "T": T,
                            "z_cont": z[:, 0], "z_bin": z[:, 1]})
    summary.attrs["unit"] = "W"
    return summary


def test_bgnbd_covariate_fit_lands_within_three_standard_errors_of_the_planted_values():
    from loyalty.clv import BetaGeo

    model = BetaGeo().fit(simulate_bgnbd(4000, seed=0), covariates=COVARIATES)
    table = model.summary_
    assert list(table.index) == list(BG_PLANTED)
    log_scale = ["r", "alpha", "a", "b"]  # their standard errors are of log(estimate)
    planted = pd.Series(BG_PLANTED)
    error = table["estimate"] - planted
    error[log_scale] = np.log(table.loc[log_scale, "estimate"]) - np.log(planted[log_scale])
    se = table["se"].copy()
    se[log_scale] = se[log_scale] / table.loc[log_scale, "estimate"]
    assert (np.abs(error / se) < 3).all(), table


@pytest.mark.slow
def test_bgnbd_covariate_intervals_cover_the_planted_values_in_most_of_20_worlds():
    from loyalty.clv import BetaGeo

    rows = []
    for seed in range(1, 21):
        table = BetaGeo().fit(simulate_bgnbd(4000, seed), covariates=COVARIATES).summary_
        rows.append({k: bool(table.loc[k, "lower_95"] <= v <= table.loc[k, "upper_95"]) for k, v in BG_PLANTED.items()})
    coverage = pd.DataFrame(rows)
    print("\nworlds (of 20) whose 95% interval covers the planted value:\n" + coverage.sum().to_string())
    assert (coverage.sum() >= 16).all(), coverage.sum()


def test_bgnbd_predictions_with_covariates_use_each_customers_parameters():
    from loyalty.clv import BetaGeo
    from loyalty.errors import DataValidationError as Invalid

    summary = simulate_bgnbd(1500, seed=3)
    model = BetaGeo().fit(summary, covariates=COVARIATES)
    own = model.customer_params(summary)
    assert model.customer_log_likelihood(summary).sum() == pytest.approx(model.log_likelihood_, rel=1e-10)
    # one customer at a time through the plain model with that customer's parameters gives the same numbers
    for i in (0, 7, 42):
        values = {k: float(own[k][i] if np.ndim(own[k]) else own[k]) for k in ("r", "alpha", "a", "b")}
        single = BetaGeo.from_lifetimes(SimpleNamespace(params_=values), time_unit="W")
        row = summary.iloc[[i]][["frequency", "recency", "T"]]
        assert model.p_alive(summary).iloc[i] == pytest.approx(single.p_alive(row).iloc[0], rel=1e-12)
        assert model.expected_purchases(summary, 10.0).iloc[i] == pytest.approx(
            single.expected_purchases(row, 10.0).iloc[0], rel=1e-12)
        assert model.p_no_purchase(summary, 10.0).iloc[i] == pytest.approx(
            single.p_no_purchase(row, 10.0).iloc[0], rel=1e-12)
        assert model.expected_purchases_new_customer([10.0], summary)[i, 0] == pytest.approx(
            single.expected_purchases_new_customer(10.0), rel=1e-12)
    with pytest.raises(ValueError, match="no covariates"):
        model.to_lifetimes()
    from loyalty.clv import GammaGamma, customer_lifetime_value
    from loyalty.data import summarize
    from loyalty.datasets import load_cdnow

    spend = GammaGamma().fit(summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W"))
    with pytest.raises(Invalid, match="covariates"):
        customer_lifetime_value(model, spend, summary, horizon=12, period="W", margin_rate=0.3)
