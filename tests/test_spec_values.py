"""Every value of every spec kind is checked at load: a bad value raises SpecError naming the field and the value,
before any data are read (pipelines/*.yaml, models/*.yaml, experiments/*.yaml)."""

import math
from pathlib import Path

import pytest
import yaml

from loyalty.errors import SpecError
from loyalty.jobs import get_family, load_pipeline
from loyalty.targeting import load_experiment

ROOT = Path(__file__).resolve().parents[1]
NAN, INF = math.nan, math.inf

# (spec file, dotted field, bad value[, text the message must hold instead of the value's repr])
BAD = [
    # pipelines/fit.yaml
    ("pipelines/fit.yaml", "data.margin_rate", NAN), ("pipelines/fit.yaml", "data.margin_rate", -0.5),
    ("pipelines/fit.yaml", "data.margin_rate", 1.5), ("pipelines/fit.yaml", "data.margin_rate", INF),
    ("pipelines/fit.yaml", "data.margin_rate", "0.3"), ("pipelines/fit.yaml", "data.margin_rate", True),
    ("pipelines/fit.yaml", "data.duplicates", "sometimes"), ("pipelines/fit.yaml", "data.period", "M"),
    ("pipelines/fit.yaml", "data.unit", "fortnight"), ("pipelines/fit.yaml", "data.engine", "polars"),
    ("pipelines/fit.yaml", "data.source", "missing/log.csv"), ("pipelines/fit.yaml", "data.source", ""),
    ("pipelines/fit.yaml", "data.columns.amount", ""), ("pipelines/fit.yaml", "data.columns.amount", 5),
    ("pipelines/fit.yaml", "data.columns.spend", "total", "data.columns.spend"),
    ("pipelines/fit.yaml", "cutoff", "1997-13-45"), ("pipelines/fit.yaml", "cutoff", "yesterday"),
    ("pipelines/fit.yaml", "register", "yes"), ("pipelines/fit.yaml", "experiment", "../etc"),
    ("pipelines/fit.yaml", "experiment", ""), ("pipelines/fit.yaml", "models.clv", "models/missing.yaml"),
    ("pipelines/fit.yaml", "models.ltv", "models/clv.yaml", "'ltv'"), ("pipelines/fit.yaml", "data", "cdnow"),
    ("pipelines/fit.yaml", "job", "train"), ("pipelines/fit.yaml", "description", 5),
    ("pipelines/fit_lifecycle.yaml", "models.uplift.name", "loyalty-uplift' or name='x"),
    ("pipelines/fit_lifecycle.yaml", "models.uplift.spec", "models/missing.yaml"),
    ("pipelines/fit_lifecycle.yaml", "models.uplift.spec", 5),
    ("pipelines/fit_lifecycle.yaml", "models.uplift.alias", "champion", "'models.uplift.alias'"),
    # pipelines/score.yaml
    ("pipelines/score.yaml", "output.path", "scores/{as_of.__class__}.parquet"),
    ("pipelines/score.yaml", "output.path", "scores/{as_of[0]}.parquet"),
    ("pipelines/score.yaml", "output.path", "scores/{}.parquet"),
    ("pipelines/score.yaml", "output.path", "scores/{0}.parquet"),
    ("pipelines/score.yaml", "output.path", "scores/{as_of!r}.parquet"),
    ("pipelines/score.yaml", "output.path", "scores/{as_of:>20}.parquet"),
    ("pipelines/score.yaml", "output.path", "scores/{date}.parquet"),
    ("pipelines/score.yaml", "output.path", "scores/{as_of.parquet"),
    ("pipelines/score.yaml", "output.path", ""), ("pipelines/score.yaml", "output.path", 7),
    ("pipelines/score.yaml", "output.row_group_size", 0), ("pipelines/score.yaml", "output.row_group_size", -5),
    ("pipelines/score.yaml", "output.row_group_size", 1.5),
    ("pipelines/score.yaml", "output.table", {"url": "scores.db", "name": "scores"}, "'scores.db'"),
    ("pipelines/score.yaml", "output.table", {"url": "sqlite:///s.db", "name": "s; DROP TABLE x"},
     "'s; DROP TABLE x'"),
    ("pipelines/score.yaml", "targeting.budget", NAN), ("pipelines/score.yaml", "targeting.budget", 20),
    ("pipelines/score.yaml", "targeting.budget", -0.1), ("pipelines/score.yaml", "targeting.policy", "oracle"),
    ("pipelines/score.yaml", "targeting.seed", -1),
    ("pipelines/score.yaml", "models.clv.name", "loyalty-clv' or name='x"),
    ("pipelines/score.yaml", "models.clv.alias", "champ ion"), ("pipelines/score.yaml", "as_of", "2024-02-30"),
    ("pipelines/score.yaml", "data.margin_rate", NAN),
    # pipelines/follow_up.yaml
    ("pipelines/follow_up.yaml", "drift_threshold", 0), ("pipelines/follow_up.yaml", "drift_threshold", -0.2),
    ("pipelines/follow_up.yaml", "drift_threshold", NAN),
    ("pipelines/follow_up.yaml", "predictions.path", "scores/{as_of.year}.parquet"),
    ("pipelines/follow_up.yaml", "predictions.as_of", "not-a-date"),
    ("pipelines/follow_up.yaml", "data.engine", "duckdb"),
    # models/clv.yaml
    ("models/clv.yaml", "settings.horizon", 0), ("models/clv.yaml", "settings.horizon", -12),
    ("models/clv.yaml", "settings.horizon", NAN), ("models/clv.yaml", "settings.period", "fortnight"),
    ("models/clv.yaml", "settings.period", -7), ("models/clv.yaml", "settings.annual_discount_rate", -0.1),
    ("models/clv.yaml", "settings.annual_discount_rate", INF), ("models/clv.yaml", "settings.margin_rate", NAN),
    ("models/clv.yaml", "settings.margin_rate", 1.5), ("models/clv.yaml", "settings.margin_rate", -0.5),
    ("models/clv.yaml", "settings.value", "profit"), ("models/clv.yaml", "settings.penalizer", -0.001),
    ("models/clv.yaml", "settings.penalizer", NAN),
    # models/churn.yaml
    ("models/churn.yaml", "settings.model", "xgboost"), ("models/churn.yaml", "settings.horizon", 0),
    ("models/churn.yaml", "settings.horizon", NAN), ("models/churn.yaml", "settings.horizon_unit", "fortnight"),
    ("models/churn.yaml", "settings.windows", []), ("models/churn.yaml", "settings.windows", [30, -90]),
    ("models/churn.yaml", "settings.windows", [30, "90d"]),
    ("models/churn.yaml", "settings.lightgbm.n_estimators", -5),
    ("models/churn.yaml", "settings.lightgbm.n_estimators", 0),
    ("models/churn.yaml", "settings.lightgbm.learning_rate", 0),
    ("models/churn.yaml", "settings.lightgbm.learning_rate", NAN),
    ("models/churn.yaml", "settings.lightgbm.num_leaves", 1),
    ("models/churn.yaml", "settings.lightgbm.subsample", 1.5),
    ("models/churn.yaml", "settings.lightgbm.validation_fraction", 1.0),
    ("models/churn.yaml", "settings.lightgbm.calibration", "platt"),
    ("models/churn.yaml", "settings.lightgbm.n_jobs", "all"),
    # models/uplift.yaml
    ("models/uplift.yaml", "settings.n_estimators", -5), ("models/uplift.yaml", "settings.window_days", 0),
    ("models/uplift.yaml", "settings.window_days", NAN), ("models/uplift.yaml", "settings.seed", -1),
    ("models/uplift.yaml", "settings.learner", "Q"), ("models/uplift.yaml", "settings.outcome", "revenue"),
    ("models/uplift.yaml", "settings.campaign.simulator.customers", 0),
    ("models/uplift.yaml", "settings.campaign.simulator.seed", -3),
    ("models/uplift.yaml", "settings.campaign", {"files": {"transactions": "missing.parquet",
                                                           "assignments": "missing.csv"}}, "'missing."),
    # experiments/simulated.yaml
    ("experiments/simulated.yaml", "budgets", []), ("experiments/simulated.yaml", "budgets", [0.1, NAN]),
    ("experiments/simulated.yaml", "budgets", [1.5], "1.5"), ("experiments/simulated.yaml", "policies", []),
    ("experiments/simulated.yaml", "policies", ["greedy"], "greedy"),
    ("experiments/simulated.yaml", "name", "../../etc"),
    ("experiments/simulated.yaml", "economics.margin_rate", NAN),
    ("experiments/simulated.yaml", "economics.margin_rate", -0.5),
    ("experiments/simulated.yaml", "economics.margin_rate", 1.5),
    ("experiments/simulated.yaml", "economics.discount_rate", 2),
    ("experiments/simulated.yaml", "economics.contact_cost", -1),
    ("experiments/simulated.yaml", "economics.annual_discount_rate", INF),
    ("experiments/simulated.yaml", "economics.horizon_days", NAN),
    ("experiments/simulated.yaml", "models.folds", 1), ("experiments/simulated.yaml", "models.n_estimators", -5),
    ("experiments/simulated.yaml", "models.learner", "Z"), ("experiments/simulated.yaml", "bootstrap.resamples", 10),
    ("experiments/simulated.yaml", "bootstrap.level", 1.5), ("experiments/simulated.yaml", "bootstrap.seed", -1),
    ("experiments/simulated.yaml", "data.simulator.customers", 0),
    ("experiments/simulated.yaml", "data.simulator.config", "missing.yaml"),
    ("experiments/simulated.yaml", "headline.budget", 0.5),
    ("experiments/simulated.yaml", "headline.policy", "oracle2"),
    # experiments/hillstrom.yaml
    ("experiments/hillstrom.yaml", "economics.margin_rate", NAN),
    ("experiments/hillstrom.yaml", "economics.margin_rate", 1.5),
]


