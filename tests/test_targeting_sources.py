"""Your own data through the experiment: a one-row-per-customer table and campaign files give the same numbers
as the built-in sources they are copies of, and bad rows are counted with reasons."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from loyalty.datasets import load_hillstrom
from loyalty.errors import DataValidationError, SpecError
from loyalty.targeting import experiment_from_dict, load_experiment, run_experiment

FAST = {"models": {"folds": 2, "n_estimators": 30, "learner": "X"}, "bootstrap": {"resamples": 200, "seed": 0}}
HILLSTROM_ECONOMICS = {"margin_rate": 0.4, "discount_rate": 0.1, "contact_cost": 0.05}
HILLSTROM_RENAMES = {"customer_id": "member", "segment": "arm", "conversion": "bought", "spend": "revenue_2wk"}


def _experiment(data: dict, **changes) -> dict:
    spec = {"name": "t", "data": data, "economics": HILLSTROM_ECONOMICS,
            "policies": ["random", "response", "uplift", "margin_uplift"], "budgets": [0.1, 0.2],
            "headline": {"budget": 0.2, "policy": "margin_uplift", "baseline": "response"}, **FAST}
    spec.update(changes)
    return spec


def _same_numbers(a, b) -> None:
    low, high = a.headline["ci_per_1000"]
    assert np.isfinite(a.headline["difference_per_1000"]) and low < high  # a real interval, not a degenerate one
    assert a.headline["difference_per_1000"] == b.headline["difference_per_1000"]
    assert a.headline["ci_per_1000"] == b.headline["ci_per_1000"]
    columns = ["policy", "share", "outcome", "value", "ci_low", "ci_high"]
    pd.testing.assert_frame_equal(a.evaluation.values[columns], b.evaluation.values[columns])
    pd.testing.assert_frame_equal(a.evaluation.kpis, b.evaluation.kpis)


@pytest.fixture(scope="module")
def hillstrom_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mailing")
    load_hillstrom().rename(columns=HILLSTROM_RENAMES).to_csv(folder / "mailing.csv", index=False)
    spec = _experiment({"table": {
        "path": "mailing.csv", "id": "member", "treatment": "arm", "arm": "Womens E-Mail", "control": "No E-Mail",
        "outcomes": {"conversion": "bought", "spend": "revenue_2wk"},
        "features": ["recency", "history", "mens", "womens", "zip_code", "newbie", "channel"], "propensity": None,
    }})
    (folder / "mailing.yaml").write_text(yaml.safe_dump({"kind": "experiment", **spec}))
    return folder / "mailing.yaml"


def test_hillstrom_csv_through_the_table_source_equals_the_builtin_hillstrom_source(hillstrom_file):
    table = run_experiment(load_experiment(hillstrom_file))
    builtin = run_experiment(experiment_from_dict(_experiment({"hillstrom": {"arm": "Womens E-Mail",
                                                                             "control": "No E-Mail"}})))
    _same_numbers(table, builtin)
    assert table.data.info["accounting"] == {"rows_read": 64_000, "rows_used": 42_693, "rows_excluded": 21_307,
                                             "rows_rejected": 0, "excluded": {"other_arm": 21_307}, "rejected": {}}
    assert table.data.info["randomization"]["passed"]


def test_table_rows_with_unusable_values_are_counted_by_reason(tmp_path):
    table = load_hillstrom().rename(columns=HILLSTROM_RENAMES).head(3000)
    womens = table.index[table["arm"] == "Womens E-Mail"]
    table.loc[womens[0], "revenue_2wk"] = np.nan
    table.loc[womens[1], "arm"] = None
    table.loc[womens[2], "member"] = table.loc[womens[3], "member"]
    path = tmp_path / "mailing.parquet"
    table.to_parquet(path)
    from loyalty.targeting.campaign_data import read_table, table_campaign

    data = table_campaign(read_table(path), "arm", "Womens E-Mail", "No E-Mail",
                          {"conversion": "bought", "spend": "revenue_2wk"}, ["recency", "channel"], id="member",
                          margin_rate=0.4, discount_rate=0.1, contact_cost=0.05)
    accounting = data.info["accounting"]
    assert accounting["rejected"] == {"missing_treatment": 1, "missing_outcome": 1, "duplicate_id": 2}
    assert accounting["rows_read"] == accounting["rows_used"] + accounting["rows_excluded"] + accounting["rows_rejected"]
    assert len(data.frame) == accounting["rows_used"]


@pytest.mark.parametrize("change, message", [
    ({"features": []}, "features must be a non-empty list"),
    ({"outcomes": {"spend": "revenue_2wk"}}, "must name a 'conversion' column"),
    ({"arm": "B"}, "arm and control must differ"),
    ({"propensity": 1.5}, "propensity must be a column or a number within"),
    ({"treatment": None}, "missing field 'treatment'"),
])
def test_bad_table_specs_fail_before_reading_the_file(change, message):
    options = {"path": "nowhere.csv", "treatment": "arm", "arm": "A", "control": "B",
               "outcomes": {"conversion": "bought", "spend": "revenue"}, "features": ["x"], **change}
    with pytest.raises(SpecError, match=message):
        experiment_from_dict(_experiment({"table": options}), "bad.yaml")


def test_a_table_column_the_spec_names_but_the_file_lacks_is_named(tmp_path):
    load_hillstrom().head(100).to_csv(tmp_path / "m.csv", index=False)
    spec = _experiment({"table": {"path": str(tmp_path / "m.csv"), "treatment": "segment", "arm": "Womens E-Mail",
                                  "control": "No E-Mail", "outcomes": {"conversion": "bought", "spend": "spend"},
                                  "features": ["recency"]}})
    with pytest.raises(DataValidationError, match="no column 'bought' \\(named by outcomes.conversion\\)"):
        run_experiment(experiment_from_dict(spec))


# -- campaign files ------------------------------------------------------------------------------------------
WORLD = {"customers": 4000, "seed": 7}
ECONOMICS = {"annual_discount_rate": 0.10, "response_window_days": 28, "horizon_days": 364}
NO_TRUTH_POLICIES = ["random", "response", "churn_risk", "clv", "uplift", "margin_uplift", "lifecycle"]
TX_RENAMES = {"customer_id": "member", "timestamp": "sold_at", "amount": "gross", "margin": "gm"}
ASSIGNMENT_RENAMES = {"customer_id": "member", "assigned_at": "offer_date", "treatment": "group"}


def _history_experiment(data: dict, **changes) -> dict:
    spec = {"name": "w", "data": data, "economics": ECONOMICS, "policies": NO_TRUTH_POLICIES,
            "budgets": [0.1, 0.2], "headline": {"budget": 0.2, "policy": "lifecycle", "baseline": "response"}, **FAST}
    spec.update(changes)
    return spec


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    from loyalty.cli import main

    folder = tmp_path_factory.mktemp("world")
    assert main(["simulate", "--customers", str(WORLD["customers"]), "--seed", str(WORLD["seed"]),
                 "--out", str(folder / "world"), "--no-progress"]) == 0
    return folder / "world"


@pytest.fixture(scope="module")
def handed_over(world_dir, tmp_path_factory):
    """The world as a user would hand it over: CSV files, renamed columns, no truth."""
    folder = tmp_path_factory.mktemp("handed_over")
    pd.read_parquet(world_dir / "transactions.parquet").rename(columns=TX_RENAMES).to_csv(
        folder / "sales.csv.gz", index=False)
    pd.read_parquet(world_dir / "assignments.parquet").rename(columns=ASSIGNMENT_RENAMES).to_csv(
        folder / "offers.csv", index=False)
    pd.read_parquet(world_dir / "customers.parquet").rename(columns={"customer_id": "member"}).to_csv(
        folder / "members.csv", index=False)
    return folder


def _campaign_options(folder, **changes) -> dict:
    return {"transactions": str(folder / "sales.csv.gz"), "assignments": str(folder / "offers.csv"),
            "customers": str(folder / "members.csv"), "columns": TX_RENAMES,
            "assignment_columns": ASSIGNMENT_RENAMES, "customer_columns": {"customer_id": "member"},
            "customer_features": ["channel", "region", "category_mix", "tenure_band", "email_engagement"],
            **changes}


@pytest.fixture(scope="module")
def round_trip(handed_over):
    files = run_experiment(experiment_from_dict(_history_experiment({"campaign": _campaign_options(handed_over)})))
    simulator = run_experiment(experiment_from_dict(_history_experiment({"simulator": WORLD})))
    return files, simulator


def test_a_simulated_world_handed_over_as_files_gives_the_simulator_sources_headline(round_trip):
    files, simulator = round_trip
    _same_numbers(files, simulator)
    pd.testing.assert_frame_equal(files.differences, simulator.differences.drop(columns="true_difference"))
    assert files.headline["text"] == simulator.headline["text"]


def test_campaign_files_are_accounted_for_row_by_row(round_trip):
    files, simulator = round_trip
    accounting = files.data.info["accounting"]
    assert accounting["transactions"] == simulator.data.info["accounting"]
    assert accounting["assignments"] == {"rows_read": WORLD["customers"], "rows_used": WORLD["customers"],
                                         "rows_excluded": 0, "rows_rejected": 0, "excluded": {}, "rejected": {}}


def test_assignment_rows_that_cannot_be_used_are_rejected_with_their_reason(world_dir):
    from loyalty.data import load_campaign_files

    transactions = pd.read_parquet(world_dir / "transactions.parquet")
    good = pd.read_parquet(world_dir / "assignments.parquet").head(200)
    bad = good.head(9).copy()
    bad["customer_id"] = [None, "C9999999", *good["customer_id"].iloc[100:107]]
    bad.loc[bad.index[2], "assigned_at"] = pd.Timestamp("2000-01-01")     # before the log starts
    bad.loc[bad.index[3], "treatment"] = 2                                # neither arm nor control
    bad.loc[bad.index[4], "propensity"] = 1.0                             # not strictly inside (0, 1)
    bad.loc[bad.index[5], "discount_rate"] = 1.5                          # not a discount
    bad.loc[bad.index[6], "campaign_id"] = "OTHER"                        # another campaign: excluded
    twice = good.iloc[[150]].assign(treatment=1 - good["treatment"].iloc[150])   # C.. assigned to both arms
    copy = good.iloc[[160]]                                               # an exact duplicate row
    assignments = pd.concat([good.iloc[:100], good.iloc[107:], bad.iloc[[0, 1, 2, 3, 4, 5, 6]], twice, copy])
    files = load_campaign_files(transactions, assignments, campaign_id="CAMP01", control=0, arm=1)
    accounting = files.accounting["assignments"]
    assert accounting["rejected"] == {"missing_customer_id": 1, "duplicate_assignment": 1, "assigned_twice": 2,
                                      "unknown_treatment": 1, "invalid_propensity": 1, "invalid_offer_terms": 1,
                                      "no_transactions": 1, "assigned_outside_log": 1}
    assert accounting["excluded"] == {"other_campaign": 1}
    assert accounting["rows_read"] == len(assignments) == (accounting["rows_used"] + accounting["rows_excluded"]
                                                           + accounting["rows_rejected"])
    assert len(files.assignments) == accounting["rows_used"] == 200 - 7 - 1  # C..150 lost both rows
    assert sorted(files.rejects["reason"].unique()) == sorted(accounting["rejected"])


def test_a_horizon_past_the_end_of_the_log_is_an_error_naming_both_dates(handed_over):
    spec = _history_experiment({"campaign": _campaign_options(handed_over)},
                               economics={**ECONOMICS, "horizon_days": 400})
    with pytest.raises(DataValidationError, match=r"400-day horizon of the last assignment \(2024-01-04.*\) ends "
                                                  r"2025-02-07.*past the end of the log \(2025-01-02"):
        run_experiment(experiment_from_dict(spec))


def test_a_file_with_several_campaigns_needs_the_campaign_named(world_dir):
    from loyalty.data import load_campaign_files

    transactions = pd.read_parquet(world_dir / "transactions.parquet")
    assignments = pd.read_parquet(world_dir / "assignments.parquet")
    both = pd.concat([assignments, assignments.assign(campaign_id="SPRING24")])
    with pytest.raises(DataValidationError, match="hold 2 campaigns .*name one with campaign_id"):
        load_campaign_files(transactions, both)
    files = load_campaign_files(transactions, both, campaign_id="SPRING24")
    assert len(files.assignments) == len(assignments)
    assert files.accounting["assignments"]["excluded"] == {"other_campaign": len(assignments)}


# -- randomization -------------------------------------------------------------------------------------------
TILTED = {"campaign": {"stratify_by": "channel", "strata": {"app": 0.8, "online": 0.5, "store": 0.25}}}


@pytest.fixture(scope="module")
def tilted_world(tmp_path_factory):
    """A campaign whose treated share leans towards heavy buyers (the app channel), stratified by channel."""
    from loyalty.cli import main

    folder = tmp_path_factory.mktemp("tilted")
    (folder / "config.yaml").write_text(yaml.safe_dump(TILTED))
    assert main(["simulate", "--customers", "4000", "--seed", "11", "--config", str(folder / "config.yaml"),
                 "--out", str(folder / "world"), "--no-progress"]) == 0
    return folder


def _tilted_spec(folder, declared_equal: bool, **changes):
    assignments = pd.read_parquet(folder / "world" / "assignments.parquet")
    if declared_equal:
        assignments["propensity"] = 0.5  # what the file claims: everyone had the same chance
    assignments.to_csv(folder / f"offers_{declared_equal}.csv", index=False)
    data = {"campaign": {"transactions": str(folder / "world" / "transactions.parquet"),
                         "assignments": str(folder / f"offers_{declared_equal}.csv"),
                         "customers": str(folder / "world" / "customers.parquet"),
                         "customer_features": ["channel", "region", "category_mix", "tenure_band", "email_engagement"]}}
    return experiment_from_dict(_history_experiment(data, **changes))


def test_randomization_check_fails_a_campaign_tilted_towards_heavy_buyers_but_declared_equal(tilted_world):
    from loyalty.errors import RandomizationError
    from loyalty.targeting import load_campaign

    with pytest.raises(RandomizationError, match=r"imbalanced between arms \(\|SMD\| > 0.1\): channel=app \+") as error:
        load_campaign(_tilted_spec(tilted_world, declared_equal=True))
    assert "frequency +" in str(error.value) and "spend_total +" in str(error.value)  # treated buy more


def test_sample_ratio_mismatch_fails_when_the_arms_sizes_do_not_match_the_stated_propensity():
    from loyalty.targeting.randomization import check_randomization

    rng = np.random.default_rng(0)
    covariates = pd.DataFrame({"spend": rng.gamma(2.0, 50.0, 4000)})
    honest = check_randomization(rng.random(4000) < 0.5, 0.5, covariates)
    skewed = check_randomization(rng.random(4000) < 0.55, 0.5, covariates)
    assert honest.passed and honest.p_value > 0.001
    assert not skewed.passed and skewed.p_value < 0.001
    assert skewed.failures[0].startswith("sample-ratio mismatch: ")
    assert skewed.chi_square == pytest.approx(2 * (skewed.treated - 2000) ** 2 / 2000)  # Pearson, 1 df


def test_randomization_check_passes_the_same_campaign_with_its_honest_propensities(tilted_world):
    from loyalty.targeting import load_campaign

    check = load_campaign(_tilted_spec(tilted_world, declared_equal=False)).info["randomization"]
    assert check["passed"] and not check["flagged"] and check["srm_p_value"] > 0.001
    assert max(abs(v) for v in check["smd"].values()) <= 0.1


def test_an_allowed_imbalance_is_flagged_at_the_top_of_the_report_and_in_results(tilted_world, tmp_path):
    import jsonschema

    from loyalty.report.targeting import SCHEMA_PATH, write_experiment

    spec = _tilted_spec(tilted_world, declared_equal=True, randomization={"allow_imbalance": True})
    result = run_experiment(spec)
    document = write_experiment(result, tmp_path)
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
    assert document["randomization"]["flagged"] and not document["randomization"]["passed"]
    assert any("imbalanced between arms" in failure for failure in document["randomization"]["failures"])
    page = (tmp_path / "report.html").read_text()
    assert page.index('id="randomization-flag"') < page.index('id="headline"')
    assert "does not look randomized as stated" in page


@pytest.mark.parametrize("change, message", [
    ({"assignments": None}, "data.campaign: missing field 'assignments'"),
    ({"columns": {"customer_id": 7}}, "columns maps contract names to your column names"),
    ({"campaign": "X"}, "unknown field\\(s\\) \\['campaign'\\]"),
])
def test_bad_campaign_specs_fail_before_reading_the_files(change, message):
    options = {"transactions": "sales.csv", "assignments": "offers.csv", **change}
    with pytest.raises(SpecError, match=message):
        experiment_from_dict(_history_experiment({"campaign": {k: v for k, v in options.items()}}), "bad.yaml")


def test_campaign_paths_are_relative_to_the_spec_file(tmp_path):
    spec = {"kind": "experiment", **_history_experiment({"campaign": {"transactions": "data/sales.csv",
                                                                      "assignments": "data/offers.csv"}})}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    options = load_experiment(tmp_path / "spec.yaml").data["campaign"]
    assert options["transactions"] == str(tmp_path / "data" / "sales.csv")
    assert options["assignments"] == str(tmp_path / "data" / "offers.csv")


def test_assignment_times_with_time_zones_are_stored_naive_in_utc_and_unparseable_ones_rejected():
    from loyalty.data import validate_assignments, validate_transactions

    log = validate_transactions(pd.DataFrame({"customer_id": ["a", "b", "c"], "amount": [1.0, 2.0, 3.0],
                                              "timestamp": ["2024-01-01", "2024-02-01", "2024-03-01"]})).transactions
    raw = pd.DataFrame({"customer_id": ["a", "b", "c"], "campaign_id": "X", "treatment": ["1", "0", "1"],
                        "assigned_at": ["2024-01-15T00:00:00Z", "2024-01-15 01:00+01:00", "mid-January"]})
    checked = validate_assignments(raw, log)
    assert checked.assignments["assigned_at"].tolist() == [pd.Timestamp("2024-01-15")] * 2
    assert checked.accounting["rejected"] == {"unparseable_assigned_at": 1}
    assert checked.rejects["reason"].tolist() == ["unparseable_assigned_at"] and checked.rejects["row"].tolist() == [2]


@pytest.mark.parametrize("ids", [
    ["a", "b", "a", "c", None, "b", "a"],          # plain text ids: read as categorical codes
    [" a", "b", "a", "c", None, "b", "a "],        # padded ids: stripping merges customers, so left as given
    ["a", "", "a", "c", None, "b", "a"],           # a blank id: rejected as missing either way
])
def test_compact_ids_validate_to_the_same_clean_log_and_accounting(ids):
    from loyalty.data import validate_transactions
    from loyalty.data.campaign import compact_customer_ids

    raw = pd.DataFrame({"customer_id": pd.Series(ids, dtype="str"),
                        "timestamp": ["2024-01-02", "2024-01-02", "2024-01-02", "2024-01-05", "2024-01-06",
                                      "2024-01-07", "2024-01-02"],
                        "amount": [10.0, 5.0, -4.0, 3.0, 2.0, 5.0, 10.0]})
    compact = compact_customer_ids(raw)
    assert isinstance(compact["customer_id"].dtype, pd.CategoricalDtype) == (ids[0] == "a" and "" not in ids)
    assert raw["customer_id"].dtype == "str"  # the caller's frame is not modified
    plain, coded = validate_transactions(raw), validate_transactions(compact)
    assert coded.accounting == plain.accounting
    pd.testing.assert_frame_equal(coded.transactions.astype({"customer_id": "str"}),
                                  plain.transactions.astype({"customer_id": "str"}))
