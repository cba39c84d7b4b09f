"""Campaign outcomes and point-in-time features; multi-arm, cross-fitting and the CLI end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from loyalty.cli import main
from loyalty.uplift import MultiArmUplift, TLearner, campaign_frame, campaign_outcomes, cross_fit_uplift


@pytest.fixture
def campaign():
    ts = pd.to_datetime
    transactions = pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "b", "c"],
        "timestamp": ts(["2024-01-01", "2024-02-03", "2024-02-20", "2024-01-15", "2024-02-05", "2024-03-30"]),
        "amount": [10.0, 17.0, 8.5, 20.0, 30.0, 5.0],
        "margin": [4.0, 4.0, 2.0, 8.0, 12.0, 2.0],
        "discount": [0.0, 3.0, 1.5, 0.0, 0.0, 0.0],
    })
    assignments = pd.DataFrame({
        "customer_id": ["a", "b", "c"], "campaign_id": "C1", "assigned_at": ts(["2024-02-01"] * 3),
        "treatment": [1, 0, 1], "contact_cost": 0.4, "discount_rate": 0.15,
    })
    return transactions, assignments


def test_outcomes_count_only_the_response_window_and_charge_offer_costs_to_treated(campaign):
    transactions, assignments = campaign
    out = campaign_outcomes(transactions, assignments, window_days=14).set_index("customer_id")
    assert out.loc["a", "converted"] == 1 and out.loc["a", "revenue"] == 17.0  # 2024-02-20 is outside 14 days
    assert out.loc["a", "margin"] == 7.0 and out.loc["a", "offer_cost"] == pytest.approx(3.4)
    assert out.loc["a", "net_margin"] == pytest.approx(3.6)
    assert out.loc["b", "offer_cost"] == 0 and out.loc["b", "net_margin"] == 12.0
    assert out.loc["c", "converted"] == 0 and out.loc["c", "net_margin"] == pytest.approx(-0.4)


def test_features_use_only_transactions_before_assignment(campaign):
    transactions, assignments = campaign
    X, _ = campaign_frame(transactions, assignments, window_days=14)
    later = transactions.assign(amount=transactions["amount"].where(transactions["timestamp"] < "2024-02-01", 999.0))
    X_later, _ = campaign_frame(later, assignments, window_days=14)
    pd.testing.assert_frame_equal(X, X_later)
    assert X["has_history"].tolist() == [1, 1, 0]
    assert X.loc[0, "spend_total"] == 10.0


def test_simulated_net_margin_matches_the_worlds_expectations():
    simulate = pytest.importorskip("loyalty.simulate")
    world = simulate.simulate(simulate.SimulationConfig(n_customers=20_000), seed=3)
    clean = world.transactions.groupby(["customer_id", "order_id"], as_index=False).agg(
        timestamp=("timestamp", "min"), amount=("amount", "sum"), margin=("margin", "sum"),
        discount=("discount", "sum"))
    out = campaign_outcomes(clean, world.assignments, world.config.calendar.response_window_days)
    truth = world.truth.set_index("customer_id").loc[out["customer_id"]]
    for arm in (0, 1):
        rows = (out["treatment"] == arm).to_numpy()
        expected = truth[f"window_margin_{'treated' if arm else 'control'}"].to_numpy()[rows].mean()
        assert out["net_margin"][rows].mean() == pytest.approx(expected, rel=0.1, abs=0.05)


def _two_offers(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    arm = rng.choice(["none", "email", "sms"], size=n)
    lift = np.where(arm == "email", 0.2 * (X["a"] > 0), np.where(arm == "sms", -0.1, 0.0))
    y = (rng.random(n) < 0.3 + lift).astype(int)
    return X, y, arm


def test_multiarm_fits_each_offer_against_control_and_cross_fits_out_of_fold():
    X, y, arm = _two_offers()
    oof = cross_fit_uplift(MultiArmUplift(TLearner(), control="none"), X, y, arm, k=3, seed=1)
    assert list(oof.columns) == ["email", "sms"] and oof.notna().all().all()
    assert oof["email"][X["a"] > 0].mean() > oof["email"][X["a"] <= 0].mean()
    assert oof["sms"].mean() < 0


def test_cli_fit_and_score_round_trip(tmp_path):
    X, y, arm = _two_offers(1500)
    table = X.assign(customer_id=[f"c{i}" for i in range(len(y))], arm=arm, bought=y)
    table.to_csv(tmp_path / "campaign.csv", index=False)
    common = ["--table", str(tmp_path / "campaign.csv"), "--features", "a,b,c", "--treatment", "arm",
              "--control", "none"]
    assert main(["uplift", "fit", *common, "--outcome", "bought", "--folds", "3", "--out", str(tmp_path / "model"),
                 "--report", str(tmp_path / "r.json")]) == 0
    assert main(["uplift", "score", *common, "--model", str(tmp_path / "model"),
                 "--out", str(tmp_path / "s.parquet")]) == 0
    scores = pd.read_parquet(tmp_path / "s.parquet")
    assert list(scores.columns) == ["customer_id", "uplift[email]", "uplift[sms]"] and len(scores) == 1500


def test_cli_fit_prints_the_average_effect_and_qini_against_noise_and_score_keeps_a_named_id(tmp_path, capsys):
    X, y, arm = _two_offers(1500, seed=4)
    table = X.assign(member=[f"m{i}" for i in range(len(y))], arm=arm, bought=y)
    table.to_csv(tmp_path / "campaign.csv", index=False)
    common = ["--table", str(tmp_path / "campaign.csv"), "--features", "a,b,c", "--treatment", "arm",
              "--control", "none"]
    assert main(["uplift", "fit", *common, "--outcome", "bought", "--folds", "3", "--resamples", "50",
                 "--permutations", "50", "--out", str(tmp_path / "m.pkl"), "--report", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "arm 'sms' vs 'none': average effect on bought" in out and "95% CI" in out
    assert "random scores reach" in out and "noise" in out
    report = json.loads((tmp_path / "r.json").read_text())
    evaluation = report["evaluation[email]"]
    assert evaluation["qini"]["value"] == report["qini[email]"]
    assert evaluation["qini"]["signal"]  # email's effect depends on a: its scores beat shuffled ones
    sms = report["average_effect[sms]"]
    assert sms["effect"] == pytest.approx(y[arm == "sms"].mean() - y[arm == "none"].mean())
    assert sms["ci_low"] < sms["effect"] < sms["ci_high"]
    assert main(["uplift", "score", *common, "--id", "member", "--model", str(tmp_path / "m.pkl"),
                 "--out", str(tmp_path / "s.parquet")]) == 0
    scores = pd.read_parquet(tmp_path / "s.parquet")
    assert list(scores.columns) == ["member", "uplift[email]", "uplift[sms]"]
    assert scores["member"].tolist() == table["member"].tolist()
