"""Hillstrom, Womens E-Mail vs No E-Mail: cross-fitted Qini / AUUC of each learner over 5 seeds.

Every learner, and scikit-uplift's TwoModels as the baseline, is scored out of fold on identical folds (the same
``uplift_folds`` per seed). Metrics are ``loyalty.uplift.metrics`` (equal to sklift's for binary outcomes; sklift
has none for continuous ``spend``). Writes ``benchmarks/results/uplift_hillstrom.json`` atomically.

Run: ``.venv/bin/python benchmarks/bench_uplift_hillstrom.py [--seeds 5] [--outcomes visit,conversion,spend]``
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from loyalty.atomic import write_json
from loyalty.datasets import load_hillstrom
from loyalty.uplift import (
    ClassTransformation,
    SLearner,
    TLearner,
    XLearner,
    cross_fit_uplift,
    default_estimator,
    qini_auc_score,
    uplift_auc_score,
    uplift_folds,
)

RESULT = Path(__file__).parent / "results" / "uplift_hillstrom.json"
FEATURES = ["recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel"]


class SkliftTwoModels(BaseEstimator):
    """scikit-uplift's TwoModels behind our fit/predict signature (the baseline)."""

    def __init__(self, random_state=0):
        self.random_state = random_state

    def fit(self, X, y, treatment, propensity=None):
        from sklift.models import TwoModels

        binary = bool(np.isin(y, (0, 1)).all())
        self.model_ = TwoModels(estimator_trmnt=default_estimator(binary, self.random_state),
                                estimator_ctrl=default_estimator(binary, self.random_state), method="vanilla")
        self.model_.fit(X, pd.Series(y, index=X.index), pd.Series(treatment, index=X.index))
        return self

    def predict(self, X):
        return self.model_.predict(X)


def hillstrom_womens() -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    data = load_hillstrom()
    data = data[data["segment"] != "Mens E-Mail"].reset_index(drop=True)
    X = data[FEATURES].copy()
    for column in ("history_segment", "zip_code", "channel"):
        X[column] = X[column].astype("category")
    return X, data, (data["segment"] == "Womens E-Mail").to_numpy(dtype=int)


def learners(seed: int, binary: bool) -> dict:
    out = {"T": TLearner(random_state=seed), "X": XLearner(random_state=seed), "S": SLearner(random_state=seed)}
    if binary:
        out["CT"] = ClassTransformation(random_state=seed)
    out["sklift TwoModels"] = SkliftTwoModels(random_state=seed)
    return out


def run(seeds=range(5), outcomes=("visit", "conversion", "spend"), k: int = 5) -> dict:
    X, data, t = hillstrom_womens()
    rows = []
    for outcome in outcomes:
        y = data[outcome].to_numpy(dtype=float)
        for seed in seeds:
            folds = uplift_folds(y, t, k=k, seed=seed)
            for name, learner in learners(seed, outcome != "spend").items():
                start = time.perf_counter()
                with warnings.catch_warnings():  # sklift's deprecated sklearn helper, in its own call only
                    warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")
                    oof = cross_fit_uplift(learner, X, y, t, folds=folds).to_numpy()
                rows.append({"outcome": outcome, "learner": name, "seed": seed,
                             "qini": qini_auc_score(y, oof, t), "auuc": uplift_auc_score(y, oof, t),
                             "auuc_raw": uplift_auc_score(y, oof, t, normalize=False),
                             "seconds": time.perf_counter() - start})
                print(f"{outcome:10s} seed {seed} {name:17s} qini {rows[-1]['qini']:+.4f} "
                      f"auuc {rows[-1]['auuc']:+.4f}", flush=True)
    table = pd.DataFrame(rows)
    summary = (table.groupby(["outcome", "learner"])[["qini", "auuc", "auuc_raw"]].agg(["mean", "std"]))
    summary.columns = [f"{a}_{b}" for a, b in summary.columns]
    return {"design": f"Womens E-Mail vs No E-Mail, {len(t):,} customers, {k}-fold cross-fitting stratified by "
                      "treatment x outcome, identical folds for all learners per seed; LightGBM defaults "
                      "loyalty.uplift.LIGHTGBM_DEFAULTS",
            "runs": rows, "summary": summary.reset_index().to_dict(orient="records")}


def format_summary(result: dict) -> str:
    frame = pd.DataFrame(result["summary"])
    lines = [f"{'outcome':10s} {'learner':17s} {'Qini (mean ± sd)':>20s} {'AUUC (mean ± sd)':>20s}"]
    for row in frame.itertuples():
        lines.append(f"{row.outcome:10s} {row.learner:17s} {row.qini_mean:+.4f} ± {row.qini_std:.4f}    "
                     f"{row.auuc_mean:+.4f} ± {row.auuc_std:.4f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--outcomes", default="visit,conversion,spend")
    args = parser.parse_args()
    result = run(range(args.seeds), tuple(args.outcomes.split(",")))
    write_json(result, RESULT)
    print(format_summary(result))
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
