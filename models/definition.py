"""The quality-lead definition: what both teams sign, as data (JSON) and as a page people read (Markdown).

It holds the conversion milestone and window, the population scored, the features with their meaning,
the grade table with its promises (measured on the most recent matured period), the backtest (per fold
and pooled), the period the registered model learned from and the calibration table. ``definition_version``
is a hash of that content, so two model versions that promise the same thing share a definition version,
and any change to window, features, thresholds or promises makes a new one.
"""

from __future__ import annotations

import hashlib
import json
import math

import pandas as pd

DEFINITION_METRICS = ("roc_auc", "roc_auc_low", "roc_auc_high", "pr_auc", "log_loss", "brier", "ece",
                      "lift_at_10pct", "capture_at_10pct", "positive_rate", "rows", "positives")


def _clean(value):
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def build_definition(*, model_name: str, family: str, label: dict, population: dict, features: list[dict],
                     grades: pd.DataFrame, metrics: dict[str, float], calibration: pd.DataFrame,
                     periods: dict[str, str], learned: dict | None = None, backtest: dict | None = None,
                     recent: dict | None = None, sampling: dict | None = None) -> dict:
    """``sampling``: how a sampled training table was sampled (``features.sampling``); recorded only when it
    was (an unsampled table leaves the definition, and its version, as it always was)."""
    body = {
        "model_name": model_name,
        "model_family": family,
        "label": label,
        "population": population,
        "features": features,
        "grades": grades.to_dict("records"),
        "test_metrics": {k: metrics[k] for k in DEFINITION_METRICS if k in metrics},
        "calibration": calibration.to_dict("records"),
        "periods": periods,
        "learned": learned or {},
        "backtest": backtest or {},
        "recent": recent or {},
    }
    if sampling and sampling.get("sampled"):
        body["sampling"] = sampling
    body = _clean(body)
    body["definition_version"] = definition_version(body)
    return body


def definition_version(body: dict) -> str:
    content = {k: v for k, v in body.items() if k != "definition_version"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:12]


def summarize(d: dict, version: int) -> dict:
    """The definition as other programs read it (``leadscore definition --json``): who is scored and how well,
    what each grade promises, what the model learned from, and its backtest."""
    learned, population = d.get("learned") or {}, d["population"]
    return {
        "version": version,
        "definition_version": d["definition_version"],
        "model_name": d["model_name"],
        "model_family": d["model_family"],
        "label": d["label"],
        "learned_from": learned.get("from"),
        "learned_until": learned.get("until"),
        "learned_rows": learned.get("rows"),
        "population": population,
        "coverage": population.get("coverage"),
        "grades": [{"grade": g["grade"], "threshold": g["min_probability"], "promised_rate": g["promised_rate"],
                    "promised_low": g["promised_low"], "promised_high": g["promised_high"],
                    "weekly_volume": g["weekly_volume"], "share": g["share"],
                    "backtest_rates": backtest_rates(d, g["grade"])} for g in d["grades"]],
        "promises_measured_on": (d.get("recent") or {}).get("period"),
        "backtest": d.get("backtest") or {},
    }


