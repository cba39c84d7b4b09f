"""Pipeline specs are checked on load: errors name the file, the field and the allowed values."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from loyalty.errors import SpecError
from loyalty.jobs import run_spec
from loyalty.jobs import load_pipeline

ROOT = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, name: str, **changes) -> Path:
    spec = yaml.safe_load((ROOT / "pipelines" / name).read_text())
    spec.update(changes)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize("name", ["fit.yaml", "score.yaml", "follow_up.yaml"])
def test_shipped_pipeline_specs_load(name):
    spec = load_pipeline(ROOT / "pipelines" / name)
    assert spec["job"] == name.removesuffix(".yaml")


def test_unknown_key_is_named_with_the_allowed_fields(tmp_path):
    path = _write(tmp_path, "score.yaml", outptu={"path": "x.parquet"})
    with pytest.raises(SpecError, match=r"score\.yaml.*unknown field\(s\) \['outptu'\]; allowed fields are"):
        load_pipeline(path)


def test_unknown_data_key_names_the_section(tmp_path):
    path = _write(tmp_path, "fit.yaml", data={"source": "cdnow", "margin": 0.25})
    with pytest.raises(SpecError, match=r"fit\.yaml: data: unknown field\(s\) \['margin'\]"):
        load_pipeline(path)


def test_wrong_type_names_the_field_and_the_type(tmp_path):
    path = _write(tmp_path, "fit.yaml", register="yes")
    with pytest.raises(SpecError, match=r"fit\.yaml: field 'register' must be bool, got 'yes'"):
        load_pipeline(path)


def test_wrong_value_lists_the_allowed_values(tmp_path):
    path = _write(tmp_path, "fit.yaml", job="train")
    with pytest.raises(SpecError, match=r"field 'job' must be one of \['fit', 'score', 'follow_up'\], got 'train'"):
        load_pipeline(path)


def test_bad_date_names_the_field(tmp_path):
    path = _write(tmp_path, "fit.yaml", cutoff="30/09/1997")
    with pytest.raises(SpecError, match=r"fit\.yaml: cutoff: expected a date like 1997-09-30, got '30/09/1997'"):
        load_pipeline(path)


def test_missing_model_spec_file_names_the_field(tmp_path):
    path = _write(tmp_path, "fit.yaml", models={"clv": "models/nope.yaml"})
    with pytest.raises(SpecError, match=r"field 'models.clv': model spec 'models/nope.yaml' does not exist"):
        load_pipeline(path)


def test_missing_spec_file_is_named(tmp_path):
    with pytest.raises(SpecError, match=r"spec file '.*missing\.yaml' does not exist"):
        run_spec(tmp_path / "missing.yaml")


def test_missing_data_file_names_the_field(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path, "score.yaml", data={"source": "no_such_log.csv"})
    with pytest.raises(SpecError, match=r"field 'data.source': file 'no_such_log.csv' does not exist"):
        run_spec(path, as_of="1997-09-30")


def test_unknown_spec_kind_lists_the_kinds(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("kind: dashboard\n")
    with pytest.raises(SpecError, match=r"field 'kind' must be one of \['model', 'pipeline', 'experiment'\]"):
        run_spec(path)


def test_unknown_model_reference_field_is_named(tmp_path):
    path = _write(tmp_path, "score.yaml", models={"clv": {"name": "loyalty-clv", "stage": "Production"}})
    with pytest.raises(SpecError, match=r"models.clv: unknown field\(s\) \['stage'\]; allowed fields are"):
        load_pipeline(path)


def test_targeting_policy_must_be_one_the_scoring_job_can_rank_by(tmp_path):
    path = _write(tmp_path, "score.yaml", targeting={"policy": "response", "budget": 0.2})
    with pytest.raises(SpecError, match=r"'targeting.policy' must be one of \['churn_risk', 'clv', 'lifecycle', "
                                         r"'margin_uplift', 'random', 'uplift'\], got 'response'"):
        load_pipeline(path)


def test_targeting_budget_is_a_share(tmp_path):
    path = _write(tmp_path, "score.yaml", targeting={"policy": "clv", "budget": 20})
    with pytest.raises(SpecError, match=r"'targeting.budget' .* must be within \[0, 1\], got 20"):
        load_pipeline(path)


def test_model_spec_errors_name_the_setting(tmp_path):
    from loyalty.churn.spec import load_churn_spec
    from loyalty.uplift.deploy import load_uplift_spec

    churn = tmp_path / "churn.yaml"
    churn.write_text("kind: model\nfamily: churn\nsettings: {horizon: 90, lightgbm: {n_trees: 5}}\n")
    with pytest.raises(SpecError, match=r"churn\.yaml: settings.lightgbm: unknown parameter\(s\) \['n_trees'\]"):
        load_churn_spec(churn)
    uplift = tmp_path / "uplift.yaml"
    uplift.write_text("kind: model\nfamily: uplift\nsettings: {campaign: {simulator: {}}, learner: Q}\n")
    with pytest.raises(SpecError, match=r"uplift\.yaml: settings.learner must be one of \['T', 'S', 'X'\], got 'Q'"):
        load_uplift_spec(uplift)


# -- data.engine -------------------------------------------------------------------------------------------------
def test_data_engine_defaults_to_pandas_for_shipped_logs_and_duckdb_for_a_file(tmp_path):
    assert load_pipeline(_write(tmp_path, "fit.yaml", data={"source": "cdnow"}))["data"]["engine"] == "pandas"
    path = _write(tmp_path, "score.yaml", data={"source": "logs/tx.parquet"})
    assert load_pipeline(path)["data"]["engine"] == "duckdb"


def test_data_engine_lists_the_engines(tmp_path):
    path = _write(tmp_path, "fit.yaml", data={"source": "cdnow", "engine": "polars"})
    with pytest.raises(SpecError, match=r"fit\.yaml: field 'data.engine' must be one of \['pandas', 'duckdb', "
                                         r"'spark'\], got 'polars'"):
        load_pipeline(path)


def test_follow_up_runs_in_memory_and_says_so(tmp_path):
    path = _write(tmp_path, "follow_up.yaml", data={"source": "cdnow", "engine": "duckdb"})
    with pytest.raises(SpecError, match=r"field 'data.engine' must be 'pandas' for job 'follow_up'"):
        load_pipeline(path)


@pytest.fixture(scope="module")
def sample_csv(tmp_path_factory):
    from loyalty.datasets import load_cdnow

    path = tmp_path_factory.mktemp("log") / "cdnow_sample.csv"
    load_cdnow(sample=True).rename(columns={"customer_id": "member"}).to_csv(path, index=False)
    return path


def _data(source, engine: str) -> dict:
    return {"source": str(source), "columns": {"customer_id": "member"}, "margin_rate": 0.25, "duplicates": "drop",
            "period": "D", "unit": "W", "engine": engine}


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def test_job_data_step_gives_the_pandas_summary_and_accounting_on_each_engine(sample_csv, engine):
    from loyalty.jobs import load_summary

    spec = {"__file__": str(sample_csv.parent / "pipelines" / "fit.yaml")}
    expected, expected_accounting, log = load_summary(_data(sample_csv, "pandas"), spec, "1997-09-30")
    summary, accounting, none = load_summary(_data(sample_csv, engine), spec, "1997-09-30")
    assert none is None and log is not None
    assert accounting == expected_accounting
    # ids are the same strings; DuckDB hands them over as pandas "str", the pandas path keeps "object"
    pd.testing.assert_frame_equal(summary, expected, rtol=1e-9, atol=1e-9, check_index_type=False)
    _, _, kept = load_summary(_data(sample_csv, engine), spec, "1997-09-30", keep_log=True)
    pd.testing.assert_frame_equal(kept, log)


def test_fit_job_on_duckdb_fits_the_model_the_pandas_summary_gives(sample_csv, tmp_path, monkeypatch):
    from loyalty.clv import CLVModel
    from loyalty.jobs import load_summary

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    path = _write(tmp_path, "fit.yaml", data=_data(sample_csv, "duckdb"), register=False,
                  models={"clv": str(ROOT / "models" / "clv.yaml")})
    fitted = run_spec(path, as_of="1997-09-30")["fitted"]["clv"]
    summary, _, _ = load_summary(_data(sample_csv, "pandas"), {"__file__": str(path)}, "1997-09-30")
    expected = CLVModel.from_spec(ROOT / "models" / "clv.yaml").fit(summary)
    assert fitted.bgnbd_.params_ == pytest.approx(expected.bgnbd_.params_, rel=1e-8)
    assert fitted.gamma_gamma_.params_ == pytest.approx(expected.gamma_gamma_.params_, rel=1e-6)
