"""MLflow: where runs go, how a training run and a model version are logged, registered, signed,
promoted and loaded.

Tracking defaults to ``sqlite:///mlflow.db`` in the working directory (artifacts in ``./mlruns``);
``MLFLOW_TRACKING_URI`` overrides it (PostgreSQL for a team). The sign-off record (approvals, promotions) lives in
the leadscore database (``pipeline.signoff``); the tags ``approval.<team>`` on a version and ``promotion.<NNNN>`` on
the model are a mirror of it for the MLflow UI, written here and trusted by nothing.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import posixpath
import subprocess
import tempfile
import urllib.parse
import warnings
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.models import infer_signature

from features.coverage import buyers_of_nights
from features.labels import label_scored_rows
from features.segments import model_buyers, model_rows
from features.spine import data_end
from models import plots
from models.definition import definition_summary, render_markdown
from models.families import explanation_table
from models.monitoring import Evidence, build_evidence, matured_nights
from models.params import ScoreParams, TrainParams
from models.scorer import ArtifactFormatError, LeadScorer, to_model_input
from models.scoring import assemble_scores
from models.training import Evaluation, TrainingSet
from pipeline import io, model_artifacts
from pipeline.config import Config
from pipeline.sources import LeadSource

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
# The models-from-code script a version stores instead of a pickled python model (a path: importing it would
# run its set_model).
PYFUNC_SCRIPT = Path(__file__).with_name("pyfunc_from_code.py")
CHAMPION = "champion"
# Without this experiment tag MLflow 3 takes an experiment for a GenAI one (its pages and the assistant read it).
EXPERIMENT_KIND_TAG, CLASSIC_ML = "mlflow.experimentKind", "custom_model_development"


def configure(*, create: bool = False) -> str:
    """Point MLflow at $MLFLOW_TRACKING_URI (default: SQLite in the project home). The registry follows the
    tracking URI unless $MLFLOW_REGISTRY_URI says otherwise, which MLflow reads itself: calling
    set_registry_uri would export the variable and pin the registry for the rest of the process.

    Only a command that writes a first run (``create``: train, tune) may start a new SQLite store; any other
    finding none is run from the wrong folder, and says so rather than answer from an empty registry."""
    uri = io.sqlite_at_home(os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI)
    path = io.sqlite_file(uri)
    if not create and path is not None and not path.exists():
        raise FileNotFoundError(
            f"no MLflow store at {path.resolve()}: run leadscore from the project folder, set LEADSCORE_HOME to "
            "it, or point MLFLOW_TRACKING_URI at the tracking store (a new project starts with `leadscore train`)")
    mlflow.set_tracking_uri(uri)
    return uri


def use_experiment(name: str) -> None:
    """``mlflow.set_experiment``, creating a missing experiment's artifacts under the project home
    (``mlruns/<name>``) for a local store, wherever the command was started."""
    if mlflow.get_experiment_by_name(name) is None and io.sqlite_file(mlflow.get_tracking_uri()) is not None:
        mlflow.create_experiment(name, artifact_location=(io.at_home("mlruns") / name).resolve().as_uri())
    experiment = mlflow.set_experiment(name)
    if EXPERIMENT_KIND_TAG not in (experiment.tags or {}):  # a kind someone chose in the UI is theirs to keep
        MlflowClient().set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, CLASSIC_ML)


@contextlib.contextmanager
def training_run(config: Config, *, run_name: str):
    """The MLflow run of one training, opened before the training table is read: its duration is the training's,
    and ``log_training_run`` inside it logs there."""
    configure(create=True)
    use_experiment(config.registry.experiment_name)
    with mlflow.start_run(run_name=run_name) as run:
        yield run


LOCAL_UI = "http://127.0.0.1:5000"  # where `make mlflow-ui` serves the embedded store
# MLflow 3.17's UI opens in its GenAI mode in a browser that has not chosen one (the sidebar toggle lives in the
# browser's local storage and ignores the experiment kind: mlflow/mlflow#24498), on an empty usage overview. A link
# that names the model-training mode opens on the runs, whatever the browser chose before.
CLASSIC_UI = {"workflowType": "machine_learning"}


def _ui_base() -> str:
    """The MLflow UI's address: the tracking server when MLflow is one, else ``make mlflow-ui``'s local address."""
    parts = urllib.parse.urlsplit(mlflow.get_tracking_uri())
    return (f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path.rstrip('/')}"
            if parts.scheme in ("http", "https") else LOCAL_UI)  # never the credentials of a tracking URL


def compare_runs_link(run_ids: list[str]) -> str:
    """The MLflow UI page comparing these runs (their metrics, params and charts side by side)."""
    experiments = sorted({mlflow.get_run(r).info.experiment_id for r in run_ids})
    query = urllib.parse.urlencode({"runs": json.dumps(run_ids), "experiments": json.dumps(experiments),
                                    **CLASSIC_UI})
    return f"{_ui_base()}/#/compare-runs?{query}"


def ui_start_line(experiment_name: str) -> str:
    """What ``make mlflow-ui`` says first: the link that opens this experiment on its runs."""
    try:
        configure()
    except FileNotFoundError:
        return f"No MLflow store here yet (make demo writes one); the UI will be at {LOCAL_UI}"
    link = experiment_runs_link(experiment_name)
    return f"Open {link} (experiment {experiment_name}, its runs)" if link else f"The UI will be at {LOCAL_UI}"


def experiment_runs_link(experiment_name: str) -> str | None:
    """The MLflow UI page of this experiment's runs (None when there is no such experiment yet)."""
    experiment = mlflow.get_experiment_by_name(experiment_name)
    if experiment is None:
        return None
    return f"{_ui_base()}/#/experiments/{experiment.experiment_id}/runs?{urllib.parse.urlencode(CLASSIC_UI)}"


