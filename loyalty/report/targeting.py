"""The targeting experiment's outputs: results.json, policies.csv, plots and a self-contained report.html."""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..atomic import atomic_write, write_csv, write_json  # noqa: E402
from ..targeting.budgets import PROFIT_POSITIVE, budget_label  # noqa: E402
from ..targeting.arms import arm_scores  # noqa: E402
from ..targeting.policies import BUILTIN_POLICIES  # noqa: E402

__all__ = ["write_experiment", "results_document", "SCHEMA_PATH", "PLOTS"]

#: The JSON schema results.json follows (kept in the package so users can validate their own runs).
SCHEMA_PATH = Path(__file__).with_name("results.schema.json")
#: Plot files every report contains.
PLOTS = ("profit_curves.png", "qini_curves.png", "response_vs_profit.png", "clv_of_targeted.png")

_OUTCOME_LABELS = {
    "conversion": "incremental conversions",
    "net_margin": "incremental window margin net of offer cost",
    "long_net_margin": "incremental long-horizon net margin (discounted)",
}


def results_document(result) -> dict:
    """The machine-readable results: the decision, the headline, every policy × budget × outcome with CI for each
    estimator (doubly robust first, IPW as the cross-check), KPIs and differences."""
    spec, evaluation = result.spec, result.evaluation
    values = _all_estimators(evaluation)
    budgets = values[values["share"].isin(spec.budgets)]
    cells = []
    for row in budgets.itertuples(index=False):
        cell = {"policy": row.policy, "budget": row.share, "outcome": row.outcome, "estimator": row.estimator,
                "value_per_1000": row.value_per_1000, "ci_low_per_1000": row.ci_low_per_1000,
                "ci_high_per_1000": row.ci_high_per_1000, "total": row.total}
        if "true_value_per_1000" in values:
            cell["true_value_per_1000"] = row.true_value_per_1000
        cells.append(cell)
    kpis = evaluation.kpis[evaluation.kpis["share"].isin(spec.budgets)].rename(columns={"share": "budget"})
    differences = result.differences.rename(columns={"share": "budget"}).copy()
    for column in ("difference", "ci_low", "ci_high", "se", "true_difference"):
        if column in differences:
            differences[column + "_per_1000"] = differences.pop(column) * 1000
    document = {
        "experiment": spec.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "loyalty_version": metadata.version("loyalty"),
        "spec": spec.as_dict(),
        "data": _jsonable(result.data.info),
    }
    if getattr(result, "decision", None) is not None:
        document["decision"] = _jsonable(result.decision.as_dict())
    document |= {
        "headline": _jsonable(result.headline),
        "cells": _jsonable(cells),
        "kpis": _jsonable(kpis.to_dict("records")),
        "differences": _jsonable(differences.to_dict("records")),
    }
    oracle = _oracle_shares(result)
    if oracle is not None:
        document["oracle_share"] = oracle
    if evaluation.arm_shares is not None:  # several offer arms: which arm each policy gives its targets
        shares = evaluation.arm_shares[evaluation.arm_shares["share"].isin(spec.budgets)]
        document["arm_shares"] = _jsonable(shares.rename(columns={"share": "budget"}).to_dict("records"))
    if "randomization" in result.data.info:
        document["randomization"] = _jsonable(result.data.info["randomization"])
    return document


def _all_estimators(evaluation) -> pd.DataFrame:
    """The primary estimator's rows, then the cross-check's (each row says which)."""
    tables = [evaluation.values] + ([evaluation.cross_check] if evaluation.cross_check is not None else [])
    return pd.concat(tables, ignore_index=True)


