"""Model quality, forward: does the champion trained on what was known at a night T beat a default model?

Run by ``make bench``. Generates a demo world (MLflow, scores and datasets in a temporary folder), picks a
training night T whose four weekly forward nights T, T+7, T+14, T+21 have matured labels, and:

1. trains the champion recipe (``pipeline.steps.train``) on a copy of the sources holding only what was
   known strictly before T (``features.as_of.tables_known_before``);
2. trains a default ``HistGradientBoostingClassifier`` on the same training table (the snapshots known at
   T), using a handful of simple point-in-time columns;
3. scores the open leads of the four forward nights with both (features from the full tables: they are
   point in time), labels them from the full tables, and prints pooled AUCs (with the demo world's oracle,
   the true propensity, on the same rows), the paired lead-clustered bootstrap interval of
   AUC(champion) − AUC(default), overall and for leads at most 30 days old, and each grade's promised
   against realized conversion.

No timing or quality thresholds: the figures are read against the default model and the oracle measured
in the same run. The target is stated, not enforced.

    python benchmarks/bench_model_quality.py --leads 20000 --seed 11
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.cli import setup  # noqa: E402

setup()  # as `leadscore` does: OMP_WAIT_POLICY=PASSIVE before lightgbm loads

from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from features.as_of import tables_known_before  # noqa: E402
from features.labels import build_labels, label_column  # noqa: E402
from features.spine import data_end  # noqa: E402
from features.training_table import feature_columns  # noqa: E402
from models.grades import effective_counts, wilson_interval  # noqa: E402
from models.metrics import paired_auc_difference  # noqa: E402
from models.scorer import to_model_input  # noqa: E402
from models.split import split_by_time  # noqa: E402
from pipeline import io, tracking  # noqa: E402
from pipeline import sources as lead_sources  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.steps import generate, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FORWARD_NIGHTS = 4
YOUNG_DAYS = 30
SEED = 0  # the default model's and the bootstrap's


def forward_nights(tables: dict[str, pd.DataFrame], *, window_days: int, cadence_days: int) -> pd.DatetimeIndex:
    """Four weekly nights, the last the latest spine date whose label window has elapsed in the data.

    The training spine's dates are anchored on midnight of ``data_end - window`` stepping back by the
    cadence; the nights are taken on that grid (weekly steps stay on it when the cadence divides 7).
    """
    if 7 % cadence_days:
        raise ValueError(f"weekly forward nights need a spine cadence dividing 7 days, got {cadence_days}")
    last = (data_end(tables) - pd.Timedelta(days=window_days)).floor("D")
    return pd.DatetimeIndex([last - pd.Timedelta(days=7 * k) for k in reversed(range(FORWARD_NIGHTS))])


def default_columns(table: pd.DataFrame, config) -> list[str]:
    """The simple point-in-time columns of the default model, as the training table names them."""
    available = feature_columns(table, config.features)
    wanted = [f"eng__{t}_{w}d" for t in config.features.engagement.event_types for w in (30, 90)]
    wanted += ["eng__days_since_last_event", "fit__account_employees", "fit__seniority"]
    missing = [c for c in wanted if c not in available]
    if missing:
        raise KeyError(f"the training table lacks {missing}: check features.engagement.windows_days and features.fit")
    return wanted


def fit_default(rows: pd.DataFrame, columns: list[str], target: str) -> HistGradientBoostingClassifier:
    model = HistGradientBoostingClassifier(random_state=SEED, categorical_features="from_dtype")
    return model.fit(rows[columns], rows[target])


def as_training_categories(frame: pd.DataFrame, reference: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The forward rows with categorical columns cast to the categories the default model was trained on."""
    out = frame[columns].copy()
    for col in columns:
        if isinstance(reference[col].dtype, pd.CategoricalDtype):
            out[col] = pd.Categorical(out[col].astype(object), categories=reference[col].cat.categories)
    return out


