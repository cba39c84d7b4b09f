"""``make bench``: the CLV benchmark against lifetimes, and the simulator's benchmark when it exists.

Flags (``--sizes 10000,100000``, ``--quick``, ``--repeats N``) are passed to each benchmark.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

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


if __name__ == "__main__":
    main()