def _oracle_shares(result) -> dict | None:
    """True value of every non-oracle policy as a share of the oracle's, at each budget (simulator only).

    True values come from the truth columns (each targeted customer's exact incremental value), as in
    ``true_difference``. A share is None when the oracle's own value is not positive (no ceiling to share), and
    negative when a policy loses money where the oracle earns it.
    """
    values = result.evaluation.values
    if "true_value" not in values or "oracle" not in result.evaluation.policies:
        return None
    outcome = result.headline["outcome"]
    shares, ceiling, best = {}, {}, {}
    for budget in result.spec.budgets:
        at = values[(values["share"] == budget) & (values["outcome"] == outcome)].set_index("policy")["true_value"]
        if "oracle" not in at:
            continue
        oracle = at["oracle"]
        key = budget if budget == PROFIT_POSITIVE else f"{budget:g}"
        ceiling[key] = float(oracle * 1000)
        shares[key] = {p: float(v / oracle) if oracle > 0 else None for p, v in at.items() if p != "oracle"}
        known = {p: v for p, v in shares[key].items() if v is not None}
        best[key] = max(known, key=known.get) if known else None
    return {"outcome": outcome, "oracle_true_value_per_1000": ceiling, "by_budget": shares, "best_policy": best}


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


# -- plots ---------------------------------------------------------------------------------------------------
def _profit_curves(result):
    evaluation, h = result.evaluation, result.headline
    values = evaluation.values[(evaluation.values["outcome"] == h["outcome"])
                               & (evaluation.values["share"] != PROFIT_POSITIVE)]
    fig, ax = plt.subplots(figsize=(8, 5))
    for policy in evaluation.policies:
        curve = values[values["policy"] == policy].astype({"share": float}).sort_values("share")
        line, = ax.plot(curve["share"] * 100, curve["value_per_1000"], label=policy)
        ax.fill_between(curve["share"] * 100, curve["ci_low_per_1000"], curve["ci_high_per_1000"],
                        color=line.get_color(), alpha=0.12)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.axvline(h["budget"] * 100, color="0.3", ls=":", lw=1)
    ax.set_xlabel("budget: share of customers targeted (%)")
    ax.set_ylabel(f"{_OUTCOME_LABELS[h['outcome']]}\nper 1,000 customers")
    ax.set_title(f"Profit curves with 95% bands ({_estimator_text(evaluation)})")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def _qini_curves(result):
    from ..uplift import qini_auc_score, qini_curve

    customers = result.scores
    y, t = customers["converted"].to_numpy(), customers["treatment"].to_numpy()
    choices = result.evaluation.arm_choices
    fig, ax = plt.subplots(figsize=(7, 5))
    for policy in result.spec.policies:
        if choices is None:
            score = BUILTIN_POLICIES[policy].score(customers).to_numpy()
            x, q = qini_curve(y, score, t)
        else:  # several arms: each customer's score for the arm the policy gives them, on that arm and control
            choice = choices[policy]
            score = arm_scores(BUILTIN_POLICIES[policy], customers, len(result.data.arms))[
                np.arange(len(y)), choice - 1]
            keep = (t == 0) | (t == choice)
            y_kept, score, t_kept = y[keep], score[keep], (t[keep] != 0).astype(int)
            x, q = qini_curve(y_kept, score, t_kept)
            ax.plot(x / len(y_kept) * 100, q, label=f"{policy} (Qini {qini_auc_score(y_kept, score, t_kept):.3f})")
            continue
        ax.plot(x / len(y) * 100, q, label=f"{policy} (Qini {qini_auc_score(y, score, t):.3f})")
    ax.set_xlabel("customers targeted (%)")
    ax.set_ylabel("incremental conversions (Qini)")
    ax.set_title("Qini curves: who converts because of the offer")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _response_vs_profit(result):
    h = result.headline
    kpis = result.evaluation.kpis.set_index(["policy", "share"])
    values = result.evaluation.values
    at = values[(values["share"] == h["budget"]) & (values["outcome"] == h["outcome"])].set_index("policy")
    fig, ax = plt.subplots(figsize=(7, 5))
    for policy in result.evaluation.policies:
        rate = kpis.loc[(policy, h["budget"]), "response_rate"] * 100
        value = at.loc[policy]
        ax.errorbar(rate, value["value_per_1000"],
                    yerr=[[value["value_per_1000"] - value["ci_low_per_1000"]],
                          [value["ci_high_per_1000"] - value["value_per_1000"]]], fmt="o", capsize=3)
        ax.annotate(policy, (rate, value["value_per_1000"]), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xlabel(f"response rate among targeted customers at {h['budget']:.0%} budget (%)")
    ax.set_ylabel(f"{_OUTCOME_LABELS[h['outcome']]}\nper 1,000 customers")
    ax.set_title("The campaign KPI vs what it earns")
    fig.tight_layout()
    return fig


def _clv_of_targeted(result):
    h = result.headline
    customers = result.scores
    fig, ax = plt.subplots(figsize=(7, 5))
    column = "clv" if "clv" in customers else "net_margin"
    label = "predicted CLV (margin, horizon)" if column == "clv" else "window net margin (no history: no CLV)"
    values = customers[column].to_numpy(dtype=float)
    j = result.evaluation.shares.index(h["budget"])
    data = [values[result.evaluation.selections[p][:, j]] for p in result.evaluation.policies]
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(range(1, len(data) + 1), result.evaluation.policies, rotation=30, fontsize=8)
    ax.set_ylabel(label)
    ax.set_title(f"Who each policy targets at {h['budget']:.0%} budget")
    fig.tight_layout()
    return fig


_PLOTTERS = {"profit_curves.png": _profit_curves, "qini_curves.png": _qini_curves,
             "response_vs_profit.png": _response_vs_profit, "clv_of_targeted.png": _clv_of_targeted}


# -- writing -------------------------------------------------------------------------------------------------
def write_experiment(result, out: str | Path) -> dict:
    """Write results.json, policies.csv, the plots and report.html under ``out`` (each atomically).

    Returns the results document (as written to results.json).
    """
    out = Path(out)
    document = results_document(result)
    images = {}
    for name, plot in _PLOTTERS.items():
        fig = plot(result)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        plt.close(fig)
        images[name] = buffer.getvalue()
        atomic_write(out / name, lambda tmp, data=images[name]: tmp.write_bytes(data))
    table = _all_estimators(result.evaluation).merge(result.evaluation.kpis, on=["policy", "share"], how="left")
    write_csv(table.rename(columns={"share": "budget"}), out / "policies.csv", index=False)
    write_json(document, out / "results.json")
    page = _html(document, result, images)
    atomic_write(out / "report.html", lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return document


def _oracle_table(oracle: dict) -> str:
    """Every policy's share of the oracle's true value at every budget, best first at the first budget."""
    budgets = list(oracle["by_budget"])
    first = oracle["by_budget"][budgets[0]]
    policies = sorted(first, key=lambda p: -np.inf if first[p] is None else -first[p])

    def cell(share, best):
        text = "n/a" if share is None else f"{share:.0%}"
        return f"<td><b>{text}</b></td>" if best else f"<td>{text}</td>"

    head = "".join(f"<th>{budget_label(b)}</th>" for b in budgets)
    ceiling = "".join(f"<td>{oracle['oracle_true_value_per_1000'][b]:,.1f}</td>" for b in budgets)
    rows = "".join(
        f"<tr><td>{html.escape(p)}</td>"
        + "".join(cell(oracle["by_budget"][b].get(p), oracle["best_policy"][b] == p) for b in budgets) + "</tr>"
        for p in policies)
    return ("<h2 id=\"oracle-share\">Share of the oracle's true value</h2>"
            "<p>True value of each policy's targets (from the simulator's truth) divided by the oracle's at the same "
            "budget; the best non-oracle policy per budget in bold. Negative: the policy loses money where the "
            "oracle earns it.</p>"
            f"<table><tr><th>policy</th>{head}</tr>{rows}"
            f"<tr><td>oracle: true value / 1,000</td>{ceiling}</tr></table>")


def _arm_shares_table(rows: list, budget) -> str:
    """Several offer arms: the share of each policy's targets given each arm, at the headline budget."""
    at = [r for r in rows if r["budget"] == budget]
    arms = list(dict.fromkeys(r["arm"] for r in at))
    policies = list(dict.fromkeys(r["policy"] for r in at))
    share = {(r["policy"], r["arm"]): r["arm_share"] for r in at}
    head = "".join(f"<th>{html.escape(str(a))}</th>" for a in arms)
    body = "".join(
        f"<tr><td>{html.escape(p)}</td>" + "".join(
            "<td>n/a</td>" if share[(p, a)] is None else f"<td>{share[(p, a)]:.0%}</td>" for a in arms) + "</tr>"
        for p in policies)
    return (f'<h2 id="arm-shares">Which offer each policy sends</h2><p>Each policy gives each customer the arm it '
            f"scores best; share of its targets given each arm at the {budget_label(budget)} budget (the values "
            "above are those of these per-customer arm choices).</p>"
            f"<table><tr><th>policy</th>{head}</tr>{body}</table>\n")


def _estimator_text(evaluation) -> str:
    if evaluation.estimator == "dr":
        return ("doubly robust (AIPW: cross-fitted outcome models per arm corrected by the known propensity; "
                "Dudík, Langford & Li 2011), with inverse propensity weighting as the cross-check in policies.csv")
    return "by inverse propensity weighting"


def _splits_text(evaluation) -> str:
    if evaluation.splits == 1:
        return ""
    return (f", the median over {evaluation.splits} cross-fitting splits with the split-to-split spread in the "
            "interval (Chernozhukov et al. 2018)")


def _decision_html(decision: dict | None) -> str:
    """The decision above everything else: what to do, and per policy its best budget."""
    if not decision:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(row['policy'])}</td><td>{budget_label(row['budget'])}</td>"
        f"<td>{row['value_per_1000']:,.1f}</td><td>[{row['ci_per_1000'][0]:,.1f}, {row['ci_per_1000'][1]:,.1f}]</td>"
        f"<td>{'yes' if row['proven'] else 'not proven'}</td></tr>" for row in decision["per_policy"])
    return (f'<p class="decision" id="decision" style="font-size:1.3em;background:#f0f7f0;border-left:5px solid '
            f'#2f855a;padding:1em"><b>Decision.</b> {html.escape(decision["text"])}</p>\n'
            "<p>Intervals below hold simultaneously over every policy × budget compared (a max-t bootstrap), so the "
            "best-looking one is not overstated by having been picked.</p>"
            "<table><tr><th>policy</th><th>best budget</th><th>value / 1,000</th><th>simultaneous 95% CI</th>"
            f"<th>beats sending nothing</th></tr>{rows}</table>\n")


