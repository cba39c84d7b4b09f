"""Benchmark: the engines at scale (issue 8) on simulated logs of 1M and 10M customers (~11 rows each, parquet).

Every measurement runs in a fresh Python subprocess (``--task``), so peak memory is the process's own: the peak
resident set size (``VmHWM``) of the whole process, with DuckDB's native memory included; for Spark, the JVM's
peak (a child process, from ``RUSAGE_CHILDREN`` after the session stops) is reported beside the driver's.
Timings are ``perf_counter`` around the step, after imports (whose time is reported beside: loyalty's import
loads its compiled kernels). Sides alternate within one run (floor, ours,
floor, ours, ...) so that load from other processes on the machine hits both; medians are reported, with the
1-minute load average each run started under. Every DuckDB run (the floor's too) has the same explicit
``memory_limit`` and ``threads``.

1. DuckDB ``summarize`` (trusted clean log, ``validate=False``; and with validation: rejects, duplicates,
   returns netting, streamed chunk by chunk as the log is sorted by customer; and the same validation by the SQL
   steps a log in another order takes) vs a bare DuckDB ``GROUP BY customer_id`` with min/max/count over the same
   files (the floor), both fetched to pandas; wall and CPU time. Targets: trusted / floor <= 1.5, validated /
   floor <= 3 (issue 17). At 1M the validated summary and accounting are compared with the pandas engine's.
2. pandas ``loyalty.data.summarize`` vs lifetimes' ``summary_data_from_transaction_data`` at 1M customers, on
   the same in-memory frame. Target: >= 20x.
3. End to end with DuckDB (summarise + validate to the collapsed statistics and a per-customer summary
   parquet, fit BG/NBD and Gamma-Gamma on the collapsed tables, score CLV for every customer in batches to
   parquet) within a DuckDB ``memory_limit``. Target: under 6 GiB peak resident memory at 10M.
4. Spark local[2] end to end at 1M (a correctness run of the distributed path, not a speed claim): the same
   steps in Spark, scores compared with the DuckDB path's.

Run: ``python benchmarks/bench_scale.py`` (``--sizes 1m`` for the 1M log only); writes
``benchmarks/results/scale.json`` atomically. Logs are generated once into ``--data`` (default
``$LOYALTY_BENCH_DATA`` or ``/tmp/loyalty_bench_scale``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
RESULTS = HERE / "results" / "scale.json"
SIZES = {"1m": 1_000_000, "10m": 10_000_000}
CUTOFF = "2024-03-31"
PERIOD, UNIT = "D", "W"
MEMORY_LIMIT = "3GB"  # DuckDB's own limit in every DuckDB run (the floor's too); it spills to disk beyond
THREADS = 2  # DuckDB threads in every DuckDB run (the floor's too): the machine's cores
DUCKDB_REPEATS = {"1m": 7}  # repeats of the DuckDB summarize comparison by log size (default 3)
TARGETS = {"duckdb_over_floor_max": 1.5, "duckdb_validated_over_floor_max": 3.0, "pandas_vs_lifetimes_min": 20.0, "end_to_end_peak_rss_gib_max": 6.0}
GIB = 1024**3


# -- tasks (run in a subprocess) ---------------------------------------------------------------------------------
def _peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _jvm_peak_rss(spark) -> int:
    """Peak RSS of the local Spark JVM (the gateway process: spark-submit execs java), 0 if unknown."""
    try:
        pid = spark.sparkContext._gateway.proc.pid
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (AttributeError, OSError):
        pass
    return 0


def task_floor(source: Path, **_) -> dict:
    imports = time.perf_counter()
    import duckdb
    import pandas  # noqa: F401  (imported before the clock starts, as ours is: .df() would import it)

    imports = time.perf_counter() - imports
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "threads": THREADS})
    start, cpu = time.perf_counter(), time.process_time()
    frame = con.execute(  # the path as a bound parameter, not SQL text
        "SELECT customer_id, min(timestamp) AS first, max(timestamp) AS last, count(*) AS n "
        "FROM read_parquet(?) GROUP BY customer_id", [f"{source}/*.parquet"]
    ).df()
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu,
            "customers": len(frame), "import_seconds": imports}


def _duckdb_summarize(source: Path, work: Path, validate: bool) -> dict:
    # imports before the clock starts, as for every side; timed on their own: loyalty's include loading its
    # compiled summary kernels (numba), a cost of every new process
    imports = time.perf_counter()
    import pyarrow.parquet  # noqa: F401

    from loyalty.engines import duckdb_engine, summarize

    imports = time.perf_counter() - imports

    # the connection and its settings before the clock starts, as the floor's
    con = duckdb_engine.connect(MEMORY_LIMIT, work / "spill", THREADS)
    start, cpu = time.perf_counter(), time.process_time()
    summary, accounting = summarize(source, CUTOFF, period=PERIOD, unit=UNIT, validate=validate, engine="duckdb",
                                    connection=con)
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu,
            "customers": len(summary), "import_seconds": imports,
            "accounting": None if accounting is None else accounting.as_dict()}


def task_duckdb_trusted(source: Path, work: Path, **_) -> dict:
    return _duckdb_summarize(source, work, validate=False)


def task_duckdb_validated(source: Path, work: Path, **_) -> dict:
    """The default for a user's file. The benchmark log is parquet sorted by customer, so it is streamed and
    validated chunk by chunk (loyalty.engines.sorted_chunks)."""
    return _duckdb_summarize(source, work, validate=True)


def task_duckdb_validated_sql(source: Path, work: Path, **_) -> dict:
    """The validated path a log not sorted by customer takes (a CSV, a log sorted by time): the SQL steps. Here
    the sorted benchmark log is made to take it by hiding its order, so both sides read the same files."""
    from loyalty.engines import duckdb_engine

    duckdb_engine.customer_order = lambda *args, **kwargs: None
    return _duckdb_summarize(source, work, validate=True)


def task_validated_equal_to_pandas(source: Path, work: Path, **_) -> dict:
    """The validated DuckDB summary and accounting against the pandas engine's on the same files (untimed)."""
    import numpy as np

    from loyalty.engines import duckdb_engine, summarize

    con = duckdb_engine.connect(MEMORY_LIMIT, work / "spill", THREADS)
    ours, ours_accounting = summarize(source, CUTOFF, period=PERIOD, unit=UNIT, engine="duckdb", connection=con)
    pandas, pandas_accounting = summarize(source, CUTOFF, period=PERIOD, unit=UNIT, engine="pandas")
    same_customers = bool(ours.index.astype(str).equals(pandas.index.astype(str)))
    columns = {c: bool(np.array_equal(ours[c].to_numpy(), pandas[c].to_numpy())) for c in pandas.columns}
    return {"seconds": 0.0, "customers": len(ours), "same_customers": same_customers,
            "accounting_equal": ours_accounting == pandas_accounting, "columns_bit_equal": columns,
            "accounting": ours_accounting.as_dict()}


