"""Benchmark of the ground-truth simulator: generation time and peak memory per size.

Each size runs in a fresh Python process, so ``peak_rss_mb`` (``resource.getrusage`` max RSS of that process,
interpreter and libraries included) is the peak of that one generation. Two steps per size:

- ``simulate``: ``loyalty.simulate.simulate`` builds the whole world in memory (four pandas frames);
- ``simulate_to_parquet``: ``write_world`` streams it chunk by chunk to parquet (what ``loyalty simulate`` does;
  memory bounded by the chunk size, the route for 10M customers).

Results go to ``benchmarks/results/simulate.json`` (written atomically), one record per step and size:
``{"step", "customers", "transactions", "seconds", "seconds_per_million_customers", "peak_rss_mb"}``.

Usage: ``python benchmarks/bench_simulate.py [--sizes 100000,1000000]`` or ``run(sizes)`` from Python.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "simulate.json"
DEFAULT_SIZES = (100_000, 1_000_000)
STEPS = ("simulate", "simulate_to_parquet")


def _measure(step: str, customers: int, seed: int = 1) -> dict:
    """Run one step in this process and return its record (call in a fresh process for a clean peak)."""
    import resource
    import time

    from loyalty.simulate import SimulationConfig, simulate, write_world

    config = SimulationConfig(n_customers=customers)
    start = time.perf_counter()
    if step == "simulate":
        world = simulate(config, seed=seed, progress=False)
        transactions = len(world.transactions)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            manifest = write_world(config, seed, Path(tmp) / "world", progress=False)
        transactions = manifest["counts"]["transactions"]
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return {
        "step": step,
        "customers": customers,
        "transactions": int(transactions),
        "seconds": round(seconds, 3),
        "seconds_per_million_customers": round(seconds / customers * 1e6, 3),
        "peak_rss_mb": round(peak_kb / 1024, 1),
    }


def _write_atomic(records: list[dict], path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(records, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(sizes=DEFAULT_SIZES) -> list[dict]:
    """Time every step at every size (each in its own process), print and save the records, return them."""
    records = []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    for customers in sizes:
        for step in STEPS:
            out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", step, str(customers)],
                                 check=True, capture_output=True, text=True, env=env)
            record = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{record['step']:>20} {record['customers']:>10,} customers {record['transactions']:>11,} "
                  f"transactions {record['seconds']:8.2f} s ({record['seconds_per_million_customers']:.2f} s per "
                  f"million customers) peak RSS {record['peak_rss_mb']:,.0f} MB", flush=True)
            records.append(record)
    _write_atomic(records)
    return records


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="comma-separated numbers of customers")
    parser.add_argument("--worker", nargs=2, metavar=("STEP", "CUSTOMERS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_measure(args.worker[0], int(args.worker[1]))))
        return
    run([int(size) for size in args.sizes.split(",")])


if __name__ == "__main__":
    main()