def git_sha() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parent)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=Path(__file__).resolve().parent).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


_MODEL_PACKAGES = ("mlflow", "lightgbm", "pandas", "numpy", "scikit-learn", "pyarrow")


def package_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {pkg: version(pkg) for pkg in ("leadscore", *_MODEL_PACKAGES)}


def _requirements() -> list[str]:
    versions = package_versions()
    return [f"{pkg}=={versions[pkg]}" for pkg in _MODEL_PACKAGES]


def log_scorer(scorer: LeadScorer, input_example: pd.DataFrame, *, model_name: str) -> ModelVersion:
    """Log the scorer in the active run and register a new version of ``model_name``.

    The version holds the scorer as data (``artifacts/scorer/``: JSON and LightGBM's model text, written by
    ``pipeline.model_artifacts``) and a pyfunc logged from code (``pipeline/pyfunc_from_code.py``, which
    imports the installed leadscore): nothing is pickled, so nothing in the artifact store is ever unpickled."""
    output = scorer.predict(input_example, reasons=True)
    with warnings.catch_warnings():
        # The integer `score` column is never missing; MLflow's generic hint about that does not apply.
        warnings.filterwarnings("ignore", message=".*Integer columns.*")
        signature = infer_signature(input_example, output, params={"reasons": False})
    with tempfile.TemporaryDirectory() as tmp:
        folder = model_artifacts.write_scorer(scorer, Path(tmp) / model_artifacts.SCORER_FOLDER)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_SCRIPT),
            artifacts={"scorer": str(folder)},
            signature=signature,
            input_example=input_example.head(5),
            pip_requirements=_requirements(),
            registered_model_name=model_name,
        )
    client = MlflowClient()
    return client.get_model_version(model_name, str(info.registered_model_version))


class PickledModelRefused(ValueError):
    """A version logged the old way (a pickled pyfunc): refused, never loaded."""


