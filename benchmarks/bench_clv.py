"""Benchmark: loyalty's summary, BG/NBD fit, Gamma-Gamma fit and CLV scoring against lifetimes' (issue 2).

For each size, the same synthetic log (``synthetic.py``) is written once; then every (step, side, repeat) runs
in a fresh Python subprocess, alternating ours and lifetimes'. In the subprocess, after imports, loading the
inputs and a warm-up call on 1,000 customers (so lazy imports and first-call costs are not timed), the peak
resident set size is reset (``/proc/self/clear_refs``), the step is timed with ``perf_counter``, and its peak
memory is the peak RSS (``VmHWM``) minus the RSS just before the step: the same measure for both sides, and
one that sees every allocation (numpy, pyarrow, Fortran) that tracemalloc would miss.

Run with ``python benchmarks/run.py`` (``make bench``); writes ``benchmarks/results/clv.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import importlib.metadata
import json
import os
import pickle
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "clv.json"
SIZES = (10_000, 100_000, 1_000_000)
#: Alternating repeats per side (the median is reported); lifetimes takes about a minute per repeat at 1M.
REPEATS = {10_000: 3, 100_000: 3, 1_000_000: 2}
#: Speed-up targets at 1M (lifetimes seconds / ours), from issue 2, on the log sorted by customer (as exports
#: from a CRM usually are). ``summary_shuffled`` times the same rows in random order, for information: there both
#: sides hash the ids in random order, which is memory-bound.
TARGETS = {"summary": 10.0, "bgnbd_fit": 5.0, "gamma_gamma_fit": 10.0, "clv": 10.0}
#: CLV: 12 steps of 30 days, 1% per step, the same cash flows as lifetimes' ``time=12, discount_rate=0.01``.
CLV_STEP_DAYS = 30
CLV_STEPS = 12
CLV_STEP_RATE = 0.01
WARMUP_CUSTOMERS = 1_000


# -- the steps, one function per (step, side); each takes the loaded inputs and returns its output ----------
def _lifetimes():
    """Import lifetimes without letting it silence FutureWarnings process-wide (it calls simplefilter)."""
    with warnings.catch_warnings():
        import lifetimes
        import lifetimes.utils
    return lifetimes


@contextlib.contextmanager
def _quiet_lifetimes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def ours_summary(inputs):
    from loyalty.data import summarize

    return summarize(inputs["tx"], inputs["cutoff"], period="D")


def lifetimes_summary(inputs):
    lifetimes = _lifetimes()
    with _quiet_lifetimes():
        return lifetimes.utils.summary_data_from_transaction_data(
            inputs["tx"], "customer_id", "timestamp", "amount", observation_period_end=inputs["cutoff"], freq="D"
        )


def ours_bgnbd_fit(inputs):
    from loyalty.clv import BetaGeo

    return BetaGeo().fit(inputs["summary"])


def lifetimes_bgnbd_fit(inputs):
    """lifetimes' weighted fit on unique (frequency, recency, T) rows; the collapsing is done before timing."""
    lifetimes = _lifetimes()
    unique = inputs["unique_rfm"]
    with _quiet_lifetimes():
        return lifetimes.BetaGeoFitter().fit(
            unique["frequency"], unique["recency"], unique["T"], weights=unique["weights"]
        )


def lifetimes_bgnbd_fit_unweighted(inputs):
    lifetimes = _lifetimes()
    s = inputs["summary"]
    with _quiet_lifetimes():
        return lifetimes.BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])


def ours_gamma_gamma_fit(inputs):
    from loyalty.clv import GammaGamma

    return GammaGamma().fit(inputs["summary"])


def lifetimes_gamma_gamma_fit(inputs):
    lifetimes = _lifetimes()
    repeat = inputs["summary"].loc[lambda s: s["frequency"] > 0]
    with _quiet_lifetimes():
        return lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])


