"""Uplift models for the fit and scoring jobs: learned from a randomized campaign on point-in-time behavioural
features, scored on the same features of any log as of a date.

Only behavioural features every log has are used (:data:`BEHAVIOURAL_FEATURES`): recency, tenure, frequency,
spend and their trailing windows, inter-purchase times. Customer attributes and shares of margin, discounts or
returns are left out so that the model can score a log without them.
"""

from __future__ import annotations


import lightgbm
import pandas as pd

from ..data import load_campaign_files, validate_transactions
from ..errors import DataValidationError, SpecError
from ..data.features import DEFAULT_WINDOWS, build_features
from ..specs import check_fields, existing_file, integer, number, read_model_settings
from ..targeting.campaign_data import horizon_outcomes
from ..targeting.retention import RetentionShift
from .learners import LIGHTGBM_DEFAULTS, learner_names, make_learner
from .multiarm import MultiArmUplift
from .prep import campaign_features, campaign_outcomes

__all__ = ["BEHAVIOURAL_FEATURES", "load_uplift_spec", "fit_uplift_model", "uplift_inputs", "uplift_columns",
           "LifecycleUplift"]

_BASE = ("recency_days", "tenure_days", "frequency", "n_transactions", "purchase_rate_per_year", "spend_total",
         "spend_mean", "spend_last")
_GAPS = ("ipt_mean_days", "ipt_std_days", "ipt_last_days", "overdue_ratio", "spend_trend_per_year")
BEHAVIOURAL_FEATURES = _BASE + tuple(f"{k}_{w}d" for w in DEFAULT_WINDOWS for k in ("n_purchases", "spend")) + _GAPS
OUTCOMES = ("net_margin", "converted", "lifecycle")
_SETTINGS = {"campaign": dict, "outcome": str, "window_days": number(above=0), "horizon_days": number(above=0),
             "learner": str, "n_estimators": integer(low=1), "seed": integer(low=0)}
_SIMULATOR = {"customers": integer(low=1), "seed": integer(low=0)}
_FILES = {"transactions": existing_file(), "assignments": existing_file(), "columns": dict,
          "assignment_columns": dict, "campaign_id": (str, int), "control": (str, int), "arm": (str, int)}


def load_uplift_spec(path) -> dict:
    """Settings of a ``models/uplift.yaml`` spec (``kind: model``, ``family: uplift``) with defaults."""
    settings, where = read_model_settings(path, "uplift", _SETTINGS)
    campaign = settings.get("campaign") or {}
    if set(campaign) == {"simulator"}:
        check_fields(campaign["simulator"] or {}, _SIMULATOR, where, "settings.campaign.simulator.")
    elif set(campaign) == {"files"}:
        files = check_fields(campaign["files"] or {}, _FILES, where, "settings.campaign.files.")
        for name in ("transactions", "assignments"):
            if name not in files:
                raise SpecError(f"{where}: settings.campaign.files.{name} is required (a CSV or parquet path)")
    else:
        raise SpecError(
            f"{where}: settings.campaign must be {{files: {{transactions, assignments}}}} (your randomized campaign) "
            f"or {{simulator: {{customers, seed}}}}, got {campaign!r}"
        )
    settings.setdefault("outcome", "net_margin")
    if settings["outcome"] not in OUTCOMES:
        raise SpecError(f"{where}: settings.outcome must be one of {list(OUTCOMES)}, got {settings['outcome']!r}")
    settings.setdefault("learner", "T")
    known = learner_names(binary=settings["outcome"] != "net_margin")
    if settings["learner"] not in known:
        raise SpecError(f"{where}: settings.learner must be one of {known}, got {settings['learner']!r}")
    settings.setdefault("window_days", 28)
    if settings["outcome"] == "lifecycle":
        settings.setdefault("horizon_days", 364)
        if not settings["horizon_days"] > settings["window_days"] > 0:
            raise SpecError(f"{where}: settings.horizon_days ({settings['horizon_days']}) must be longer than "
                            f"settings.window_days ({settings['window_days']}), both positive days")
    elif "horizon_days" in settings:
        raise SpecError(f"{where}: settings.horizon_days is read only with outcome: lifecycle")
    settings.setdefault("n_estimators", 100)
    settings.setdefault("seed", 0)
    return settings


def fit_uplift_model(settings: dict) -> tuple[MultiArmUplift | LifecycleUplift, pd.DataFrame, dict]:
    """Fit the uplift model of ``settings`` on its campaign; returns the model, its training features and the
    metadata scoring needs (outcome, features, arms; with ``outcome: lifecycle`` also the horizon and the offer's
    ``discount_rate`` and ``contact_cost``)."""
    clean, assignments, control = _campaign(settings["campaign"])
    X = campaign_features(clean, assignments)[list(BEHAVIOURAL_FEATURES)]
    outcomes = campaign_outcomes(clean, assignments, settings["window_days"], control=control)
    lifecycle = settings["outcome"] == "lifecycle"
    binary = settings["outcome"] != "net_margin"
    target = "converted" if lifecycle else settings["outcome"]
    treatment = outcomes["treatment"].to_numpy()
    model = MultiArmUplift(_learner(settings, binary), control=control).fit(X, outcomes[target].to_numpy(dtype=float),
                                                                      treatment)
    metadata = {"outcome": settings["outcome"], "window_days": settings["window_days"],
                "features": list(BEHAVIOURAL_FEATURES), "windows": list(DEFAULT_WINDOWS),
                "arms": [str(arm) for arm in model.arms_], "campaign": settings["campaign"],
                "campaign_customers": int(len(X)), "treated_share": float((treatment != control).mean())}
    if lifecycle:
        model, terms = _fit_lifecycle(model, settings, clean, assignments, X, outcomes, control)
        metadata.update(horizon_days=settings["horizon_days"], **terms)
    X.index = assignments["customer_id"].astype(str)
    X.index.name = "customer_id"
    return model, X, metadata


