"""Churn model specs (``models/churn.yaml``, ``kind: model``, ``family: churn``), checked on load."""

from __future__ import annotations

from pathlib import Path

from ..errors import SpecError
from ..specs import read_model_settings
from .supervised import LightGBMChurn

__all__ = ["load_churn_spec", "CHURN_MODELS"]

CHURN_MODELS = ("hybrid", "lightgbm")
_SETTINGS = {"model": str, "horizon": (int, float), "horizon_unit": (str, int, float), "windows": list,
             "lightgbm": dict}


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
    settings["lightgbm"] = lightgbm
    return settings