#: Rows of the log each pandas side runs on first, untimed (as in bench_clv.py): imports and first-call costs.
WARMUP_ROWS = 10_000


def _frame(source: Path):
    import pandas as pd

    return pd.read_parquet(source, columns=["customer_id", "timestamp", "amount"])


def task_pandas_ours(source: Path, **_) -> dict:
    from loyalty.data import summarize

    frame = _frame(source)
    summarize(frame.iloc[:WARMUP_ROWS], CUTOFF, period=PERIOD)  # lazy imports and first calls, not timed
    start = time.perf_counter()
    summary = summarize(frame, CUTOFF, period=PERIOD)
    return {"seconds": time.perf_counter() - start, "customers": len(summary), "rows": len(frame)}


def task_lifetimes(source: Path, **_) -> dict:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes.utils import summary_data_from_transaction_data

        frame = _frame(source)
        summary_data_from_transaction_data(frame.iloc[:WARMUP_ROWS], "customer_id", "timestamp",
                                           monetary_value_col="amount", observation_period_end=CUTOFF, freq=PERIOD)
        start = time.perf_counter()
        summary = summary_data_from_transaction_data(
            frame, "customer_id", "timestamp", monetary_value_col="amount", observation_period_end=CUTOFF, freq=PERIOD
        )
    return {"seconds": time.perf_counter() - start, "customers": len(summary), "rows": len(frame)}