def auc(y, p) -> float:
    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap resamples (of leads)")
    args = parser.parse_args()
    config = load_config(ROOT / "params.yaml")
    window, name = config.labels.window_days, config.registry.model_name
    target = label_column(window)
    phases: dict[str, float] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        world_dir, known_dir = tmp / "world", tmp / "known"
        os.environ.update({"MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db", "LEADSCORE_SOURCES": str(world_dir),
                           "LEADSCORE_DB_URL": f"sqlite:///{tmp}/scores.db", "LEADSCORE_SCORES_DIR": str(tmp / "s"),
                           "LEADSCORE_DATASETS_DIR": str(tmp / "datasets")})
        os.chdir(tmp)
        generate.run(world_dir, args.leads, args.seed, config.generate)
        full = io.read_sources(world_dir)
        truth = io.read_truth(world_dir)
        end = data_end(full)
        nights = forward_nights(full, window_days=window, cadence_days=config.spine.cadence_days)
        T = nights[0]
        phases["generate the world"] = time.perf_counter() - started

        # 1. The champion recipe, trained on what was known strictly before T.
        t = time.perf_counter()
        known = tables_known_before(full, T)
        if data_end(known) >= T:
            raise AssertionError("the sources known before T hold a timestamp at or after T")
        known_truth = truth[truth["lead_id"].isin(known["leads"]["lead_id"])]
        io.write_sources({**known, "truth": known_truth}, known_dir)
        trained = train.run(config, sources=known_dir)
        phases["train the champion as of T (the train step)"] = time.perf_counter() - t
        tracking.configure()
        import mlflow

        model = mlflow.pyfunc.load_model(f"models:/{name}/{trained.model_version}")
        names = model.metadata.get_input_schema().input_names()
        _, definition = tracking.load_definition(name, trained.model_version)

        # 2. The default model, on the same snapshots (the training table train built, read back).
        t = time.perf_counter()
        table, _ = lead_sources.load_training_table(lead_sources.open_source(config, known_dir))
        columns = default_columns(table, config)
        default = fit_default(table, columns, target)
        split = split_by_time(table, test_days=config.split.test_days, valid_days=config.split.valid_days,
                              gap_days=config.split.gap_days)
        default_stale = fit_default(split.train, columns, target)  # recency vs model: the same default, stale
        phases["train the default model (twice)"] = time.perf_counter() - t

        # 3. The forward nights, built from the full tables (features only read rows before each night).
        t = time.perf_counter()
        source = lead_sources.ContractSource(config, tables=full)
        parts = []
        for night in nights:
            queue, features = source.open_leads(night, None)
            out = model.predict(to_model_input(features, names))
            parts.append(pd.DataFrame({
                "lead_id": queue["lead_id"].to_numpy(), "as_of_ts": queue["as_of_ts"].to_numpy(),
                "age_days": features["lead__age_days"].to_numpy(),
                "champion": out["probability"].to_numpy(), "grade": out["grade"].to_numpy(),
                "default": default.predict_proba(as_training_categories(features, table, columns))[:, 1],
                "default_stale": default_stale.predict_proba(as_training_categories(features, table, columns))[:, 1],
            }))
        rows = pd.concat(parts, ignore_index=True)
        labelled = build_labels(rows[["lead_id", "as_of_ts"]], full["opportunities"], window_days=window,
                                milestone=config.labels.milestone, observed_until=end)
        rows = rows.merge(labelled, on=["lead_id", "as_of_ts"], how="inner", validate="one_to_one")
        rows["oracle"] = truth.set_index("lead_id")["propensity"].reindex(rows["lead_id"]).to_numpy()
        phases["score 4 forward nights (features + both models) and label them"] = time.perf_counter() - t

        t = time.perf_counter()
        y = rows[target].to_numpy()
        young = (rows["age_days"] <= YOUNG_DAYS).to_numpy()
        overall = paired_auc_difference(y, rows["champion"], rows["default"], rows["lead_id"],
                                        n_boot=args.boot, seed=SEED)
        young_diff = paired_auc_difference(y[young], rows["champion"][young], rows["default"][young],
                                           rows["lead_id"][young], n_boot=args.boot, seed=SEED)
        stale = paired_auc_difference(y, rows["champion"], rows["default_stale"], rows["lead_id"],
                                      n_boot=args.boot, seed=SEED)
        phases[f"paired bootstraps ({args.boot} resamples of leads, x3)"] = time.perf_counter() - t

    # --- report -----------------------------------------------------------------------------------------
    print(f"\nModel quality, forward: demo world of {args.leads:,} leads (seed {args.seed}), data end "
          f"{end:%Y-%m-%d %H:%M} UTC, label: {config.labels.milestone} within {window} days")
    print(f"training night T = {T:%Y-%m-%d}: champion (version {trained.model_version}, {config.train.model}) "
          f"trained on the sources known strictly before T ({len(known['leads']):,} of {len(full['leads']):,} "
          f"leads)")
    periods = definition.get("periods") or {}
    print("champion's periods (backtest folds, what it learned from, its recent period): "
          + ", ".join(f"{k} {v}" for k, v in periods.items()))
    print(f"training table known at T: {len(table):,} snapshots, {int(table[target].sum()):,} conversions, "
          f"{table['as_of_ts'].min():%Y-%m-%d}..{table['as_of_ts'].max():%Y-%m-%d}")
    print(f"default model: HistGradientBoostingClassifier(random_state={SEED}, categorical_features='from_dtype') "
          f"on all {len(table):,} snapshots, {len(columns)} columns:")
    print("  " + ", ".join(columns))
    print("\nforward nights (open leads of each night, features from the full tables, labels matured):")
    per_night = rows.groupby("as_of_ts").agg(rows=(target, "size"), conversions=(target, "sum"),
                                             young=("age_days", lambda a: int((a <= YOUNG_DAYS).sum())))
    for night, r in per_night.iterrows():
        print(f"  {night:%Y-%m-%d}  {r.rows:6,} rows  {int(r.conversions):4,} conversions  "
              f"({r.conversions / r.rows:.2%}; {r.young:,} leads <= {YOUNG_DAYS} days old)")
    print(f"  pooled    {len(rows):6,} rows  {int(y.sum()):4,} conversions  ({y.mean():.2%}), "
          f"{rows['lead_id'].nunique():,} distinct leads")

    print(f"\npooled ROC AUC                      all rows   leads <= {YOUNG_DAYS} days ({int(young.sum()):,} rows, "
          f"{int(y[young].sum())} conversions)")
    for label, col in (("champion", "champion"), ("default model", "default"),
                       ("default, split's train slice only", "default_stale"), ("oracle (true propensity)", "oracle")):
        print(f"  {label:<34} {auc(y, rows[col]):.3f}      {auc(y[young], rows[col][young]):.3f}")
    print(f"\nAUC(champion) - AUC(default), paired bootstrap by lead ({args.boot} resamples, seed {SEED}), 95 %:")
    print(f"  all rows            {overall[0]:+.3f}  [{overall[1]:+.3f}, {overall[2]:+.3f}]")
    print(f"  leads <= {YOUNG_DAYS} days     {young_diff[0]:+.3f}  [{young_diff[1]:+.3f}, {young_diff[2]:+.3f}]")
    print(f"  (against a stale default, fitted only on the time split's train slice {split.periods()['train']}: "
          f"{stale[0]:+.3f} [{stale[1]:+.3f}, {stale[2]:+.3f}])")
    print(f"target: interval above 0 overall, and not below 0 on leads <= {YOUNG_DAYS} days")
    verdict_all = "met" if overall[1] > 0 else "NOT met"
    verdict_young = "met" if young_diff[2] >= 0 else "NOT met"  # not wholly below 0: not shown to be worse
    print(f"  overall: {verdict_all}; leads <= {YOUNG_DAYS} days: {verdict_young}")

    print("\nchampion grades on the forward nights: promised (the version's definition) vs realized, "
          "Wilson 95 % over leads (the monitor's verdict: the two intervals must meet):")
    for g in definition["grades"]:
        mask = (rows["grade"] == g["grade"]).to_numpy()
        n, k = int(mask.sum()), int(y[mask].sum())
        low, high = wilson_interval(*effective_counts(y[mask], rows["lead_id"].to_numpy()[mask]))
        rate = k / n if n else float("nan")
        meet = n and low <= g["promised_high"] and high >= g["promised_low"]
        inside = "kept" if meet else "BREACH"
        print(f"  {g['grade']}  promised {g['promised_rate']:6.2%} [{g['promised_low']:.2%}, {g['promised_high']:.2%}]"
              f"  realized {rate:6.2%} [{low:.2%}, {high:.2%}]  ({k:,}/{n:,} rows, {n / FORWARD_NIGHTS:,.0f}/week "
              f"vs {g['weekly_volume']:,.0f} promised): {inside}")
    total = time.perf_counter() - started
    print("\nseconds: " + "; ".join(f"{k} {v:.1f}" for k, v in phases.items()) + f"; total {total:.1f}")


if __name__ == "__main__":
    main()
