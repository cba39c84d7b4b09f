"""``loyalty simulate``: generate a ground-truth world to a directory (parquet frames + manifest)."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "simulate", help="generate a simulated loyalty programme with a randomized campaign and its truth",
        description="Generate customers, transactions, campaign assignments and the exact per-customer truth "
        "(both potential outcomes) into --out, as parquet plus manifest.json. Written chunk by chunk, so "
        "memory stays bounded for millions of customers; the same --seed and config give identical files.")
    parser.add_argument("--customers", type=int, default=None,
                        help="number of customers (default: the config's n_customers, 100000)")
    parser.add_argument("--seed", type=int, required=True, help="random seed (non-negative integer)")
    parser.add_argument("--out", type=Path, required=True, help="directory to write (replaced atomically)")
    parser.add_argument("--config", type=Path, default=None,
                        help="YAML config (see experiments/simulator_default.yaml); default: built-in defaults")
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="customers per chunk (changes the random streams, so the output too)")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None,
                          help="always show the progress bar")
    progress.add_argument("--no-progress", dest="progress", action="store_false",
                          help="never show the progress bar (default: on a terminal, for more than one chunk)")
    parser.set_defaults(func=_simulate)


def _simulate(args) -> int:
    from ..simulate import SimulationConfig, write_world

    config = SimulationConfig.from_yaml(args.config) if args.config else SimulationConfig()
    changes = {}
    if args.customers is not None:
        changes["n_customers"] = args.customers
    if args.chunk_size is not None:
        changes["chunk_size"] = args.chunk_size
    config = config.replace(**changes)
    manifest = write_world(config, args.seed, args.out, progress=args.progress)
    counts = manifest["counts"]
    print(f"simulated {counts['customers']:,} customers, {counts['transactions']:,} transactions "
          f"({counts['returns']:,} returns, {counts['duplicates']:,} duplicates), "
          f"{counts['treated']:,} treated -> {args.out}")
    return 0