def moved_local_artifacts(uri: str) -> str:
    """An artifact URI as a local store recorded it, found again after the project folder moved.

    A local store (SQLite + ``mlruns/``) records absolute ``file:`` paths; a project folder copied or moved elsewhere
    would lose every artifact ("No such artifact: ''"). A ``file:`` path that no longer exists is looked for at the
    same place under this project's ``mlruns/`` (``LEADSCORE_HOME``). Any other URI (``mlflow-artifacts:/`` through a
    tracking server, the team set-up, which is relocatable by design) is returned as it is."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme not in ("file", ""):
        return uri
    path = Path(urllib.parse.unquote(parsed.path))
    if path.exists() or "mlruns" not in path.parts:
        return uri
    below = path.parts[len(path.parts) - path.parts[::-1].index("mlruns"):]
    here = io.at_home("mlruns").resolve().joinpath(*below)
    return here.as_uri() if here.exists() else uri


def run_artifact(run_id: str, artifact: str) -> str:
    """The URI of one artifact of a run (``runs:/<id>/<artifact>``, resolved here so a moved local store still
    finds it: :func:`moved_local_artifacts`)."""
    root = MlflowClient().get_run(run_id).info.artifact_uri
    return f"{moved_local_artifacts(root).rstrip('/')}/{artifact}"


def load_scorer(mv: ModelVersion, model_name: str) -> LeadScorer:
    """The version's scorer, rebuilt by this project's code from its data artifacts (``artifacts/scorer/``).

    Only data is downloaded and read: no ``mlflow.pyfunc.load_model``, no pickle. A version without those
    artifacts (logged as a pickled pyfunc by an older leadscore) is refused with the fix."""
    refused = PickledModelRefused(
        f"{model_name} version {mv.version} is a pickled model (older leadscore) and is not loaded: retrain "
        "with `leadscore train`")
    root = moved_local_artifacts(MlflowClient().get_model_version_download_uri(model_name, str(mv.version))).rstrip("/")
    # Listed first, so that an artifact store that cannot be reached is reported as that, not as an old model.
    listed = mlflow.artifacts.list_artifacts(artifact_uri=f"{root}/artifacts")
    if not any(f.is_dir and posixpath.basename(f.path) == model_artifacts.SCORER_FOLDER for f in listed):
        raise refused
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"{root}/artifacts/{model_artifacts.SCORER_FOLDER}", dst_path=tmp)
        if not model_artifacts.is_scorer_folder(Path(local)):
            raise refused
        try:
            return model_artifacts.read_scorer(Path(local))
        except ArtifactFormatError as exc:
            raise ValueError(f"{model_name} version {mv.version}: {exc}") from exc


def set_alias(model_name: str, alias: str, version: int | str) -> None:
    MlflowClient().set_registered_model_alias(model_name, alias, str(version))


def latest_version(model_name: str) -> int:
    versions = MlflowClient().search_model_versions(f"name = '{model_name}'")
    if not versions:
        raise LookupError(f"no versions of model {model_name!r} are registered yet (run `leadscore train`)")
    return max(int(v.version) for v in versions)


def load_by_alias(model_name: str, alias: str) -> tuple[LeadScorer, ModelVersion]:
    """(scorer, model version) for ``models:/<name>@<alias>``, the scorer rebuilt from the version's data."""
    client = MlflowClient()
    try:
        mv = client.get_model_version_by_alias(model_name, alias)
    except mlflow.exceptions.MlflowException as exc:
        raise LookupError(
            f"model {model_name!r} has no version with alias {alias!r} (run `leadscore promote`)"
        ) from exc
    return load_scorer(mv, model_name), mv


def champion_version(model_name: str) -> int | None:
    try:
        return int(MlflowClient().get_model_version_by_alias(model_name, CHAMPION).version)
    except mlflow.exceptions.MlflowException:
        return None


def get_version(model_name: str, version: int) -> ModelVersion:
    try:
        return MlflowClient().get_model_version(model_name, str(version))
    except mlflow.exceptions.MlflowException as exc:
        raise LookupError(f"model {model_name!r} has no version {version}") from exc


def approvals(mv: ModelVersion) -> dict[str, dict]:
    """Team → its sign-off record, from the version's ``approval.<team>`` tags."""
    return {k.split(".", 1)[1]: json.loads(v) for k, v in (mv.tags or {}).items() if k.startswith("approval.")}


def record_approval(model_name: str, version: int, team: str, record: dict) -> None:
    MlflowClient().set_model_version_tag(model_name, str(version), f"approval.{team}", json.dumps(record))


def describe_version(model_name: str, version: int, approvals: dict[str, dict]) -> None:
    """The version's registry description: its definition summary, with who has signed it."""
    _, definition = load_definition(model_name, version)
    MlflowClient().update_model_version(model_name, str(version),
                                        description=definition_summary(definition, approvals))


def remove_approval(model_name: str, version: int, team: str) -> None:
    MlflowClient().delete_model_version_tag(model_name, str(version), f"approval.{team}")


def record_promotion(model_name: str, event: dict) -> None:
    client = MlflowClient()
    n = sum(1 for k in (client.get_registered_model(model_name).tags or {}) if k.startswith("promotion."))
    client.set_registered_model_tag(model_name, f"promotion.{n + 1:04d}", json.dumps(event))


