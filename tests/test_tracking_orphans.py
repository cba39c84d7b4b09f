"""A run whose process was killed (SIGKILL) is marked FAILED at the next start; a live run is left RUNNING."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from loyalty.tracking import fail_orphaned_runs, tracked_run, use_tracking

ROOT = Path(__file__).resolve().parents[1]

_HOLDER = textwrap.dedent("""
    import sys, time
    from loyalty.tracking import tracked_run, use_tracking

    use_tracking(sys.argv[1])
    with tracked_run("loyalty-score", run_name="score 2024-01-01") as run:
        with tracked_run("", run_name="nested", nested=True) as child:
            print(run.info.run_id, child.info.run_id, flush=True)
            time.sleep(600)
""")


def _start_run_holder(uri: str) -> tuple[subprocess.Popen, list[str]]:
    process = subprocess.Popen([sys.executable, "-c", _HOLDER, uri], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    return process, process.stdout.readline().split()


def test_a_sigkilled_runs_are_marked_failed_at_the_next_start_and_live_ones_are_not(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    killed, killed_runs = _start_run_holder(uri)
    live, live_runs = _start_run_holder(uri)
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=60)
        use_tracking(uri)
        client = MlflowClient()
        assert {client.get_run(r).info.status for r in killed_runs + live_runs} == {"RUNNING"}

        with tracked_run("loyalty-fit", run_name="next start") as run:
            assert run.info.status == "RUNNING"
        for run_id in killed_runs:
            info = client.get_run(run_id)
            assert info.info.status == "FAILED" and info.info.end_time is not None
            assert f"process {killed.pid} ended without finishing" in info.data.tags["loyalty.failure"]
        assert {client.get_run(r).info.status for r in live_runs} == {"RUNNING"}
        assert client.get_run(run.info.run_id).info.status == "FINISHED"
        assert fail_orphaned_runs() == []  # nothing left to mark
    finally:
        live.kill()
        live.wait()
    assert sorted(fail_orphaned_runs()) == sorted(live_runs)  # once it is gone, it is an orphan too
    mlflow.set_tracking_uri(None)
