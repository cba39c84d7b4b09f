"""``loyalty clv fit``, ``loyalty clv score`` and ``loyalty clv compare``."""

from __future__ import annotations

from pathlib import Path

from .options import non_negative, positive, share

from ._inputs import add_log_arguments, load_clean


def register(subparsers) -> None:
    clv = subparsers.add_parser("clv", help="fit and score CLV models (BG/NBD + Gamma-Gamma)",
                                description="Fit and score CLV models (BG/NBD + Gamma-Gamma, margin CLV).")
    commands = clv.add_subparsers(dest="clv_command", metavar="COMMAND", required=True)

    fit = commands.add_parser("fit", help="fit BG/NBD + Gamma-Gamma on a log up to a cut-off and save the model",
                              description="Validate the log, summarise it at --cutoff, fit BG/NBD and Gamma-Gamma, "
                              "print the parameter tables and save the model as JSON.")
    add_log_arguments(fit)
    fit.add_argument("--cutoff", required=True, help="end of the calibration period (inclusive)")
    fit.add_argument("--spec", type=Path, default=None,
                     help="model spec YAML (e.g. models/clv.yaml); its settings replace the CLV options below")
    fit.add_argument("--horizon", type=positive, default=12, help="CLV horizon in --horizon-period steps (default 12)")
    fit.add_argument("--horizon-period", default="M", help="CLV step: D, W, M, Q, Y or days (default M)")
    fit.add_argument("--annual-discount-rate", type=non_negative, default=0.10, help="yearly discount rate (default 0.10)")
    fit.add_argument("--clv-margin-rate", type=share, default=None,
                     help="margin share for CLV (default: each customer's observed margin rate)")
    fit.add_argument("--revenue", action="store_true", help="CLV as revenue instead of margin")
    fit.add_argument("--penalizer", type=non_negative, default=0.0, help="L2 penalizer for both fits")
    # the names of loyalty.clv.TRANSACTION_MODELS, spelled out so that --help does not import the models
    fit.add_argument("--model", choices=("bgnbd", "mbgnbd", "paretonbd", "nbd"), default="bgnbd",
                     help="transaction model: bgnbd (BG/NBD, default), mbgnbd, paretonbd, or nbd (no dropout, "
                     "P(alive)=1: for a log without detectable attrition)")
    fit.add_argument("--out", type=Path, required=True, help="model JSON to write")
    fit.set_defaults(func=_fit)

    score = commands.add_parser("score", help="score every customer of a log as of a date with a saved model",
                                description="Validate the log up to --as-of, summarise it and write p_alive, "
                                "expected purchases, expected spend and CLV with its interval per customer.")
    add_log_arguments(score)
    score.add_argument("--model", type=Path, required=True, help="model JSON from `loyalty clv fit`")
    score.add_argument("--as-of", required=True, help="scoring date: transactions after it are ignored (counted)")
    score.add_argument("--out", type=Path, required=True, help="scores to write (atomically): parquet, or CSV when the name ends in .csv or .csv.gz")
    score.set_defaults(func=_score)

    compare = commands.add_parser(
        "compare", help="fit BG/NBD, MBG/NBD, Pareto/NBD and NBD up to a cut-off and rank them on the holdout after it",
        description="Validate the log up to --holdout-end, summarise it at --cutoff with the holdout "
        "(--cutoff, --holdout-end], fit each candidate transaction model on the calibration period and print "
        "log-likelihood, AIC/BIC, the period-transactions chi-square and the holdout forecast errors, best first "
        "(lowest per-customer holdout MAE; see loyalty.clv.compare_models).")
    add_log_arguments(compare)
    compare.add_argument("--cutoff", required=True, help="end of the calibration period (inclusive)")
    compare.add_argument("--holdout-end", required=True, help="end of the holdout period (inclusive)")
    compare.add_argument("--candidates", default="bgnbd,mbgnbd,paretonbd,nbd",
                         help="comma-separated transaction models (default bgnbd,mbgnbd,paretonbd,nbd)")
    compare.add_argument("--penalizer", type=float, default=0.0, help="L2 penalizer for every fit")
    compare.add_argument("--out", type=Path, default=None, help="CSV to write the table to (atomically)")
    compare.set_defaults(func=_compare)


