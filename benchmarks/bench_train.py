"""Training at CRM scale: the training table built, the recipe backtested (>= 3 folds) and refitted, per world size.

Run by ``make bench-train``. For each size in ``BENCH_TRAIN_SIZES`` (default 50,000, 200,000 and 1,000,000 leads)
a demo world is generated (``leadscore generate --leads N --seed 7``) into a temporary folder, then ``leadscore
train``'s path runs in a **child process** (so its peak RSS is its own, ``ru_maxrss``): the training table with
params.yaml's ``sampling`` (``BENCH_TRAIN_TARGET_ROWS`` overrides ``sampling.target_rows``), the backtest and the
refit (``models.training.fit_and_evaluate``) and the MLflow run (SQLite in the temporary folder). Printed per
size: training rows (kept / full), wall time per phase, peak RSS (and the peak once the training table is
loaded), the pooled backtest ROC AUC; and at sizes up to ``BENCH_TRAIN_FULL_MAX`` (default 200,000 leads) the
same run on the full table (``sampling.target_rows: null``) with its AUC beside it.

Phases: *spine* (open-lead snapshots and their labels, both passes), *features* (point-in-time features of the
kept rows), *table_io* (the rest of ``pipeline.sources.load_training_table``, ``leadscore train``'s path:
the sources' fingerprint, assembling the table, writing the named training table and reading it back), *fits*
(every LightGBM fit: binning each recipe's history, early stopping, refits, cross-fitting), *calibration* (the
calibrators), *logging* (the MLflow run and registered model); *other* is the rest (reading sources, metrics,
grading).

No thresholds: the targets (1M leads in <= 15 min at <= 8 GB, AUC within 0.005 of the full table) are read, not
enforced. Timings are of a shared machine: note the load average printed beside them.

    BENCH_TRAIN_SIZES=20000,50000 python benchmarks/bench_train.py
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHASES = ("spine", "features", "table_io", "fits", "calibration", "logging")


def _timed(module, name: str, phase: str, clock: dict[str, float]) -> None:
    """Wrap ``module.name`` so its wall time adds to ``clock[phase]`` (outermost call only)."""
    inner = getattr(module, name)
    depth = {"n": 0}

    def wrapper(*args, **kwargs):
        depth["n"] += 1
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            depth["n"] -= 1
            if depth["n"] == 0:
                clock[phase] += time.perf_counter() - start

    setattr(module, name, wrapper)


def child(sources: Path, work: Path, target_rows: str) -> dict:
    """One training run in this process: phases timed, peak RSS read at the end."""
    from pipeline.cli import setup

    setup()  # OMP_WAIT_POLICY=PASSIVE before lightgbm loads, as `leadscore` does
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work}/mlflow.db"
    os.chdir(work)
    import yaml

    from features import training_table
    from models import calibration, training
    from pipeline import sources as lead_sources
    from pipeline import tracking
    from pipeline.config import parse_config

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    if target_rows:
        raw["sampling"]["target_rows"] = None if target_rows == "full" else int(target_rows)
    config = parse_config(raw)
    clock = dict.fromkeys(PHASES, 0.0)
    _timed(training_table, "_labelled_block", "spine", clock)
    _timed(training_table, "build_feature_table", "features", clock)
    for fit in ("fit_family", "fit_lgbm", "bin_history"):
        _timed(training, fit, "fits", clock)
    _timed(calibration.ProbabilityCalibrator, "fit", "calibration", clock)
    started = time.perf_counter()
    source = lead_sources.ContractSource(config, sources)
    source.tables  # noqa: B018 -- the sources read (other), before the table's phases
    os.environ["LEADSCORE_DATASETS_DIR"] = str(work / "datasets")
    t = time.perf_counter()
    table, dataset = lead_sources.load_training_table(source)  # built, written, read back: `leadscore train`'s path
    clock["table_io"] = time.perf_counter() - t - clock["spine"] - clock["features"]
    table_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    info = dict(table.attrs["sampling"])
    data = source.training_set(table)
    evaluation = training.fit_and_evaluate(data, "lgbm", train=config.train, evaluate=config.evaluate,
                                           score=config.score, model_name=config.registry.model_name)
    t = time.perf_counter()
    tracking.log_training_run(config, source, data, evaluation, "lgbm", dataset=dataset, params_path=None)
    clock["logging"] = time.perf_counter() - t
    total = time.perf_counter() - started
    return {"rows_kept": info["rows_kept"], "rows_full": info["rows_full"], "rate": info["negative_rate"],
            "total_s": total, **{f"{p}_s": v for p, v in clock.items()},
            "other_s": total - sum(clock.values()),
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2, "table_rss_gb": table_rss,
            "auc": evaluation.metrics["test_roc_auc"], "auc_low": evaluation.metrics.get("test_roc_auc_low"),
            "auc_high": evaluation.metrics.get("test_roc_auc_high"), "ece": evaluation.metrics["test_ece"],
            "folds": len(evaluation.folds)}


def run_child(sources: Path, work: Path, target_rows: str) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    out = subprocess.run([sys.executable, __file__, "--child", str(sources), str(work), target_rows],
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"the training child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_TRAIN_SIZES", "50000,200000,1000000").split(",") if s]
    full_max = int(os.environ.get("BENCH_TRAIN_FULL_MAX", "200000"))
    target = os.environ.get("BENCH_TRAIN_TARGET_ROWS", "")
    print(f"bench-train: sizes {sizes}, full table up to {full_max:,} leads, "
          f"target_rows {target or 'from params.yaml'}; {os.cpu_count()} cores; {load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        for n in sizes:
            sources = Path(tmp) / f"world-{n}"
            t = time.perf_counter()
            subprocess.run([str(Path(sys.executable).with_name("leadscore")), "generate", "--leads", str(n),
                            "--seed", "7", "--out", str(sources)], check=True, capture_output=True, cwd=ROOT)
            print(f"\n{n:,} leads: world generated in {time.perf_counter() - t:.0f} s ({load()})", flush=True)
            runs = {"sampled": run_child(sources, Path(tmp) / f"run-{n}-sampled", target)}
            print(_line("sampled", runs["sampled"]), flush=True)
            if n <= full_max:
                runs["full"] = run_child(sources, Path(tmp) / f"run-{n}-full", "full")
                print(_line("full", runs["full"]), flush=True)
                print(f"  backtest ROC AUC sampled − full: {runs['sampled']['auc'] - runs['full']['auc']:+.4f}",
                      flush=True)


def _line(name: str, r: dict) -> str:
    phases = " · ".join(f"{p} {r[f'{p}_s']:.0f} s" for p in (*PHASES, "other"))
    return (f"  {name:8s} rows {r['rows_kept']:,} / {r['rows_full']:,} (negative rate {r['rate']:.3f}); "
            f"total {r['total_s']:.0f} s [{phases}]; peak RSS {r['peak_rss_gb']:.2f} GB "
            f"({r['table_rss_gb']:.2f} GB once the table is loaded); "
            f"backtest ROC AUC {r['auc']:.4f} [{r['auc_low']:.4f}, {r['auc_high']:.4f}] over {r['folds']} folds, "
            f"ECE {r['ece']:.4f}; {load()}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])))
    else:
        main()
