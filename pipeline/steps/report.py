"""report: one HTML page marketing and sales both read — definition, promise vs reality, both views, drift.

``build`` computes the numbers and their sections without writing anything (the workspace's Report page renders
the same ``Report``); ``run`` writes the page and logs it.

Inputs: what the monitor reads (published scores, source tables, definitions; see ``monitor``), the
``sales_activities`` and ``campaigns`` source tables for the two views, and the latest nightly run's
drift (PSI per column) from the MLflow experiment ``nightly.experiment_name``. Output: the page at
``--out`` (self-contained: plots embedded as PNG) and the same file as an artifact of a run in
``monitor.experiment_name``. With segments in params.yaml, each segment model's definition and promises (with
its coverage) follow the global model's; the marketing and sales views count every lead, whoever scored it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd

from features.segments import describe
from models import report_plots
from models.definition import definition_version
from models.feedback import dispositions_by_campaign
from models.monitoring import BREACH, MonitorResult, assess, with_segments
from models.views import escalations, first_hand_offs, follow_up, marketing_view, sales_view
from pipeline import feedback as sales_feedback
from pipeline import signoff, tracking
from pipeline.config import Config
from pipeline.report_page import (
    RowFormat,
    Section,
    figure,
    number,
    paragraph,
    percent,
    render_page,
    table,
    with_interval,
)
from pipeline.sources import MILESTONE_WORDS


@dataclass(frozen=True)
class Report:
    """The report's numbers and their sections, built once and rendered twice: the self-contained page
    (:meth:`page`) that ``leadscore report`` writes, and the workspace's Report page."""
    title: str
    subtitle: str
    verdict: str
    breach: bool
    sections: list[Section]
    monitor: MonitorResult
    marketing: dict[str, pd.DataFrame]
    sales: dict[str, pd.DataFrame]
    dispositions: pd.DataFrame  # sales' feedback per campaign and hand-off grade (models.feedback)
    drift: pd.DataFrame | None
    drift_night: str | None
    observed_until: pd.Timestamp

    def page(self) -> str:
        return render_page(title=self.title, subtitle=self.subtitle, verdict=self.verdict, breach=self.breach,
                           sections=self.sections)


@dataclass(frozen=True)
class ReportResult:
    path: Path
    monitor: MonitorResult
    marketing: dict[str, pd.DataFrame]
    sales: dict[str, pd.DataFrame]
    drift: pd.DataFrame | None
    run_id: str


def latest_drift(config: Config) -> tuple[str | None, pd.DataFrame | None]:
    """(night, PSI per column) of the latest night the nightly job logged, or (None, None)."""
    runs = mlflow.search_runs(experiment_names=[config.nightly.experiment_name], output_format="pandas")
    if runs.empty or "tags.as_of" not in runs.columns:
        return None, None
    nightly = runs[runs["tags.as_of"].notna()].sort_values(["tags.as_of", "start_time"])
    if nightly.empty:
        return None, None
    last = nightly.iloc[-1]
    psi = {c.removeprefix("metrics.psi."): last[c] for c in nightly.columns if c.startswith("metrics.psi.")}
    frame = pd.DataFrame({"column": list(psi), "psi": list(psi.values())}).dropna()
    return last["tags.as_of"], frame.sort_values("psi", ascending=False, ignore_index=True)