def ours_clv(inputs, interval=None):
    from loyalty.clv import customer_lifetime_value

    per_year = (1 + CLV_STEP_RATE) ** (365.25 / CLV_STEP_DAYS) - 1
    return customer_lifetime_value(
        inputs["bg"], inputs["gg"], inputs["summary"], horizon=CLV_STEPS, period=CLV_STEP_DAYS,
        annual_discount_rate=per_year, value="revenue", interval=interval,
    )


def ours_clv_interval(inputs):
    return ours_clv(inputs, interval=0.95)


def lifetimes_clv(inputs):
    s = inputs["summary"]
    bgf, ggf = inputs["bg"].to_lifetimes(), inputs["gg"].to_lifetimes()
    with _quiet_lifetimes():
        return ggf.customer_lifetime_value(
            bgf, s["frequency"], s["recency"], s["T"], s["monetary_value"],
            time=CLV_STEPS, discount_rate=CLV_STEP_RATE, freq="D",
        )


STEP_FUNCTIONS = {
    ("summary", "ours"): ours_summary,
    ("summary", "lifetimes"): lifetimes_summary,
    ("summary_shuffled", "ours"): ours_summary,
    ("summary_shuffled", "lifetimes"): lifetimes_summary,
    ("bgnbd_fit", "ours"): ours_bgnbd_fit,
    ("bgnbd_fit", "lifetimes"): lifetimes_bgnbd_fit,
    ("bgnbd_fit_unweighted", "lifetimes"): lifetimes_bgnbd_fit_unweighted,
    ("gamma_gamma_fit", "ours"): ours_gamma_gamma_fit,
    ("gamma_gamma_fit", "lifetimes"): lifetimes_gamma_gamma_fit,
    ("clv", "ours"): ours_clv,
    ("clv", "lifetimes"): lifetimes_clv,
    ("clv_interval", "ours"): ours_clv_interval,
}


# -- the worker: one measured step in a fresh process ----------------------------------------------------
def _load_inputs(workdir: Path, step: str, side: str) -> dict:
    meta = json.loads((workdir / "meta.json").read_text())
    inputs = {"cutoff": pd.Timestamp(meta["cutoff"])}
    if step.startswith("summary"):
        tx = pd.read_parquet(workdir / "tx.parquet")
        if step == "summary_shuffled":  # the same rows in random order: no grouping by customer to exploit
            tx = tx.iloc[np.random.default_rng(0).permutation(len(tx))].reset_index(drop=True)
        inputs["tx"] = tx
        return inputs
    summary = pd.read_parquet(workdir / "summary.parquet")
    summary.attrs.update({"period": "D", "unit": "D"})
    inputs["summary"] = summary
    if step == "bgnbd_fit" and side == "lifetimes":
        grouped = summary.groupby(["frequency", "recency", "T"]).size()
        inputs["unique_rfm"] = grouped.rename("weights").reset_index()
    if step.startswith("clv"):
        with open(workdir / "models.pkl", "rb") as f:
            inputs["bg"], inputs["gg"] = pickle.load(f)
    return inputs


def _warmup_inputs(inputs: dict) -> dict:
    small = dict(inputs)
    if "tx" in inputs:
        small["tx"] = inputs["tx"].iloc[: WARMUP_CUSTOMERS * 4]  # the log is sorted by customer
    if "summary" in inputs:
        small["summary"] = inputs["summary"].iloc[:WARMUP_CUSTOMERS]
        small["summary"].attrs.update(inputs["summary"].attrs)
    if "unique_rfm" in inputs:
        small["unique_rfm"] = (
            small["summary"].groupby(["frequency", "recency", "T"]).size().rename("weights").reset_index()
        )
    return small


def _memory_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)


def run_worker(workdir: Path, step: str, side: str) -> dict:
    """Load, warm up, then time one step and measure its peak memory above the post-load baseline."""
    function = STEP_FUNCTIONS[(step, side)]
    inputs = _load_inputs(workdir, step, side)
    function(_warmup_inputs(inputs))
    gc.collect()
    baseline_kb = _memory_kb("VmRSS")
    _reset_peak_rss()
    start = time.perf_counter()
    output = function(inputs)
    seconds = time.perf_counter() - start
    peak_kb = _memory_kb("VmHWM")
    record = {"seconds": seconds, "peak_mb": (peak_kb - baseline_kb) / 1024, "baseline_mb": baseline_kb / 1024}
    record.update(_describe_output(workdir, step, side, output, inputs))
    return record


