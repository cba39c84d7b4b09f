"""Churn models for the fit and scoring jobs: trained without data after the cut-off, scored on the same inputs.

:func:`fit_churn_model` trains on features as of ``cutoff - horizon`` and labels from ``(cutoff - horizon,
cutoff]``, so nothing after the cut-off is used; :func:`churn_inputs` rebuilds the same inputs as of any date
from the model's metadata (feature windows, and for the hybrid the BG/NBD parameters fitted at training).
"""

from __future__ import annotations

import math

import pandas as pd

from ..clv import BetaGeo
from ..data import summarize
from ..data.features import build_features
from ..errors import ConvergenceError, DataValidationError, IdentificationError, SpecError
from ..units import convert, unit_days
from .compare import churn_dataset
from .probabilistic import BGNBDChurn, bgnbd_features
from .supervised import LightGBMChurn

__all__ = ["fit_churn_model", "churn_inputs", "check_churn_metadata"]


def fit_churn_model(transactions: pd.DataFrame, cutoff, settings: dict, summary_period: str = "D",
                    summary_unit: str = "W") -> tuple[LightGBMChurn, pd.DataFrame, dict]:
    """Fit the churn model of ``settings`` (see :func:`loyalty.churn.spec.load_churn_spec`).

    Returns the fitted model, its training inputs (indexed by customer) and the metadata scoring needs.
    """
    horizon, unit = settings["horizon"], settings["horizon_unit"]
    train_cutoff = pd.Timestamp(cutoff) - pd.Timedelta(days=float(convert(horizon, unit, "D")))
    data = churn_dataset(transactions, train_cutoff, horizon, unit, summary_unit=summary_unit,
                         windows=settings["windows"], summary_period=summary_period)
    features = data.features
    metadata = {"kind": settings["model"], "cutoff": str(pd.Timestamp(cutoff).date()),
                "train_cutoff": str(train_cutoff.date()), "horizon": horizon, "horizon_unit": unit,
                "windows": list(settings["windows"]), "summary_period": summary_period,
                "summary_unit": summary_unit, "bgnbd_params": None,
                "train_customers": int(len(data.labels)), "train_churn_rate": float(data.labels.mean())}
    if settings["model"] == "hybrid":
        try:
            bgnbd = BGNBDChurn(horizon=horizon, unit=unit).fit(data.summary)
        except ConvergenceError as error:
            reason = getattr(error, "diagnosis", str(error))
            raise IdentificationError(
                f"the hybrid churn model needs BG/NBD, which is not identified on this log: {reason}",
                {"library": "Use settings model='lightgbm' (LightGBM on the features alone, no BG/NBD step).",
                 "spec": "Set settings.model: lightgbm in the churn model spec (LightGBM on the features alone).",
                 "cli": "Rerun with --model lightgbm (LightGBM on the features alone)."},
            ) from None
        features = features.join(bgnbd_features(bgnbd, data.summary))
        metadata["bgnbd_params"] = bgnbd.bgnbd_.params_
    model = LightGBMChurn(**settings["lightgbm"]).fit(features, data.labels)
    return model, features, metadata


def churn_inputs(transactions: pd.DataFrame, as_of, metadata: dict) -> pd.DataFrame:
    """The inputs of a churn model with ``metadata`` (from :func:`fit_churn_model`) as of ``as_of``.

    Raises
    ------
    DataValidationError
        When the metadata (read from a saved model) is incomplete or out of range, naming the field.
    """
    check_churn_metadata(metadata)
    features = build_features(transactions, as_of, windows=metadata["windows"])
    if metadata["kind"] != "hybrid":
        return features
    bgnbd = BetaGeo.from_params(metadata["bgnbd_params"], time_unit=metadata["summary_unit"])
    churn = BGNBDChurn.from_bgnbd(bgnbd, metadata["horizon"], metadata["horizon_unit"])
    summary = summarize(transactions, as_of, period=metadata["summary_period"], unit=metadata["summary_unit"])
    return features.join(bgnbd_features(churn, summary))


def check_churn_metadata(metadata) -> dict:
    """A churn model's metadata (``model.json``'s ``metadata``) checked before it is used; returns it.

    Raises :class:`~loyalty.errors.DataValidationError` naming the field: ``kind`` one of hybrid/lightgbm,
    ``horizon`` a positive finite number in ``horizon_unit``, ``windows`` positive whole days, ``summary_period`` and
    ``summary_unit`` valid, and for the hybrid ``bgnbd_params`` positive finite BG/NBD parameters.
    """
    def bad(name, value, expected):
        raise DataValidationError(f"churn model metadata: field {name!r} must be {expected}, got {value!r}")

    if not isinstance(metadata, dict):
        bad("metadata", metadata, "a mapping")
    for name in ("kind", "horizon", "horizon_unit", "windows"):
        if name not in metadata:
            raise DataValidationError(f"churn model metadata: field {name!r} is missing")
    if metadata["kind"] not in ("hybrid", "lightgbm"):
        bad("kind", metadata["kind"], "'hybrid' or 'lightgbm'")
    horizon = metadata["horizon"]
    if isinstance(horizon, bool) or not isinstance(horizon, (int, float)) or not math.isfinite(horizon) or horizon <= 0:
        bad("horizon", horizon, "a positive finite number")
    for name in ("horizon_unit", "summary_unit"):
        try:
            unit_days(metadata.get(name, "D"))
        except SpecError:
            bad(name, metadata.get(name), "D, W, M, Q, Y or a positive number of days")
    windows = metadata["windows"]
    if not isinstance(windows, list) or not windows or any(
            isinstance(w, bool) or not isinstance(w, int) or w <= 0 for w in windows):
        bad("windows", windows, "a non-empty list of positive whole days")
    if metadata.get("summary_period", "D") not in ("D", "W", "h"):
        bad("summary_period", metadata.get("summary_period"), "D, W or h")
    if metadata["kind"] == "hybrid":
        params = metadata.get("bgnbd_params")
        if not isinstance(params, dict):
            bad("bgnbd_params", params, "the BG/NBD parameters r, alpha, a, b of the hybrid")
        BetaGeo.from_params(params)  # positive, finite, complete: else a DataValidationError naming them
    return metadata
