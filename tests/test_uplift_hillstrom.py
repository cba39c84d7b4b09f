"""Hillstrom (MineThatData 2008), Womens E-Mail vs No E-Mail: cross-fitted learners find the e-mail's uplift."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from loyalty.uplift import TLearner, XLearner, cross_fit_uplift, qini_auc_score

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_uplift_hillstrom.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_uplift_hillstrom", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("make", [TLearner, XLearner], ids=["T", "X"])
def test_cross_fitted_visit_qini_is_positive(make):
    X, data, t = _bench().hillstrom_womens()
    y = data["visit"].to_numpy()
    oof = cross_fit_uplift(make(), X, y, t, k=5, seed=0)
    assert oof.notna().all() and len(oof) == len(y)
    assert qini_auc_score(y, oof, t) > 0


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Function stable_cumsum is deprecated:FutureWarning")
def test_five_seed_table_for_conversion_and_spend():
    bench = _bench()
    result = bench.run(seeds=range(5), outcomes=("conversion", "spend"))
    print(bench.format_summary(result))
    assert {row["outcome"] for row in result["summary"]} == {"conversion", "spend"}
    assert all(np.isfinite(row["qini_mean"]) for row in result["summary"])