def _describe_output(workdir: Path, step: str, side: str, output, inputs) -> dict:
    """What the parent needs for the parity checks: outputs saved to disk, parameters and log-likelihoods."""
    if step.startswith("summary"):
        output.to_parquet(workdir / f"{step}_{side}.parquet")
        return {}
    if step.startswith("bgnbd_fit"):
        from loyalty.clv import BetaGeo

        model = output if side == "ours" else BetaGeo.from_lifetimes(output, time_unit="D")
        ll = float(model.customer_log_likelihood(inputs["summary"]).sum())
        return {"params": dict(model.params_), "log_likelihood": ll}
    if step == "gamma_gamma_fit":
        params = dict(output.params_) if side == "ours" else {
            "p": float(output.params_["p"]), "q": float(output.params_["q"]), "gamma": float(output.params_["v"])
        }
        return {"params": params, "log_likelihood": gamma_gamma_log_likelihood(params, inputs["summary"])}
    if step.startswith("clv"):
        values = output["clv"] if side == "ours" else output
        np.save(workdir / f"{step}_{side}.npy", np.asarray(values, dtype=float))
        return {}
    return {}


def gamma_gamma_log_likelihood(params: dict, summary: pd.DataFrame) -> float:
    """Total log-likelihood of repeat customers' mean values (Fader & Hardie 2013, note 025), either library."""
    from scipy.special import gammaln

    repeat = summary[summary["frequency"] > 0]
    x, m = repeat["frequency"].to_numpy(), repeat["monetary_value"].to_numpy()
    p, q, g = params["p"], params["q"], params["gamma"]
    ll = (
        gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(g)
        + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(g + m * x)
    )
    return float(ll.sum())


