"""Fitted uplift models as data: a JSON envelope plus each LightGBM base model's text dump. No pickles.

Loading a pickle runs whatever code the file names, so a model file handed to ``loyalty uplift score`` (or found
in an artifact store) could run code. This format holds only numbers, strings and LightGBM's own model text:

- ``uplift_model.json``: ``{"format": "loyalty.uplift.model/2", "control", "arms", "learners": {arm: {"class",
  "params", "state", "models": {attribute: {"kind", "classes", "file"}}}}, ...}``; ``class`` is one of
  :data:`loyalty.uplift.LEARNERS`' classes, ``params`` and ``state`` plain JSON values;
- one ``<arm index>_<attribute>.txt`` per fitted base model: ``lightgbm.Booster.model_to_string()``.

Loading checks the format tag, the learner class against the registry, every parameter and state name against
what that class has, and reads the base models with ``lightgbm.Booster(model_str=...)``, which parses text and
runs no code. Only learners whose base models are LightGBM can be saved (the defaults of every learner); another
base estimator is refused with a :class:`ModelFileError` rather than pickled.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from ..atomic import atomic_write
from ..errors import DataValidationError
from .learners import LEARNERS
from .multiarm import MultiArmUplift

__all__ = ["FORMAT", "MODEL_FILE", "ModelFileError", "save_uplift_model", "load_uplift_model",
           "BoosterClassifier", "BoosterRegressor"]

FORMAT = "loyalty.uplift.model/2"
MODEL_FILE = "uplift_model.json"
_CLASSES = {cls.__name__: cls for cls in LEARNERS.values()}
#: Fitted base-model attributes of each learner class, and the plain fitted values it keeps.
_MODELS = ("model_", "model_treated_", "model_control_", "effect_treated_", "effect_control_")
_STATE = ("binary_outcome_", "propensity_", "n_features_in_", "feature_names_in_")
_PARAMS = ("outcome", "random_state")


class ModelFileError(DataValidationError):
    """A file given as a model is not one this version wrote (wrong format, unknown learner, bad values)."""


class _Booster(BaseEstimator):
    """A LightGBM booster read from its text dump, predicting like the scikit-learn wrapper it was saved from."""

    def __init__(self, booster=None):
        self.booster = booster

    def fit(self, *args, **kwargs):  # pragma: no cover - a loaded model is for scoring only
        raise TypeError("a base model loaded from a model file is for prediction only; refit the learner")


class BoosterRegressor(RegressorMixin, _Booster):
    """``predict`` of a saved ``LGBMRegressor``."""

    def predict(self, X):
        return np.asarray(self.booster.predict(X), dtype=float)


class BoosterClassifier(ClassifierMixin, _Booster):
    """``predict_proba`` of a saved binary ``LGBMClassifier`` (``classes_`` as it had them)."""

    def __init__(self, booster=None, classes=(0, 1)):
        self.booster = booster
        self.classes = classes

    @property
    def classes_(self):
        return np.asarray(self.classes)

    def predict_proba(self, X):
        p = np.asarray(self.booster.predict(X), dtype=float)
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]


def save_uplift_model(model, directory: str | Path, extra: dict | None = None) -> Path:
    """Write a fitted :class:`MultiArmUplift` (or a lifecycle model: its conversion uplift plus the retention
    shift's control classifier and shift) into ``directory`` (created) as JSON plus LightGBM text; ``extra``
    (JSON values, e.g. the features and outcome) is stored in the envelope. Returns the envelope's path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    retention = None
    if hasattr(model, "response") and hasattr(model, "retention"):  # a lifecycle model (uplift.deploy)
        model, retention = model.response, model.retention
    learners = {}
    for index, arm in enumerate(model.arms_):
        learner = model.learners_[arm]
        entry = {"class": type(learner).__name__,
                 "params": {k: _plain(v) for k, v in learner.get_params(deep=False).items() if k in _PARAMS},
                 "state": {k: _plain(getattr(learner, k)) for k in _STATE if hasattr(learner, k)}, "models": {}}
        if entry["class"] not in _CLASSES:
            raise ModelFileError(f"cannot save uplift learner {entry['class']}: known learners are {sorted(_CLASSES)}")
        for name in _MODELS:
            if hasattr(learner, name):
                file = f"{index}_{name.rstrip('_')}.txt"
                entry["models"][name] = _save_base(getattr(learner, name), directory / file, name)
        learners[str(index)] = entry
    envelope = {"format": FORMAT, "control": _plain(model.control), "arms": [_plain(a) for a in model.arms_],
                "learners": learners, **(extra or {})}
    if retention is not None:
        envelope["retention"] = {"shift": _plain(float(retention.shift_)), "shift_se": _plain(float(retention.shift_se_)),
                                 "control_model": _save_base(retention.model_control_,
                                                             directory / "retention_control.txt", "model_control_")}
    text = json.dumps(envelope, indent=1, sort_keys=True, allow_nan=False) + "\n"
    return atomic_write(directory / MODEL_FILE, lambda tmp: tmp.write_text(text))  # last: it marks a complete save


def load_uplift_model(directory: str | Path) -> tuple:
    """``(model, envelope)`` from a directory written by :func:`save_uplift_model`; nothing in it is executed.

    Raises
    ------
    ModelFileError
        Not such a directory, not this format, an unknown learner class or field, or a base model LightGBM
        cannot parse.
    """
    directory = Path(directory)
    path = directory / MODEL_FILE
    if not path.is_file():
        raise ModelFileError(f"{str(directory)!r} is not an uplift model directory (no {MODEL_FILE}): give the "
                             "--out folder of `loyalty uplift fit`")
    try:
        envelope = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: not a JSON model file ({exc})") from None
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        found = envelope.get("format") if isinstance(envelope, dict) else type(envelope).__name__
        raise ModelFileError(f"{path}: format {found!r} is not {FORMAT!r}; refit the model with this version")
    arms, learners = envelope.get("arms"), envelope.get("learners")
    if not isinstance(arms, list) or not isinstance(learners, dict) or len(learners) != len(arms):
        raise ModelFileError(f"{path}: 'arms' and 'learners' must list the same offers")
    model = MultiArmUplift(control=envelope.get("control"))
    model.arms_ = arms
    model.learners_ = {arm: _load_learner(learners.get(str(i)), directory, f"{path}: learners.{i}")
                       for i, arm in enumerate(arms)}
    if "retention" in envelope:
        model = _load_lifecycle(model, envelope["retention"], directory, f"{path}: retention")
    return model, envelope


def _load_lifecycle(response: MultiArmUplift, entry, directory: Path, where: str):
    """The lifecycle model (conversion uplift + retention shift) of a saved ``retention`` entry."""
    from ..targeting.retention import RetentionShift
    from .deploy import LifecycleUplift

    if not isinstance(entry, dict) or set(entry) != {"shift", "shift_se", "control_model"}:
        raise ModelFileError(f"{where}: expected {{shift, shift_se, control_model}}, got {entry!r}")
    for name in ("shift", "shift_se"):
        value = entry[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ModelFileError(f"{where}.{name} must be a finite number, got {value!r}")
    retention = RetentionShift()
    retention.model_control_ = _load_base(entry["control_model"], directory, f"{where}.control_model")
    retention.shift_, retention.shift_se_ = float(entry["shift"]), float(entry["shift_se"])
    return LifecycleUplift(response, retention)


def _load_learner(entry, directory: Path, where: str):
    if not isinstance(entry, dict) or entry.get("class") not in _CLASSES:
        found = entry.get("class") if isinstance(entry, dict) else entry
        raise ModelFileError(f"{where}: learner class {found!r} is not one of {sorted(_CLASSES)}")
    cls = _CLASSES[entry["class"]]
    params, state, models = entry.get("params") or {}, entry.get("state") or {}, entry.get("models") or {}
    for kind, values, allowed in (("params", params, _PARAMS), ("state", state, _STATE), ("models", models, _MODELS)):
        unknown = sorted(set(values) - set(allowed)) if isinstance(values, dict) else [values]
        if unknown:
            raise ModelFileError(f"{where}: unknown {kind} {unknown}; allowed are {list(allowed)}")
    known = cls().get_params(deep=False)
    learner = cls(**{k: v for k, v in params.items() if k in known})
    for name, value in state.items():
        if name == "propensity_" and not (isinstance(value, (int, float)) and 0 < value < 1):
            raise ModelFileError(f"{where}: propensity_ must be a number within (0, 1), got {value!r}")
        setattr(learner, name, np.asarray(value, dtype=object) if name == "feature_names_in_" else value)
    if not models:
        raise ModelFileError(f"{where}: no fitted base models")
    for name, ref in models.items():
        setattr(learner, name, _load_base(ref, directory, f"{where}.models.{name}"))
    return learner


def _save_base(estimator, path: Path, name: str) -> dict:
    booster = getattr(estimator, "booster_", None)
    if booster is None or not hasattr(booster, "model_to_string"):
        raise ModelFileError(f"cannot save base model {name} ({type(estimator).__name__}): only LightGBM base "
                             "models are stored (as text); fit the learner with its default LightGBM bases")
    text = booster.model_to_string()
    atomic_write(path, lambda tmp: tmp.write_text(text))
    if hasattr(estimator, "predict_proba"):
        classes = [_plain(c) for c in estimator.classes_]
        if len(classes) != 2:
            raise ModelFileError(f"cannot save base model {name}: {len(classes)} classes, only binary is supported")
        return {"kind": "classifier", "classes": classes, "file": path.name}
    return {"kind": "regressor", "file": path.name}


def _load_base(ref, directory: Path, where: str):
    import lightgbm

    if not isinstance(ref, dict) or ref.get("kind") not in ("classifier", "regressor"):
        raise ModelFileError(f"{where}: expected {{kind: classifier|regressor, file}}, got {ref!r}")
    file = ref.get("file")
    if not isinstance(file, str) or Path(file).name != file or not (directory / file).is_file():
        raise ModelFileError(f"{where}: base model file {file!r} is not a file in {str(directory)!r}")
    try:
        booster = lightgbm.Booster(model_str=(directory / file).read_text())
    except (lightgbm.basic.LightGBMError, UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(f"{where}: {file} is not a LightGBM model text ({str(exc).splitlines()[0]})") from None
    if ref["kind"] == "regressor":
        return BoosterRegressor(booster)
    classes = ref.get("classes")
    if not isinstance(classes, list) or len(classes) != 2:
        raise ModelFileError(f"{where}: a classifier needs its two classes, got {classes!r}")
    return BoosterClassifier(booster, tuple(classes))


def _plain(value):
    """A JSON value for a learner parameter, state or arm label (numpy scalars and arrays included)."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ModelFileError(f"cannot save a non-finite value {value!r} in an uplift model")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    raise ModelFileError(f"cannot save a {type(value).__name__} in an uplift model file")