def _fit(args) -> int:
    import warnings

    import pandas as pd

    from ..clv import CLVModel
    from ..data import summarize
    from ..errors import IdentificationError

    result = load_clean(args, cutoff=args.cutoff)
    summary = summarize(result.transactions, args.cutoff, period=args.period, unit=args.unit)
    if args.spec is not None:
        model = CLVModel.from_spec(args.spec)
    else:
        model = CLVModel(
            horizon=args.horizon, period=_period(args.horizon_period),
            annual_discount_rate=args.annual_discount_rate, margin_rate=args.clv_margin_rate,
            value="revenue" if args.revenue else "margin", penalizer=args.penalizer, model=args.model,
        )
    try:
        with warnings.catch_warnings():  # said below, in the command's words
            warnings.filterwarnings("ignore", message="the summary has no spend", category=RuntimeWarning)
            model.fit(summary)
    except IdentificationError as error:
        raise error.for_interface("cli") from None
    bgnbd, gg = model.transaction_model_, model.gamma_gamma_
    name = {"nbd": "NBD (no dropout: P(alive) = 1)"}.get(model.model, type(bgnbd).__name__)
    with pd.option_context("display.width", 120):
        print(f"{name} on {bgnbd.n_customers_:,} customers, log-likelihood {bgnbd.log_likelihood_:.2f}")
        print(bgnbd.summary_.round(4).to_string())
        if gg is None:
            print("Gamma-Gamma: not fitted, the log has no amounts; P(alive) and expected purchases only, no CLV "
                  "(CLV needs spend: map an amount column with --columns amount=<your column>)")
        else:
            print(f"Gamma-Gamma on {gg.n_customers_:,} repeat customers (excluded: {gg.n_excluded_})")
            print(gg.summary_.round(4).to_string())
    model.save(args.out)
    print(f"model -> {args.out}")
    return 0


def _score(args) -> int:
    from ..atomic import write_table
    from ..clv import CLVModel
    from ..data import summarize

    model = CLVModel.load(args.model)
    result = load_clean(args, cutoff=args.as_of)
    summary = summarize(result.transactions, args.as_of, period=args.period, unit=args.unit or model.transaction_model_.time_unit_)
    scores = model.score(summary)
    write_table(scores, args.out)
    for reason in (scores.attrs.get(k) for k in ("clv_unavailable", "interval_unavailable")):
        if reason:
            print(reason)
    total = f"total CLV {scores['clv'].sum():,.2f}" if "clv" in scores else "no CLV (no spend)"
    print(f"scores: {len(scores):,} customers, {total} -> {args.out}")
    return 0


def _compare(args) -> int:
    import pandas as pd

    from ..atomic import write_csv
    from ..clv import compare_models
    from ..data import summarize

    result = load_clean(args, cutoff=args.holdout_end)
    summary = summarize(result.transactions, args.cutoff, period=args.period, unit=args.unit,
                        holdout_end=args.holdout_end)
    candidates = [name.strip() for name in args.candidates.split(",") if name.strip()]
    table = compare_models(summary, candidates=candidates, penalizer=args.penalizer)
    with pd.option_context("display.width", 160, "display.max_columns", None, "display.max_colwidth", 60):
        print(f"{len(summary):,} customers; calibration to {args.cutoff}, holdout to {args.holdout_end} "
              f"({summary['duration_holdout'].iloc[0]:g} {summary.attrs['unit']})")
        print(table.drop(columns=["params", "error"]).round(4).to_string())
        for name, row in table.iterrows():
            print(f"{name}: {row['params'] if pd.isna(row['error']) else row['error']}")
    print(f"choice ({table.attrs['rule']}): {table.attrs['choice']}")
    if args.out is not None:
        write_csv(table, args.out)
        print(f"table -> {args.out}")
    return 0 if table.attrs["choice"] is not None else 1


def _period(text: str):
    try:
        return float(text)
    except ValueError:
        return text
