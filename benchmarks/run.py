"""``make bench``: the CLV benchmark against lifetimes, the simulator's benchmark, the other BTYD fits
(``bench_btyd.py``, each entry at its own sizes), the command line's start-up (``loyalty --help``), the scale
benchmark, and the campaign-files benchmark (``loyalty compare`` on parquet files vs the simulator source).

Flags (``--sizes 10000,100000``, ``--quick``, ``--repeats N``) are passed to the CLV and simulator benchmarks.
The scale benchmark (DuckDB / Spark, 1M and 10M customers: tens of minutes) runs on 1M customers unless
``LOYALTY_BENCH_SCALE`` names other sizes (e.g. ``1m,10m``), and is skipped with ``--quick``. The campaign
benchmark runs on 100k and 1M customers (about 12 minutes) unless ``LOYALTY_BENCH_CAMPAIGN`` names other sizes
(e.g. ``100000``), and is skipped with ``--quick``. The decision benchmark (doubly robust values over
``DEFAULT_SPLITS`` cross-fitting splits against single-split IPW, whole experiments on the default simulated world)
runs on 100k customers unless ``LOYALTY_BENCH_DECISION`` names other sizes, and is skipped with ``--quick``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import bench_cli  # noqa: E402
import bench_clv  # noqa: E402


def main(argv=None) -> None:
    args = bench_clv.parse_args(argv)
    sizes = [10_000] if args.quick else args.sizes
    bench_clv.run(sizes=sizes, repeats=args.repeats)
    simulate = HERE / "bench_simulate.py"
    if simulate.exists():
        spec = importlib.util.spec_from_file_location("bench_simulate", simulate)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if hasattr(module, "run"):
            module.run(sizes)
    import bench_btyd

    bench_btyd.run(sizes=[10_000] if args.quick else None)
    bench_cli.run(repeats=3 if args.quick else 7)
    if not args.quick:
        import bench_scale

        bench_scale.main(["--sizes", os.environ.get("LOYALTY_BENCH_SCALE", "1m")])
        import bench_campaign

        bench_campaign.main(["--sizes", os.environ.get("LOYALTY_BENCH_CAMPAIGN", "100000,1000000")])
        import bench_decision
        from loyalty.targeting.spec import DEFAULT_SPLITS

        bench_decision.main(["--sizes", os.environ.get("LOYALTY_BENCH_DECISION", "100000"),
                             "--splits", str(DEFAULT_SPLITS)])


if __name__ == "__main__":
    main()
