"""Targeting experiments end to end: specs checked first, Hillstrom's table consistent, the report complete."""

import base64
import io
import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from PIL import Image

from loyalty.cli import main
from loyalty.errors import SpecError
from loyalty.report.targeting import PLOTS, SCHEMA_PATH, write_experiment
from loyalty.targeting import BUILTIN_POLICIES, experiment_from_dict, load_experiment, run_experiment

ROOT = Path(__file__).parents[1]


def _spec(**changes):
    spec = {"name": "t", "data": {"hillstrom": {"arm": "Womens E-Mail"}},
            "economics": {"margin_rate": 0.4, "discount_rate": 0.1, "contact_cost": 0.05},
            "policies": ["random", "response", "uplift", "margin_uplift"], "budgets": [0.1, 0.2],
            "headline": {"budget": 0.2, "policy": "margin_uplift", "baseline": "response"},
            "bootstrap": {"resamples": 200}}
    spec.update(changes)
    return spec


@pytest.mark.parametrize(
    "change, message",
    [
        ({"policies": ["random", "resp0nse"]}, "unknown policy 'resp0nse'"),
        ({"budgets": [0.2, 1.5]}, "'budgets' item 1 \\(1.5\\) must be a share of the base within \\[0, 1\\] or 'profit_positive'"),
        ({"economics": {"margin_rate": 0.4, "contact_cost": 0.05}}, "economics.discount_rate is required"),
        ({"economics": {"margin_rate": 1.4, "discount_rate": 0.1, "contact_cost": 0.05}}, "margin_rate must be within"),
        ({"headline": {"budget": 0.3}}, "headline.budget 0.3 must be one of budgets"),
        ({"policies": ["response", "lifecycle"]}, "need a transaction history"),
        ({"data": {"warehouse": {}}}, "field 'data' must name one source"),
        ({"modls": {}}, "unknown field"),
        ({"models": {"retention": "guess"}}, "models.retention must be 'shift' or 'learner'"),
        ({"models": {"splits": 0}}, "models.splits must be >= 1"),
        ({"models": {"estimator": "aipw"}}, "models.estimator must be 'dr' \\(doubly robust\\) or 'ipw'"),
        ({"budgets": [0.2, "profit_posit1ve"]}, "item 1 \\('profit_posit1ve'\\) must be .* or 'profit_positive'"),
    ],
)
def test_bad_specs_fail_before_any_model_is_fitted(change, message):
    started = time.perf_counter()
    with pytest.raises(SpecError, match=message):
        experiment_from_dict(_spec(**change), "bad.yaml")
    assert time.perf_counter() - started < 1.0  # nothing was loaded or fitted


def test_missing_economics_names_the_field():
    spec = _spec()
    del spec["economics"]
    with pytest.raises(SpecError, match="bad.yaml: missing field 'economics'"):
        experiment_from_dict(spec, "bad.yaml")


def test_shipped_experiment_specs_load():
    for path in sorted((ROOT / "experiments").glob("*.yaml")):
        if "experiment" in path.read_text().split("kind:")[-1][:20]:
            assert load_experiment(path).name


@pytest.fixture(scope="module")
def hillstrom_result():
    return run_experiment(experiment_from_dict(_spec(budgets=[0.1, 0.2, 0.5])))


def test_hillstrom_table_covers_every_policy_budget_and_outcome_with_intervals(hillstrom_result):
    values = hillstrom_result.evaluation.values
    at_budgets = values[values["share"].isin([0.1, 0.2, 0.5])]
    assert len(at_budgets) == 4 * 3 * 2
    assert (at_budgets["ci_low"] <= at_budgets["value"]).all() and (at_budgets["value"] <= at_budgets["ci_high"]).all()
    print(at_budgets.pivot_table(index=["policy", "share"], columns="outcome", values="value_per_1000").round(2))


def test_hillstrom_value_is_zero_at_no_budget_and_the_ate_at_full_budget(hillstrom_result):
    """IPW (the cross-check) at 100% is the Horvitz-Thompson average effect, whatever the split."""
    values = hillstrom_result.evaluation.cross_check.set_index(["policy", "share", "outcome"])["value"]
    frame = hillstrom_result.scores
    t, e = frame["treatment"].to_numpy(), frame["propensity"].to_numpy()
    for outcome, column in (("conversion", "converted"), ("net_margin", "net_margin")):
        y = frame[column].to_numpy()
        ate = np.mean(t * y / e - (1 - t) * y / (1 - e))
        for policy in ("random", "response", "uplift", "margin_uplift"):
            assert values[(policy, 0.0, outcome)] == 0.0
            assert values[(policy, 1.0, outcome)] == pytest.approx(ate, rel=1e-9)
    # conversion uplift in Hillstrom's women's e-mail is about +0.3 points (0.88% vs 0.57%)
    assert values[("random", 1.0, "conversion")] == pytest.approx(0.0031, abs=0.001)


def test_response_targeting_gets_the_higher_response_rate_on_hillstrom(hillstrom_result):
    kpis = hillstrom_result.evaluation.kpis.set_index(["policy", "share"])
    assert kpis.loc[("response", 0.2), "response_rate"] > kpis.loc[("random", 0.2), "response_rate"]


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.headline, self._in_headline = [], "", False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        self._in_headline = attrs.get("id") == "headline"

    def handle_data(self, data):
        if self._in_headline:
            self.headline += data

    def handle_endtag(self, tag):
        self._in_headline = False