def _fit(stats):
    from loyalty.clv import BetaGeo, CLVModel, GammaGamma

    return CLVModel.from_models(BetaGeo().fit(stats.bgnbd), GammaGamma().fit(stats.gamma_gamma), margin_rate=0.3)


def task_end_to_end_duckdb(source: Path, work: Path, **_) -> dict:
    from loyalty.engines import duckdb_engine, summarize

    steps = {}
    start = time.perf_counter()
    stats, accounting = summarize(
        source, CUTOFF, period=PERIOD, unit=UNIT, engine="duckdb", collapse=True,
        summary_path=work / "summary.parquet", memory_limit=MEMORY_LIMIT, threads=THREADS,
        temp_directory=work / "spill",
    )
    steps["summarize_s"] = time.perf_counter() - start
    t = time.perf_counter()
    model = _fit(stats)
    steps["fit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    duckdb_engine.score(work / "summary.parquet", model, work / "scores_duckdb", as_of=CUTOFF,
                        connection=duckdb_engine.connect(MEMORY_LIMIT, work / "spill", THREADS))
    steps["score_s"] = time.perf_counter() - t
    model.save(work / "model_duckdb.json")
    return {"seconds": time.perf_counter() - start, **steps, "customers": stats.n_customers,
            "collapsed_rows": len(stats.bgnbd), "accounting": accounting.as_dict(),
            "bgnbd": model.bgnbd_.params_, "gamma_gamma": model.gamma_gamma_.params_}


def task_end_to_end_spark(source: Path, work: Path, **_) -> dict:
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    from loyalty.engines import spark_engine, summarize

    spark = (
        SparkSession.builder.master("local[2]").appName("loyalty-bench")
        .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "4g").config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    steps = {}
    start = time.perf_counter()
    stats, accounting = summarize(spark_engine.read(spark, source), CUTOFF, period=PERIOD, unit=UNIT,
                                  collapse=True, summary_path=work / "summary_spark")
    steps["summarize_s"] = time.perf_counter() - start
    t = time.perf_counter()
    model = _fit(stats)
    steps["fit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    spark_engine.score(spark.read.parquet(str(work / "summary_spark")), model, work / "scores_spark", as_of=CUTOFF)
    steps["score_s"] = time.perf_counter() - t
    seconds = time.perf_counter() - start
    jvm_peak = _jvm_peak_rss(spark)
    spark.stop()
    model.save(work / "model_spark.json")
    return {"seconds": seconds, **steps, "customers": stats.n_customers, "collapsed_rows": len(stats.bgnbd),
            "accounting": accounting.as_dict(), "bgnbd": model.bgnbd_.params_, "gamma_gamma": model.gamma_gamma_.params_,
            "jvm_peak_rss_gib": jvm_peak / GIB}


TASKS = {name[5:]: fn for name, fn in globals().items() if name.startswith("task_")}


# -- the driver --------------------------------------------------------------------------------------------------
def run_task(name: str, source: Path, work: Path) -> dict:
    command = [sys.executable, __file__, "--task", name, "--source", str(source), "--work", str(work)]
    load = os.getloadavg()[0]  # the machine is shared: the load each run started under
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"task {name} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load_average_1m"] = load
    print(f"  {name:<22} {result['seconds']:8.2f} s  cpu {result.get('cpu_seconds', 0):6.2f} s  peak {result['peak_rss_gib']:.2f} GiB  load {load:.1f}", flush=True)
    return result