def build(config: Config, sources: Path | None = None, *, url: str | None = None) -> Report:
    """Every number of the report, read live from the stores (scores from the database at ``url``, default
    ``$LEADSCORE_DB_URL``); writes nothing."""
    evidence = tracking.read_evidence(config, sources, url=url, every_model=True)  # every lead handed to sales
    window = config.labels.window_days
    by_segment_model = "segment" in evidence.scores.columns and evidence.scores["segment"].notna().any()
    checked = assess(tracking.read_evidence(config, sources, url=url) if config.segments or by_segment_model
                     else evidence, config.monitor, window_days=window)  # the global model's own rows
    if config.segments:  # each segment model's own definition, promises and coverage
        checked = with_segments(checked, {
            s.name: assess(tracking.read_evidence(config.for_segment(s.name), sources, url=url), config.monitor,
                           window_days=window) for s in config.segments})
    params = config.monitor
    order = evidence.grade_order
    tables = evidence.tables
    handed = first_hand_offs(evidence.scores)
    interval = {"quality_grades": params.quality_grades, "interval": params.interval, "confidence": params.confidence}
    marketing = marketing_view(handed, tables["leads"], tables.get("campaigns"), **interval)
    followed = follow_up(escalations(evidence.scores, grade_order=order), tables.get("sales_activities"),
                         observed_until=evidence.observed_until)
    sales = sales_view(followed, handed, sla_hours_by_grade=params.sla_hours_by_grade, grade_order=order,
                       speed_bucket_hours=params.follow_up_buckets_hours, **interval)
    dispositions = dispositions_by_campaign(
        sales_feedback.read_feedback(url=url), handed, tables["leads"], tables.get("campaigns"),
        dispositions=list(sales_feedback.DISPOSITIONS), grade_order=order)
    night, drift = latest_drift(config)
    sections = [
        _definition_section(config, url),
        _promises_section(config, checked),
        *([_segments_section(config, checked)] if config.segments else []),
        *[section for name, result in checked.segments.items()
          for section in (_definition_section(config.for_segment(name), url),
                          _promises_section(config.for_segment(name), result))],
        _marketing_section(config, marketing, dispositions),
        _sales_section(config, followed, sales, order),
        _drift_section(config, night, drift),
    ]
    return Report(
        title="Lead quality: promise and reality",
        subtitle=(f"data up to {evidence.observed_until:%Y-%m-%d %H:%M} UTC · {len(evidence.nights)} scored nights, "
                  f"{len(evidence.matured)} matured · {len(handed):,} leads handed to sales"),
        verdict=checked.message, breach=checked.exit_code == BREACH, sections=sections, monitor=checked,
        marketing=marketing, sales=sales, dispositions=dispositions, drift=drift, drift_night=night,
        observed_until=evidence.observed_until)


def run(config: Config, *, out: Path, sources: Path | None = None) -> ReportResult:
    report = build(config, sources)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.page(), encoding="utf-8")
    tracking.use_experiment(config.monitor.experiment_name)
    with mlflow.start_run(run_name=f"report {report.observed_until:%Y-%m-%d}") as run:
        mlflow.set_tags({"kind": "report", "observed_until": f"{report.observed_until:%Y-%m-%d}"})
        mlflow.log_artifact(str(out), artifact_path="report")
    return ReportResult(out, report.monitor, report.marketing, report.sales, report.drift, run.info.run_id)


def _segments_section(config: Config, checked: MonitorResult) -> Section:
    """Each declared segment: its filter, the model that scores its leads, and its coverage where it has matured."""
    rows = []
    for segment in config.segments:
        seg = config.for_segment(segment.name)
        version = tracking.champion_version(seg.registry.model_name)
        refused = tracking.refusal_of(seg) if version is None else None
        result = checked.segments.get(segment.name)
        rows.append({"segment": segment.name, "filter": describe(segment),
                     "scored by": (f"{seg.registry.model_name} version {version}" if version is not None else
                                   "the global model (" + (refused or "no champion yet") + ")"),
                     "coverage": result.coverage if result is not None else float("nan")})
    return Section("segments", "Segment models", "\n".join([
        paragraph("Each segment has its own model, grades sized by its own sales capacity, and its own promises "
                  "(below). Leads of no segment, and of a segment without a champion, are scored by the global "
                  "model. Coverage: the share of the segment's buyers on matured nights that its model scored.",
                  "note"),
        table(pd.DataFrame(rows), {"segment": str, "filter": str, "scored by": str, "coverage": percent})]))


def _segment_words(config: Config) -> tuple[str, str]:
    """(section id prefix, title prefix) of a segment model's sections; empty for the global model's."""
    if config.segment is None:
        return "", ""
    return f"segment-{config.segment.name}-", f"Segment {config.segment.name}: "


def _definition_section(config: Config, url: str | None) -> Section:
    tracking.configure()
    name = config.registry.model_name
    version = tracking.champion_version(name)
    key, whose = _segment_words(config)
    if version is None:
        return Section(f"{key}definition", f"{whose}The quality-lead definition", paragraph(
            "No champion yet." if config.segment is None else
            "No champion yet: the global model scores this segment's leads."))
    _, d = tracking.load_definition(name, version)
    signed = signoff.approvals(name, version, definition_version(d), url=url)  # the database record, never the tags
    sign = "; ".join(f"{team}: {a['by']} ({a['at'][:10]})" for team, a in sorted(signed.items())) or "not signed"
    m, label = d["test_metrics"], d["label"]
    # A flat export without dates has neither a window nor weeks: its label is the outcome the export records.
    when = f" within {label['window_days']} days of the night it is scored" if label.get("window_days") else ""
    weekly = {"weekly_volume": number} if d["population"].get("dated", True) else {}
    body = [paragraph(
        f"A quality lead is scored by the probability that it reaches {label['milestone_words']}{when}. Champion: "
        f"model version {version}, definition {d['definition_version']}; signed by {sign}."),
        paragraph(d["population"]["description"], "note"),
        table(pd.DataFrame(d["grades"]), {
            "grade": str, "min_probability": lambda v: f"{v:.2%}", **weekly,
            "promised_rate": percent, "promised_low": percent, "promised_high": percent},
            headers={"min_probability": "probability from", "weekly_volume": "leads / week",
                     "promised_rate": "promised conversion", "promised_low": "95 % CI low",
                     "promised_high": "95 % CI high"}),
        paragraph(_learned_words(d, m), "note")]
    return Section(f"{key}definition", f"{whose}The quality-lead definition", "\n".join(body))