# -- the parent: data, alternation, parity, results -----------------------------------------------------
def _spawn(workdir: Path, step: str, side: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, __file__, "--worker", str(workdir), step, side],
        capture_output=True, text=True, env=env, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker {step}/{side} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def prepare(workdir: Path, n_customers: int, seed: int = 0) -> dict:
    """Write the log, our summary and our fitted models (the shared inputs of the later steps)."""
    sys.path.insert(0, str(HERE))
    from synthetic import synthetic_transactions

    from loyalty.clv import BetaGeo, GammaGamma
    from loyalty.data import summarize

    tx = synthetic_transactions(n_customers, seed=seed)
    cutoff = tx["timestamp"].max()
    tx.to_parquet(workdir / "tx.parquet")
    summary = summarize(tx, cutoff, period="D")
    summary.to_parquet(workdir / "summary.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        models = (BetaGeo().fit(summary), GammaGamma().fit(summary))
    with open(workdir / "models.pkl", "wb") as f:
        pickle.dump(models, f)
    meta = {"cutoff": str(cutoff), "n_customers": n_customers, "n_transactions": len(tx),
            "n_repeat_customers": int((summary["frequency"] > 0).sum())}
    (workdir / "meta.json").write_text(json.dumps(meta))
    return meta


def _plan(n_customers: int) -> list[tuple[str, tuple[str, ...]]]:
    plan = [("summary", ("ours", "lifetimes")), ("summary_shuffled", ("ours", "lifetimes")),
            ("bgnbd_fit", ("ours", "lifetimes"))]
    if n_customers <= 100_000:  # lifetimes without weights is slow, and not the fair baseline
        plan.append(("bgnbd_fit_unweighted", ("lifetimes",)))
    plan += [("gamma_gamma_fit", ("ours", "lifetimes")), ("clv", ("ours", "lifetimes")), ("clv_interval", ("ours",))]
    return plan


def bench_size(n_customers: int, repeats: int, log=print) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench_clv_{n_customers}_"))
    try:
        meta = prepare(workdir, n_customers)
        log(f"\n{n_customers:,} customers, {meta['n_transactions']:,} transactions")
        steps = {}
        for step, sides in _plan(n_customers):
            runs = {side: [] for side in sides}
            for _ in range(repeats):
                for side in sides:  # ours, lifetimes, ours, lifetimes, ...
                    runs[side].append(_spawn(workdir, step, side))
                    log(f"  {step:22s} {side:9s} {runs[side][-1]['seconds']:8.3f} s "
                        f"{runs[side][-1]['peak_mb']:8.1f} MB")
            steps[step] = _step_result(step, runs)
        steps["summary"]["parity"] = summary_parity(workdir)
        steps["summary_shuffled"]["parity"] = summary_parity(workdir, "summary_shuffled")
        steps["clv"]["parity"] = clv_parity(workdir)
        steps["bgnbd_fit"]["parity"] = _likelihood_parity(steps["bgnbd_fit"])
        steps["gamma_gamma_fit"]["parity"] = _likelihood_parity(steps["gamma_gamma_fit"])
        return {**meta, "repeats": repeats, "date": dt.datetime.now().isoformat(timespec="seconds"), "steps": steps}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _step_result(step: str, runs: dict) -> dict:
    out = {}
    for side, records in runs.items():
        out[f"{side}_seconds"] = float(np.median([r["seconds"] for r in records]))
        out[f"{side}_peak_mb"] = float(np.median([r["peak_mb"] for r in records]))
        out[f"{side}_runs_seconds"] = [round(r["seconds"], 4) for r in records]
        out[f"{side}_runs_peak_mb"] = [round(r["peak_mb"], 1) for r in records]
        if "log_likelihood" in records[0]:
            out[f"{side}_log_likelihood"] = records[0]["log_likelihood"]
            out[f"{side}_params"] = records[0]["params"]
    if "ours" in runs and "lifetimes" in runs:
        out["speedup"] = out["lifetimes_seconds"] / out["ours_seconds"]
        out["memory_ratio"] = out["ours_peak_mb"] / max(out["lifetimes_peak_mb"], 1e-9)
        if step in TARGETS:
            out["target_speedup"] = TARGETS[step]
            out["meets_speed_target"] = bool(out["speedup"] >= TARGETS[step])
            out["meets_memory_target"] = bool(out["ours_peak_mb"] <= out["lifetimes_peak_mb"])
    return out


def summary_parity(workdir: Path, step: str = "summary") -> dict:
    ours = pd.read_parquet(workdir / f"{step}_ours.parquet")
    theirs = pd.read_parquet(workdir / f"{step}_lifetimes.parquet")
    theirs = theirs.reindex(ours.index)
    same_customers = bool(len(ours) == len(theirs) and not theirs["frequency"].isna().any())
    exact = {c: bool(np.array_equal(ours[c].to_numpy(), theirs[c].to_numpy())) for c in ("frequency", "recency", "T")}
    monetary_diff = float(np.max(np.abs(ours["monetary_value"].to_numpy() - theirs["monetary_value"].to_numpy())))
    return {"same_customers": same_customers, **{f"{c}_exact": v for c, v in exact.items()},
            "monetary_max_abs_diff": monetary_diff,
            "ok": bool(same_customers and all(exact.values()) and monetary_diff <= 1e-9)}


def clv_parity(workdir: Path) -> dict:
    ours, theirs = np.load(workdir / "clv_ours.npy"), np.load(workdir / "clv_lifetimes.npy")
    relative = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12)
    return {"max_relative_diff": float(relative.max()), "ok": bool(relative.max() <= 1e-6)}


def _likelihood_parity(result: dict) -> dict:
    ours, theirs = result["ours_log_likelihood"], result["lifetimes_log_likelihood"]
    # "equal" within 1e-9 of the total: the two optimisers stop at slightly different points of a flat top
    return {"ours_minus_lifetimes": ours - theirs, "ours_at_least_as_good": bool(ours >= theirs - 1e-9 * abs(theirs))}


def machine_info() -> dict:
    versions = {}
    for name in ("numpy", "pandas", "scipy", "lifetimes", "pyarrow", "loyalty"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
    }


