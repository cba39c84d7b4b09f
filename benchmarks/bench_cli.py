"""Benchmark of the command line's start-up: ``loyalty --help`` and every ``loyalty <group> --help``.

Each command runs in a fresh process; wall time is measured around the whole process (interpreter start
included), and ``peak_rss_mb`` is that process's maximum resident set (``os.wait4`` rusage). The peer is a bare
interpreter (``python -c pass``) measured in the same run: ``x_interpreter`` says how many times its wall time
the command takes. Goal (issue 14): ``loyalty --help`` under 0.5 s and 120 MB.

Results go to ``benchmarks/results/cli.json`` (written atomically): one record per command with the median and
the maximum over ``--repeats`` runs.

Usage: ``python benchmarks/bench_cli.py [--repeats 7]`` or ``run(repeats)`` from Python.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "cli.json"
GOAL_SECONDS, GOAL_MB = 0.5, 120.0


def _loyalty() -> list[str]:
    """The ``loyalty`` console script beside this interpreter, else ``python -m loyalty.cli``."""
    script = Path(sys.executable).with_name("loyalty")
    return [str(script)] if script.exists() else [sys.executable, "-m", "loyalty.cli"]


def _once(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one fresh process running ``command``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}: {process.stderr.read().decode()}")
    process.stderr.close()
    return seconds, usage.ru_maxrss / 1024  # Linux: kilobytes


def _groups() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from loyalty.cli import build_parser

    return sorted(build_parser()._subparsers._group_actions[0].choices)


def _record(name: str, command: list[str], repeats: int) -> dict:
    runs = [_once(command) for _ in range(repeats)]
    seconds, memory = [r[0] for r in runs], [r[1] for r in runs]
    return {"command": name, "repeats": repeats, "seconds_median": statistics.median(seconds),
            "seconds_max": max(seconds), "peak_rss_mb_median": statistics.median(memory),
            "peak_rss_mb_max": max(memory)}


def run(repeats: int = 7) -> list[dict]:
    loyalty = _loyalty()
    records = [_record("python -c pass", [sys.executable, "-c", "pass"], repeats),
               _record("loyalty --help", [*loyalty, "--help"], repeats)]
    records += [_record(f"loyalty {group} --help", [*loyalty, group, "--help"], max(3, repeats // 2))
                for group in _groups()]
    floor = records[0]["seconds_median"]
    for record in records:
        record["x_interpreter"] = record["seconds_median"] / floor
        record["meets_goal"] = record["seconds_median"] < GOAL_SECONDS and record["peak_rss_mb_max"] < GOAL_MB
    RESULTS.parent.mkdir(exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=RESULTS.parent, suffix=".tmp", delete=False) as fh:
        json.dump(records, fh, indent=2)
    os.replace(fh.name, RESULTS)
    for record in records:
        print(f"{record['command']:<28} {record['seconds_median']:.3f} s median (max {record['seconds_max']:.3f}), "
              f"peak {record['peak_rss_mb_max']:.0f} MB, {record['x_interpreter']:.1f}x the bare interpreter")
    return records


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="fresh processes per command (default 7)")
    run(parser.parse_args(argv).repeats)


if __name__ == "__main__":
    main()
