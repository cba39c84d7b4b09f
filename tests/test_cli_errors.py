"""The command line reports every error in one line, with remedies in command-line spelling, never a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from loyalty.cli import build_parser, main
from loyalty.errors import ConvergenceError, DataValidationError, Hint

ROOT = Path(__file__).resolve().parents[1]


def _log(tmp_path, **renames):
    frame = pd.DataFrame({"customer_id": ["a", "a", "b"], "timestamp": ["2024-01-01", "2024-02-01", "2024-01-05"],
                          "amount": [10.0, 12.0, 7.5]}).rename(columns=renames)
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_hint_is_spelled_for_python_in_the_library_and_for_the_command_line_on_the_cli():
    error = ConvergenceError("BG/NBD diverged. Try a penalizer (e.g. {hint}).", hint=Hint("penalizer", 0.001))
    assert str(error) == "BG/NBD diverged. Try a penalizer (e.g. penalizer=0.001)."
    assert error.render("cli") == "BG/NBD diverged. Try a penalizer (e.g. --penalizer 0.001)."
    mapping = DataValidationError("column 'amount' missing", hint=Hint("columns", {"amount": "<your column>"}))
    assert str(mapping) == "column 'amount' missing; try columns={'amount': '<your column>'}"
    assert mapping.render("cli") == "column 'amount' missing; try --columns amount=<your column>"
    assert Hint("margin_rate", 0.3, option="--clv-margin-rate").cli() == "--clv-margin-rate 0.3"
    assert Hint("duplicates", True, option="--keep-duplicates").cli() == "--keep-duplicates"


def test_a_message_quoting_braces_is_shown_as_it_is():
    error = DataValidationError("column '{as_of.__class__}' missing: {hint}", hint=Hint("columns", {"a": "b"}))
    assert error.render("cli") == "column '{as_of.__class__}' missing: --columns a=b"


def test_a_missing_column_on_the_cli_names_the_cli_option(tmp_path, capsys):
    # a required column (amount is optional: a log without it is purchase events)
    path = _log(tmp_path, timestamp="sold_at")
    code = main(["summarize", str(path), "--cutoff", "2024-03-01", "--engine", "pandas",
                 "--out", str(tmp_path / "s.parquet")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("loyalty: error: ")
    assert "--columns timestamp=<your column>" in err and "columns={" not in err


def test_an_unexpected_exception_is_one_line_pointing_at_debug(monkeypatch, capsys, tmp_path):
    import loyalty.cli.summarize as command

    def boom(args):
        raise RuntimeError("kaboom\nsecond line")

    monkeypatch.setattr(command, "_summarize", boom)
    argv = ["summarize", str(_log(tmp_path)), "--cutoff", "2024-03-01", "--out", str(tmp_path / "s.parquet")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err == ("loyalty: unexpected error: RuntimeError: kaboom second line (a bug; run with --debug or "
                   "LOYALTY_DEBUG=1 for the traceback)\n")
    with pytest.raises(RuntimeError, match="kaboom"):
        main(["--debug", *argv])
    monkeypatch.setenv("LOYALTY_DEBUG", "1")
    with pytest.raises(RuntimeError, match="kaboom"):
        main(argv)


def test_an_os_error_is_a_one_line_error(tmp_path, capsys):
    blocked = tmp_path / "file"
    blocked.write_text("")
    code = main(["summarize", str(_log(tmp_path)), "--cutoff", "2024-03-01", "--engine", "pandas",
                 "--out", str(blocked / "sub" / "s.parquet")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("loyalty: error: ") and err.count("\n") == 1


@pytest.mark.parametrize("option, value", [
    (("clv", "fit", "--clv-margin-rate"), "nan"), (("clv", "fit", "--clv-margin-rate"), "-0.5"),
    (("clv", "fit", "--clv-margin-rate"), "1.5"), (("clv", "fit", "--margin-rate"), "nan"),
    (("clv", "fit", "--margin-rate"), "inf"), (("clv", "fit", "--penalizer"), "-1"),
    (("clv", "fit", "--annual-discount-rate"), "nan"), (("clv", "fit", "--horizon"), "0"),
    (("summarize", "--margin-rate"), "1.01"), (("churn", "fit", "--margin-rate"), "-0.01"),
    (("churn", "fit", "--test-size"), "nan"), (("churn", "fit", "--n-estimators"), "-5"),
    (("churn", "fit", "--learning-rate"), "0"), (("churn", "fit", "--horizon"), "nan"),
    (("uplift", "fit", "--margin-rate"), "nan"), (("uplift", "fit", "--window-days"), "-1"),
    (("uplift", "fit", "--folds"), "-2"), (("run", "--margin-rate"), "2"),
    (("compare", "--resamples"), "0"), (("simulate", "--customers"), "-10"),
])
def test_out_of_range_numeric_options_are_refused_before_anything_runs(option, value, capsys):
    *command, flag = option
    positional = {"summarize": ["log.csv", "--cutoff", "2024-01-01", "--out", "x"],
                  "run": ["spec.yaml"], "compare": ["spec.yaml"], "simulate": ["--seed", "1", "--out", "x"]}
    argv = [*command, *positional.get(command[0], []), flag, value]
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err


def test_the_installed_command_prints_no_traceback_for_a_hostile_file(tmp_path):
    """A real process: an empty file, a binary file named .csv and a missing file each give one line."""
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 8)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("LOYALTY_DEBUG", None)
    for name in ("empty.csv", "binary.csv", "missing.csv"):
        for engine in ("pandas", "duckdb"):
            out = subprocess.run([sys.executable, "-m", "loyalty.cli", "summarize", str(tmp_path / name),
                                  "--cutoff", "2024-01-01", "--engine", engine, "--out", str(tmp_path / "s.parquet")],
                                 capture_output=True, text=True, env=env, timeout=300)
            assert out.returncode in (1, 2), (name, engine, out.stderr)
            assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1, (name, engine, out.stderr)


def test_scoring_margin_clv_on_a_log_without_margin_names_the_cli_option(tmp_path, capsys):
    from loyalty.datasets import load_cdnow

    log = tmp_path / "cdnow_without_margin.csv"
    load_cdnow().to_csv(log, index=False)
    model = tmp_path / "m.json"
    assert main(["clv", "fit", str(log), "--cutoff", "1997-09-30", "--out", str(model)]) == 0
    capsys.readouterr()
    argv = ["clv", "score", str(log), "--model", str(model), "--as-of", "1997-09-30", "--out", str(tmp_path / "s.csv")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--margin-rate <share of revenue>" in err and "margin_rate=" not in err
    assert main(argv + ["--margin-rate", "0.3"]) == 0
    assert len(pd.read_csv(tmp_path / "s.csv")) == 2357