def write_results(by_size: dict, path: Path = RESULTS) -> dict:
    """Merge into the existing results (sizes not run are kept) and write atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(path.read_text()) if path.exists() else {}
    sizes = previous.get("sizes", {})
    sizes.update({str(n): result for n, result in by_size.items()})
    results = {
        "machine": machine_info(),
        "method": {
            "timing": "wall seconds (perf_counter) of one call, median of alternating repeats, each in a fresh "
                      "subprocess after a warm-up call on 1,000 customers",
            "memory": "peak RSS (VmHWM, reset via /proc/self/clear_refs) minus RSS after loading the inputs, MB",
            "speedup": "lifetimes seconds / ours seconds",
            "memory_ratio": "ours peak MB / lifetimes peak MB",
            "bgnbd_baseline": "lifetimes BetaGeoFitter.fit on unique (frequency, recency, T) rows with weights "
                              "(collapsing not timed)",
            "targets_at_1M": TARGETS,
        },
        "sizes": dict(sorted(sizes.items(), key=lambda kv: int(kv[0]))),
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".clv.", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    return results


def format_table(results: dict) -> str:
    head = (f"{'customers':>10} {'step':22} {'ours s':>9} {'lifetimes s':>11} {'speed-up':>9} "
            f"{'ours MB':>9} {'lifetimes MB':>12} {'mem ratio':>9}  target")
    lines = [head, "-" * len(head)]
    for n, size in results["sizes"].items():
        for step, r in size["steps"].items():
            def fmt(key, spec):
                return format(r[key], spec) if key in r else "-".rjust(int(spec.split(".")[0]))
            target = ""
            if "target_speedup" in r:
                ok = r["meets_speed_target"] and r["meets_memory_target"]
                target = f">={r['target_speedup']:g}x {'ok' if ok else 'MISS'}" if int(n) == SIZES[-1] else ""
            lines.append(
                f"{int(n):>10,} {step:22} {fmt('ours_seconds', '9.3f')} {fmt('lifetimes_seconds', '11.3f')} "
                f"{fmt('speedup', '8.1f')}{'x' if 'speedup' in r else ' '} {fmt('ours_peak_mb', '9.1f')} {fmt('lifetimes_peak_mb', '12.1f')} "
                f"{fmt('memory_ratio', '9.2f')}  {target}"
            )
    lines.append("")
    for n, size in results["sizes"].items():
        s = size["steps"]
        lines.append(
            f"{int(n):>10,} parity: summary {'ok' if s['summary']['parity']['ok'] else 'FAIL'} "
            f"(monetary max diff {s['summary']['parity']['monetary_max_abs_diff']:.1e}); "
            f"CLV max rel diff {s['clv']['parity']['max_relative_diff']:.1e}; "
            f"BG/NBD LL ours-lifetimes {s['bgnbd_fit']['parity']['ours_minus_lifetimes']:+.4f}; "
            f"GG LL ours-lifetimes {s['gamma_gamma_fit']['parity']['ours_minus_lifetimes']:+.4f}"
        )
    return "\n".join(lines)


def run(sizes=SIZES, repeats: int | None = None) -> dict:
    by_size = {}
    for n in sizes:
        by_size[n] = bench_size(n, repeats or REPEATS.get(n, 2))
    results = write_results(by_size)
    print()
    print(format_table({"sizes": {str(n): by_size[n] for n in by_size}}))
    print(f"\nwrote {RESULTS}")
    return results


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=lambda s: [int(float(v)) for v in s.split(",")], default=list(SIZES),
                        help="comma-separated numbers of customers (default 10000,100000,1000000)")
    parser.add_argument("--quick", action="store_true", help="10,000 customers only")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per side (default 3, 2 at 1M)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        _, workdir, step, side = argv
        print(json.dumps(run_worker(Path(workdir), step, side)))
        return
    args = parse_args(argv)
    run(sizes=[10_000] if args.quick else args.sizes, repeats=args.repeats)


if __name__ == "__main__":
    main()