def _randomization_html(check: dict | None) -> tuple[str, str]:
    """(warning shown above the headline when the check failed and the spec allowed it, the check's section)."""
    if not check:
        return "", ""
    flag = ""
    if check["flagged"]:
        flag = ('<p class="flag" id="randomization-flag" style="background:#fdecea;border-left:5px solid #c53030;'
                'padding:1em"><b>Warning: this campaign does not look randomized as stated</b> (analysed anyway: '
                'randomization.allow_imbalance is true). ' + html.escape("; ".join(check["failures"]))
                + ". The numbers below may be biased.</p>\n")
    worst = sorted(check["smd"].items(), key=lambda kv: -abs(kv[1]) if kv[1] is not None else 0)[:12]
    rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{'n/a' if v is None else f'{v:+.3f}'}</td></tr>"
                   for name, v in worst)
    verdict = "passed" if check["passed"] else "FAILED"
    arms = ""
    if check.get("arms"):
        arms = ("<p>Customers per arm (expected from the stated propensities): " + html.escape(", ".join(
            f"{label} {c['customers']:,} ({c['expected']:,.0f})" for label, c in check["arms"].items())) + ".</p>")
    section = (f'<h2 id="randomization">Randomization check: {verdict}</h2>'
               f"<p>{check['treated']:,} treated and {check['control']:,} control customers; the stated propensities "
               f"expect {check['expected_treated']:,.0f} treated (sample-ratio chi-square {check['srm_chi_square']:.2f}, "
               f"p = {check['srm_p_value']:.3g}; fails below {check['srm_alpha']:g}). Standardized mean differences "
               f"of pre-period covariates between arms, weighted by the stated propensities (fails above "
               f"{check['max_smd']:g}), largest first:</p>{arms}<table><tr><th>covariate</th><th>SMD</th></tr>{rows}"
               "</table>")
    return flag, section