def _learned_words(d: dict, m: dict) -> str:
    """What the champion learned from and how its recipe did on periods it had not seen, in one sentence."""
    learned, recent = d.get("learned") or {}, d.get("recent") or {}
    folds = [f["test_period"] for f in (d.get("backtest") or {}).get("folds", [])]
    if not learned:  # a definition from before backtests
        return (f"Test period {d['periods'].get('test')}: ROC AUC {m.get('roc_auc', float('nan')):.3f}, "
                f"calibration error {m.get('ece', float('nan')):.4f}.")
    return (f"Learned from {learned['period']}; promises measured on {recent.get('period')}. Backtest over "
            f"{len(folds)} periods it had not seen ({', '.join(folds)}): ROC AUC {m.get('roc_auc', float('nan')):.3f}, "
            f"calibration error {m.get('ece', float('nan')):.4f}.")


def _promises_section(config: Config, checked: MonitorResult) -> Section:
    key, whose = _segment_words(config)
    title = f"{whose}Promise against reality, per grade"
    if checked.promises.empty:
        return Section(f"{key}promises", title, paragraph(checked.message))
    p = config.monitor
    words = {"wilson": "Wilson", "clopper_pearson": "Clopper–Pearson"}[p.interval]
    body = [
        paragraph(f"Leads scored on nights whose {config.labels.window_days}-day window has elapsed, pooled over "
                  f"{len(checked.evidence.matured)} nights. A grade is in breach when the {p.confidence:.0%} {words} "
                  "interval of its realized rate and the interval it was promised with (measured on the most recent "
                  "matured period before training) do not meet. The same lead scored "
                  "on several nights counts once per night, as when the promise was measured.", "note"),
        table(checked.promises, {
            "model_version": str, "grade": str, "promised_rate": percent, "promised_low": percent,
            "promised_high": percent, "leads": number, "conversions": number, "realized_rate": percent, "low": percent,
            "high": percent, "verdict": str},
            headers={"model_version": "version", "realized_rate": "realized", "promised_rate": "promised",
                     "promised_low": "promised low", "promised_high": "promised high", "low": "realized low",
                     "high": "realized high"}, flag="breach"),
        figure(report_plots.promises_figure(checked.by_night, checked.promises,
                                            checked.evidence.grade_order), "realized vs promised per grade"),
        *_coverage_part(config, checked),
        "<h3>Ranking and calibration per scored night</h3>",
        figure(report_plots.cohorts_figure(checked.cohorts), "ROC AUC and calibration per night"),
        table(checked.cohorts, {
            "as_of_ts": lambda v: f"{v:%Y-%m-%d}", "leads": number, "conversions": number,
            "conversion_rate": percent, "mean_probability": percent, "roc_auc": lambda v: number(v, 3),
            "ece": lambda v: number(v, 4)},
            headers={"as_of_ts": "night", "conversion_rate": "converted", "mean_probability": "mean probability",
                     "roc_auc": "ROC AUC", "ece": "calibration error"}),
    ]
    return Section(f"{key}promises", title, "\n".join(body))


def _coverage_part(config: Config, checked: MonitorResult) -> list[str]:
    """Where the buyers were: the promises speak only for the leads that were scored."""
    buyers = checked.buyers
    if buyers.empty or buyers["buyers"].sum() == 0:
        return []
    total = int(buyers["buyers"].sum())
    return [
        "<h3>Coverage: were the buyers in the queue?</h3>",
        paragraph(f"Of the {total:,} leads that reached {MILESTONE_WORDS[config.labels.milestone]} within "
                  f"{config.labels.window_days} days of a matured night (one count per lead and night), "
                  f"{checked.coverage:.1%} were scored that night. Not scored: not yet open then, or already "
                  "with sales (an opportunity open), or outside the scored population.", "note"),
        table(buyers, {"grade": str, "buyers": number, "share": percent},
              headers={"grade": "scored in", "share": "share of buyers"}),
    ]