def load_definition(model_name: str, version: int | None = None) -> tuple[int, dict]:
    """(version, its quality-lead definition); the champion's when no version is given."""
    if version is None:
        version = champion_version(model_name)
        if version is None:
            raise LookupError("no champion yet: pass --version N")
    mv = get_version(model_name, version)
    try:
        return version, mlflow.artifacts.load_dict(run_artifact(mv.run_id, "definition/definition.json"))
    except Exception as exc:  # the run predates definitions or its artifacts are gone
        raise LookupError(f"version {version} has no definition artifact") from exc


@dataclass(frozen=True)
class Champion:
    """The version a night is scored with, loaded once, with what it froze of its source."""

    scorer: LeadScorer   # rebuilt from the version's data artifacts (no pyfunc, no pickle)
    version: ModelVersion
    state: dict | None   # the source's frozen state (a flat export's column plan), or None
    unapproved: bool = False  # published under --allow-unapproved: rows stamped definition_version …+unapproved
    segment: str | None = None  # a segment's champion (``<model_name>--<segment>``): stamped on its rows

    @property
    def number(self) -> int:
        return int(self.version.version)

    @property
    def definition_version(self) -> str:
        return (self.version.tags or {}).get("definition_version", "")

    def score(self, queue: pd.DataFrame, features: pd.DataFrame, params: ScoreParams) -> pd.DataFrame:
        """The published rows of one night (``models.scoring``), stamped with this version and the time."""
        return assemble_scores(
            queue, features, predict=lambda X, reasons: self.scorer.predict(X, reasons=reasons),
            feature_names=self.scorer.feature_names, model_version=self.number,
            definition_version=self.definition_version + ("+unapproved" if self.unapproved else ""),
            scored_at=pd.Timestamp.now(tz="UTC").floor("s"),
            reasons=params.reasons, reasons_per_owner=params.reasons_per_owner, segment=self.segment)


def load_champion(model_name: str, alias: str, source: LeadSource, *, segment: str | None = None) -> Champion:
    """``models:/<name>@<alias>``, refused if it was trained on another kind of source or logged as a pickle."""
    scorer, mv = load_by_alias(model_name, alias)
    check_source_kind(mv, source.kind, model_name)
    return Champion(scorer=scorer, version=mv, state=load_source_state(mv, source.state_artifact), segment=segment)


def refusal_of(config: Config) -> str | None:
    """Why the latest training of ``config``'s segment was refused (the tag its failed run carries), if it was."""
    if config.segment is None:
        return None
    experiment = MlflowClient().get_experiment_by_name(config.registry.experiment_name)
    if experiment is None:
        return None
    runs = MlflowClient().search_runs([experiment.experiment_id], max_results=1,
                                      order_by=["attributes.start_time DESC"],
                                      filter_string=f"tags.segment = '{config.segment.name}'")  # a slug: no quotes
    return runs[0].data.tags.get("refused") if runs else None


def read_evidence(config: Config, sources: Path | None = None, *, url: str | None = None,
                  every_model: bool = False) -> Evidence:
    """What the monitor and the report judge: every published score (in the database at ``url``, default
    ``$LEADSCORE_DB_URL``) with its outcome where the window has elapsed (``features.labels``, as in training), and
    the definition of every version that scored a night.

    The rows are those of ``config``'s model (``config.for_segment``: a segment's; else the global model's,
    ``features.segments.model_rows``), since each model's versions and promises are its own, and with segments in
    params.yaml so are the buyers its coverage counts; ``every_model``: every row (the report's marketing and sales
    views, which count every lead handed to sales, whoever scored it; only the global model's definitions are
    read)."""
    io.require_scores_store(url)
    tables = io.read_sources(sources)
    observed_until = data_end(tables)
    scores = label_scored_rows(io.read_score_history(url=url), tables["opportunities"],
                               window_days=config.labels.window_days, milestone=config.labels.milestone,
                               observed_until=observed_until)
    segment = config.segment.name if config.segment is not None else None
    every = scores
    if not every_model:  # a row a segment model scored is never the global model's, segments declared or not
        scores = scores[model_rows(scores, segment).to_numpy()].reset_index(drop=True)
    configure()
    name = config.registry.model_name
    own = scores if not every_model else scores[model_rows(scores, segment).to_numpy()]
    definitions = {v: load_definition(name, v)[1] for v in sorted({int(v) for v in own["model_version"].dropna()})}
    current = champion_version(name)
    champion = definitions.get(current) or (load_definition(name, current)[1]
                                            if current is not None and not definitions else None)
    fallback = sorted(config.score.grade_capacity_per_week or config.score.grade_shares or {})
    matured = matured_nights(scores["as_of_ts"], window_days=config.labels.window_days, observed_until=observed_until)
    buyers = buyers_of_nights(tables["leads"], tables["opportunities"], matured,
                              window_days=config.labels.window_days, milestone=config.labels.milestone)
    if not every_model and "segment" in every.columns:  # the buyers this model answered for, night by night
        buyers = model_buyers(buyers, tables["leads"], tables.get("accounts"), config.segments, segment, every)
    return build_evidence(tables, scores, observed_until=observed_until, window_days=config.labels.window_days,
                          definitions=definitions, champion=champion, fallback_grades=fallback, buyers=buyers)


