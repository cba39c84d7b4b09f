"""Uplift models are stored as data (JSON + LightGBM text) and loading one runs no code from the file."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from loyalty.cli import main
from loyalty.uplift import LEARNERS, MultiArmUplift, make_learner
from loyalty.uplift.storage import MODEL_FILE, ModelFileError, load_uplift_model, save_uplift_model


def _campaign(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    X["segment"] = pd.Categorical(rng.choice(["web", "store"], size=n))
    arm = rng.choice(["none", "email", "sms"], size=n)
    y = (rng.random(n) < 0.3 + np.where(arm == "email", 0.2 * (X["a"] > 0), 0.0)).astype(int)
    return X, y, arm


@pytest.mark.parametrize("name", list(LEARNERS))
def test_a_saved_learner_predicts_exactly_what_it_predicted_before_saving(tmp_path, name):
    X, y, arm = _campaign()
    model = MultiArmUplift(make_learner(name, outcome="binary"), control="none").fit(X, y, arm)
    save_uplift_model(model, tmp_path / "m", {"features": list(X.columns)})
    loaded, envelope = load_uplift_model(tmp_path / "m")
    assert envelope["features"] == list(X.columns)
    pd.testing.assert_frame_equal(loaded.predict(X), model.predict(X), check_exact=True)


def test_a_continuous_outcome_learner_round_trips(tmp_path):
    X, y, arm = _campaign()
    margin = y * 12.5 + np.random.default_rng(1).normal(size=len(y))
    model = MultiArmUplift(make_learner("X", outcome="continuous"), control="none").fit(X, margin, arm)
    save_uplift_model(model, tmp_path / "m")
    pd.testing.assert_frame_equal(load_uplift_model(tmp_path / "m")[0].predict(X), model.predict(X),
                                  check_exact=True)


def test_a_learner_with_a_non_lightgbm_base_is_refused_rather_than_pickled(tmp_path):
    X, y, arm = _campaign()
    model = MultiArmUplift(make_learner("T", LinearRegression(), outcome="continuous"), control="none")
    with pytest.raises(ModelFileError, match="only LightGBM base models are stored"):
        save_uplift_model(model.fit(X[["a", "b", "c"]], y.astype(float), arm), tmp_path / "m")


class _Payload:
    """Unpickling this would create the marker file: the proof that a pickle was loaded."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_uplift_score_never_unpickles_a_model_file(tmp_path, capsys):
    marker = tmp_path / "pwned"
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    X, y, arm = _campaign(50)
    X.assign(arm=arm).to_csv(tmp_path / "t.csv", index=False)
    for model in (tmp_path / "model.pkl", tmp_path):  # the pickle itself, and a folder holding only it
        code = main(["uplift", "score", "--table", str(tmp_path / "t.csv"), "--features", "a,b,c",
                     "--treatment", "arm", "--model", str(model), "--out", str(tmp_path / "s.parquet")])
        assert code == 2
        err = capsys.readouterr().err
        assert "is not an uplift model directory" in err and "Traceback" not in err
    assert not marker.exists()
    assert not (tmp_path / "s.parquet").exists()


@pytest.mark.parametrize("tamper, message", [
    (lambda e: e.update(format="loyalty.uplift.model/1"), "is not 'loyalty.uplift.model/2'"),
    (lambda e: e["learners"]["0"].update({"class": "os.system"}), "learner class 'os.system' is not one of"),
    (lambda e: e["learners"]["0"]["params"].update(estimator="x"), "unknown params"),
    (lambda e: e["learners"]["0"]["models"]["model_treated_"].update(file="../../etc/passwd"), "is not a file in"),
    (lambda e: e["learners"]["0"]["state"].update(propensity_=float("nan")), None),
    (lambda e: e.update(arms=["email"]), "must list the same offers"),
])
def test_a_tampered_model_file_is_refused_by_name(tmp_path, tamper, message):
    X, y, arm = _campaign(600)
    model = MultiArmUplift(make_learner("X", outcome="binary"), control="none").fit(X, y, arm)
    save_uplift_model(model, tmp_path / "m")
    path = tmp_path / "m" / MODEL_FILE
    envelope = json.loads(path.read_text())
    tamper(envelope)
    path.write_text(json.dumps(envelope))
    with pytest.raises(ModelFileError, match=message or "propensity_ must be a number within"):
        load_uplift_model(tmp_path / "m")


def test_a_corrupt_base_model_text_is_a_typed_error(tmp_path):
    X, y, arm = _campaign(600)
    save_uplift_model(MultiArmUplift(make_learner("T", outcome="binary"), control="none").fit(X, y, arm),
                      tmp_path / "m")
    (tmp_path / "m" / "0_model_treated.txt").write_text("tree\nnot a model\x00")
    with pytest.raises(ModelFileError, match="is not a LightGBM model text"):
        load_uplift_model(tmp_path / "m")
