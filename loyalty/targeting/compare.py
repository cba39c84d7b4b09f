"""Run a targeting experiment: fit the models cross-fitted, score every policy, evaluate, state the headline.

Every customer's scores come from models fitted on the other folds (K-fold cross-fitting), so the policy values
are always measured on customers the models never saw, and the whole randomized campaign serves as holdout.

Scores per customer (columns of the customer frame the policies read):

- ``p_buy_treated``: LightGBM classifier of conversion fitted on treated customers (campaign response);
- ``uplift_response``: uplift learner (LightGBM; X-learner by default) of conversion;
- with a purchase history (the BG/NBD + Gamma-Gamma model at the campaign date gives the customer's expected
  purchases in the window ``E_w``, spend per purchase ``s``, margin rate ``m``, CLV over the horizon and over the
  window, and P(no purchase in the horizon) = ``p_churn``):

  - ``uplift_net_margin``: the net window margin (:func:`~loyalty.targeting.economics.net_window_margin`, with
    the offer's discount rate and contact cost): short-term profit;
  - ``p_retained_control`` and ``uplift_retention``: P(retained | control) and the offer's effect on it, retained
    meaning a purchase after the window, within the horizon (:class:`~loyalty.targeting.retention.RetentionShift`:
    a classifier on the control arm and one log-odds shift for the offer; ``models.retention: learner`` uses the
    uplift meta-learner instead);
  - ``residual_clv`` = CLV over the horizon − CLV over the window;
  - ``retention_value`` (:func:`~loyalty.targeting.economics.retention_value`) = uplift_retention /
    p_retained_control · residual_clv, and ``uplift_lifecycle`` = uplift_net_margin + retention_value, the
    lifecycle score (:mod:`loyalty.targeting.economics` says why the division is right).

- without a history (Hillstrom): ``uplift_net_margin`` is an uplift learner of the window net margin;
- ``true_lifecycle_uplift``: the simulator's truth (oracle only).

Structure is used where it is known (the offer's cost of a customer's expected purchases is arithmetic, not
something to learn from noisy margins): on the default simulated world that made the short-term profit score
rank 2-3x better than a learner of net margin did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..clv import CLVModel
from ..data.campaign import load_campaign_files
from ..errors import ConvergenceError, DataValidationError
from ..clv.window import WINDOW_VALUE_COLUMNS, window_values
from ..uplift import default_estimator, make_learner
from .campaign_data import (
    CampaignData,
    files_campaign,
    hillstrom_campaign,
    read_table,
    simulated_campaign,
    table_campaign,
)
from .budgets import PROFIT_POSITIVE
from .decision import Decision, decide
from .economics import lifecycle_scores, net_window_margin, retention_value
from .evaluate import CURVE_SHARES, PolicyEvaluation, evaluate_arm_policies, evaluate_policies
from .policies import BUILTIN_POLICIES
from .randomization import check_arm_randomization, check_randomization
from .retention import RetentionShift
from .spec import DEFAULT_SPLITS, ExperimentSpec
from .arms import arm_column, cross_fit_outcome_means

__all__ = ["ExperimentResult", "run_experiment", "load_campaign", "check_campaign", "score_campaign", "headline"]


@dataclass
class ExperimentResult:
    spec: ExperimentSpec
    data: CampaignData
    scores: pd.DataFrame
    evaluation: PolicyEvaluation
    headline: dict
    differences: pd.DataFrame
    decision: Decision | None = None


def load_campaign(spec: ExperimentSpec) -> CampaignData:
    """The campaign frame the spec names (simulated world, Hillstrom, your table or your campaign files), after
    the randomization check (:func:`check_campaign`)."""
    return check_campaign(_campaign_data(spec), spec.randomization)


def check_campaign(data: CampaignData, settings: dict) -> CampaignData:
    """Check that the campaign looks randomized (:func:`check_randomization` on ``data.balance``) and record the
    check in ``data.info["randomization"]``; a failing check is a :class:`RandomizationError` unless
    ``settings["allow_imbalance"]``, when it is recorded as flagged."""
    frame = data.frame
    # One offer keeps check_randomization: the arm check over [control, offer] names its SMDs "recency [arm]",
    # adds an "arms" field and sums its chi-square in another order (p-values differ in the last digits).
    if data.multi_arm:
        check = check_arm_randomization(frame["treatment"].to_numpy(), data.arm_propensity, data.X[data.balance],
                                        [str(data.info.get("control", "control")), *map(str, data.arms)],
                                        max_smd=settings.get("max_smd", 0.1), srm_alpha=settings.get("srm_alpha", 0.001))
    else:
        check = check_randomization(frame["treatment"].to_numpy(), frame["propensity"].to_numpy(dtype=float),
                                    data.X[data.balance], max_smd=settings.get("max_smd", 0.1),
                                    srm_alpha=settings.get("srm_alpha", 0.001))
    if not settings.get("allow_imbalance", False):
        check.raise_if_failed()
    data.info["randomization"] = {**check.as_dict(), "allow_imbalance": bool(settings.get("allow_imbalance", False)),
                                  "flagged": not check.passed}
    return data


def _campaign_data(spec: ExperimentSpec) -> CampaignData:
    source = spec.data_source
    options = spec.data[source]
    economics = spec.economics
    if source == "simulator":
        from ..simulate import SimulationConfig, simulate

        config = SimulationConfig.from_yaml(options["config"]) if options.get("config") else SimulationConfig()
        config = config.replace(n_customers=options.get("customers", config.n_customers))
        world = simulate(config, seed=options.get("seed", 0))
        return simulated_campaign(
            world, window_days=economics.get("response_window_days"), horizon_days=economics.get("horizon_days"),
            annual_discount_rate=economics.get("annual_discount_rate"),
        )
    if source == "campaign":
        files = load_campaign_files(
            options["transactions"], options["assignments"], options.get("customers"),
            columns=options.get("columns"), assignment_columns=options.get("assignment_columns"),
            customer_columns=options.get("customer_columns"), customer_features=options.get("customer_features"),
            campaign_id=options.get("campaign_id"), control=options.get("control"),
            arm=options.get("arms") or options.get("arm"),
            observed_until=options.get("observed_until"), margin_rate=economics.get("margin_rate"),
        )
        return files_campaign(files, economics.get("response_window_days") or 28, economics.get("horizon_days"),
                              economics.get("annual_discount_rate", 0.10), economics)
    if source == "table":
        return table_campaign(
            read_table(options["path"]), options["treatment"], options.get("arms") or options["arm"],
            options["control"],
            options["outcomes"], options["features"], id=options.get("id"), propensity=options.get("propensity"),
            margin_rate=economics.get("margin_rate"), discount_rate=economics.get("discount_rate") or 0.0,
            contact_cost=economics["contact_cost"], window_days=economics.get("response_window_days"),
        )
    return hillstrom_campaign(
        options.get("arm", "Womens E-Mail"), options.get("control", "No E-Mail"), economics["margin_rate"],
        economics["discount_rate"], economics["contact_cost"],
    )


def _estimator(binary: bool, n_estimators: int, seed: int):
    """The uplift package's default LightGBM model with the spec's number of trees."""
    return default_estimator(binary, seed).set_params(n_estimators=n_estimators)


def _learner(kind: str, binary: bool, n_estimators: int, seed: int):
    return make_learner(kind, _estimator(binary, n_estimators, seed), "binary" if binary else "continuous", seed)


def score_campaign(data: CampaignData, folds: int = 2, n_estimators: int = 100, learner: str = "X",
                   seed: int = 0, progress: bool = False, retention: str = "shift") -> pd.DataFrame:
    """Cross-fitted model scores for every customer of the campaign (see the module docstring).

    ``retention``: ``"shift"`` (:class:`RetentionShift`) or ``"learner"`` (the uplift meta-learner ``learner``)
    for the offer's effect on retention.

    With several offer arms (``data.multi_arm``) every customer gets every arm's scores, named
    ``arm_column(score, k)`` (:func:`~loyalty.targeting.arms.arm_column`): arm k's models are fitted on the other
    folds' customers of arm k and of control, and predict every customer of the fold, whichever arm they got.
    The CLV model does not depend on the arm and is fitted once.
    """
    if retention not in ("shift", "learner"):
        raise DataValidationError(f"retention must be 'shift' or 'learner', got {retention!r}")
    treatment = data.frame["treatment"].to_numpy()
    rng = np.random.default_rng(seed)
    fold = np.empty(len(treatment), dtype=int)
    for arm in range(len(data.arms) + 1 if data.multi_arm else 2):  # folds balanced within each arm
        members = np.flatnonzero(treatment == arm)
        fold[rng.permutation(members)] = np.arange(len(members)) % folds
    settings = {"folds": folds, "n_estimators": n_estimators, "learner": learner, "seed": seed,
                "progress": progress, "retention": retention}
    values = _value_scores(data, data.frame.index) if data.summary is not None else None
    if not data.multi_arm:
        frame = data.frame
        scores = _arm_scores(data, treatment, fold, None, values, frame["discount_rate"].to_numpy(dtype=float),
                             frame["contact_cost"].to_numpy(dtype=float), **settings)
    else:
        parts = []
        for code, terms in enumerate(data.arm_terms, start=1):
            pair = (treatment == 0) | (treatment == code)
            part = _arm_scores(data, (treatment == code).astype(int), fold, pair, values, terms["discount_rate"],
                               terms["contact_cost"], **settings)
            shared = [c for c in part.columns if values is not None and c in values.columns]
            if code == 1:
                parts.append(part[shared])
            parts.append(part.drop(columns=shared).rename(columns=lambda c, k=code: arm_column(c, k)))
        scores = pd.concat(parts, axis=1)
    scores["fold"] = fold
    return scores


def _arm_scores(data: CampaignData, treatment: np.ndarray, fold: np.ndarray, fit_on: np.ndarray | None,
                values: pd.DataFrame | None, discount_rate, contact_cost, *, folds: int, n_estimators: int,
                learner: str, seed: int, progress: bool, retention: str) -> pd.DataFrame:
    """The scores of one offer against control: models fitted on the customers ``fit_on`` (all when None) of the
    other folds, with ``treatment`` 0/1 marking the offer's customers among them; every customer is scored."""
    frame, X = data.frame, data.X
    history = data.summary is not None
    retention_model = history and "retained" in frame
    targets = {"uplift_response": ("converted", True)}
    if not history:
        targets["uplift_net_margin"] = ("net_margin", False)
    scores = pd.DataFrame(index=frame.index, columns=["p_buy_treated", *targets], dtype=float)
    if retention_model:
        scores["p_retained_control"] = np.nan
        scores["uplift_retention"] = np.nan
    steps = tqdm(total=folds * (1 + len(targets) + retention_model), desc="cross-fitting", disable=not progress,
                 leave=False)
    for k in range(folds):
        train, test = fold != k, fold == k
        if fit_on is not None:
            train = train & fit_on
        response = _estimator(True, n_estimators, seed)
        treated_train = train & (treatment == 1)
        response.fit(X[treated_train], frame["converted"].to_numpy()[treated_train])
        scores.loc[test, "p_buy_treated"] = response.predict_proba(X[test])[:, 1]
        steps.update()
        for column, (target, binary) in targets.items():
            model = _learner(learner, binary, n_estimators, seed)
            model.fit(X[train], frame[target].to_numpy()[train], treatment[train])
            scores.loc[test, column] = model.predict(X[test])
            steps.update()
        if retention_model:
            retained = frame["retained"].to_numpy()[train]
            shift = RetentionShift(_estimator(True, n_estimators, seed)).fit(X[train], retained, treatment[train])
            scores.loc[test, "p_retained_control"] = shift.predict_control(X[test])
            if retention == "shift":
                scores.loc[test, "uplift_retention"] = shift.predict(X[test])
            else:
                model = _learner(learner, True, n_estimators, seed).fit(X[train], retained, treatment[train])
                scores.loc[test, "uplift_retention"] = model.predict(X[test])
            steps.update()
    steps.close()
    if history:
        scores = scores.join(values)
        scores["uplift_net_margin"] = net_window_margin(
            scores["uplift_response"], scores["expected_spend"].to_numpy(), scores["margin_rate"], discount_rate,
            scores["expected_window_purchases"].to_numpy(), contact_cost,
        )
        if retention_model:
            scores["retention_value"] = retention_value(
                scores["uplift_retention"], scores["p_retained_control"], scores["residual_clv"])
            scores["uplift_lifecycle"] = lifecycle_scores(scores)
    return scores