def alternate(names: list[str], repeats: int, source: Path, work: Path, once=()) -> dict[str, list[dict]]:
    """Each repeat runs every task in turn; tasks in ``once`` run in the first repeat only (the slow ones)."""
    runs = {name: [] for name in names}
    for repeat in range(repeats):
        for name in names:
            if repeat == 0 or name not in once:
                runs[name].append(run_task(name, source, work))
    return runs


def summary_of(runs: list[dict]) -> dict:
    imports = [r["import_seconds"] for r in runs if "import_seconds" in r]
    cpu = [r["cpu_seconds"] for r in runs if "cpu_seconds" in r]
    return {
        "seconds_median": statistics.median(r["seconds"] for r in runs),
        **({"cpu_seconds_median": statistics.median(cpu)} if cpu else {}),
        **({"import_seconds_median": statistics.median(imports)} if imports else {}),
        "seconds": [round(r["seconds"], 3) for r in runs],
        "load_average_1m": [round(r["load_average_1m"], 2) for r in runs],
        "peak_rss_gib": max(r["peak_rss_gib"] for r in runs),
    }


def ensure_log(data: Path, size: str) -> tuple[Path, dict]:
    from scale_log import write_log

    folder = data / f"log_{size}"
    info_path = data / f"log_{size}.json"
    if not folder.exists():
        print(f"generating the {size} log in {folder}", flush=True)
        start = time.perf_counter()
        info = write_log(folder, SIZES[size])
        info["generate_s"] = time.perf_counter() - start
        info_path.write_text(json.dumps(info))
    if not info_path.exists():
        import pyarrow.parquet as pq

        rows = sum(pq.ParquetFile(p).metadata.num_rows for p in folder.glob("*.parquet"))
        info_path.write_text(json.dumps({"customers": SIZES[size], "rows": rows}))
    info = json.loads(info_path.read_text())
    info["bytes"] = sum(p.stat().st_size for p in folder.glob("*.parquet"))
    return folder, info