def check_source_kind(mv: ModelVersion, kind: str, model_name: str) -> None:
    """A version trained on one source kind cannot score another: its features are not built there."""
    trained_on = (mv.tags or {}).get("source_kind", "contract")
    if trained_on != kind:
        raise ValueError(f"{model_name} version {mv.version} was trained on a {trained_on} source, but "
                         f"params.yaml says source.kind: {kind}")


def load_source_state(mv: ModelVersion, artifact: str | None) -> dict | None:
    """What the version froze of its source at training (a flat export's column plan), if anything."""
    return mlflow.artifacts.load_dict(run_artifact(mv.run_id, artifact)) if artifact else None


RECIPE_ARTIFACT = "recipe/train.json"


def recipe_of(model_name: str, version: int) -> tuple[str, TrainParams] | None:
    """(family, ``train`` params) a version was fitted with, to backtest that recipe again on other data;
    None for versions logged before recipes were kept."""
    mv = get_version(model_name, version)
    try:
        params = mlflow.artifacts.load_dict(run_artifact(mv.run_id, RECIPE_ARTIFACT))
    except Exception:  # noqa: BLE001 — an older run without the artifact
        return None
    return (mv.tags or {}).get("model_family", "lgbm"), TrainParams.model_validate(params)


def backtest_of(model_name: str, version: int) -> tuple[dict[str, float], str]:
    """(the version's backtest metrics without their ``test_`` prefix, the windows its folds tested): what
    compare and the gates judge, since a refitted model has seen every period it could be scored on."""
    run = mlflow.get_run(get_version(model_name, version).run_id)
    metrics = {k.removeprefix("test_"): v for k, v in run.data.metrics.items() if k.startswith("test_")}
    return metrics, run.data.tags.get("backtest_windows", "")


def _log_plots(evaluation: Evaluation, family: str) -> None:
    """The backtest's pooled out-of-sample predictions: what the recipe did on periods it had not seen."""
    y, p = evaluation.backtest_y, evaluation.backtest_probability
    figures = {
        "plots/roc.png": plots.roc_figure(y, p, label=family),
        "plots/precision_recall.png": plots.precision_recall_figure(y, p),
        "plots/reliability.png": plots.reliability_figure(y, p, sample_weight=evaluation.backtest_weight),
        "plots/gains.png": plots.gains_figure(y, p),
    }
    if evaluation.importance is not None:
        figures["plots/importance_gain.png"] = plots.importance_figure(
            evaluation.importance, "gain", title="Feature importance: total gain")
        figures["plots/importance_shap.png"] = plots.importance_figure(
            evaluation.importance, "mean_abs_shap", title="Feature importance: mean |SHAP| (log-odds)")
    for path, fig in figures.items():
        mlflow.log_figure(fig, path)
        plots.close(fig)


@dataclass(frozen=True)
class TrainedVersion:
    """A training run as logged: what the CLI prints and downstream steps refer to (the version)."""

    run_id: str
    model_version: int | None
    family: str
    metrics: dict[str, float]
    periods: dict[str, str]
    grades: pd.DataFrame
    definition_version: str
    dataset: str
    folds: pd.DataFrame       # one row per backtest fold (models.training.backtest)
    warnings: tuple[str, ...] = ()