def _value_scores(data: CampaignData, index) -> pd.DataFrame:
    """BG/NBD + Gamma-Gamma at the campaign date (:func:`loyalty.clv.window.window_values`): CLV over the horizon
    and the window, expected window purchases, spend per purchase, margin rate and P(churn in the horizon).
    Customers with no history get zeros (and P(churn) = 1): the campaign cannot reach spend that does not exist."""
    summary = data.summary
    horizon = data.info.get("horizon_days") or 364
    window = data.info.get("response_window_days") or 28
    known = summary["frequency"].notna().to_numpy()
    fit_on = summary[known]
    rate = data.info.get("annual_discount_rate", 0.1)
    try:
        model = CLVModel(horizon=horizon, period="D", annual_discount_rate=rate).fit(fit_on)
    except ConvergenceError as exc:  # pragma: no cover - reported, not hidden
        raise DataValidationError(f"the CLV model did not fit the campaign's history: {exc}") from exc
    values = window_values(model.bgnbd_, model.gamma_gamma_, fit_on, window, horizon, rate)
    out = pd.DataFrame(0.0, index=index, columns=list(WINDOW_VALUE_COLUMNS))
    out["p_churn"] = 1.0
    out["margin_rate"] = float(values["margin_rate"].mean())
    for column in WINDOW_VALUE_COLUMNS:
        out.loc[known, column] = values[column].to_numpy()
    return out