def compare_scores(work: Path) -> dict:
    import numpy as np
    import pandas as pd

    folder = f"as_of={CUTOFF}"
    duck = pd.read_parquet(work / "scores_duckdb" / folder).set_index("customer_id").sort_index()
    spark = pd.read_parquet(work / "scores_spark" / folder).set_index("customer_id").sort_index()
    same_customers = bool(duck.index.equals(spark.index))
    columns = ["p_alive", "expected_purchases", "expected_spend", "clv"]
    diff = np.abs(duck[columns].to_numpy() - spark.loc[duck.index, columns].to_numpy())
    scale = np.maximum(np.abs(duck[columns].to_numpy()), 1e-12)
    return {"same_customers": same_customers, "max_abs_diff": float(diff.max()),
            "max_rel_diff": float((diff / scale).max()), "customers": len(duck)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(TASKS))
    parser.add_argument("--source", type=Path)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--sizes", default="1m,10m", help="logs to run, e.g. 1m or 1m,10m")
    parser.add_argument("--repeats", type=int, default=None,
                        help="alternating repeats of each comparison (default: DuckDB at 1M 7, else 3)")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("LOYALTY_BENCH_DATA", "/tmp/loyalty_bench_scale")))
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: lifetimes, spark, end_to_end, summarize")
    args = parser.parse_args(argv)
    if args.task:
        args.work.mkdir(parents=True, exist_ok=True)
        result = TASKS[args.task](source=args.source, work=args.work)
        result["peak_rss_gib"] = _peak_rss() / GIB
        print(json.dumps(result, default=float))
        return 0

    from loyalty.atomic import write_json

    skip = set(filter(None, args.skip.split(",")))
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results = {
        "benchmark": "scale (issue 8)",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB, 1)},
        "settings": {"cutoff": CUTOFF, "period": PERIOD, "unit": UNIT, "duckdb_memory_limit": MEMORY_LIMIT,
                     "duckdb_threads": THREADS},
        "targets": TARGETS,
        "sizes": dict(previous.get("sizes", {})),
    }
    for size in filter(None, args.sizes.split(",")):
        source, info = ensure_log(args.data, size)
        work = args.data / f"work_{size}"
        # parts not run this time (--skip) keep their previous results
        entry = dict(results["sizes"].get(size, {}))
        entry.update({"log": info, "load_average_1m_at_start": os.getloadavg()[0]})
        print(f"{size}: {info['customers']:,} customers, {info['rows']:,} rows", flush=True)
        if "summarize" not in skip:
            # sub-second timings on a shared machine: more repeats at 1M, where a run costs seconds
            repeats = args.repeats or DUCKDB_REPEATS.get(size, 3)
            sides = ["floor", "duckdb_trusted", "duckdb_validated", "duckdb_validated_sql"]
            runs = alternate(sides, repeats, source, work)
            floor, trusted, validated, sql = (summary_of(runs[k]) for k in sides)
            entry["duckdb_summarize"] = {
                "repeats": repeats,
                "floor_group_by": floor, "ours_trusted": trusted, "ours_validated": validated,
                "ours_validated_sql_steps": sql,
                "ratio_trusted_over_floor": trusted["seconds_median"] / floor["seconds_median"],
                "ratio_validated_over_floor": validated["seconds_median"] / floor["seconds_median"],
                "ratio_validated_sql_steps_over_floor": sql["seconds_median"] / floor["seconds_median"],
                "cpu_ratio_validated_over_floor": validated["cpu_seconds_median"] / floor["cpu_seconds_median"],
                "accounting": runs["duckdb_validated"][0]["accounting"],
                "accounting_sql_steps_equal": runs["duckdb_validated_sql"][0]["accounting"]
                == runs["duckdb_validated"][0]["accounting"],
            }
            if size == "1m":
                entry["duckdb_summarize"]["validated_equal_to_pandas"] = run_task("validated_equal_to_pandas",
                                                                                   source, work)
        if size == "1m" and "lifetimes" not in skip:
            repeats = args.repeats or 3
            runs = alternate(["pandas_ours", "lifetimes"], repeats, source, work)
            ours, theirs = summary_of(runs["pandas_ours"]), summary_of(runs["lifetimes"])
            entry["pandas_vs_lifetimes"] = {
                "method": f"fresh subprocess per run, alternating, after an untimed call on the first "
                          f"{WARMUP_ROWS:,} rows", "repeats": repeats,
                "ours": ours, "lifetimes": theirs, "speedup": theirs["seconds_median"] / ours["seconds_median"]}
        if "end_to_end" not in skip:
            e2e = run_task("end_to_end_duckdb", source, work)
            entry["end_to_end_duckdb"] = e2e
        if size == "1m" and "spark" not in skip and "end_to_end" not in skip:
            spark = run_task("end_to_end_spark", source, work)
            comparison = compare_scores(work)
            comparison["accounting_equal"] = spark["accounting"] == entry["end_to_end_duckdb"]["accounting"]
            comparison["bgnbd_max_rel_diff"] = max(
                abs(spark["bgnbd"][k] / entry["end_to_end_duckdb"]["bgnbd"][k] - 1) for k in spark["bgnbd"])
            comparison["gamma_gamma_max_rel_diff"] = max(
                abs(spark["gamma_gamma"][k] / entry["end_to_end_duckdb"]["gamma_gamma"][k] - 1)
                for k in spark["gamma_gamma"])
            spark["equal_to_duckdb"] = comparison
            entry["end_to_end_spark_local2"] = spark
        entry["load_average_1m_at_end"] = os.getloadavg()[0]  # the machine is shared: context for the timings
        results["sizes"][size] = entry
        write_json(results, RESULTS)  # after every size, so a long run keeps what it measured
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