def test_report_renders_with_headline_and_every_plot_and_results_validate(hillstrom_result, tmp_path):
    document = write_experiment(hillstrom_result, tmp_path)
    jsonschema.validate(json.loads((tmp_path / "results.json").read_text()), json.loads(SCHEMA_PATH.read_text()))
    page = _Page()
    text = (tmp_path / "report.html").read_text()
    page.feed(text)
    assert page.headline.strip() == document["headline"]["text"]
    assert text.index('id="decision"') < text.index('id="headline"')  # the decision comes first
    assert sorted(image["alt"] for image in page.images) == sorted(PLOTS)
    for image in page.images:
        data = base64.b64decode(re.sub("^data:image/png;base64,", "", image["src"]))
        decoded = Image.open(io.BytesIO(data))
        decoded.load()
        assert decoded.size[0] > 300 and decoded.size[1] > 200
    for name in (*PLOTS, "policies.csv", "results.json", "report.html"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.fixture(scope="module")
def small_world_result():
    return run_experiment(experiment_from_dict({
        "name": "small-world", "data": {"simulator": {"customers": 5_000, "seed": 3}},
        "economics": {"annual_discount_rate": 0.1, "response_window_days": 28, "horizon_days": 364},
        "models": {"folds": 2, "n_estimators": 30},
        "policies": ["random", "response", "churn_risk", "clv", "uplift", "margin_uplift", "lifecycle", "oracle"],
        "budgets": [0.1, 0.2], "headline": {"budget": 0.2, "policy": "lifecycle", "baseline": "response"},
        "bootstrap": {"resamples": 200},
    }))


def test_simulated_report_shows_every_policys_share_of_the_oracle(small_world_result, tmp_path):
    document = write_experiment(small_world_result, tmp_path)
    jsonschema.validate(json.loads((tmp_path / "results.json").read_text()), json.loads(SCHEMA_PATH.read_text()))
    oracle = document["oracle_share"]
    values = small_world_result.evaluation.values
    for budget in ("0.1", "0.2"):
        at = values[(values["share"] == float(budget)) & (values["outcome"] == "long_net_margin")]
        true = at.set_index("policy")["true_value"]
        assert oracle["oracle_true_value_per_1000"][budget] == pytest.approx(true["oracle"] * 1000)
        shares = oracle["by_budget"][budget]
        assert set(shares) == set(true.index) - {"oracle"}
        assert shares == pytest.approx((true / true["oracle"]).drop("oracle").to_dict())
        assert oracle["best_policy"][budget] == max(shares, key=shares.get)
    page = (tmp_path / "report.html").read_text()
    table = page[page.index('id="oracle-share"'):]
    assert all(f"<td>{policy}</td>" in table for policy in oracle["by_budget"]["0.2"])


def test_lifecycle_score_values_an_extra_retained_customer_at_the_conditional_residual_clv(small_world_result):
    scores = small_world_result.scores
    expected = scores["uplift_net_margin"] + scores["uplift_retention"] / scores["p_retained_control"] * scores[
        "residual_clv"]
    assert np.allclose(scores["uplift_lifecycle"], expected)
    assert ((scores["p_retained_control"] > 0) & (scores["p_retained_control"] < 1)).all()
    # the lifecycle policy computes the same numbers from the inputs rather than reading the column
    assert BUILTIN_POLICIES["lifecycle"].score(scores.drop(columns="uplift_lifecycle")).equals(
        scores["uplift_lifecycle"].rename("lifecycle"))


def test_headline_is_honest_when_the_interval_spans_zero(hillstrom_result):
    h = hillstrom_result.headline
    low, high = h["ci_per_1000"]
    assert low <= h["difference_per_1000"] <= high
    if low < 0 < high:
        assert h["verdict"] == "inconclusive" and "cannot tell" in h["text"]
    else:
        assert h["verdict"] in ("policy_wins", "baseline_wins")


def test_compare_command_writes_the_report(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text((ROOT / "experiments" / "hillstrom.yaml").read_text())
    assert main(["compare", str(spec), "--out", str(tmp_path / "out"), "--resamples", "200"]) == 0
    out = capsys.readouterr().out
    assert "At a 20% budget" in out and (tmp_path / "out" / "report.html").exists()
    assert re.search("Send |Every policy loses", out).start() < out.index("At a 20% budget")  # decision first


def test_compare_command_reports_a_bad_spec_as_an_error(tmp_path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text("kind: experiment\nname: x\ndata: {hillstrom: {}}\neconomics: {margin_rate: 0.3}\n")
    assert main(["compare", str(spec)]) == 2
    assert "economics.discount_rate is required" in capsys.readouterr().err


def test_values_are_doubly_robust_over_three_splits_with_ipw_as_the_cross_check(hillstrom_result):
    evaluation, decision = hillstrom_result.evaluation, hillstrom_result.decision
    assert evaluation.estimator == "dr" and evaluation.splits == 3
    assert set(evaluation.cross_check["estimator"]) == {"ipw"}
    assert hillstrom_result.headline["estimator"] == "dr" and hillstrom_result.headline["splits"] == 3
    assert set(hillstrom_result.differences["estimator"]) == {"dr", "ipw"}
    assert decision.send_nothing or (decision.value > 0 and decision.ci_low > 0)
    assert "oracle" not in set(decision.cells["policy"]) and 0.0 not in set(decision.cells["budget"])