def definition_summary(d: dict, approvals: dict[str, dict] | None = None) -> str:
    """A model version's description in the registry (Markdown): who is scored, the window, each grade's promise,
    the backtest ROC AUC, what it learned from, and who signed (``approvals``: team → record; none yet at
    training)."""
    label, population, m = d["label"], d["population"], d["test_metrics"]
    learned = d.get("learned") or {}
    window = f" within {label['window_days']} days" if label.get("window_days") else ""
    lines = [
        f"**Quality-lead definition {d['definition_version']}** ({d['model_family']}): the probability that a lead "
        f"reaches {label['milestone_words']}{window}.",
        "",
        f"- Who is scored: {population['description']}",
        "- Grades: " + "; ".join(
            f"{g['grade']} from {g['min_probability']:.2%}, promises "
            + ("nothing (no test leads)" if g["promised_rate"] is None
               else f"{g['promised_rate']:.1%} [{g['promised_low']:.1%}, {g['promised_high']:.1%}]")
            for g in d["grades"]),
        f"- Backtest ROC AUC {m.get('roc_auc', float('nan')):.3f} [{m.get('roc_auc_low', float('nan')):.3f}, "
        f"{m.get('roc_auc_high', float('nan')):.3f}], ECE {m.get('ece', float('nan')):.4f}",
        f"- Learned from {learned.get('rows', '?'):,} snapshots, {learned.get('from')} to {learned.get('until')}"
        if isinstance(learned.get("rows"), int) else "- Learned from: see the run",
        "- Signed by: " + ("; ".join(f"{team}: {r.get('by', '?')} on {str(r.get('at', '?'))[:10]}"
                                    for team, r in sorted(approvals.items())) if approvals
                           else "nobody yet (`leadscore approve`, or the workspace's Definition page)"),
    ]
    return "\n".join(lines)


def backtest_rates(d: dict, grade: str) -> list[float]:
    """The grade's realized rate in each backtest period, oldest first: how much it moves between periods."""
    return [r["rate"] for r in (d.get("backtest") or {}).get("grades", []) if r["grade"] == grade]


def render_markdown(d: dict) -> str:
    label, pop, m = d["label"], d["population"], d["test_metrics"]
    # A flat CRM export has no window: its label is the lead's recorded outcome.
    when = (f" within **{label['window_days']} days** of the day it is scored" if label.get("window_days") else "")
    lines = [
        f"# Quality-lead definition {d['definition_version']}",
        "",
        f"A **quality lead** is scored by the probability that it reaches **{label['milestone_words']}**{when} "
        f"(`{label['column']}`).",
        "",
        "## Who is scored",
        f"{pop['description']}",
        "",
        "## Grades and what each one promises",
    ]
    dated = pop.get("dated", True)  # a flat export without created dates has no weeks to count leads in
    lines += (["| grade | probability from | share of open leads | leads per week | promised conversion [95 % CI] |",
               "|---|---|---|---|---|"] if dated else
              ["| grade | probability from | share of open leads | promised conversion [95 % CI] |",
               "|---|---|---|---|"])
    for g in d["grades"]:
        promise = ("no test leads" if g["promised_rate"] is None else  # an empty grade promises nothing
                   f"{g['promised_rate']:.1%} [{g['promised_low']:.1%}, {g['promised_high']:.1%}]")
        weekly = f" {g['weekly_volume']:,.0f} |" if dated else ""
        lines.append(f"| {g['grade']} | {g['min_probability']:.2%} | {g['share']:.1%} |{weekly} {promise} |")
    moved = {g["grade"]: backtest_rates(d, g["grade"]) for g in d["grades"]}
    if any(moved.values()):
        lines += ["", "A grade's rate moves from one period to the next more than its size alone explains. In the "
                  "backtest's periods, graded as the model of the time would have graded them, the grades converted "
                  "at: " + "; ".join(f"{g} " + ", ".join(f"{r:.2%}" for r in rates) for g, rates in moved.items()
                                     if rates) + ". Each promise's interval includes that movement, so it says "
                  "where a coming period's rate should land."]
    backtest = d.get("backtest") or {}
    lines += [
        "",
        "## How well it ranks and how honest its probabilities are (backtest: each period scored by a model "
        "fitted on what had matured before it)",
        f"- ROC AUC {m.get('roc_auc', float('nan')):.3f} "
        f"[{m.get('roc_auc_low', float('nan')):.3f}, {m.get('roc_auc_high', float('nan')):.3f}]; "
        f"PR AUC {m.get('pr_auc', float('nan')):.3f}; lift in the top 10 % {m.get('lift_at_10pct', float('nan')):.1f}x",
        f"- expected calibration error {m.get('ece', float('nan')):.4f}; Brier {m.get('brier', float('nan')):.4f}",
    ]
    if backtest.get("folds"):
        lines += ["", "| fold | tested on | leads | conversions | ROC AUC | calibration error |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {f['fold']} | {f['test_period']} | {f['test_rows']:,} | {f['test_conversions']:,} | "
                  f"{f['roc_auc']:.3f} | {f['ece']:.4f} |" for f in backtest["folds"]]
    recent = d.get("recent") or {}
    lines += [
        "",
        f"Calibration on the most recent matured period ({recent.get('period', d['periods'].get('valid', '?'))}), "
        "in probabilities from models that never saw those leads:",
        "",
        "| bin | leads | promised | observed |",
        "|---|---|---|---|",
    ]
    for row in d["calibration"]:
        lines.append(f"| {row['bin'] + 1} | {row['rows']:,} | {row['predicted']:.2%} | {row['observed']:.2%} |")
    lines += ["", f"## Features ({len(d['features'])})", "| feature | meaning |", "|---|---|"]
    for f in d["features"]:
        lines.append(f"| `{f['name']}` | {f['description'].replace('{value}', 'N')} |")
    learned = d.get("learned") or {}
    if learned:
        lines += ["", f"Model: {d['model_name']} ({d['model_family']}); learned from {learned['period']} "
                  f"({learned['rows']:,} snapshots, {learned['conversions']:,} converted), calibrated and graded on "
                  f"{recent.get('period')}."]
        sampling = d.get("sampling") or {}
        if sampling.get("sampled"):
            lines += ["", f"Sampled training table: every converting snapshot kept, other snapshots kept at rate "
                      f"{sampling['negative_rate']:.4f} (seed {sampling['seed']}) and weighted 1 / rate in fitting, "
                      f"calibration, metrics and promises: {sampling['rows_kept']:,} of {sampling['rows_full']:,} "
                      "snapshots kept."]
    else:  # a definition from before backtests
        lines += ["", f"Model: {d['model_name']} ({d['model_family']}); trained on {d['periods'].get('train')}, "
                  f"calibrated and graded on {d['periods'].get('valid')}, tested on {d['periods'].get('test')}."]
    return "\n".join(lines) + "\n"


