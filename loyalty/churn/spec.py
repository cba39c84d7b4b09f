"""Churn model specs (``models/churn.yaml``, ``kind: model``, ``family: churn``), checked on load."""

from __future__ import annotations

from pathlib import Path

from ..errors import SpecError
from ..specs import Field, check_fields, choice, integer, list_of, number, read_model_settings, time_unit
from .supervised import CALIBRATIONS, LightGBMChurn

__all__ = ["load_churn_spec", "CHURN_MODELS"]

CHURN_MODELS = ("hybrid", "lightgbm")
_SETTINGS = {"model": choice(*CHURN_MODELS), "horizon": number(above=0),
             "horizon_unit": time_unit(),
             "windows": list_of(integer(low=1)), "lightgbm": dict}
#: Ranges of the LightGBMChurn parameters a spec may set (any other parameter it has keeps its own check).
_LIGHTGBM = {"n_estimators": integer(low=1), "learning_rate": number(above=0), "num_leaves": integer(low=2),
             "min_child_samples": integer(low=1), "subsample": number(above=0, high=1),
             "colsample_bytree": number(above=0, high=1), "reg_lambda": number(low=0),
             "validation_fraction": number(above=0, below=1), "early_stopping_rounds": integer(low=1),
             "random_state": integer(low=0), "n_jobs": integer(low=-1),
             "calibration": choice("auto", *CALIBRATIONS)}


def load_churn_spec(path: str | Path) -> dict:
    """The spec's settings with defaults: ``model``, ``horizon``, ``horizon_unit``, ``windows``, ``lightgbm``."""
    settings, where = read_model_settings(path, "churn", _SETTINGS)
    settings.setdefault("model", "hybrid")
    if settings["model"] not in CHURN_MODELS:
        raise SpecError(f"{where}: settings.model must be one of {list(CHURN_MODELS)}, got {settings['model']!r}")
    if settings.get("horizon") is None or settings["horizon"] <= 0:
        raise SpecError(f"{where}: settings.horizon (the churn window) is required and must be positive")
    settings.setdefault("horizon_unit", "D")
    settings["windows"] = [int(w) for w in settings.get("windows") or (30, 90, 180, 365)]
    lightgbm = settings.setdefault("lightgbm", {}) or {}
    allowed = set(LightGBMChurn().get_params())
    unknown = sorted(set(lightgbm) - allowed)
    if unknown:
        raise SpecError(f"{where}: settings.lightgbm: unknown parameter(s) {unknown}; allowed are {sorted(allowed)}")
    check_fields(lightgbm, {**{k: Field(object) for k in allowed}, **_LIGHTGBM}, where, "settings.lightgbm.")
    settings["lightgbm"] = lightgbm
    return settings