def log_training_run(config: Config, source: LeadSource, data: TrainingSet, evaluation: Evaluation, family: str,
                     *, dataset: str, params_path: Path | None, run_name: str | None = None,
                     extra_params: dict | None = None, recipe: TrainParams | None = None) -> TrainedVersion:
    """One MLflow run in the training experiment for an evaluated model, registered as a new version; the
    source's frozen state (a flat export's column plan) goes with it, for scoring to rebuild the features. Logged
    into the active run when there is one (``training_run``: the run spans the training), else in a new run."""
    if mlflow.active_run() is None:
        with training_run(config, run_name=run_name or family):
            return log_training_run(config, source, data, evaluation, family, dataset=dataset,
                                    params_path=params_path, extra_params=extra_params, recipe=recipe)
    active = mlflow.active_run()
    state = source.state()
    version = _log_training(config, data, evaluation, family, tables=source.tables, source_kind=source.kind,
                            source_state={source.state_artifact: state} if state is not None else {},
                            dataset=dataset, params_path=params_path, extra_params=extra_params,
                            location=getattr(source, "location", None))
    mlflow.log_dict((recipe or config.train).model_dump(mode="json"), RECIPE_ARTIFACT)
    return TrainedVersion(run_id=active.info.run_id, model_version=version, family=family,
                          metrics=evaluation.metrics, periods=data.periods(), grades=evaluation.grades,
                          definition_version=evaluation.definition["definition_version"], dataset=dataset,
                          folds=evaluation.folds, warnings=data.warnings + evaluation.warnings)


def _log_training(config: Config, data: TrainingSet, evaluation: Evaluation, family: str, *,
                  tables: dict[str, pd.DataFrame], source_kind: str, source_state: dict[str, dict],
                  dataset: str, params_path: Path | None, extra_params: dict | None,
                  location: io.SourceLocation | None = None) -> int:
    """Log one evaluated model into the active MLflow run and register it. Returns the version."""
    periods = data.periods()
    fingerprints = io.fingerprint(tables)
    backtest = ";".join(evaluation.folds["test_period"])
    mlflow.set_tags({
        "model_family": family,
        "git_sha": git_sha(),
        "params_hash": config.hash(),
        "seed": str(config.train.seed),
        "train_window": periods["learned"],
        "calibration_window": periods["recent"],
        "backtest_windows": backtest,
        "feature_set": ",".join(data.features),
        "label": data.target,
        "source_kind": source_kind,
        "training_table": dataset,
        **({"segment": config.segment.name} if config.segment is not None else {}),
        **{f"sampling.{k}": str(v) for k, v in (data.sampling or {}).items()},
        **{f"data.{name}": f"{fp['rows']} rows sha256:{fp['sha256'][:16]}"
           for name, fp in fingerprints.items()},
        **{f"version.{pkg}": v for pkg, v in package_versions().items()},
    })
    logged = {**config.flat(), "train.model": family, **(extra_params or {})}
    mlflow.log_params({k: (json.dumps(v) if isinstance(v, list | dict) else v) for k, v in logged.items()})
    mlflow.log_metrics(evaluation.metrics)
    _log_inputs(data, tables, fingerprints, dataset=dataset, location=location)
    _log_backtest_folds(evaluation)
    _log_plots(evaluation, family)
    with tempfile.TemporaryDirectory() as tmp:
        if params_path is not None and params_path.exists():
            mlflow.log_artifact(str(params_path))
        evaluation.grades.to_csv(Path(tmp) / "grades.csv", index=False)
        mlflow.log_artifact(str(Path(tmp) / "grades.csv"))
        evaluation.folds.to_csv(Path(tmp) / "backtest.csv", index=False)
        mlflow.log_artifact(str(Path(tmp) / "backtest.csv"))
        mlflow.log_dict(evaluation.definition, "definition/definition.json")
        mlflow.log_text(render_markdown(evaluation.definition), "definition/definition.md")
        for artifact, state in source_state.items():
            mlflow.log_dict(state, artifact)
        if evaluation.importance is not None:
            evaluation.importance.to_csv(Path(tmp) / "feature_importance.csv", index=False)
            mlflow.log_artifact(str(Path(tmp) / "feature_importance.csv"))
        explained = explanation_table(evaluation.scorer.model)
        if explained is not None:
            name, table = explained
            table.to_csv(Path(tmp) / f"{name}.csv", index=False)
            mlflow.log_artifact(str(Path(tmp) / f"{name}.csv"), "explanation")
    example = to_model_input(data.recent[data.features].head(50), data.features)
    version = log_scorer(evaluation.scorer, example, model_name=config.registry.model_name)
    client = mlflow.MlflowClient()
    mlflow.set_tag("definition_version", evaluation.definition["definition_version"])
    for key, value in {"model_family": family, "params_hash": config.hash(), "backtest_windows": backtest,
                       "train_window": periods["learned"],
                       "test_roc_auc": f"{evaluation.metrics['test_roc_auc']:.4f}",
                       "definition_version": evaluation.definition["definition_version"],
                       "source_kind": source_kind}.items():
        client.set_model_version_tag(config.registry.model_name, version.version, key, value)
    client.update_model_version(config.registry.model_name, version.version,
                                description=definition_summary(evaluation.definition))
    return int(version.version)


