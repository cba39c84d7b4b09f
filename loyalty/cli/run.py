"""``loyalty run <spec.yaml>`` (dispatches on the spec's ``kind``) and ``loyalty promote <name> <version>``."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    run = subparsers.add_parser(
        "run", help="run a spec as an MLflow run: a pipeline job (fit, score, follow-up), a model fit or an experiment",
        description="Run a YAML spec, dispatching on its 'kind': pipeline (job: fit, score or follow_up), model "
        "(fit one model spec on --data up to --as-of, log and register it) or experiment (targeting experiment "
        "with one nested run per policy and budget). Runs go to a local SQLite store (sqlite:///mlflow.db, "
        "artifacts in ./mlartifacts) unless --tracking-uri or MLFLOW_TRACKING_URI says otherwise.",
    )
    run.add_argument("spec", type=Path, help="spec YAML, e.g. pipelines/score.yaml")
    run.add_argument("--as-of", default=None,
                     help="date the job runs as of (scoring date, follow-up date, or the fit cut-off)")
    run.add_argument("--data", default="cdnow",
                     help="for a model spec: transaction log path, or cdnow / cdnow_sample (default cdnow)")
    run.add_argument("--margin-rate", type=float, default=None,
                     help="for a model spec: margin share of revenue when the log has no margin column")
    run.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, "
                     "else sqlite:///mlflow.db in the working folder)")
    run.set_defaults(func=_run)

    promote = subparsers.add_parser(
        "promote", help="move a registered model's champion alias to a version",
        description="Point the 'champion' alias (or --alias) of a registered model (loyalty-clv, loyalty-churn, "
        "loyalty-uplift) at a version. Scoring jobs load models by alias.",
    )
    promote.add_argument("name", help="registered model name, e.g. loyalty-clv")
    promote.add_argument("version", help="model version number")
    promote.add_argument("--alias", default="champion", help="alias to move (default champion)")
    promote.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default as for `run`)")
    promote.set_defaults(func=_promote)


def _run(args) -> int:
    from ..jobs import run_spec

    run_spec(args.spec, as_of=args.as_of, data=args.data, tracking_uri=args.tracking_uri, margin_rate=args.margin_rate)
    return 0


def _promote(args) -> int:
    from ..tracking import promote, use_tracking

    use_tracking(args.tracking_uri)
    previous = promote(args.name, args.version, args.alias)
    print(f"{args.name}: {args.alias} -> version {args.version}" + (f" (was {previous})" if previous else ""))
    return 0