def diff_definitions(a: dict, b: dict) -> list[tuple[str, str, str]]:
    """(what, in A, in B) for every difference a signatory should know about."""
    changes: list[tuple[str, str, str]] = []
    for key in ("milestone", "window_days"):
        if a["label"].get(key) != b["label"].get(key):
            changes.append((f"label {key}", str(a["label"].get(key)), str(b["label"].get(key))))
    if a["population"] != b["population"]:
        changes.append(("population", a["population"]["description"], b["population"]["description"]))
    fa, fb = {f["name"] for f in a["features"]}, {f["name"] for f in b["features"]}
    for name in sorted(fb - fa):
        changes.append(("feature added", "", name))
    for name in sorted(fa - fb):
        changes.append(("feature removed", name, ""))
    ga, gb = {g["grade"]: g for g in a["grades"]}, {g["grade"]: g for g in b["grades"]}
    for grade in sorted(set(ga) | set(gb)):
        x, y = ga.get(grade), gb.get(grade)
        if x is None or y is None:
            changes.append((f"grade {grade}", "present" if x else "absent", "present" if y else "absent"))
            continue
        for key, fmt in (("min_probability", "{:.2%}"), ("promised_rate", "{:.1%}"), ("weekly_volume", "{:,.0f}")):
            if x[key] != y[key]:
                changes.append((f"grade {grade} {key}", fmt.format(x[key]), fmt.format(y[key])))
    for key in ("roc_auc", "ece"):
        if a["test_metrics"].get(key) != b["test_metrics"].get(key):
            changes.append((f"test {key}", f"{a['test_metrics'].get(key)}", f"{b['test_metrics'].get(key)}"))
    return changes
