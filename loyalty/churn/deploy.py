"""Churn models for the fit and scoring jobs: trained without data after the cut-off, scored on the same inputs.

:func:`fit_churn_model` trains on features as of ``cutoff - horizon`` and labels from ``(cutoff - horizon,
cutoff]``, so nothing after the cut-off is used; :func:`churn_inputs` rebuilds the same inputs as of any date
from the model's metadata (feature windows, and for the hybrid the BG/NBD parameters fitted at training).
"""

from __future__ import annotations

import pandas as pd

from ..clv import BetaGeo
from ..data import summarize
from ..data.features import build_features
from ..units import convert
from .compare import churn_dataset
from .probabilistic import BGNBDChurn, bgnbd_features
from .supervised import LightGBMChurn

__all__ = ["fit_churn_model", "churn_inputs"]


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
        bgnbd = BGNBDChurn(horizon=horizon, unit=unit).fit(data.summary)
        features = features.join(bgnbd_features(bgnbd, data.summary))
        metadata["bgnbd_params"] = bgnbd.bgnbd_.params_
    model = LightGBMChurn(**settings["lightgbm"]).fit(features, data.labels)
    return model, features, metadata


def churn_inputs(transactions: pd.DataFrame, as_of, metadata: dict) -> pd.DataFrame:
    """The inputs of a churn model with ``metadata`` (from :func:`fit_churn_model`) as of ``as_of``."""
    features = build_features(transactions, as_of, windows=metadata["windows"])
    if metadata["kind"] != "hybrid":
        return features
    bgnbd = BetaGeo.from_params(metadata["bgnbd_params"], time_unit=metadata["summary_unit"])
    churn = BGNBDChurn.from_bgnbd(bgnbd, metadata["horizon"], metadata["horizon_unit"])
    summary = summarize(transactions, as_of, period=metadata["summary_period"], unit=metadata["summary_unit"])
    return features.join(bgnbd_features(churn, summary))