def _html(document: dict, result, images: dict) -> str:
    h = document["headline"]
    values = result.evaluation.values
    rows = values[(values["share"].isin(result.spec.budgets)) & (values["outcome"] == h["outcome"])]
    kpis = result.evaluation.kpis.set_index(["policy", "share"])
    table_rows = []
    for row in rows.itertuples(index=False):
        kpi = kpis.loc[(row.policy, row.share)]
        true = f"<td>{row.true_value_per_1000:,.1f}</td>" if "true_value_per_1000" in values else ""
        table_rows.append(
            f"<tr><td>{html.escape(row.policy)}</td><td>{budget_label(row.share)}</td><td>{row.value_per_1000:,.1f}</td>"
            f"<td>[{row.ci_low_per_1000:,.1f}, {row.ci_high_per_1000:,.1f}]</td>{true}"
            f"<td>{kpi['response_rate']:.1%}</td><td>{kpi.get('discount_spent', float('nan')):,.0f}</td></tr>"
        )
    true_head = "<th>true value / 1,000</th>" if "true_value_per_1000" in values else ""
    figures = "\n".join(
        f'<figure><img alt="{name}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        f"<figcaption>{name}</figcaption></figure>"
        for name, data in images.items()
    )
    oracle = _oracle_table(document["oracle_share"]) if "oracle_share" in document else ""
    arms = _arm_shares_table(document["arm_shares"], h["budget"]) if "arm_shares" in document else ""
    flag, balance = _randomization_html(document.get("randomization"))
    accounting = html.escape(json.dumps(document["data"].get("accounting", {}), indent=1))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(document['experiment'])}: targeting report</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}}