LEDGER_HEADERS = {"leads": "handed over", "matured_leads": "matured", "expected_wins": "expected wins",
                  "realized_wins": "realized wins", "realized": "realized rate", "ratio": "realized / expected"}


def _ledger_formats(config: Config) -> dict:
    """The ledger's columns as both teams read them: each realized rate with its interval."""
    return {
        "leads": number, "matured_leads": number, "expected_wins": lambda v: number(v, 1),
        "realized_wins": number,
        "realized": RowFormat(lambda r: with_interval(r["realized_rate"], r["realized_low"], r["realized_high"])),
        "ratio": RowFormat(lambda r: with_interval(r["realized_vs_expected"], r["ratio_low"], r["ratio_high"],
                                                   lambda v: number(v, 2))),
    }


def _few(config: Config) -> dict:
    """Rates on fewer than ``report.min_matured`` leads are greyed: realized ones by matured hand-offs, the quality
    share by hand-offs."""
    least = config.report.min_matured
    matured = lambda r: r["matured_leads"] < least  # noqa: E731
    return {"few": {"realized": matured, "ratio": matured, "quality_share": lambda r: r["leads"] < least}}


def _ledger_note(config: Config) -> str:
    p = config.monitor
    return (f"A hand-off is a lead's first scored night, with the grade and probability it had then; its probability "
            f"is the conversion the score expected. Realized wins count the hand-offs whose "
            f"{config.labels.window_days}-day window has elapsed, expected wins the probabilities of those same "
            f"hand-offs. Rates carry their {p.confidence:.0%} interval; realized / expected below 1 means fewer wins "
            f"than the score expected of those very leads. Greyed: a rate on fewer than {config.report.min_matured} "
            "leads (matured hand-offs for the realized ones), too few to judge on.")


def _marketing_section(config: Config, marketing: dict[str, pd.DataFrame], dispositions: pd.DataFrame) -> Section:
    quality = " or ".join(config.monitor.quality_grades)
    currency = config.report.currency
    money = lambda v: "–" if pd.isna(v) else f"{v:,.2f} {currency}"  # noqa: E731
    least = config.report.min_matured
    common = {**_ledger_formats(config), "quality_leads": number, "quality_share": RowFormat(
        lambda r: percent(r["quality_share"]) if r["leads"] >= least
        else with_interval(r["quality_share"], r["quality_low"], r["quality_high"]))}
    costs = {"lifetime_leads": number, "cost": lambda v: "–" if pd.isna(v) else f"{v:,.0f} {currency}",
             "cost_per_lead": money, "cost_per_quality_lead": money}
    headers = {**LEDGER_HEADERS, "quality_leads": f"{quality} at hand-off", "quality_share": f"share {quality}",
               "lifetime_leads": "leads, whole life", "cost_per_lead": "cost / lead",
               "cost_per_quality_lead": "cost / quality lead"}
    channel, campaigns = marketing["channel"], marketing["campaign"]
    body = [
        paragraph(_ledger_note(config), "note"),
        paragraph(f"Quality lead = graded {quality} at hand-off. Cost per quality lead spreads a campaign's whole cost "
                  "over every lead it brought in its life (scored or not, from the leads table): cost ÷ lifetime "
                  f"leads ÷ its share {quality} at hand-off. A long-running campaign is therefore not divided by only "
                  f"the leads of the nights reported. Costs in {currency}.", "note"),
        figure(report_plots.marketing_figure(channel, quality), "marketing by channel"),
        "<h3>By channel</h3>",
        table(channel, {"channel": str, **common, **costs}, headers=headers, **_few(config)),
        f"<h3>By campaign (all {len(campaigns)}, by share {quality})</h3>",
        table(campaigns, {"campaign": str, "channel": str, **common, **costs}, headers=headers, **_few(config)),
        "<h3>By lead source</h3>",
        table(marketing["source"], {"source": str, **common}, headers=headers, **_few(config)),
        *_dispositions_part(config, dispositions),
    ]
    return Section("marketing", "Marketing: quality leads and wins by campaign, channel and source", "\n".join(body))


