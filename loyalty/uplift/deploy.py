"""Uplift models for the fit and scoring jobs: learned from a randomized campaign on point-in-time behavioural
features, scored on the same features of any log as of a date.

Only behavioural features every log has are used (:data:`BEHAVIOURAL_FEATURES`): recency, tenure, frequency,
spend and their trailing windows, inter-purchase times. Customer attributes and shares of margin, discounts or
returns are left out so that the model can score a log without them.
"""

from __future__ import annotations

from pathlib import Path

import lightgbm
import pandas as pd

from ..data import read_transactions, validate_transactions
from ..errors import SpecError
from ..data.features import DEFAULT_WINDOWS, build_features
from ..specs import check_fields, read_model_settings
from .learners import LIGHTGBM_DEFAULTS, learner_names, make_learner
from .multiarm import MultiArmUplift
from .prep import campaign_features, campaign_outcomes

__all__ = ["BEHAVIOURAL_FEATURES", "load_uplift_spec", "fit_uplift_model", "uplift_inputs", "uplift_columns"]

_BASE = ("recency_days", "tenure_days", "frequency", "n_transactions", "purchase_rate_per_year", "spend_total",
         "spend_mean", "spend_last")
_GAPS = ("ipt_mean_days", "ipt_std_days", "ipt_last_days", "overdue_ratio", "spend_trend_per_year")
BEHAVIOURAL_FEATURES = _BASE + tuple(f"{k}_{w}d" for w in DEFAULT_WINDOWS for k in ("n_purchases", "spend")) + _GAPS
OUTCOMES = ("net_margin", "converted")
_SETTINGS = {"campaign": dict, "outcome": str, "window_days": (int, float), "learner": str, "n_estimators": int,
             "seed": int}


def load_uplift_spec(path) -> dict:
    """Settings of a ``models/uplift.yaml`` spec (``kind: model``, ``family: uplift``) with defaults."""
    settings, where = read_model_settings(path, "uplift", _SETTINGS)
    campaign = settings.get("campaign") or {}
    if set(campaign) == {"simulator"}:
        check_fields(campaign["simulator"] or {}, {"customers": int, "seed": int},
                     f"{where}: settings.campaign.simulator")
    elif set(campaign) == {"files"}:
        files = check_fields(campaign["files"] or {}, {"transactions": str, "assignments": str},
                             f"{where}: settings.campaign.files")
        for name in ("transactions", "assignments"):
            if name not in files:
                raise SpecError(f"{where}: settings.campaign.files.{name} is required (a CSV or parquet path)")
            if not Path(files[name]).exists():
                raise SpecError(f"{where}: settings.campaign.files.{name}: file {files[name]!r} does not exist")
    else:
        raise SpecError(
            f"{where}: settings.campaign must be {{files: {{transactions, assignments}}}} (your randomized campaign) "
            f"or {{simulator: {{customers, seed}}}}, got {campaign!r}"
        )
    settings.setdefault("outcome", "net_margin")
    if settings["outcome"] not in OUTCOMES:
        raise SpecError(f"{where}: settings.outcome must be one of {list(OUTCOMES)}, got {settings['outcome']!r}")
    settings.setdefault("learner", "T")
    known = learner_names(binary=settings["outcome"] == "converted")
    if settings["learner"] not in known:
        raise SpecError(f"{where}: settings.learner must be one of {known}, got {settings['learner']!r}")
    settings.setdefault("window_days", 28)
    settings.setdefault("n_estimators", 100)
    settings.setdefault("seed", 0)
    return settings


def fit_uplift_model(settings: dict) -> tuple[MultiArmUplift, pd.DataFrame, dict]:
    """Fit the uplift model of ``settings`` on its campaign; returns the model, its training features and the
    metadata scoring needs (outcome, features, arms)."""
    clean, assignments = _campaign(settings["campaign"])
    X = campaign_features(clean, assignments)[list(BEHAVIOURAL_FEATURES)]
    outcomes = campaign_outcomes(clean, assignments, settings["window_days"])
    binary = settings["outcome"] == "converted"
    base = lightgbm.LGBMClassifier if binary else lightgbm.LGBMRegressor
    estimator = base(random_state=settings["seed"], **{**LIGHTGBM_DEFAULTS, "n_estimators": settings["n_estimators"]})
    learner = make_learner(settings["learner"], estimator, "binary" if binary else "continuous", settings["seed"])
    model = MultiArmUplift(learner, control=0).fit(X, outcomes[settings["outcome"]].to_numpy(dtype=float),
                                                    outcomes["treatment"].to_numpy())
    metadata = {"outcome": settings["outcome"], "window_days": settings["window_days"],
                "features": list(BEHAVIOURAL_FEATURES), "windows": list(DEFAULT_WINDOWS),
                "arms": [str(arm) for arm in model.arms_], "campaign": settings["campaign"],
                "campaign_customers": int(len(X)), "treated_share": float(outcomes["treatment"].mean())}
    X.index = assignments["customer_id"].astype(str)
    X.index.name = "customer_id"
    return model, X, metadata


def _campaign(campaign: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(clean transaction log, assignments) of the campaign to learn from: files, or a simulated world."""
    if "files" in campaign:
        files = campaign["files"]
        clean = validate_transactions(read_transactions(files["transactions"])).transactions
        path = Path(files["assignments"])
        assignments = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
        assignments["assigned_at"] = pd.to_datetime(assignments["assigned_at"])
        if "customer_id" in assignments and clean["customer_id"].dtype == object:
            assignments["customer_id"] = assignments["customer_id"].astype(str)
        return clean, assignments.reset_index(drop=True)
    from ..simulate import SimulationConfig, simulate

    options = campaign["simulator"] or {}
    config = SimulationConfig()
    config = config.replace(n_customers=options.get("customers", config.n_customers))
    world = simulate(config, seed=options.get("seed", 0))
    return validate_transactions(world.transactions).transactions, world.assignments.reset_index(drop=True)


def uplift_inputs(transactions: pd.DataFrame, as_of, metadata: dict) -> pd.DataFrame:
    """The features of an uplift model with ``metadata`` as of ``as_of`` (indexed by customer)."""
    return build_features(transactions, as_of, windows=metadata["windows"])[metadata["features"]]


def uplift_columns(metadata: dict) -> list[str]:
    """Output columns of the uplift pyfunc: ``uplift_<outcome>[<offer>]`` per offer."""
    return [f"uplift_{metadata['outcome']}[{arm}]" for arm in metadata["arms"]]
