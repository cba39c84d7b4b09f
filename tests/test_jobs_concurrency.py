"""Two scoring jobs writing one output path: both finish, the file is complete, and no run deletes another's
temporary file; temporary files of killed writers are cleaned up, those of live writers are not."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd

from loyalty.atomic import atomic_write, remove_stale_temporaries

ROOT = Path(__file__).resolve().parents[1]

_WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    import pandas as pd
    from loyalty.jobs import write_scores

    path, value, rounds = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    scores = pd.DataFrame({"clv": np.full(200_000, value)}, index=pd.Index(range(200_000), name="customer_id"))
    for _ in range(rounds):
        write_scores(scores, path, {"as_of": "2024-01-01", "writer": value}, row_group_size=20_000)
""")


def test_two_processes_writing_the_same_scores_path_both_succeed_with_a_complete_file(tmp_path):
    path = tmp_path / "scores" / "scores_2024-01-01.parquet"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(value), "12"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for value in (1.0, 2.0)]
    results = [(w.wait(timeout=600), w.stderr.read()) for w in writers]
    assert [code for code, _ in results] == [0, 0], results
    scores = pd.read_parquet(path)
    assert len(scores) == 200_000 and scores["clv"].nunique() == 1 and scores["clv"].iloc[0] in (1.0, 2.0)
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_killed_writers_temporary_file_is_removed_and_a_live_writers_is_kept(tmp_path):
    path = tmp_path / "out.json"
    atomic_write(path, lambda tmp: tmp.write_text("{}"))  # learn this host's temporary-file form
    seen = {}

    def capture(tmp):
        seen["name"] = tmp.name
        tmp.write_text("{}")

    atomic_write(path, capture)
    own = seen["name"]
    dead = tmp_path / own.replace(f"loyalty-{os.getpid()}-", f"loyalty-{_dead_pid()}-")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / own.replace(f"loyalty-{os.getpid()}-", f"loyalty-{sleeper.pid}-")
        other_host = tmp_path / f".out.json.loyalty-{_dead_pid()}-00000000-abc.tmp"
        for file in (dead, live, other_host):
            file.write_text("partial")
        assert remove_stale_temporaries(path) == [dead]
        assert not dead.exists() and live.exists() and other_host.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_follow_up_never_loads_a_model_from_a_uri_written_in_a_scores_file(tmp_path, monkeypatch):
    """Loading a pyfunc runs its code: a scores file may only name a version in the configured store."""
    import yaml

    from loyalty.errors import DataValidationError
    from loyalty.jobs import load_pipeline, run_follow_up, write_scores
    from loyalty.tracking import use_tracking

    monkeypatch.chdir(tmp_path)
    use_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}")
    evil = tmp_path / "evil_model"
    scores = pd.DataFrame({"clv": [1.0]}, index=pd.Index(["a"], name="customer_id"))
    write_scores(scores, tmp_path / "scores_1997-09-30.parquet",
                 {"as_of": "1997-09-30", "models": {"clv": evil.as_uri()}})
    spec = yaml.safe_load((ROOT / "pipelines" / "follow_up.yaml").read_text())
    spec["predictions"]["path"] = str(tmp_path / "scores_{as_of}.parquet")
    (tmp_path / "follow_up.yaml").write_text(yaml.safe_dump(spec))
    try:
        run_follow_up(load_pipeline(tmp_path / "follow_up.yaml"), as_of="1998-06-30")
    except DataValidationError as error:
        assert "expected models:/<name>/<version>" in str(error) and evil.as_uri() in str(error)
    else:
        raise AssertionError("a scores file naming a file URI was followed")


def test_a_table_is_written_in_the_format_its_name_asks_for(tmp_path):
    from loyalty.atomic import write_table

    frame = pd.DataFrame({"clv": [1.5, 2.25]}, index=pd.Index(["a", "b"], name="customer_id"))
    for name, read in [("s.parquet", pd.read_parquet), ("s", pd.read_parquet),
                       ("s.csv", lambda p: pd.read_csv(p, index_col=0)),
                       ("s.CSV.gz", lambda p: pd.read_csv(p, index_col=0, compression="gzip"))]:
        write_table(frame, tmp_path / name)
        back = read(tmp_path / name)
        pd.testing.assert_frame_equal(back, frame, check_index_type=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s", "s.CSV.gz", "s.csv", "s.parquet"]