def _load(kind_file: str, path: Path):
    if kind_file.startswith("pipelines/"):
        return load_pipeline(path)
    if kind_file.startswith("models/"):
        return get_family(Path(kind_file).stem).read_settings(path)
    return load_experiment(path)


def _set(spec: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        spec = spec.setdefault(key, {}) if isinstance(spec.get(key), dict) or key not in spec else spec[key]
    spec[last] = value


@pytest.mark.parametrize("case", BAD, ids=[f"{c[0]}:{c[1]}={c[2]!r}" for c in BAD])
def test_a_bad_spec_value_is_refused_at_load_naming_the_field_and_the_value(case, tmp_path, monkeypatch):
    kind_file, field, value, *shown = case
    monkeypatch.chdir(ROOT)
    spec = yaml.safe_load((ROOT / kind_file).read_text())
    _set(spec, field, value)
    path = tmp_path / Path(kind_file).name
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError) as error:
        _load(kind_file, path)
    message = str(error.value)
    assert field.split(".")[-1] in message, message
    assert (shown[0] if shown else repr(value)) in message, message


@pytest.mark.parametrize("kind_file", sorted({c[0] for c in BAD}))
def test_the_shipped_spec_loads_unchanged(kind_file, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert _load(kind_file, ROOT / kind_file)


def test_the_table_covers_every_spec_kind_with_at_least_80_values():
    kinds = {c[0].split("/")[0] for c in BAD}
    assert kinds == {"pipelines", "models", "experiments"} and len(BAD) >= 80


def test_an_output_template_is_filled_from_its_parsed_pieces_never_formatted():
    from loyalty.specs import fill_template

    assert fill_template("s/{as_of}_{{x}}.parquet", "spec", "output.path", as_of="2024-01-01") == \
        "s/2024-01-01_{x}.parquet"
    with pytest.raises(SpecError, match=r"field 'output.path' may only use \{as_of\}.*\{as_of.__class__\}"):
        fill_template("s/{as_of.__class__}.parquet", "spec", "output.path", as_of="2024-01-01")


def test_a_scoring_spec_built_in_python_is_checked_before_the_run(tmp_path, monkeypatch):
    """A spec dict that skipped load_pipeline still cannot reach str.format with a hostile template."""
    from loyalty.jobs import run_score

    monkeypatch.chdir(tmp_path)
    spec = {"__file__": "hand-made", "as_of": "1997-09-30", "output": {"path": "{as_of.__init__.__globals__}"},
            "models": {}, "data": {}, "experiment": "x"}
    with pytest.raises(SpecError, match="may only use"):
        run_score(spec)
    assert not (tmp_path / "mlflow.db").exists()  # refused before any run started


@pytest.mark.parametrize("rate", [NAN, -0.5, 1.5, INF])
def test_run_spec_refuses_a_margin_rate_outside_0_1(rate):
    from loyalty.jobs import run_spec

    with pytest.raises(SpecError, match=f"field 'margin_rate' must be .*got {rate!r}"):
        run_spec(ROOT / "models" / "clv.yaml", as_of="1997-09-30", margin_rate=rate)
