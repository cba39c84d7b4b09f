"""Pipeline specs are checked on load: errors name the file, the field and the allowed values."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loyalty.errors import SpecError
from loyalty.jobs_commands import run_spec
from loyalty.pipeline_spec import load_pipeline

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
    path = _write(tmp_path, "score.yaml", targeting={"policy": "lifecycle", "budget": 0.2})
    with pytest.raises(SpecError, match=r"'targeting.policy' must be one of \['churn_risk', 'clv', 'margin_uplift', "
                                         r"'random', 'uplift'\], got 'lifecycle'"):
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