def _policies(spec: ExperimentSpec) -> list:
    return [BUILTIN_POLICIES[name] for name in spec.policies]


def split_seed(seed: int, split: int) -> int:
    """The seed of cross-fitting split ``split`` (folds and models): split 0 uses ``seed`` itself, so one split
    reproduces a single-split run, and the splits of nearby seeds do not share folds."""
    return seed + 1_000_003 * split


def run_experiment(spec: ExperimentSpec, progress: bool = False, data: CampaignData | None = None) -> ExperimentResult:
    """Run the experiment end to end and return its result (see :func:`loyalty.targeting.write_report`).

    Cross-fitting is repeated over ``models.splits`` splits (each with its own folds, hence its own scores and
    outcome models); with ``models.estimator: dr`` (the default) the values are doubly robust, with the
    inverse-propensity values as a cross-check, and every number is the median over splits
    (:func:`~loyalty.targeting.value.median_over_splits`). The decision (:func:`~loyalty.targeting.decision.decide`)
    picks the best action among every actionable policy × budget and "send nothing" on the headline outcome.
    """
    data = load_campaign(spec) if data is None else data
    if "lifecycle" in spec.policies and ("retained" not in data.frame or data.summary is None):
        raise DataValidationError("policy 'lifecycle' needs a long-horizon outcome: set economics.horizon_days")
    models = spec.models
    folds, n_estimators = models.get("folds", 2), models.get("n_estimators", 100)
    outcome_values = data.frame[list(data.outcomes.values())].to_numpy(dtype=float)
    treatment = data.frame["treatment"].to_numpy()
    frames, arm_means = [], []
    for split in range(models.get("splits", DEFAULT_SPLITS)):
        seed = split_seed(models.get("seed", spec.bootstrap["seed"]), split)
        scores = score_campaign(data, folds=folds, n_estimators=n_estimators, learner=models.get("learner", "X"),
                                seed=seed, progress=progress, retention=models.get("retention", "shift"))
        frames.append(pd.concat([data.frame, scores], axis=1))
        if models.get("estimator", "dr") != "dr":
            continue
        arm_means.append(cross_fit_outcome_means(  # one outcome model per arm, control included
            data.X, outcome_values, treatment, scores["fold"].to_numpy(),
            lambda binary, seed=seed: _estimator(binary, n_estimators, seed),
            len(data.arms) + 1 if data.multi_arm else 2))
    shares = sorted(set(CURVE_SHARES) | {b for b in spec.budgets if b != PROFIT_POSITIVE})
    level = spec.bootstrap.get("level", 0.95)
    common = {"shares": shares, "truth": data.truth or None, "n_resamples": spec.bootstrap["resamples"],
              "level": level, "seed": spec.bootstrap["seed"], "profit_positive": PROFIT_POSITIVE in spec.budgets}
    if data.multi_arm:
        evaluation = evaluate_arm_policies(frames, _policies(spec), data.outcomes, data.arm_propensity,
                                           [str(a) for a in data.arms], outcome_means=arm_means or None, **common)
    else:
        evaluation = evaluate_policies(frames, _policies(spec), data.outcomes, arm_means=arm_means or None, **common)
    available = set(zip(evaluation.values["policy"], evaluation.values["share"]))
    differences = pd.DataFrame([
        evaluation.difference(policy, spec.headline["baseline"], budget, outcome, level, estimator)
        for estimator in evaluation.estimators
        for policy in evaluation.policies if policy != spec.headline["baseline"]
        for budget in spec.budgets if (policy, budget) in available and (spec.headline["baseline"], budget) in available
        for outcome in evaluation.outcomes
    ])
    if data.truth:  # evaluate_policies already computed every cell's true value
        true = evaluation.values.set_index(["policy", "share", "outcome"])["true_value"]
        differences["true_difference"] = [
            true[(row.policy, row.share, row.outcome)] - true[(row.baseline, row.share, row.outcome)]
            for row in differences.itertuples()
        ]
    result = ExperimentResult(spec, data, frames[0], evaluation, {}, differences)
    result.headline = headline(result)
    result.decision = _decision(result)
    return result


