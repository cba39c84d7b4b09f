"""Supervised churn: a LightGBM classifier with early stopping and validation-chosen probability calibration."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d

from ..atomic import atomic_write, write_json
from ..errors import DataValidationError

__all__ = ["LightGBMChurn", "CALIBRATIONS"]

#: Calibration candidates; ``calibration="auto"`` picks the one with the lowest cross-validated Brier score on
#: the validation split ("none" unless a calibrator improves on it).
CALIBRATIONS = ("none", "isotonic", "sigmoid")
_FORMAT = "loyalty.churn.LightGBMChurn"
_EPS = 1e-6


class LightGBMChurn(ClassifierMixin, BaseEstimator):
    """Gradient-boosted churn classifier (LightGBM) with early stopping and calibrated probabilities.

    ``fit`` holds out a stratified ``validation_fraction`` of the rows: boosting stops when the validation log
    loss has not improved for ``early_stopping_rounds`` rounds, and the calibration is chosen on the same rows by
    5-fold cross-validated Brier score (so a calibrator is never credited for fitting the rows it is scored on),
    then refitted on all of them.

    Parameters
    ----------
    n_estimators : int
        Maximum boosting rounds.
    learning_rate, num_leaves, min_child_samples, subsample, colsample_bytree, reg_lambda :
        LightGBM's parameters of the same names (``subsample < 1`` bags every round).
    validation_fraction : float
        Share of rows held out for early stopping and calibration.
    early_stopping_rounds : int
        Patience of early stopping, in rounds.
    calibration : {"auto", "none", "isotonic", "sigmoid"}
        ``"auto"``: the candidate with the lowest validation Brier; otherwise that method.
    random_state : int
        Seed of the split, the folds and LightGBM; with it ``fit`` is deterministic.
    n_jobs : int
        LightGBM threads.

    Attributes
    ----------
    booster_ : lightgbm.Booster
    best_iteration_ : int
        Rounds used for prediction.
    calibration_ : str
        The calibration applied: ``"none"``, ``"isotonic"`` or ``"sigmoid"``.
    validation_brier_ : dict
        Cross-validated Brier score of each candidate on the validation split (empty if it was too small).
    feature_importances_ : ndarray
        Total gain of each feature's splits, normalised to sum to 1.
    feature_names_in_ : ndarray of str (when fitted on a DataFrame); n_features_in_ : int
    classes_ : ndarray
        The two labels; ``predict_proba[:, 1]`` is the probability of ``classes_[1]`` (1 = churned).
    """

    def __init__(
        self,
        n_estimators: int = 500,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 20,
        subsample: float = 1.0,
        colsample_bytree: float = 1.0,
        reg_lambda: float = 0.0,
        validation_fraction: float = 0.2,
        early_stopping_rounds: int = 50,
        calibration: str = "auto",
        random_state: int = 0,
        n_jobs: int = 1,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.validation_fraction = validation_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.calibration = calibration
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = False
        return tags

    # -- fitting ---------------------------------------------------------------------------------------------
    def fit(self, X, y) -> "LightGBMChurn":
        """Fit on features ``X`` (DataFrame or array, NaN allowed) and binary labels ``y``; returns self."""
        if self.calibration not in ("auto",) + CALIBRATIONS:
            raise ValueError(f"calibration must be 'auto' or one of {CALIBRATIONS}, got {self.calibration!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")
        X = self._check_X(X, reset=True)
        target = _binary_target(y, len(X))
        self.classes_, y01 = np.unique(target, return_inverse=True)
        if len(self.classes_) != 2:
            raise ValueError(f"LightGBMChurn needs samples of 2 classes; got one class: {self.classes_.tolist()}")

        counts = np.bincount(y01)
        n_val = int(round(self.validation_fraction * len(y01)))
        can_validate = counts.min() >= 4 and n_val >= 4 and len(y01) - n_val >= 4
        if can_validate:
            train, val = train_test_split(np.arange(len(y01)), test_size=n_val, stratify=y01,
                                          random_state=self.random_state)
        else:  # too few rows to hold any out: fixed rounds, no calibration
            train, val = np.arange(len(y01)), np.arange(0)
        classifier = lgb.LGBMClassifier(**self._lgb_params())
        fit_kwargs = {}
        if len(val):
            fit_kwargs = {
                "eval_X": (_rows(X, val),),
                "eval_y": (y01[val],),
                "eval_metric": "binary_logloss",
                "callbacks": [lgb.early_stopping(self.early_stopping_rounds, first_metric_only=True, verbose=False)],
            }
        classifier.fit(_rows(X, train), y01[train], **fit_kwargs)
        self.booster_ = classifier.booster_
        self.best_iteration_ = int(classifier.best_iteration_ or self.booster_.current_iteration())
        gain = self.booster_.feature_importance(importance_type="gain", iteration=self.best_iteration_)
        self.feature_importances_ = gain / gain.sum() if gain.sum() > 0 else np.zeros_like(gain, dtype=float)

        raw_val = self._raw(_rows(X, val)) if len(val) else np.empty(0)
        self.validation_brier_ = _cross_validated_brier(raw_val, y01[val], self.random_state)
        if self.calibration != "auto":
            self.calibration_ = self.calibration if len(val) else "none"
        elif self.validation_brier_:
            self.calibration_ = min(CALIBRATIONS, key=lambda m: (self.validation_brier_[m], CALIBRATIONS.index(m)))
        else:
            self.calibration_ = "none"
        self.calibrator_ = _fit_calibrator(self.calibration_, raw_val, y01[val])
        return self

    def _lgb_params(self) -> dict:
        return {
            "n_estimators": self.n_estimators, "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples, "subsample": self.subsample,
            "subsample_freq": 1 if self.subsample < 1 else 0, "colsample_bytree": self.colsample_bytree,
            "reg_lambda": self.reg_lambda, "random_state": self.random_state, "n_jobs": self.n_jobs,
            "deterministic": True, "force_col_wise": True, "verbose": -1,
        }

    # -- prediction ------------------------------------------------------------------------------------------
    def predict_proba(self, X) -> np.ndarray:
        """Calibrated ``[P(classes_[0]), P(classes_[1])]`` per row (1 = churned)."""
        check_is_fitted(self, "booster_")
        p = _apply_calibrator(self.calibrator_, self._raw(self._check_X(X, reset=False)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "booster_")
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]

    def feature_importance(self) -> pd.Series:
        """``feature_importances_`` as a Series named by feature, largest first."""
        check_is_fitted(self, "booster_")
        names = getattr(self, "feature_names_in_", None)
        names = names if names is not None else [f"x{i}" for i in range(self.n_features_in_)]
        return pd.Series(self.feature_importances_, index=list(names), name="gain_share").sort_values(ascending=False)

    def _raw(self, X) -> np.ndarray:
        return self.booster_.predict(X, num_iteration=self.best_iteration_)

    def _check_X(self, X, reset: bool):
        if isinstance(X, pd.DataFrame):
            names = np.asarray([str(c) for c in X.columns], dtype=object)
            if reset:
                self.feature_names_in_ = names
                self.n_features_in_ = len(names)
                return X.set_axis(list(names), axis=1)
            expected = getattr(self, "feature_names_in_", None)
            if expected is None:
                raise ValueError("model was fitted on an array without feature names; pass an array")
            X = X.set_axis(list(names), axis=1)
            missing = [c for c in expected if c not in X.columns]
            if missing:
                raise DataValidationError(f"features missing at prediction: {missing}")
            return X[list(expected)]
        array = check_array(X, ensure_all_finite="allow-nan", dtype=np.float64)
        if reset:
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            self.n_features_in_ = array.shape[1]
        elif array.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {array.shape[1]} features, but LightGBMChurn is expecting "
                             f"{self.n_features_in_} features as input")
        return array

    # -- persistence -----------------------------------------------------------------------------------------
    def save(self, directory: str | Path, metadata: dict | None = None) -> Path:
        """Write ``booster.txt`` (LightGBM's text model) and ``model.json`` (parameters, calibration, feature
        names and ``metadata``) into ``directory``, each atomically; returns the directory."""
        check_is_fitted(self, "booster_")
        directory = Path(directory)
        text = self.booster_.model_to_string(num_iteration=self.best_iteration_)
        atomic_write(directory / "booster.txt", lambda tmp: tmp.write_text(text))
        names = getattr(self, "feature_names_in_", None)
        write_json({
            "format": _FORMAT, "version": 1, "params": self.get_params(), "best_iteration": self.best_iteration_,
            "calibration": self.calibration_, "calibrator": self.calibrator_,
            "validation_brier": self.validation_brier_, "classes": self.classes_.tolist(),
            "feature_names": None if names is None else list(names), "n_features": self.n_features_in_,
            "feature_importances": self.feature_importances_.tolist(), "metadata": metadata or {},
        }, directory / "model.json")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> tuple["LightGBMChurn", dict]:
        """The fitted model saved by :meth:`save`, and its ``metadata``."""
        directory = Path(directory)
        try:
            state = json.loads((directory / "model.json").read_text())
            text = (directory / "booster.txt").read_text()
        except FileNotFoundError as exc:
            raise DataValidationError(f"{directory} is not a saved churn model: {exc.filename} is missing") from None
        except json.JSONDecodeError as exc:
            raise DataValidationError(f"{directory}/model.json is not JSON: {exc}") from None
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise DataValidationError(f"{directory}/model.json is not a {_FORMAT} (format={found!r})")
        _check_state(state, set(cls().get_params()), f"{directory}/model.json")
        model = cls(**state["params"])
        try:
            model.booster_ = lgb.Booster(model_str=text)
        except lgb.basic.LightGBMError as exc:
            raise DataValidationError(f"{directory}/booster.txt is not a LightGBM model: {exc}") from None
        model.best_iteration_ = state["best_iteration"]
        model.calibration_, model.calibrator_ = state["calibration"], state["calibrator"]
        model.validation_brier_ = state["validation_brier"]
        model.classes_ = np.asarray(state["classes"])
        model.n_features_in_ = state["n_features"]
        if state["feature_names"] is not None:
            model.feature_names_in_ = np.asarray(state["feature_names"], dtype=object)
        model.feature_importances_ = np.asarray(state["feature_importances"])
        return model, state["metadata"]


def _check_state(state: dict, allowed_params: set, where: str) -> None:
    """The fields of a saved ``model.json`` that loading uses, checked by type and range (a typed error naming
    the field, never a KeyError or a NaN probability later)."""
    def bad(name, expected):
        raise DataValidationError(f"{where}: field {name!r} must be {expected}, got {state.get(name)!r}")

    def finite_numbers(values) -> bool:
        return isinstance(values, list) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in values)

    for name in ("params", "best_iteration", "calibration", "calibrator", "classes", "n_features",
                 "feature_names", "feature_importances", "validation_brier", "metadata"):
        if name not in state:
            raise DataValidationError(f"{where}: field {name!r} is missing")
    params = state["params"]
    if not isinstance(params, dict) or set(params) - allowed_params:
        bad("params", f"LightGBMChurn's parameters {sorted(allowed_params)}")
    best, n_features = state["best_iteration"], state["n_features"]
    if isinstance(best, bool) or not isinstance(best, int) or best < 0:
        bad("best_iteration", "a whole number >= 0")
    if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
        bad("n_features", "a whole number >= 1")
    if state["calibration"] not in CALIBRATIONS:
        bad("calibration", f"one of {list(CALIBRATIONS)}")
    calibrator = state["calibrator"]
    method = calibrator.get("method") if isinstance(calibrator, dict) else None
    if method != state["calibration"]:
        bad("calibrator", f"a calibrator of method {state['calibration']!r}")
    if method == "isotonic" and not (finite_numbers(calibrator.get("x")) and finite_numbers(calibrator.get("y"))
                                     and len(calibrator["x"]) == len(calibrator["y"]) >= 1
                                     and all(0 <= v <= 1 for v in calibrator["y"])):
        bad("calibrator", "isotonic breakpoints x, y of equal length with finite x and y in [0, 1]")
    if method == "sigmoid" and not finite_numbers([calibrator.get("slope"), calibrator.get("intercept")]):
        bad("calibrator", "a sigmoid with finite slope and intercept")
    if not isinstance(state["classes"], list) or len(state["classes"]) != 2:
        bad("classes", "the two labels")
    names = state["feature_names"]
    if names is not None and (not isinstance(names, list) or len(names) != n_features
                              or not all(isinstance(n, str) for n in names)):
        bad("feature_names", f"null or {n_features} feature names")
    if not finite_numbers(state["feature_importances"]) or len(state["feature_importances"]) != n_features:
        bad("feature_importances", f"{n_features} finite numbers")
    if not isinstance(state["validation_brier"], dict) or not isinstance(state["metadata"], dict):
        bad("validation_brier" if not isinstance(state["validation_brier"], dict) else "metadata", "a mapping")


def _rows(X, index):
    return X.iloc[index] if isinstance(X, pd.DataFrame) else X[index]


def _binary_target(y, n_rows: int) -> np.ndarray:
    if y is None:
        raise ValueError("LightGBMChurn requires y to be passed, but the target y is None")
    kind = type_of_target(y, input_name="y", raise_unknown=True)
    if kind != "binary":
        raise ValueError(f"Only binary classification is supported. The type of the target is {kind}.")
    y = column_or_1d(y, warn=True)
    if len(y) != n_rows:
        raise ValueError(f"y has {len(y)} labels but X has {n_rows} rows")
    return y


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def _fit_calibrator(method: str, raw: np.ndarray, y: np.ndarray) -> dict:
    """Plain-data calibrator (JSON-serialisable): isotonic breakpoints or Platt's slope and intercept."""
    if method == "none":
        return {"method": "none"}
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        return {"method": "isotonic", "x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
    platt = LogisticRegression(C=1e6).fit(_logit(raw)[:, None], y)
    return {"method": "sigmoid", "slope": float(platt.coef_[0, 0]), "intercept": float(platt.intercept_[0])}


def _apply_calibrator(calibrator: dict, raw: np.ndarray) -> np.ndarray:
    method = calibrator["method"]
    if method == "none":
        return raw
    if method == "isotonic":  # IsotonicRegression.predict: linear between breakpoints, clipped outside
        return np.interp(raw, calibrator["x"], calibrator["y"])
    z = calibrator["slope"] * _logit(raw) + calibrator["intercept"]
    return 1.0 / (1.0 + np.exp(-z))


def _cross_validated_brier(raw: np.ndarray, y: np.ndarray, seed: int, folds: int = 5) -> dict:
    """Brier score of each calibration on the validation rows, every calibrator scored on folds it did not see."""
    if len(y) == 0 or np.bincount(y, minlength=2).min() < folds:
        return {}
    out = {"none": float(brier_score_loss(y, raw))}
    for method in CALIBRATIONS[1:]:
        predicted = np.empty(len(y))
        for fit_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(raw, y):
            calibrator = _fit_calibrator(method, raw[fit_idx], y[fit_idx])
            predicted[test_idx] = _apply_calibrator(calibrator, raw[test_idx])
        out[method] = float(brier_score_loss(y, predicted))
    return out
