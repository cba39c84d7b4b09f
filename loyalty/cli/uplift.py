"""``loyalty uplift fit`` and ``loyalty uplift score``.

Input is either a campaign (``--transactions`` log, validated like every log, + ``--assignments``: outcomes in
the response window and features as of each assignment, see :func:`loyalty.uplift.campaign_frame`) or a flat
table with one row per customer (``--table``, e.g. the Hillstrom file) naming its treatment, outcome and feature
columns. A model is saved as a folder of data (a JSON envelope and each LightGBM base model's text dump, see
:mod:`loyalty.uplift.storage`): scoring reads it without running code from it, so a model folder from anyone is
safe to load.
"""

from __future__ import annotations

from pathlib import Path

from .options import non_negative_int, positive, share

#: ``--learner`` choices: :data:`loyalty.uplift.LEARNERS` in lower case, stated here so that ``--help`` imports no
#: scikit-learn (a test checks that they agree).
LEARNERS = ("t", "s", "x", "ct")


def register(subparsers) -> None:
    uplift = subparsers.add_parser("uplift", help="fit and score uplift models (incremental effect of an offer)",
                                   description="Fit uplift meta-learners on a randomized campaign and score customers.")
    commands = uplift.add_subparsers(dest="uplift_command", metavar="COMMAND", required=True)

    fit = commands.add_parser("fit", help="fit an uplift learner per offer arm and save it",
                              description="Fit one learner per offer arm against control, report cross-fitted "
                              "Qini/AUUC, and save the model.")
    _inputs(fit)
    fit.add_argument("--outcome", required=True,
                     help="outcome column (campaign input: converted, revenue, margin, net_margin, ...)")
    fit.add_argument("--learner", choices=sorted(LEARNERS), default="t", help="meta-learner (default t)")
    fit.add_argument("--folds", type=non_negative_int, default=5, help="folds for the cross-fitted report (0: skip)")
    fit.add_argument("--seed", type=non_negative_int, default=0, help="seed of LightGBM and of the folds")
    fit.add_argument("--out", type=Path, required=True, help="model folder to write (JSON + LightGBM text)")
    fit.add_argument("--report", type=Path, default=None, help="JSON with the cross-fitted metrics")
    fit.add_argument("--resamples", type=int, default=200,
                     help="bootstrap resamples of the Qini/AUUC intervals (default 200)")
    fit.add_argument("--permutations", type=int, default=200,
                     help="shuffled scores of the permutation baseline (default 200)")
    fit.set_defaults(func=_fit)

    score = commands.add_parser("score", help="score customers with a saved uplift model",
                                description="Write the predicted uplift of every arm for every customer.")
    _inputs(score)
    score.add_argument("--model", type=Path, required=True, help="model folder from `loyalty uplift fit`")
    score.add_argument("--out", type=Path, required=True, help="scores to write (atomically): parquet, or CSV when the name ends in .csv or .csv.gz")
    score.set_defaults(func=_score)


def _inputs(parser) -> None:
    parser.add_argument("--table", type=Path, help="flat table, one row per customer (.csv/.parquet)")
    parser.add_argument("--transactions", type=Path, help="transaction log (parquet/csv) for campaign input")
    parser.add_argument("--assignments", type=Path, help="campaign assignments (parquet/csv)")
    parser.add_argument("--attributes", type=Path, default=None, help="customer attributes joined as features")
    parser.add_argument("--window-days", type=positive, default=None, help="response window in days (campaign input)")
    parser.add_argument("--margin-rate", type=share, default=None, help="margin share when the log has no margin")
    parser.add_argument("--treatment", default="treatment", help="treatment column (default treatment)")
    parser.add_argument("--control", default=None, help="control arm label (default 0)")
    parser.add_argument("--features", default=None, help="comma-separated feature columns (flat table input)")
    parser.add_argument("--id", default="customer_id",
                        help="customer id column, kept next to the scores (default customer_id)")


def _read_table(path: Path):
    import pandas as pd

    from ..errors import DataValidationError

    if not path.exists():
        raise DataValidationError(f"file {str(path)!r} does not exist")
    return pd.read_parquet(path) if path.suffix in (".parquet", ".pq") or path.is_dir() else pd.read_csv(path)


def _control(args, treatment):
    import pandas as pd

    if args.control is None:
        return 0
    values = {str(v): v for v in pd.unique(treatment)}
    return values.get(args.control, args.control)


def _frame(args, features: list[str] | None = None):
    """(X, table with treatment/outcomes and customer_id, control label)."""
    from ..errors import DataValidationError

    if args.table is not None:
        return _table_frame(args, features)
    if args.transactions is None or args.assignments is None or args.window_days is None:
        raise DataValidationError("give --table, or --transactions with --assignments and --window-days")
    from ..data import load_campaign_files
    from ..uplift import campaign_frame

    loaded = load_campaign_files(args.transactions, args.assignments, control=args.control,
                                 margin_rate=args.margin_rate)
    print(f"validation: {loaded.accounting}")
    assignments = loaded.assignments.assign(treatment=loaded.assignments["arm"])
    attributes = _read_table(args.attributes) if args.attributes else None
    control = loaded.control
    X, outcomes = campaign_frame(loaded.transactions, assignments, args.window_days, control=control,
                                 attributes=attributes, margin_rate=args.margin_rate)
    if features:
        X = X.reindex(columns=features)
    return X, outcomes, control