.headline{{font-size:1.25em;background:#f3f6fa;border-left:5px solid #2b6cb0;padding:1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
figure{{display:inline-block;margin:0.5em}}img{{max-width:480px}}</style></head>
<body>
<h1>Targeting report: {html.escape(document['experiment'])}</h1>
{flag}{_decision_html(document.get("decision"))}<p class="headline" id="headline">{html.escape(h['text'])}</p>
<p>Value of treating each policy's targets instead of nobody, estimated {_estimator_text(result.evaluation)} on
{h['customers']:,} randomized customers whose scores come from cross-fitted models; 95% intervals from a paired
bootstrap ({result.spec.bootstrap['resamples']} resamples){_splits_text(result.evaluation)}. Outcome:
{html.escape(_OUTCOME_LABELS[h['outcome']])}.</p>
<table><tr><th>policy</th><th>budget</th><th>value / 1,000</th><th>95% CI</th>{true_head}
<th>response rate</th><th>discount spent</th></tr>
{''.join(table_rows)}</table>
{arms}{oracle}
<h2>Plots</h2>
{figures}
{balance}
<h2>Data accounting</h2><pre>{accounting}</pre>
<p>Generated by loyalty {html.escape(document['loyalty_version'])} at {html.escape(document['created'])}.</p>
</body></html>
"""
