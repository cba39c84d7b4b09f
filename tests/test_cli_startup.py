"""`loyalty --help` and every group's `--help` start without loading the heavy libraries."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loyalty.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("mlflow", "lightgbm", "numba", "duckdb", "pyspark", "matplotlib", "sklearn", "scipy", "pandas", "pyarrow")
GROUPS = sorted(build_parser()._subparsers._group_actions[0].choices)

_PROBE = """
import contextlib, io, json, sys
from loyalty.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main(sys.argv[1:])
    except SystemExit as exit:
        code = exit.code
print(json.dumps({"code": code, "usage": "usage: loyalty" in out.getvalue(),
                  "loaded": sorted({m.split('.')[0] for m in sys.modules} & set(%r))}))
""" % (HEAVY,)


def _help_in_fresh_process(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE, *args, "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("group", [None, *GROUPS])
def test_help_loads_no_heavy_library(group):
    result = _help_in_fresh_process(*([group] if group else []))
    assert result["code"] == 0 and result["usage"]
    assert result["loaded"] == []


def test_every_group_is_probed():
    assert {"summarize", "clv", "churn", "simulate", "uplift", "compare", "demo", "run", "promote"} <= set(GROUPS)


def test_cli_choices_match_the_library():
    from loyalty.cli import _inputs, churn
    from loyalty.data.features import DEFAULT_WINDOWS
    from loyalty.data.summary import PERIODS
    from loyalty.engines import ENGINES

    assert set(_inputs.PERIODS) == set(PERIODS)
    assert tuple(_inputs.ENGINES) == tuple(ENGINES)
    assert tuple(churn.DEFAULT_WINDOWS) == tuple(DEFAULT_WINDOWS)