def _log_inputs(data: TrainingSet, tables: dict[str, pd.DataFrame], fingerprints: dict[str, dict], *, dataset: str,
                location: io.SourceLocation | None) -> None:
    """The training table and each source table as MLflow datasets of the run (name, digest, schema, where it
    lives; rows and the as-of or event-time range as input tags): "which data built this model" in the run's
    Datasets. Metadata only: the schema is read off the first rows, nothing is copied."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's hints about integer columns and ambiguous sources
        table_key = dataset.rsplit("/", 1)[-1]
        table_path = io.dataset_path(*dataset.split("/", 1)) if "/" in dataset else None
        mlflow.log_input(_meta_dataset(data.table, name=dataset, digest=table_key[:36],
                                       where=str(table_path.resolve()) if table_path else dataset),
                         context="training", tags={"rows": str(len(data.table)), **_time_range(data.table)})
        for name, frame in tables.items():
            where = _table_location(location, name)
            mlflow.log_input(_meta_dataset(frame, name=name, digest=fingerprints[name]["sha256"][:16], where=where),
                             context="source", tags={"rows": str(fingerprints[name]["rows"]), **_time_range(frame)})


def _table_location(location: io.SourceLocation | None, name: str) -> str:
    """Where a source table was read: its file, the flat export, or ``<database URL, password masked>#<table>``."""
    if location is None:
        return name
    if io.is_database(location):
        return f"{io.shown_location(location)}#{name}"
    path = Path(location)
    if path.is_file():
        return str(path.resolve())
    return str(next(iter(sorted(path.glob(f"{name}.*"))), path / name).resolve())


def _meta_dataset(frame: pd.DataFrame, *, name: str, digest: str, where: str):
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.meta_dataset import MetaDataset

    schema = infer_signature(frame.head(1000)).inputs if len(frame.columns) else None
    return MetaDataset(source=CodeDatasetSource({"location": where}), name=name, digest=digest, schema=schema)


_TIME_COLUMNS = ("as_of_ts", "event_ts", "created_ts", "activity_ts")


def _time_range(frame: pd.DataFrame) -> dict[str, str]:
    """``<column> from`` / ``until`` of the table's time column (as-of dates of a training table, event times of
    a source), when it has one."""
    column = next((c for c in _TIME_COLUMNS if c in frame.columns), None)
    if column is None:
        return {}
    times = pd.to_datetime(frame[column], utc=True, errors="coerce").dropna()
    if times.empty:
        return {}
    return {f"{column} from": f"{times.min():%Y-%m-%d %H:%M}", f"{column} until": f"{times.max():%Y-%m-%d %H:%M}"}


def _log_backtest_folds(evaluation: Evaluation) -> None:
    """One nested run per backtest fold under the training run: its periods and rows as tags, its metrics, so the
    UI's chart and compare views show the folds side by side."""
    for fold in evaluation.folds.to_dict("records"):
        with mlflow.start_run(run_name=f"backtest fold {fold['fold']}", nested=True):
            mlflow.set_tags({"kind": "backtest_fold", **{k: str(v) for k, v in fold.items()
                                                          if isinstance(v, str)}})
            mlflow.log_metrics({k: float(v) for k, v in fold.items() if isinstance(v, int | float)
                                and not isinstance(v, bool) and k != "fold" and math.isfinite(float(v))})
