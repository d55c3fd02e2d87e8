"""train: the source's training table → ``models.training`` → one MLflow run + a registered model version.

Inputs: the source params.yaml describes (``pipeline.sources``: the data-contract tables, with the demo
world's ``truth.parquet`` for the oracle AUC when present, or a flat CRM export) and its named training
table (``training_table/<sources fingerprint>-<params hash>``, built once and read back by compare, tune
and promote). Outputs: one MLflow run in ``register.experiment_name`` with params, metrics (ROC AUC with
a bootstrap interval, PR AUC, log loss, Brier, ECE, lift and capture at 5/10/20 %, conversion by grade),
plots, lineage tags (``training_table`` names the dataset used), the definition, what the source froze
(a flat export's column plan) and the pyfunc model, registered as a new version of
``register.model_name`` (a segment's, ``<model_name>--<segment>``, with ``config.for_segment``: trained on that
segment's snapshots, graded by its capacity; refused, with the reason tagged on the failed run, when the
sufficiency gate finds too few conversions). Steps downstream exchange only the version. With ``--as-of DATE``
the sources are cut to what was known strictly before DATE (``features.as_of``): the model a team would have
deployed then. ``engine="spark"``: the training table is built in Spark partitions by the same builders
(``pipeline.spark_engine.SparkTrainingTable``) — the same table under the same name; the fits run here.
"""

from __future__ import annotations

from pathlib import Path

import mlflow

from features import flat
from features.timeutil import as_utc
from models.training import InsufficientData, fit_and_evaluate
from pipeline import sources as lead_sources
from pipeline import tracking
from pipeline.config import Config

TrainResult = tracking.TrainedVersion
REFUSED_TAG = "refused"  # a segment's run the sufficiency gate stopped: why (the run is marked failed)
LEAK_RISK_TAG = "leak_risk_accepted"  # the kept columns the screens flagged, on a run trained with consent


class LeakRiskRefused(ValueError):
    """A column kept with ``source.keep`` is flagged by the leak or id screen, and no consent was given."""


def leak_risks(source) -> dict[str, str]:
    """Kept columns the screens flag → why (a flat export only; the data contract has no such columns)."""
    if source.kind != "flat":
        return {}
    flagged = flat.screen_export(source.frame, source.config.source).flagged()
    return {c: flagged[c] for c in source.plan.leak_risks}


def run(config: Config, *, family: str | None = None, params_path: Path | None = None,
        sources: Path | None = None, as_of=None, accept_leak_risk: bool = False,
        engine: str = "default") -> TrainResult:
    """``as_of``: train on what was known strictly before that day, as the team would have then.
    ``accept_leak_risk``: train although a column kept with ``source.keep`` is flagged (the run is tagged)."""
    family = family or config.train.model
    source = lead_sources.open_source(config, sources, as_of=as_utc(as_of) if as_of is not None else None)
    risks = leak_risks(source)
    if risks and not accept_leak_risk:
        raise LeakRiskRefused("not trained: columns kept with source.keep are flagged by the screens:\n"
                              + "\n".join(f"  - {c}: {why}" for c, why in risks.items())
                              + "\npass --accept-leak-risk to train on them anyway (the run is tagged "
                                f"{LEAK_RISK_TAG}), or remove them from source.keep")
    run_name = family if config.segment is None else f"{family} {config.segment.name}"
    with tracking.training_run(config, run_name=run_name):  # the run spans the training: table, fits, logging
        table, dataset = lead_sources.load_training_table(source, build=_spark_build(config, sources, as_of)
                                                          if engine == "spark" else None)
        try:
            data = source.training_set(table)
        except InsufficientData as exc:  # a segment too small to learn: its leads stay with the global model
            if config.segment is not None:
                mlflow.set_tags({"segment": config.segment.name, REFUSED_TAG: str(exc)[:4000]})
            raise
        evaluation = fit_and_evaluate(data, family, train=config.train, evaluate=config.evaluate,
                                      score=config.score, model_name=config.registry.model_name)
        result = tracking.log_training_run(config, source, data, evaluation, family, dataset=dataset,
                                           params_path=params_path)
    if risks:
        mlflow.MlflowClient().set_tag(result.run_id, LEAK_RISK_TAG, ",".join(risks))
    return result



def _spark_build(config: Config, sources: Path | None, as_of):
    """The training table's blocks from Spark partitions, started only when the table must be built."""
    from pipeline import io, spark_engine

    return lambda: spark_engine.SparkTrainingTable(config, io.source_location(sources),
                                                   staging=io.datasets_dir() / ".staging",
                                                   as_of=as_utc(as_of) if as_of is not None else None)
