"""``loyalty churn fit`` and ``loyalty churn score``."""

from __future__ import annotations

from pathlib import Path

from .options import non_negative_int, positive, positive_int, share

from ._inputs import add_log_arguments, load_clean

#: Default trailing feature windows in days (``loyalty.data.features.DEFAULT_WINDOWS``; a test keeps them equal).
DEFAULT_WINDOWS = (30, 90, 180, 365)


def register(subparsers) -> None:
    churn = subparsers.add_parser("churn", help="fit, compare and score churn models",
                                  description="Churn = no purchase in the horizon after a cut-off. Fit BG/NBD, "
                                  "LightGBM and hybrid churn models, compare them on held-out customers, score.")
    commands = churn.add_subparsers(dest="churn_command", metavar="COMMAND", required=True)

    fit = commands.add_parser(
        "fit", help="fit churn models at a cut-off, print the holdout comparison, save the LightGBM model",
        description="Validate the log, build features as of --cutoff and labels for (cutoff, cutoff + horizon], "
        "fit BG/NBD, LightGBM and hybrid models on training customers, print their metrics on the held-out "
        "customers and save the chosen supervised model (LightGBM text booster + model.json) in --out.",
    )
    add_log_arguments(fit)
    fit.add_argument("--cutoff", required=True, help="end of the calibration period (inclusive), e.g. 1997-09-30")
    fit.add_argument("--horizon", type=positive, required=True, help="churn window after the cut-off, in --horizon-unit")
    fit.add_argument("--horizon-unit", default="D", help="D, W, M, Q, Y or a number of days (default D)")
    fit.add_argument("--model", choices=("hybrid", "lightgbm"), default="hybrid",
                     help="model to save: LightGBM on features, or with BG/NBD outputs as features (default)")
    fit.add_argument("--test-size", type=share, default=0.3, help="share of customers held out (default 0.3)")
    fit.add_argument("--windows", default=",".join(map(str, DEFAULT_WINDOWS)),
                     help="trailing feature windows in days, comma-separated (default 30,90,180,365)")
    fit.add_argument("--n-estimators", type=positive_int, default=500, help="maximum boosting rounds (default 500)")
    fit.add_argument("--learning-rate", type=positive, default=0.05)
    fit.add_argument("--n-jobs", type=positive_int, default=1, help="LightGBM threads (default 1)")
    fit.add_argument("--seed", type=non_negative_int, default=0, help="seed of the customer split and LightGBM")
    fit.add_argument("--out", type=Path, required=True, help="model directory to write")
    fit.set_defaults(func=_fit)

    score = commands.add_parser(
        "score", help="score every customer of a log as of a date with a saved churn model",
        description="Validate the log up to --as-of, build the same features as of that date and write each "
        "customer's churn probability over the model's horizon.",
    )
    add_log_arguments(score)
    score.add_argument("--model", type=Path, required=True, help="model directory from `loyalty churn fit`")
    score.add_argument("--as-of", required=True, help="scoring date: transactions after it are ignored (counted)")
    score.add_argument("--out", type=Path, required=True, help="scores to write (atomically): parquet, or CSV when the name ends in .csv or .csv.gz")
    score.set_defaults(func=_score)


def _fit(args) -> int:
    import pandas as pd

    from ..atomic import write_csv
    from ..churn import churn_dataset, compare_churn_models

    windows = tuple(int(w) for w in args.windows.split(",") if w.strip())
    result = load_clean(args)
    data = churn_dataset(result.transactions, args.cutoff, args.horizon, args.horizon_unit,
                         summary_unit=args.unit or "W", windows=windows)
    print(f"labels: {len(data.labels):,} customers at {args.cutoff}, churn rate {data.labels.mean():.3f} "
          f"(no purchase in {args.horizon:g} {args.horizon_unit})")
    params = {"n_estimators": args.n_estimators, "learning_rate": args.learning_rate, "n_jobs": args.n_jobs}
    comparison = compare_churn_models(data, args.horizon, args.horizon_unit, test_size=args.test_size,
                                      lightgbm_params=params, random_state=args.seed)
    with pd.option_context("display.width", 140, "display.max_columns", 20):
        print(f"holdout: {len(comparison.predictions):,} customers not used for fitting")
        print(comparison.table.round(4).to_string())
    for name, reason in comparison.skipped.items():
        print(f"{name}: {reason}")
    if args.model == "hybrid" and comparison.hybrid is None:
        from ..errors import IdentificationError

        raise IdentificationError(
            f"the hybrid churn model needs BG/NBD, which is not identified on this log: {comparison.skipped['bgnbd']}",
            {"cli": "Rerun with --model lightgbm (LightGBM on the features alone; its holdout metrics are above)."},
            interface="cli",
        )
    model = comparison.hybrid if args.model == "hybrid" else comparison.lightgbm
    print(f"{args.model}: {model.best_iteration_} rounds, calibration {model.calibration_}; top features:")
    print(model.feature_importance().head(8).round(4).to_string())
    bgnbd = comparison.bgnbd.bgnbd_ if comparison.bgnbd is not None else None
    metadata = {
        "kind": args.model, "cutoff": args.cutoff, "horizon": args.horizon, "horizon_unit": args.horizon_unit,
        "windows": list(windows), "summary_period": "D", "summary_unit": data.summary.attrs["unit"],
        "bgnbd_params": bgnbd.params_ if args.model == "hybrid" else None,
        "holdout_metrics": comparison.table.to_dict(orient="index"),
    }
    model.save(args.out, metadata)
    write_csv(comparison.table, args.out / "holdout_metrics.csv")
    print(f"model -> {args.out}")
    return 0


def _score(args) -> int:
    from ..atomic import write_table
    from ..churn import LightGBMChurn
    from ..churn.deploy import churn_inputs

    model, meta = LightGBMChurn.load(args.model)
    result = load_clean(args, cutoff=args.as_of)
    inputs = churn_inputs(result.transactions, args.as_of, meta)
    scores = inputs[[c for c in inputs.columns if c.startswith("bgnbd_")]].copy()  # the hybrid's BG/NBD outputs
    scores.insert(0, "p_churn", model.predict_proba(inputs)[:, 1])
    scores.attrs.update({"as_of": str(args.as_of), "horizon": meta["horizon"], "horizon_unit": meta["horizon_unit"]})
    write_table(scores, args.out)
    print(f"scores: {len(scores):,} customers, mean P(churn in {meta['horizon']:g} {meta['horizon_unit']}) "
          f"{scores['p_churn'].mean():.3f} -> {args.out}")
    return 0