def _table_frame(args, features: list[str] | None):
    import pandas as pd

    from ..errors import DataValidationError

    table = _read_table(args.table)
    if args.treatment not in table.columns:
        raise DataValidationError(f"treatment column {args.treatment!r} missing from {args.table}")
    names = features or ([c.strip() for c in args.features.split(",")] if args.features else None)
    if not names:
        raise DataValidationError("--features is required with --table (comma-separated column names)")
    missing = [c for c in names if c not in table.columns]
    if missing:
        raise DataValidationError(f"feature columns {missing} missing from {args.table}")
    X = table[names].copy()
    for column in X.columns:
        if X[column].dtype == object or pd.api.types.is_string_dtype(X[column]):
            X[column] = X[column].astype("category")
    return X, table.rename(columns={args.treatment: "treatment"}), _control(args, table[args.treatment])


def _fit(args) -> int:
    import numpy as np
    import pandas as pd

    from .. import uplift
    from ..atomic import write_json
    from ..uplift.storage import save_uplift_model
    from ..errors import DataValidationError

    X, table, control = _frame(args)
    if args.outcome not in table.columns:
        raise DataValidationError(f"outcome column {args.outcome!r} missing; columns: {list(table.columns)}")
    y = table[args.outcome].to_numpy(dtype=float)
    treatment = table["treatment"].to_numpy()
    learner = uplift.make_learner(args.learner.upper(), random_state=args.seed)
    model = uplift.MultiArmUplift(learner, control=control)
    report = {"outcome": args.outcome, "learner": args.learner, "n_customers": len(X)}
    for arm in [a for a in pd.unique(treatment) if a != control]:
        rows = np.isin(treatment, [arm, control])
        effect = uplift.average_effect(y[rows], (treatment[rows] == arm).astype(int))
        report[f"average_effect[{arm}]"] = effect
        print(f"arm {arm!r} vs {control!r}: average effect on {args.outcome} {effect['effect']:.4g} "
              f"(95% CI [{effect['ci_low']:.4g}, {effect['ci_high']:.4g}]; treated {effect['treated_mean']:.4g}, "
              f"control {effect['control_mean']:.4g})")
    if args.folds:
        oof = uplift.cross_fit_uplift(model, X, y, treatment, k=args.folds, seed=args.seed)
        for arm in oof.columns:
            rows = np.isin(treatment, [arm, control])
            t = (treatment[rows] == arm).astype(int)
            evaluation = uplift.uplift_evaluation(y[rows], oof[arm].to_numpy()[rows], t, n_resamples=args.resamples,
                                                  n_permutations=args.permutations, seed=args.seed)
            report[f"qini[{arm}]"] = evaluation["qini"]["value"]
            report[f"auuc[{arm}]"] = evaluation["auuc"]["value"]
            report[f"evaluation[{arm}]"] = evaluation
            for name in ("qini", "auuc"):
                m = evaluation[name]
                verdict = "above" if m["signal"] else "NOT above"
                print(f"arm {arm!r}: cross-fitted {name.upper()} {m['value']:.4f} (95% CI [{m['ci'][0]:.4f}, "
                      f"{m['ci'][1]:.4f}]); random scores reach {m['permutation']['high']:.4f} (95th percentile "
                      f"of {args.permutations} shuffles, p = {m['permutation']['p_value']:.3f}): {verdict} noise "
                      f"({args.folds} folds)")
    model.fit(X, y, treatment)
    save_uplift_model(model, args.out, {"features": list(X.columns), "outcome": args.outcome})
    if args.report:
        write_json(report, args.report)
    print(f"wrote {args.out}")
    return 0


def _score(args) -> int:
    from ..atomic import write_table
    from ..errors import DataValidationError
    from ..uplift.storage import ModelFileError, load_uplift_model

    model, envelope = load_uplift_model(args.model)
    features = envelope.get("features")
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise ModelFileError(f"{args.model}: 'features' must be a list of column names, got {features!r}")
    X, table, _ = _frame(args, features)
    scores = model.predict(X)
    scores.columns = [f"uplift[{arm}]" for arm in scores.columns]
    if args.id in table.columns:
        scores.insert(0, args.id, table[args.id].to_numpy())
    elif args.id != "customer_id" or args.table is None:
        raise DataValidationError(f"id column {args.id!r} missing; columns: {list(table.columns)[:20]}")
    write_table(scores.reset_index(drop=True), args.out, index=False)
    print(f"scored {len(scores):,} customers -> {args.out}")
    return 0
