"""Nightly scoring at scale: features + predict + reasons + publish for many open leads.

Run by ``make bench``. Trains a champion on a 20,000-lead demo world (MLflow in a temporary folder),
then scores N open leads (default 1M) built for the benchmark: each lead created within the last 180
days, with about 20 engagement events, through the nightly path (features, the champion's scorer with
reasons for every lead, or each owner's best ``score.reasons_per_owner`` leads if set, publish to SQLite and
parquet). Prints seconds per phase, leads/s and peak RSS, then pyfunc ``predict`` against the raw
``Booster.predict`` on the same rows (the design's target: ≤ 1.2×; ``compare_pyfunc`` says what
each side includes), the reasons' own time for every lead
(TreeSHAP by table look-up, then wording), and their agreement with LightGBM's exact ``pred_contrib`` on a
10,000-lead sample: the largest absolute difference of a contribution, and the share of leads whose reasons
(top three for, two against) read exactly the same.

    python benchmarks/bench_scoring.py --leads 1000000
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.cli import setup  # noqa: E402

setup()  # as `leadscore` does: OMP_WAIT_POLICY=PASSIVE before lightgbm loads (importing pipeline sets nothing)

from models.scorer import to_model_input  # noqa: E402
from pipeline import io, tracking  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.sources import ContractSource  # noqa: E402
from pipeline.steps import generate, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
AS_OF = pd.Timestamp("2026-06-01", tz="UTC")


def scoring_world(n_leads: int, events_per_lead: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n_leads + 1, dtype=np.int64)
    n_accounts = max(1, n_leads // 3)
    leads = pd.DataFrame({
        "lead_id": ids,
        "created_ts": AS_OF - pd.to_timedelta(rng.integers(86_400, 179 * 86_400, n_leads), unit="s"),
        "source": rng.choice(["web_organic", "paid_search", "webinar", "email", "partner_referral"], n_leads),
        "account_id": rng.integers(1, n_accounts + 1, n_leads),
        "country": rng.choice(["US", "GB", "DE", "FR", "IN"], n_leads),
        "job_title": rng.choice(["VP of Engineering", "IT Manager", "Marketing Analyst", "Student"], n_leads),
        "owner_id": rng.choice([f"rep_{i:02d}" for i in range(1, 13)], n_leads),
        "email_domain": rng.choice(["gmail.com", "acme.com", "globex.com"], n_leads),
    })
    accounts = pd.DataFrame({
        "account_id": np.arange(1, n_accounts + 1, dtype=np.int64),
        "name": [f"Company {i}" for i in range(1, n_accounts + 1)],
        "industry": rng.choice(["software", "retail", "healthcare", "education"], n_accounts),
        "employees": rng.integers(2, 20_000, n_accounts),
    })
    n_events = n_leads * events_per_lead
    lead = rng.integers(0, n_leads, n_events)
    types = ["email_open", "email_click", "web_visit", "pricing_page_visit", "form_submit", "content_download",
             "webinar_attend", "event_attend", "ad_click"]
    age = rng.integers(60, 179 * 86_400, n_events)
    events = pd.DataFrame({
        "lead_id": ids[lead],
        "event_ts": AS_OF - pd.to_timedelta(age, unit="s"),
        "event_type": pd.Categorical.from_codes(rng.integers(0, len(types), n_events), categories=types),
        "campaign_id": pd.array(rng.integers(1, 49, n_events), dtype="Int64"),
    })
    events = events[events["event_ts"] > leads["created_ts"].to_numpy()[lead]]
    opportunities = pd.DataFrame({"lead_id": pd.Series(dtype="int64"),
                                  "created_ts": pd.Series(dtype="datetime64[ns, UTC]"),
                                  "closed_ts": pd.Series(dtype="datetime64[ns, UTC]"),
                                  "is_won": pd.Series(dtype=bool)})
    campaigns = pd.DataFrame({"campaign_id": np.arange(1, 49, dtype=np.int64),
                              "channel": np.resize(["email", "paid_search", "webinar", "partner"], 48)})
    return {"leads": leads, "accounts": accounts, "engagement_events": events, "opportunities": opportunities,
            "campaigns": campaigns}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--events-per-lead", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="alternated runs of each side of the pyfunc ratio")
    args = parser.parse_args()
    config = load_config(ROOT / "params.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ.update({"MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db", "LEADSCORE_SOURCES": str(tmp / "w"),
                           "LEADSCORE_DB_URL": f"sqlite:///{tmp}/scores.db", "LEADSCORE_SCORES_DIR": str(tmp / "s")})
        os.chdir(tmp)
        generate.run(tmp / "w", 20_000, 7, config.generate)
        trained = train.run(config)
        tracking.configure()
        import mlflow

        version = tracking.get_version(config.registry.model_name, trained.model_version)
        scorer = tracking.load_scorer(version, config.registry.model_name)  # what the nightly job scores with
        model = mlflow.pyfunc.load_model(f"models:/{config.registry.model_name}/{trained.model_version}")
        tables = io.validate_sources(scoring_world(args.leads, args.events_per_lead))
        n_events = len(tables["engagement_events"])
        phases = {}
        started = time.perf_counter()
        queue, features = ContractSource(config, tables=tables).open_leads(AS_OF, None)
        phases["features (spine, fit, engagement, history)"] = time.perf_counter() - started
        t = time.perf_counter()
        champion = tracking.Champion(scorer=scorer, state=None, version=version)
        scores = champion.score(queue, features, config.score)
        per_owner = config.score.reasons_per_owner
        explained_leads = "every lead" if per_owner is None else f"each owner's best {per_owner}"
        phases[f"score: predict + reasons for {explained_leads}"] = time.perf_counter() - t
        t = time.perf_counter()
        io.write_scores(scores, AS_OF)
        phases["publish (SQLite + parquet)"] = time.perf_counter() - t
        explained = int(((scores["reasons_positive"] != "") | (scores["reasons_negative"] != "")).sum())
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        pyfunc_lines, prepared = compare_pyfunc(model, scorer, features, repeats=args.repeats)
        # The reasons' share of the score phase, on every lead: TreeSHAP, then TreeSHAP + wording.
        shap_seconds = _timed(lambda: scorer.model.contributions(prepared))
        reasons_seconds = _timed(lambda: scorer.reasons(prepared))
        # Agreement with LightGBM's own exact TreeSHAP on a sample, contributions and the words they give.
        sample = prepared.sample(n=min(10_000, len(prepared)), random_state=0)
        exact_model = dataclasses.replace(scorer.model)
        exact_model._tables = None  # the family's fallback: Booster.predict(pred_contrib=True)
        exact = dataclasses.replace(scorer, model=exact_model)
        max_diff = float(np.max(np.abs(scorer.model.contributions(sample) - exact_model.contributions(sample))))
        ours, theirs = scorer.reasons(sample), exact.reasons(sample)
        same_words = float(((ours["reasons_positive"] == theirs["reasons_positive"])
                            & (ours["reasons_negative"] == theirs["reasons_negative"])).mean())
        same_top3 = float((ours["reasons_positive"] == theirs["reasons_positive"]).mean())
    total = sum(phases.values())
    print(f"\nScoring {len(queue):,} open leads ({n_events:,} events), model version {trained.model_version}")
    for name, seconds in phases.items():
        print(f"  {name:<62} {seconds:8.2f} s")
    print(f"  {'total':<62} {total:8.2f} s   {len(queue) / total:,.0f} leads/s (target: 1M leads in <= 30 s)")
    print(f"grades: {scores['grade'].value_counts().sort_index().to_dict()}; leads with reasons: {explained:,}")
    print(f"peak RSS {peak_mb:,.0f} MB")
    print("\n".join(pyfunc_lines))
    print(f"reasons for all {len(prepared):,} leads: {reasons_seconds:.2f} s (TreeSHAP by table look-up "
          f"{shap_seconds:.2f} s, then wording; inside the score phase above)")
    print(f"agreement with LightGBM pred_contrib on {len(sample):,} leads: max |difference| {max_diff:.1e} "
          f"(target <= 1e-6); identical top-3 reasons for {same_top3:.2%}, identical reasons for and against "
          f"{same_words:.2%}")


def compare_pyfunc(model, scorer, features: pd.DataFrame, *, repeats: int) -> tuple[list[str], pd.DataFrame]:
    """The wrapper's cost: the pyfunc's ``predict`` against LightGBM's own ``Booster.predict`` on the same rows.

    Both sides get the same leads' feature rows: the pyfunc as its signature declares them (categories as
    text, numbers as float: what a data scientist passes), ``Booster.predict`` the same rows prepared
    (``scorer.prepare``: pandas categoricals in the training categories, numbers as float64). The pyfunc's
    time includes MLflow's schema check, the cast to the training categories, LightGBM's predict, the
    calibrator, score, grade and the output frame; the Booster's includes LightGBM's own conversion of the
    prepared frame to its float matrix. A third line times ``Booster.predict`` on that float matrix itself
    (LightGBM's tree walk alone), a fourth the compiled walk the scorer uses instead when its tables cover the
    model (``models.treeshap``: LightGBM's bits, checked here), so the wrapper's own cost over the walk it runs
    is shown as well as its ratio to LightGBM. Alternated, best of ``repeats`` each:
    LightGBM's own time swings by ±15 % between runs on 2 cores (more when other work shares them), so
    wall and CPU seconds are both shown."""
    names = model.metadata.get_input_schema().input_names()
    X = to_model_input(features, names)
    prepared = scorer.prepare(X)
    matrix = scorer.model_matrix(X)
    booster = scorer.model.booster
    runs: dict[str, list[tuple[float, float]]] = {"pyfunc": [], "frame": [], "matrix": [], "walk": []}
    out = {}
    for _ in range(repeats):
        for side, fn in (("pyfunc", lambda: model.predict(X)), ("frame", lambda: booster.predict(prepared)),
                         ("matrix", lambda: booster.predict(matrix)),
                         ("walk", lambda: scorer.model.predict_matrix(matrix))):
            t, c = time.perf_counter(), time.process_time()
            out[side] = fn()
            runs[side].append((time.perf_counter() - t, time.process_time() - c))
    same = np.array_equal(out["pyfunc"]["probability"].to_numpy(), scorer.calibrator.transform(out["frame"]))
    same_walk = np.array_equal(out["walk"], out["matrix"])
    wall = {side: min(w for w, _ in r) for side, r in runs.items()}
    cpu = {side: min(c for _, c in r) for side, r in runs.items()}
    labels = {"pyfunc": "pyfunc predict (schema check, text -> categories, predict, calibrate, score, grade)",
              "frame": "Booster.predict(prepared frame) (LightGBM's frame-to-matrix + tree walk)",
              "matrix": "Booster.predict(float64 matrix) (LightGBM's tree walk alone)",
              "walk": "the scorer's compiled walk of the same matrix (models.treeshap)"}
    lines = [f"\npyfunc against LightGBM on the same {len(X):,} leads, best of {repeats} alternated runs "
             f"({'wall':>6} / {'CPU':>6} s):"]
    lines += [f"  {labels[side]:<86} {wall[side]:6.2f} / {cpu[side]:6.2f}" for side in runs]
    lines.append(f"pyfunc / Booster.predict(prepared frame): {wall['pyfunc'] / wall['frame']:.2f}x wall, "
                 f"{cpu['pyfunc'] / cpu['frame']:.2f}x CPU (target <= 1.2x); over the tree walk alone "
                 f"{wall['pyfunc'] / wall['matrix']:.2f}x wall, {cpu['pyfunc'] / cpu['matrix']:.2f}x CPU; "
                 f"probabilities bit-identical to the Booster's, calibrated: {same}")
    lines.append(f"the wrapper over the walk it runs: {wall['pyfunc'] / wall['walk']:.2f}x wall, "
                 f"{cpu['pyfunc'] / cpu['walk']:.2f}x CPU; compiled walk / LightGBM's: "
                 f"{wall['walk'] / wall['matrix']:.2f}x wall, {cpu['walk'] / cpu['matrix']:.2f}x CPU, "
                 f"bit-identical: {same_walk}")
    return lines, prepared


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
