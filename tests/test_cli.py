"""The command line: every command has help, and the CLV commands round-trip through files."""

import json

import pandas as pd
import pytest

from loyalty.cli import build_parser, main
from loyalty.clv import CLVModel
from loyalty.data import summarize, validate_transactions
from loyalty.datasets import load_cdnow


def _commands(parser, prefix=()):
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for name, sub in action.choices.items():
            yield prefix + (name,)
            if sub._subparsers is not None:
                yield from _commands(sub, prefix + (name,))


def test_every_command_has_help(capsys):
    commands = list(_commands(build_parser()))
    assert ("clv", "fit") in commands and ("clv", "score") in commands and ("summarize",) in commands
    for command in commands:
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--help"])
        assert exit_info.value.code == 0
        assert "usage: loyalty" in capsys.readouterr().out


@pytest.fixture(scope="module")
def cdnow_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "cdnow.csv"
    load_cdnow().rename(columns={"customer_id": "member", "timestamp": "date"}).to_csv(path, index=False)
    return path


def test_clv_fit_then_score_equals_the_in_memory_model(cdnow_csv, tmp_path):
    model_path, scores_path = tmp_path / "clv.json", tmp_path / "scores.parquet"
    mapping = "customer_id=member,timestamp=date"
    assert main(["clv", "fit", str(cdnow_csv), "--columns", mapping, "--cutoff", "1997-09-30", "--unit", "W",
                 "--keep-duplicates", "--clv-margin-rate", "0.3", "--out", str(model_path)]) == 0
    assert main(["clv", "score", str(cdnow_csv), "--columns", mapping, "--model", str(model_path),
                 "--keep-duplicates", "--as-of", "1997-09-30", "--out", str(scores_path)]) == 0
    clean = validate_transactions(load_cdnow(), duplicates="keep").transactions
    summary = summarize(clean, "1997-09-30", period="D", unit="W")
    expected = CLVModel(margin_rate=0.3).fit(summary).score(summary)
    written = pd.read_parquet(scores_path)
    pd.testing.assert_frame_equal(written, expected, rtol=1e-9, check_names=False, check_index_type=False)
    assert json.loads(model_path.read_text())["transactions"]["params"]["r"] == pytest.approx(0.2426, abs=1e-4)


def test_summarize_writes_summary_and_rejects(cdnow_csv, tmp_path, capsys):
    out = tmp_path / "summary.parquet"
    assert main(["summarize", str(cdnow_csv), "--columns", "customer_id=member,timestamp=date",
                 "--cutoff", "1997-09-30", "--holdout-end", "1998-06-30", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "rows read 6,919 = used 6,898" in printed and "duplicate_row 21" in printed
    assert len(pd.read_parquet(out)) == 2357
    rejects = pd.read_parquet(tmp_path / "summary_rejects.parquet")
    assert len(rejects) == 21 and set(rejects["reason"]) == {"duplicate_row"}


def test_bad_input_is_an_error_message_not_a_traceback(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"id": [1], "when": ["2024-01-01"], "amount": [3.0]}).to_csv(path, index=False)
    code = main(["clv", "fit", str(path), "--cutoff", "2024-02-01", "--out", str(tmp_path / "m.json")])
    assert code == 2
    assert "Required column 'customer_id' missing" in capsys.readouterr().err


def test_demo_runs_end_to_end(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--clv-only"]) == 0
    report = json.loads((tmp_path / "clv_report.json").read_text())
    assert report["accounting"]["rows_read"] == 69_659
    for name in ("clv_scores.parquet", "clv_model.json", "holdout_purchases.png", "clv_distribution.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert "outputs in" in capsys.readouterr().out


def test_model_spec_sets_clv_settings(tmp_path):
    from pathlib import Path

    model = CLVModel.from_spec(Path(__file__).parents[1] / "models" / "clv.yaml")
    assert (model.horizon, model.period, model.annual_discount_rate, model.value) == (12, "M", 0.10, "margin")


@pytest.mark.parametrize(
    "body, message",
    [
        ("kind: model\nfamily: clv\nsettings:\n  horizn: 12\n", r"unknown field\(s\) \['settings.horizn'\]"),
        ("kind: model\nfamily: clv\nsettings:\n  horizon: twelve\n", "field 'settings.horizon' must be int/float, got 'twelve'"),
        ("kind: model\nfamily: churn\n", "field 'family' must be 'clv'"),
        ("kind: pipeline\n", "field 'kind' must be 'model'"),
    ],
)
def test_bad_model_specs_name_file_and_field(tmp_path, body, message):
    from loyalty.errors import SpecError

    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(SpecError, match=message) as info:
        CLVModel.from_spec(path)
    assert str(path) in str(info.value)


@pytest.mark.slow
def test_full_demo_prints_the_headlines_and_report_paths(tmp_path, capsys):
    from pathlib import Path

    experiments = Path(__file__).parents[1] / "experiments"
    assert main(["demo", "--out", str(tmp_path), "--experiments", str(experiments)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("At a 20% budget") == 2
    for name in ("simulated", "hillstrom"):
        assert (tmp_path / name / "report.html").exists() and (tmp_path / name / "results.json").exists()