def _dispositions_part(config: Config, dispositions: pd.DataFrame) -> list[str]:
    """What sales said of each campaign's leads, by the grade they were handed over in."""
    given = dispositions[dispositions["with_feedback"] > 0]
    title = "<h3>What sales said of each campaign's leads</h3>"
    if given.empty:
        return [title, paragraph("No sales feedback recorded yet: a rep records it on the lead's page in the workspace "
                                 "(or POST /api/leads/{id}/feedback).", "note")]
    least = config.report.min_matured
    shares = {f"share_{d}": percent for d in sales_feedback.DISPOSITIONS}
    named = {f"share_{d}": words.lower() for d, words in sales_feedback.DISPOSITIONS.items()}
    return [
        title,
        paragraph("Each lead's latest disposition, by the campaign that brought it and the grade it was handed over "
                  f"in; shares of the leads with feedback. Greyed: fewer than {least} leads with feedback. Feedback "
                  "never changes a score.", "note"),
        table(given, {"campaign": str, "grade": str, "leads": number, "with_feedback": number,
                      "feedback_share": percent, **shares},
              headers={"leads": "handed over", "with_feedback": "with feedback",
                       "feedback_share": "share with feedback", **named},
              few={c: (lambda r: r["with_feedback"] < least) for c in shares}),
    ]


def _sales_section(config: Config, followed: pd.DataFrame, sales: dict[str, pd.DataFrame],
                   order: list[str]) -> Section:
    sla = config.monitor.sla_hours_by_grade
    first = order[0]
    hours = lambda v: number(v, 1)  # noqa: E731
    ledger = _ledger_formats(config)
    body = [
        paragraph(_ledger_note(config), "note"),
        paragraph("Follow-up: time from the night a lead reached its best grade to the first sales activity after it. "
                  "SLA shares count leads whose SLA window has elapsed. SLA: "
                  + ", ".join(f"{g} within {h:g} h" for g, h in sla.items()) + ".", "note"),
        figure(report_plots.sales_figure(followed, sales["by_owner"], sales["by_speed"], grade_order=order,
                                         first_grade_sla_hours=sla.get(first)), "sales follow-up"),
        "<h3>By owner: expected against realized, and follow-up</h3>",
        table(sales["by_owner"], {"owner_id": str, **ledger, "median_latency_hours": hours,
                                  f"{first}_leads": number, f"{first}_median_latency_hours": hours,
                                  f"{first}_within_sla_share": percent},
              headers={**LEDGER_HEADERS, "owner_id": "owner", "median_latency_hours": "median h to touch",
                       f"{first}_leads": f"reached {first}", f"{first}_median_latency_hours": f"{first}: median h",
                       f"{first}_within_sla_share": f"{first} within SLA"}, **_few(config)),
        "<h3>By grade</h3>",
        table(sales["by_grade"], {"grade": str, **ledger, "reached_leads": number, "touched_share": percent,
                                  "median_latency_hours": hours, "p90_latency_hours": hours,
                                  "sla_hours": hours, "within_sla_share": percent},
              headers={**LEDGER_HEADERS, "leads": "handed over in grade", "reached_leads": "reached as best grade",
                       "touched_share": "touched", "median_latency_hours": "median h to touch",
                       "p90_latency_hours": "90th pct h", "sla_hours": "SLA h", "within_sla_share": "within SLA"},
              **_few(config)),
        "<h3>Conversion by follow-up speed</h3>",
        table(sales["by_speed"], {"speed": str, "leads": number, "conversions": number,
                                  "rate": RowFormat(lambda r: with_interval(r["conversion_rate"], r["conversion_low"],
                                                                            r["conversion_high"]))},
              headers={"speed": "first touch after reaching its best grade", "leads": "matured leads",
                       "rate": "converted"},
              few={"rate": lambda r: r["leads"] < config.report.min_matured}),
    ]
    return Section("sales", "Sales: expected against realized, and follow-up, by owner and grade", "\n".join(body))


def _drift_section(config: Config, night: str | None, drift: pd.DataFrame | None) -> Section:
    title = "Drift: tonight's population against the model's reference"
    if drift is None or drift.empty:
        return Section("drift", title, paragraph("No nightly drift logged yet (run `leadscore nightly`)."))
    n = config.nightly
    flagged = drift[drift["psi"] > n.psi_warn]
    body = [paragraph(f"Night {night}: {len(drift)} columns compared; {len(flagged)} above the warning level "
                      f"{n.psi_warn} (alert above {n.psi_alert})."),
            figure(report_plots.drift_figure(drift, warn=n.psi_warn, alert=n.psi_alert), "drift"),
            table(drift.head(15), {"column": str, "psi": lambda v: number(v, 3)}, headers={"psi": "PSI"})]
    return Section("drift", title, "\n".join(body))

