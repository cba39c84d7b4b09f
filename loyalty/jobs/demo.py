"""The demo (``loyalty demo``): the main job end to end on embedded data, no server needed.

1. CDNOW (full cohort): validate the log, summarise at 1997-09-30 with a holdout to 1998-06-30, fit BG/NBD and
   Gamma-Gamma, score margin CLV with intervals for every customer, and follow up: predicted vs actual holdout
   purchases.
2. The trade-off number: the targeting experiments in ``experiments/`` (the simulated world and Hillstrom),
   each comparing targeting by response with targeting by margin and lifetime value at the same budget.

Writes everything atomically under ``--out`` and prints the headlines and where the reports are.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from ..atomic import atomic_write, write_json, write_parquet
from ..clv import CLVModel
from ..data import summarize, validate_transactions
from ..datasets import load_cdnow
from ..report import clv_distribution_plot, holdout_purchases_plot
from ..report.clv import holdout_table

#: CDNOW has no margin column; a music retailer's gross margin of about 25% is the stated assumption.
DEMO_MARGIN_RATE = 0.25


def run_clv_demo(out: Path) -> dict:
    out = Path(out)
    raw = load_cdnow(sample=False)
    # identical same-day records are in the published data; the BTYD literature counts them (summed per day)
    result = validate_transactions(raw, cutoff="1998-06-30", duplicates="keep", margin_rate=DEMO_MARGIN_RATE)
    print(f"[1/4] CDNOW log validated: {result.accounting}")
    summary = summarize(result.transactions, cutoff="1997-09-30", period="D", unit="W", holdout_end="1998-06-30")
    print(f"[2/4] summary at 1997-09-30: {len(summary):,} customers, {int(summary['frequency'].sum()):,} repeat "
          f"purchase days; holdout {summary['duration_holdout'].iloc[0]:.1f} weeks")
    model = CLVModel(horizon=12, period="M", annual_discount_rate=0.10).fit(summary)
    print("[3/4] BG/NBD + Gamma-Gamma fitted:")
    print(model.transaction_model_.summary_.round(4).to_string())
    print(model.gamma_gamma_.summary_.round(4).to_string())
    scores = model.score(summary)
    predicted = model.transaction_model_.expected_purchases(summary, float(summary["duration_holdout"].iloc[0]))
    table = holdout_table(summary, predicted)
    follow_up = {
        "predicted_holdout_purchases": float(predicted.sum()),
        "actual_holdout_purchases": float(summary["frequency_holdout"].sum()),
    }
    print(f"[4/4] follow-up on the holdout: predicted {follow_up['predicted_holdout_purchases']:,.0f} repeat "
          f"purchase days, actual {follow_up['actual_holdout_purchases']:,.0f}")
    print(table.round(3).to_string())

    write_parquet(scores, out / "clv_scores.parquet")
    write_parquet(result.rejects.astype(str), out / "rejects.parquet", index=False)
    model.save(out / "clv_model.json")
    for name, fig in (("holdout_purchases.png", holdout_purchases_plot(summary, predicted)),
                      ("clv_distribution.png", clv_distribution_plot(scores["clv"]))):
        atomic_write(out / name, lambda tmp, fig=fig: fig.savefig(tmp, format="png", dpi=110))
        plt.close(fig)
    report = {
        "dataset": "CDNOW full cohort (Fader & Hardie)",
        "accounting": result.accounting.as_dict(),
        "bgnbd": model.transaction_model_.summary_.to_dict("index"),
        "gamma_gamma": model.gamma_gamma_.summary_.to_dict("index"),
        "follow_up": follow_up,
        "total_clv_12_months": float(scores["clv"].sum()),
        "margin_rate_assumed": DEMO_MARGIN_RATE,
    }
    write_json(report, out / "clv_report.json")
    return report


DEMO_EXPERIMENTS = ("simulated.yaml", "hillstrom.yaml")


def run_targeting_demo(out: Path, experiments: Path) -> list[dict]:
    """Run the shipped targeting experiments; returns their headlines."""
    from ..report.targeting import write_experiment
    from ..targeting import load_experiment, run_experiment

    headlines = []
    for name in DEMO_EXPERIMENTS:
        path = Path(experiments) / name
        if not path.exists():
            print(f"(no {path}: run the demo from the project folder to include the targeting experiments)")
            continue
        spec = load_experiment(path)
        print(f"\n[targeting] {spec.name}: {', '.join(spec.policies)} on {spec.data_source}")
        result = run_experiment(spec, progress=True)
        write_experiment(result, Path(out) / spec.name)
        print(f"  {result.headline['text']}")
        print(f"  report: {(Path(out) / spec.name / 'report.html').resolve()}")
        headlines.append(result.headline)
    return headlines
