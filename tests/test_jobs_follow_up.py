"""Follow-up on CDNOW: the predictions scored at 1997-09-30 against the holdout to 1998-06-30."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from loyalty.clv import CLVModel
from loyalty.data import summarize, validate_transactions
from loyalty.datasets import load_cdnow
from loyalty.errors import SpecError
from loyalty.jobs import run_spec
from loyalty.tracking import promote

ROOT = Path(__file__).resolve().parents[1]
PREDICTED_AT, AS_OF = "1997-09-30", "1998-06-30"


def _copy(tmp: Path, name: str) -> Path:
    spec = yaml.safe_load((ROOT / "pipelines" / name).read_text())
    if spec["job"] == "fit":
        spec["models"] = {k: str(ROOT / v) for k, v in spec["models"].items()}
    path = tmp / name
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture(scope="module")
def follow_up(tmp_path_factory):
    """Fit at 1997-09-30, promote, score at 1997-09-30 and follow up at 1998-06-30 in one fresh folder."""
    tmp = tmp_path_factory.mktemp("follow_up")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        run_spec(_copy(tmp, "fit.yaml"))
        for name in ("loyalty-clv", "loyalty-churn", "loyalty-uplift"):
            promote(name, 1)
        run_spec(_copy(tmp, "score.yaml"), as_of=PREDICTED_AT)
        result = run_spec(_copy(tmp, "follow_up.yaml"), as_of=AS_OF)
        run = MlflowClient().get_run(result["run_id"])
        artifacts = [a.path for a in MlflowClient().list_artifacts(result["run_id"], "plots")]
    result["workdir"] = tmp
    return result, run, artifacts


def _direct():
    """The same comparison computed directly: a CLV model fitted in memory, the holdout summary, the log."""
    clean = validate_transactions(load_cdnow(sample=False), margin_rate=0.25, duplicates="keep").transactions
    summary = summarize(clean, PREDICTED_AT, period="D", unit="W", holdout_end=AS_OF)
    model = CLVModel.from_spec(ROOT / "models" / "clv.yaml").fit(summary[["frequency", "recency", "T",
                                                                           "monetary_value", "margin_value",
                                                                           "margin_rate"]])
    weeks = 273 / 7  # 1997-09-30 -> 1998-06-30 is 39 weeks
    predicted = model.bgnbd_.expected_purchases(summary, weeks)
    after = clean.loc[clean["timestamp"] > PREDICTED_AT]
    return predicted, summary["frequency_holdout"], after["margin"].sum(), after["amount"].sum()


def test_logged_purchase_metrics_match_a_direct_computation(follow_up):
    result, run, _ = follow_up
    predicted, actual, _, _ = _direct()
    metrics = run.data.metrics
    assert metrics["purchases.predicted"] == pytest.approx(predicted.sum(), rel=1e-9)
    assert metrics["purchases.actual"] == actual.sum() == 19_684
    assert metrics["purchases.mae"] == pytest.approx((predicted - actual).abs().mean(), rel=1e-9)
    assert metrics["purchases.ratio"] == pytest.approx(predicted.sum() / actual.sum(), rel=1e-9)
    assert metrics["customers"] == 23_570


def test_margin_to_date_is_the_holdout_margin(follow_up):
    _, run, _ = follow_up
    _, _, margin, amount = _direct()
    assert run.data.metrics["value_to_date.actual"] == pytest.approx(margin, rel=1e-12)
    assert margin == pytest.approx(0.25 * amount)


def test_drift_is_flagged_against_the_configured_threshold(follow_up):
    result, run, _ = follow_up
    metrics = run.data.metrics
    for name in ("purchases", "value_to_date"):
        assert metrics[f"drift.{name}"] == float(abs(metrics[f"{name}.ratio"] - 1) > 0.2)
    assert run.data.tags["drift"] in ("none", "purchases", "value_to_date", "purchases,value_to_date")


def test_predicted_vs_actual_plot_and_table_are_logged(follow_up):
    result, run, plots = follow_up
    assert "plots/predicted_vs_actual.png" in plots
    table = result["by_frequency"]
    assert list(table.index) == list(range(8)) and table["customers"].sum() == 23_570
    assert run.data.tags["model.clv"] == "models:/loyalty-clv/1"


def test_follow_up_date_must_be_after_the_predictions(tmp_path):
    with pytest.raises(SpecError, match="must be after predictions.as_of"):
        run_spec(_copy(tmp_path, "follow_up.yaml"), as_of="1997-06-30", tracking_uri=f"sqlite:///{tmp_path}/m.db")


def test_churn_predictions_are_compared_with_who_then_bought(follow_up):
    result, run, _ = follow_up
    scores = pd.read_parquet(Path(run.data.tags["predictions.path"]) if Path(run.data.tags["predictions.path"]).is_absolute()
                             else result["workdir"] / run.data.tags["predictions.path"])
    clean = validate_transactions(load_cdnow(sample=False), duplicates="keep").transactions
    window = clean.loc[(clean["timestamp"] > PREDICTED_AT) & (clean["timestamp"] <= "1997-12-29")]  # 90 days
    churned = (~scores.index.isin(window["customer_id"].unique())).astype(float)
    metrics = run.data.metrics
    assert metrics["churn.actual_rate"] == pytest.approx(churned.mean(), rel=1e-12)
    assert metrics["churn.predicted_rate"] == pytest.approx(scores["p_churn"].mean(), rel=1e-9)
    assert metrics["churn.brier"] == pytest.approx(np.mean((scores["p_churn"] - churned) ** 2), rel=1e-9)
