"""``loyalty clv fit`` and ``loyalty clv score``."""

from __future__ import annotations

from pathlib import Path

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
    fit.add_argument("--horizon", type=float, default=12, help="CLV horizon in --horizon-period steps (default 12)")
    fit.add_argument("--horizon-period", default="M", help="CLV step: D, W, M, Q, Y or days (default M)")
    fit.add_argument("--annual-discount-rate", type=float, default=0.10, help="yearly discount rate (default 0.10)")
    fit.add_argument("--clv-margin-rate", type=float, default=None,
                     help="margin share for CLV (default: each customer's observed margin rate)")
    fit.add_argument("--revenue", action="store_true", help="CLV as revenue instead of margin")
    fit.add_argument("--penalizer", type=float, default=0.0, help="L2 penalizer for both fits")
    fit.add_argument("--model", choices=("bgnbd", "nbd"), default="bgnbd",
                     help="transaction model: bgnbd (BG/NBD, default) or nbd (no dropout, P(alive)=1: for a log "
                     "without detectable attrition)")
    fit.add_argument("--out", type=Path, required=True, help="model JSON to write")
    fit.set_defaults(func=_fit)

    score = commands.add_parser("score", help="score every customer of a log as of a date with a saved model",
                                description="Validate the log up to --as-of, summarise it and write p_alive, "
                                "expected purchases, expected spend and CLV with its interval per customer.")
    add_log_arguments(score)
    score.add_argument("--model", type=Path, required=True, help="model JSON from `loyalty clv fit`")
    score.add_argument("--as-of", required=True, help="scoring date: transactions after it are ignored (counted)")
    score.add_argument("--out", type=Path, required=True, help="scores parquet to write (atomically)")
    score.set_defaults(func=_score)


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
    bgnbd, gg = model.bgnbd_, model.gamma_gamma_
    name = {"bgnbd": "BG/NBD", "nbd": "NBD (no dropout: P(alive) = 1)"}[model.model]
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
    from ..atomic import write_parquet
    from ..clv import CLVModel
    from ..data import summarize

    model = CLVModel.load(args.model)
    result = load_clean(args, cutoff=args.as_of)
    summary = summarize(result.transactions, args.as_of, period=args.period, unit=args.unit or model.bgnbd_.time_unit_)
    scores = model.score(summary)
    write_parquet(scores, args.out)
    for reason in (scores.attrs.get(k) for k in ("clv_unavailable", "interval_unavailable")):
        if reason:
            print(reason)
    total = f"total CLV {scores['clv'].sum():,.2f}" if "clv" in scores else "no CLV (no spend)"
    print(f"scores: {len(scores):,} customers, {total} -> {args.out}")
    return 0


def _period(text: str):
    try:
        return float(text)
    except ValueError:
        return text