def _learner(settings: dict, binary: bool):
    base = lightgbm.LGBMClassifier if binary else lightgbm.LGBMRegressor
    estimator = base(random_state=settings["seed"], **{**LIGHTGBM_DEFAULTS, "n_estimators": settings["n_estimators"]})
    return make_learner(settings["learner"], estimator, "binary" if binary else "continuous", settings["seed"])


def _fit_lifecycle(response: MultiArmUplift, settings: dict, clean, assignments, X, outcomes, control):
    """The retention half of a lifecycle model and the offer's terms, as the targeting experiment fits them
    (:func:`loyalty.targeting.score_campaign`): retained = a purchase after the window, within the horizon."""
    if len(response.arms_) != 1:
        raise DataValidationError(
            f"outcome: lifecycle compares one offer against control; the campaign has {len(response.arms_)} "
            f"offers {[str(arm) for arm in response.arms_]}: fit one model per offer")
    if "files" in settings["campaign"]:  # a simulated world runs past its horizon by construction
        observed_until = clean["timestamp"].max().normalize() + pd.Timedelta(days=1)  # the day after the last sale
        needed = assignments["assigned_at"].max() + pd.Timedelta(days=settings["horizon_days"])
        if needed > observed_until:
            last = (observed_until - pd.Timedelta(days=1)).date()
            raise DataValidationError(
                f"outcome: lifecycle needs {settings['horizon_days']} days of transactions after every assignment, "
                f"up to {needed.date()}, but the campaign's log ends on {last}: shorten settings.horizon_days or "
                "use a longer log")
    treated = outcomes["treatment"].to_numpy() != control
    # horizon_outcomes discounts only long_net_margin, which is not used here: retained is undiscounted
    retained = horizon_outcomes(clean, assignments.assign(treatment=treated.astype(int)), settings["window_days"],
                                settings["horizon_days"], 0.0)["retained"].to_numpy()
    estimator = lightgbm.LGBMClassifier(random_state=settings["seed"],
                                        **{**LIGHTGBM_DEFAULTS, "n_estimators": settings["n_estimators"]})
    retention = RetentionShift(estimator).fit(X, retained, treated.astype(int))
    terms = {name: float(outcomes.loc[treated, name].mean()) for name in ("discount_rate", "contact_cost")}
    return LifecycleUplift(response, retention), terms


class LifecycleUplift:
    """An offer's effect on conversion in the window and on retention after it (``outcome: lifecycle``).

    ``response``: the fitted :class:`MultiArmUplift` of conversion (one offer); ``retention``: the fitted
    :class:`loyalty.targeting.RetentionShift`. :meth:`predict` gives the uplift of conversion per offer,
    ``p_retained_control`` and ``uplift_retention``, the inputs of the lifecycle score that the uplift model owns
    (:mod:`loyalty.targeting.economics`; the CLV model gives the rest).
    """

    def __init__(self, response: MultiArmUplift, retention):
        self.response = response
        self.retention = retention

    @property
    def arms_(self):
        return self.response.arms_

    def predict(self, X) -> pd.DataFrame:
        out = self.response.predict(X)
        out["p_retained_control"] = self.retention.predict_control(X)
        out["uplift_retention"] = self.retention.predict(X)
        return out


def _campaign(campaign: dict) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    """(clean transaction log, assignments, control label) of the campaign to learn from: files, read and
    validated by :func:`loyalty.data.load_campaign_files` (the one campaign loader, rejects counted), or a
    simulated world."""
    if "files" in campaign:
        files = campaign["files"]
        loaded = load_campaign_files(files["transactions"], files["assignments"], columns=files.get("columns"),
                                     assignment_columns=files.get("assignment_columns"),
                                     campaign_id=files.get("campaign_id"), control=files.get("control"),
                                     arm=files.get("arm"))
        assignments = loaded.assignments.assign(treatment=loaded.assignments["arm"])
        return loaded.transactions, assignments.reset_index(drop=True), loaded.control
    from ..simulate import SimulationConfig, simulate

    options = campaign["simulator"] or {}
    config = SimulationConfig()
    config = config.replace(n_customers=options.get("customers", config.n_customers))
    world = simulate(config, seed=options.get("seed", 0))
    return validate_transactions(world.transactions).transactions, world.assignments.reset_index(drop=True), 0


def uplift_inputs(transactions: pd.DataFrame, as_of, metadata: dict) -> pd.DataFrame:
    """The features of an uplift model with ``metadata`` as of ``as_of`` (indexed by customer)."""
    return build_features(transactions, as_of, windows=metadata["windows"])[metadata["features"]]


def uplift_columns(metadata: dict) -> list[str]:
    """Output columns of the uplift pyfunc: ``uplift_<outcome>[<offer>]`` per offer; with ``outcome: lifecycle``,
    ``uplift_converted[<offer>]``, ``p_retained_control`` and ``uplift_retention``."""
    if metadata["outcome"] == "lifecycle":
        return [f"uplift_converted[{arm}]" for arm in metadata["arms"]] + ["p_retained_control", "uplift_retention"]
    return [f"uplift_{metadata['outcome']}[{arm}]" for arm in metadata["arms"]]
