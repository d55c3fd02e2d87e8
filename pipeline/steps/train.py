"""train: the source's training table → ``models.training`` → one MLflow run + a registered model version.

Inputs: the source params.yaml describes (``pipeline.sources``: the data-contract tables, with the demo
world's ``truth.parquet`` for the oracle AUC when present, or a flat CRM export) and its named training
table (``training_table/<sources fingerprint>-<params hash>``, built once and read back by compare, tune
and promote). Outputs: one MLflow run in ``register.experiment_name`` with params, metrics (ROC AUC with
a bootstrap interval, PR AUC, log loss, Brier, ECE, lift and capture at 5/10/20 %, conversion by grade),
plots, lineage tags (``training_table`` names the dataset used), the definition, what the source froze
(a flat export's column plan) and the pyfunc model, registered as a new version of
``register.model_name``. Steps downstream exchange only the version. With ``--as-of DATE`` the sources are
cut to what was known strictly before DATE (``features.as_of``): the model a team would have deployed then.
"""

from __future__ import annotations

from pathlib import Path

from features.timeutil import as_utc
from models.training import fit_and_evaluate
from pipeline import sources as lead_sources
from pipeline import tracking
from pipeline.config import Config

TrainResult = tracking.TrainedVersion


def run(config: Config, *, family: str | None = None, params_path: Path | None = None,
        sources: Path | None = None, as_of=None) -> TrainResult:
    """``as_of``: train on what was known strictly before that day, as the team would have then."""
    family = family or config.train.model
    source = lead_sources.open_source(config, sources, as_of=as_utc(as_of) if as_of is not None else None)
    table, dataset = lead_sources.load_training_table(source)
    data = source.training_set(table)
    evaluation = fit_and_evaluate(data, family, train=config.train, evaluate=config.evaluate, score=config.score,
                                  model_name=config.registry.model_name)
    return tracking.log_training_run(config, source, data, evaluation, family, dataset=dataset,
                                     params_path=params_path)
