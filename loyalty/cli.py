"""The ``loyalty`` command line.

Each stage registers its own sub-commands (``register(subparsers)`` in ``loyalty/<stage>/commands.py``), so
this module only wires them together. ``loyalty --help`` lists them; every command has ``--help``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import LoyaltyError

#: Modules that define ``register(subparsers)``; each adds its commands.
COMMAND_MODULES = (
    "loyalty.data.commands",
    "loyalty.clv.commands",
    "loyalty.churn.commands",
    "loyalty.simulate.commands",
    "loyalty.uplift.commands",
    "loyalty.targeting.commands",
    "loyalty.demo",
    "loyalty.jobs_commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loyalty",
        description="Loyalty-program lifecycle economics: CLV, churn, uplift and targeting compared on profit.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # stage not built yet
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LoyaltyError as exc:
        print(f"loyalty: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