def _decision(result: ExperimentResult) -> Decision:
    """The best action on the headline outcome among every actionable policy × budget and "send nothing"."""
    outcome = result.headline["outcome"]
    labels, points, replicates = result.evaluation.cells(outcome, exclude=("oracle",))
    decision = decide(labels, points, replicates, level=result.headline["level"], label=_VALUE_LABELS[outcome])
    values = result.evaluation.values
    at_budget = values[(values["share"] == result.spec.headline["budget"]) & (values["outcome"] == outcome)
                       & (values["policy"] != "oracle")]
    decision.all_lose_at_headline_budget = bool(len(at_budget) and (at_budget["value"] < 0).all())
    if decision.all_lose_at_headline_budget:
        decision.text = (
            f"Every policy loses money at the {result.spec.headline['budget']:.0%} budget: estimated values from "
            f"{at_budget['value'].min() * 1000:,.1f} to {at_budget['value'].max() * 1000:,.1f} per 1,000 customers "
            f"({_VALUE_LABELS[outcome]}). {decision.text}")
    return decision


_VALUE_LABELS = {"long_net_margin": "long-horizon net margin", "net_margin": "window net margin",
                 "conversion": "conversions"}


def headline(result: ExperimentResult) -> dict:
    """The sentence the report opens with, and its numbers, honest about ties and reversals."""
    spec, evaluation = result.spec, result.evaluation
    h = spec.headline
    outcome = h.get("outcome") or ("long_net_margin" if "long_net_margin" in evaluation.outcomes else "net_margin")
    diff = evaluation.difference(h["policy"], h["baseline"], h["budget"], outcome, spec.bootstrap.get("level", 0.95))
    kpis = evaluation.kpis.set_index(["policy", "share"])
    r_policy = kpis.loc[(h["policy"], h["budget"]), "response_rate"]
    r_baseline = kpis.loc[(h["baseline"], h["budget"]), "response_rate"]
    per_1000 = {k: diff[k] * 1000 for k in ("difference", "ci_low", "ci_high")}
    n = evaluation.n_customers
    label = {"long_net_margin": "incremental long-horizon margin (net of offer costs, discounted)",
             "net_margin": "incremental margin in the response window (net of offer costs)",
             "conversion": "incremental conversions"}[outcome]
    budget_text = f"At a {h['budget']:.0%} budget"
    numbers = f"{abs(per_1000['difference']):,.1f} (95% CI [{per_1000['ci_low']:,.1f}, {per_1000['ci_high']:,.1f}])"
    kpi_text = (f"while {h['baseline']} targeting gets a {r_baseline:.1%} response rate vs {r_policy:.1%} for "
                f"{h['policy']}")
    if diff["ci_low"] > 0:
        verdict = "policy_wins"
        text = (f"{budget_text}, targeting by {h['policy']} earns {numbers} more {label} per 1,000 customers than "
                f"targeting by {h['baseline']}, {kpi_text}.")
    elif diff["ci_high"] < 0:
        verdict = "baseline_wins"
        text = (f"{budget_text}, targeting by {h['baseline']} earns {numbers} more {label} per 1,000 customers "
                f"than targeting by {h['policy']}, {kpi_text}.")
    else:
        verdict = "inconclusive"
        text = (f"{budget_text}, the data cannot tell targeting by {h['policy']} from targeting by {h['baseline']} "
                f"on {label}: the difference is {per_1000['difference']:,.1f} per 1,000 customers, 95% CI "
                f"[{per_1000['ci_low']:,.1f}, {per_1000['ci_high']:,.1f}], which spans 0; {kpi_text}.")
    return {
        "text": text, "verdict": verdict, "budget": h["budget"], "policy": h["policy"], "baseline": h["baseline"],
        "outcome": outcome, "difference_per_1000": per_1000["difference"],
        "ci_per_1000": [per_1000["ci_low"], per_1000["ci_high"]],
        "difference_total": diff["difference"] * n, "ci_total": [diff["ci_low"] * n, diff["ci_high"] * n],
        "customers": n, "response_rate": {h["policy"]: float(r_policy), h["baseline"]: float(r_baseline)},
        "level": spec.bootstrap.get("level", 0.95), "estimator": diff["estimator"], "splits": evaluation.splits,
    }
