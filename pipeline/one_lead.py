"""One lead scored on demand: ``leadscore score --lead ID`` and ``POST /api/leads/{id}/score``.

Reads only that lead's rows (and its account's: the account's leads and their opportunities, for the history
features) — from a source database with bound, indexed lookups (``pipeline.source_db.LeadReader``), from files with
parquet filters (correct, but each request reads the tables: a database is what makes it fast) — holds them to the
contract as the nightly job does (``features.schema.check_sources``: a quarantined lead is refused with its reason),
builds the same point-in-time features as the nightly job (``ContractSource.open_leads``) as of now (or a given
moment) and scores with the champion, reasons always included: with segments in params.yaml, the champion of the
lead's segment when it has one (``pipeline.champions`` picks the same for a night), else the global one.

The champion is loaded once per process (a server keeps one :class:`OneLeadScorer`) and must pass the same sign-off
check as the nightly job (``pipeline.signoff.check_champion``) before any score is returned; the check, and whether
the alias still names the loaded version, is repeated every ``recheck_seconds`` (default 10 s) in a background thread
that requests do not wait for: a promotion, a rollback or a withdrawn approval reaches a running server within that
time and one check.

Nothing is published into the nightly ``scores`` table. Each score is logged in the leadscore database's table
``leadscore_one_lead_scores`` (one row: when, lead, as-of, probability, score, grade, model and definition version,
who asked and through what, milliseconds taken, and the segment whose model scored it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import pandas as pd
import sqlalchemy as sa

from features.schema import check_sources
from features.segments import assign_segments
from features.timeutil import as_utc
from pipeline import io, signoff, source_db, tracking
from pipeline import sources as lead_sources
from pipeline.config import Config

log = logging.getLogger(__name__)
LOG_TABLE = "leadscore_one_lead_scores"
_metadata = sa.MetaData()
log_table = sa.Table(
    LOG_TABLE, _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("scored_at", sa.Text, nullable=False),
    sa.Column("lead_id", sa.Text, nullable=False, index=True),
    sa.Column("as_of_ts", sa.Text, nullable=False),
    sa.Column("probability", sa.Float, nullable=False),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("grade", sa.Text, nullable=False),
    sa.Column("model_version", sa.Integer, nullable=False),
    sa.Column("definition_version", sa.Text, nullable=False),
    sa.Column("requested_by", sa.Text),
    sa.Column("via", sa.Text, nullable=False),
    sa.Column("took_ms", sa.Float, nullable=False),
    sa.Column("segment", sa.Text),  # the segment whose model scored it (null: the global model); migration 0003
)


class LeadNotFound(LookupError):
    """No lead has that id in the sources (or the asker may not see it)."""


class LeadNotScorable(ValueError):
    """The lead exists but the nightly job would not score it: not open at that moment, or quarantined."""


@dataclass(frozen=True)
class OneLeadScore:
    lead_id: str
    as_of_ts: pd.Timestamp
    probability: float
    score: int
    grade: str
    reasons_positive: str
    reasons_negative: str
    model_version: int
    definition_version: str
    owner_id: str | None
    company: str | None
    source: str | None
    scored_at: pd.Timestamp
    took_ms: float
    segment: str | None = None  # the segment whose champion scored it (``features.segments``); None: the global one

    def to_json(self) -> dict:
        out = asdict(self)
        for key in ("as_of_ts", "scored_at"):
            out[key] = out[key].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return out


class _FileReader:
    """One lead's rows from a folder of source files: correct, but it reads whole tables (leads, opportunities)."""

    def __init__(self, folder):
        self.folder = folder

    def read(self, lead_id) -> dict[str, pd.DataFrame] | None:
        tables = {name: frame for name in ("leads", "accounts", "campaigns", "opportunities")
                  if (frame := io.read_source_table(name, folder=self.folder)) is not None}
        if "leads" not in tables:
            raise FileNotFoundError(f"no leads table in {self.folder} (run `leadscore generate` or set "
                                    "LEADSCORE_SOURCES)")
        leads = tables["leads"]
        lead = leads[leads["lead_id"].astype(str) == str(lead_id)]
        if lead.empty:
            return None
        account = lead["account_id"].iloc[0] if "account_id" in lead.columns else None
        if account is not None and not pd.isna(account):
            tables["leads"] = leads[leads["account_id"] == account].reset_index(drop=True)
            if "accounts" in tables:
                tables["accounts"] = tables["accounts"][tables["accounts"]["account_id"] == account]
        else:
            tables["leads"] = lead.reset_index(drop=True)
            if "accounts" in tables:
                tables["accounts"] = tables["accounts"].iloc[0:0]
        if "opportunities" in tables:
            opps = tables["opportunities"]
            tables["opportunities"] = opps[opps["lead_id"].isin(tables["leads"]["lead_id"])].reset_index(drop=True)
        for name in ("engagement_events", "sales_activities"):
            frame = io.read_source_table(name, lead_id=str(lead_id), folder=self.folder)
            if frame is not None:
                tables[name] = frame.reset_index(drop=True)
        return tables


class OneLeadScorer:
    """Scores one lead at a time with the champion, loaded once; one per process (thread-safe)."""

    def __init__(self, config: Config, *, sources: io.SourceLocation | None = None, url: str | None = None,
                 recheck_seconds: float = 10.0, reader=None):
        if config.source.kind != "contract":
            raise ValueError("scoring one lead needs the data-contract tables (source.kind: contract); a flat CRM "
                             "export is scored whole with `leadscore score`")
        self.config = config
        self.location = io.source_location(sources) if sources is None or isinstance(sources, str) else sources
        self.url = url
        self.recheck_seconds = recheck_seconds
        self.reader = reader or (source_db.LeadReader(self.location) if io.is_database(self.location)
                                 else _FileReader(self.location))
        self._owns_reader = reader is None
        self._lock = threading.Lock()  # guards the fields below; never held while MLflow or a database is asked
        self._verifying = threading.Lock()
        self._champion: tracking.Champion | None = None
        self._definition_hash: str | None = None  # of the held champion's definition artifact
        self._checked_at = float("-inf")
        self._rechecking = False
        self._log_engine: sa.Engine | None = None
        # segment models (params.yaml segments): one scorer per segment, sharing this one's reader, made when a lead
        # of that segment is first asked for; when a segment has no champion, when that was last seen
        self._segment_scorers: dict[str, OneLeadScorer] = {}
        self._no_champion_since: dict[str, float] = {}

    def close(self) -> None:
        if self._owns_reader and isinstance(self.reader, source_db.LeadReader):
            self.reader.close()
        if self._log_engine is not None:
            self._log_engine.dispose()

    # The champion, loaded once and checked against the sign-off record -----------------------------------------------

    def champion(self) -> tracking.Champion:
        """The champion, verified as the nightly job verifies it; raises ``signoff.SignoffError`` when it fails the
        check (no score is returned then). A verified champion is re-verified every ``recheck_seconds`` in a
        background thread while requests go on with it: a request never waits for MLflow and the sign-off record
        (a few hundred milliseconds: what the slowest requests waited for), and a promotion, a rollback or a
        withdrawn approval still reaches the server within ``recheck_seconds`` and one check."""
        with self._lock:
            champion = self._champion
            if champion is not None:
                if time.monotonic() - self._checked_at >= self.recheck_seconds and not self._rechecking:
                    self._rechecking = True
                    threading.Thread(target=self._recheck, name="leadscore-champion-check", daemon=True).start()
                return champion
        return self._verify()

    def _recheck(self) -> None:
        try:
            self._verify()
        except Exception as exc:  # noqa: BLE001 — any failure: stop scoring with it; the next request says why
            log.warning("the champion failed its re-check, one-lead scores stop until it passes: %s", exc)
            with self._lock:
                self._champion = None
        finally:
            with self._lock:
                self._rechecking = False

    def _verify(self) -> tracking.Champion:
        """Load the champion if the alias moved, check its sign-off, and keep it (one verification at a time)."""
        with self._verifying:
            name = self.config.registry.model_name
            tracking.configure()
            current = self._champion
            if current is None or tracking.champion_version(name) != current.number:
                with self._lock:
                    self._champion = None  # never score with a version that is no longer champion
                source = lead_sources.open_source(self.config, self.location)  # lazy: nothing is read here
                champion = tracking.load_champion(name, self.config.score.model_alias, source)
                self._definition_hash = signoff.current_definition(name, champion.number)[0]
            else:
                champion = current
            # the definition's hash from the files loaded with this version: a re-check (every recheck_seconds, in a
            # thread that shares the interpreter with requests) reads only the alias and the sign-off record
            check = signoff.check_champion(name, champion.number, required=self.config.promote.required_approvals,
                                           tagged_definition=champion.definition_version, url=self.url,
                                           definition_hash=self._definition_hash)
            if not check.passed:
                with self._lock:
                    self._champion = None
                raise signoff.SignoffError("sign-off check failed, no score returned: " + " | ".join(check.problems))
            with self._lock:
                self._champion, self._checked_at = champion, time.monotonic()
            return champion

    def _segment_champion(self, tables: dict[str, pd.DataFrame],
                          lead_id) -> tuple[str | None, tracking.Champion | None]:
        """(segment, its verified champion) of the lead, as the nightly job picks it; (segment or None, None) when the
        global champion scores it: no segment, or a segment without a champion (re-asked every recheck_seconds). A
        segment champion failing its sign-off check raises, as the night would fail."""
        if not self.config.segments:
            return None, None
        leads = tables["leads"]
        lead = leads[(leads["lead_id"].astype(str) == str(lead_id)).to_numpy()]
        segment = assign_segments(lead, tables.get("accounts"), self.config.segments).iloc[0]
        if segment is None:
            return None, None
        with self._lock:
            if time.monotonic() - self._no_champion_since.get(segment, float("-inf")) < self.recheck_seconds:
                return segment, None
            scorer = self._segment_scorers.get(segment)
            if scorer is None:
                scorer = self._segment_scorers[segment] = OneLeadScorer(
                    self.config.for_segment(segment), sources=self.location, url=self.url,
                    recheck_seconds=self.recheck_seconds, reader=self.reader)
        try:
            return segment, scorer.champion()
        except LookupError:  # no champion for the segment (never promoted, or refused): the global model scores it
            with self._lock:
                self._no_champion_since[segment] = time.monotonic()
            return segment, None

    # One lead ----------------------------------------------------------------------------------------------------

    def score(self, lead_id: str, *, as_of=None, may_see: Callable[[str | None], bool] | None = None,
              requested_by: str | None = None, via: str = "cli") -> OneLeadScore:
        """``lead_id`` scored as of ``as_of`` (default now, UTC). ``may_see(owner_id)``: whether the asker may see a
        lead of that owner (a workspace member: their own leads only); a lead they may not see is not found."""
        started = time.perf_counter()
        champion = self.champion()
        now = pd.Timestamp.now(tz="UTC")
        as_of = as_utc(as_of) if as_of is not None else now
        tables = self.reader.read(lead_id)
        if tables is None:
            raise LeadNotFound(f"no lead {lead_id} in the sources ({io.shown_location(self.location)})")
        owner = _owner(tables["leads"], lead_id)
        if may_see is not None and not may_see(owner):
            raise LeadNotFound(f"no lead {lead_id} that you may see")
        checked = check_sources(tables, now=now, event_types=self.config.features.engagement.event_types)
        refused = checked.rejects[(checked.rejects["table_name"] == "leads")
                                  & (checked.rejects["row_key"] == str(lead_id))]
        if len(refused):
            why = refused.iloc[0]
            raise LeadNotScorable(f"lead {lead_id} is quarantined as the nightly job would: leads.{why['column_name']} "
                                  f"{why['reason']} (value {why['value']!r}); fix it at the source")
        segment, by_segment = self._segment_champion(checked.tables, lead_id)
        champion = by_segment or champion
        source = lead_sources.ContractSource(self.config, self.location, tables=checked.tables)
        queue, features = source.open_leads(as_of, champion.state)
        mine = (queue["lead_id"].astype(str) == str(lead_id)).to_numpy()
        if not mine.any():
            raise LeadNotScorable(
                f"lead {lead_id} is not open as of {as_of:%Y-%m-%d %H:%M} UTC (converted, disqualified, an opportunity "
                f"open, created later, or older than spine.max_lead_age_days): the nightly job would not score it")
        # What ``Champion.score`` does for a night, for one row: the same ``predict``, asked once for probability,
        # score, grade and reasons together. The feature frame goes in as built (its categoricals are recoded to the
        # training categories by value, as the night's text model input is): no round trip through text.
        X = features.loc[mine, champion.scorer.feature_names].reset_index(drop=True)
        predicted = champion.scorer.predict(X, reasons=True).iloc[0]
        lead = queue[mine].iloc[0]
        result = OneLeadScore(
            lead_id=str(lead_id), as_of_ts=pd.Timestamp(lead["as_of_ts"]), probability=float(predicted["probability"]),
            score=int(predicted["score"]), grade=str(predicted["grade"]),
            reasons_positive=str(predicted.get("reasons_positive", "")),
            reasons_negative=str(predicted.get("reasons_negative", "")), model_version=champion.number,
            definition_version=champion.definition_version, owner_id=_text(lead["owner_id"]),
            company=_text(lead["company"]), source=_text(lead["source"]), scored_at=now,
            took_ms=(time.perf_counter() - started) * 1000, segment=segment if by_segment is not None else None)
        self._log(result, requested_by=requested_by, via=via)
        return result

    def _log(self, result: OneLeadScore, *, requested_by: str | None, via: str) -> None:
        with self._lock:
            if self._log_engine is None:
                self._log_engine = io.migrated_engine(self.url)
        with self._log_engine.begin() as conn:
            conn.execute(log_table.insert().values(
                scored_at=result.scored_at.isoformat(timespec="microseconds"), lead_id=result.lead_id,
                as_of_ts=result.as_of_ts.isoformat(timespec="microseconds"), probability=result.probability,
                score=result.score, grade=result.grade, model_version=result.model_version,
                definition_version=result.definition_version, requested_by=requested_by, via=via,
                took_ms=result.took_ms, segment=result.segment))


def read_log(*, url: str | None = None, limit: int = 50) -> pd.DataFrame:
    """The latest one-lead scores, newest first (empty before the first)."""
    eng = io.migrated_engine(url)
    try:
        with eng.connect() as conn:
            return pd.read_sql(sa.select(log_table).order_by(log_table.c.id.desc()).limit(limit), conn)
    finally:
        eng.dispose()


def _owner(leads: pd.DataFrame, lead_id) -> str | None:
    if "owner_id" not in leads.columns:
        return None
    owner = leads.loc[leads["lead_id"].astype(str) == str(lead_id), "owner_id"]
    return _text(owner.iloc[0]) if len(owner) else None


def _text(value) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


@dataclass(frozen=True)
class Replay:
    """One lead's score on a past night, rebuilt: what a data scientist reads to answer "why this score?"."""

    lead_id: str
    as_of_ts: pd.Timestamp
    model_version: int
    features: pd.Series      # the model's inputs for the lead, as of the night (point in time)
    scored: pd.Series        # probability, score, grade, reasons_positive, reasons_negative
    effects: pd.DataFrame    # per feature: value, effect in points of probability, words; strongest first
    base_probability: float  # the average lead's probability: base + effects = probability
    tables: dict[str, pd.DataFrame]  # the lead's rows (and its account's) the features were built from


def replay(config: Config, lead_id: str, as_of, *, version: int,
           sources: io.SourceLocation | None = None) -> Replay:
    """``lead_id`` as model ``version`` scored it on the night ``as_of``: the same rows (only the lead's and its
    account's), contract check, point-in-time features and prediction as the nightly job, with each feature's
    effect. Nothing is logged or published."""
    location = io.source_location(sources)
    reader = source_db.LeadReader(location) if io.is_database(location) else _FileReader(location)
    try:
        tables = reader.read(lead_id)
    finally:
        if isinstance(reader, source_db.LeadReader):
            reader.close()
    if tables is None:
        raise LeadNotFound(f"no lead {lead_id} in the sources ({io.shown_location(location)})")
    as_of = as_utc(as_of)
    checked = check_sources(tables, now=pd.Timestamp.now(tz="UTC"), event_types=config.features.engagement.event_types)
    tracking.configure()
    mv = tracking.get_version(config.registry.model_name, version)
    scorer = tracking.load_scorer(mv, config.registry.model_name)
    state = tracking.load_source_state(mv, lead_sources.ContractSource.state_artifact)
    queue, features = lead_sources.ContractSource(config, location, tables=checked.tables).open_leads(as_of, state)
    mine = (queue["lead_id"].astype(str) == str(lead_id)).to_numpy()
    if not mine.any():
        raise LeadNotScorable(f"lead {lead_id} was not open as of {as_of:%Y-%m-%d %H:%M} UTC: no score to replay")
    X = features.loc[mine, scorer.feature_names].reset_index(drop=True)
    scored = scorer.predict(X, reasons=True).iloc[0]
    explained = scorer.explain(X)
    specs = [scorer.catalog.get(name) for name in scorer.feature_names]
    effects = pd.DataFrame({
        "feature": scorer.feature_names,
        "value": [X[name].iloc[0] for name in scorer.feature_names],
        "effect_pts": explained.effects[0] * 100,
        "reads": [spec.describe(X[name].iloc[0]) if spec is not None else "" for name, spec in
                  zip(scorer.feature_names, specs, strict=True)],
    })
    effects = effects.reindex(effects["effect_pts"].abs().sort_values(ascending=False, kind="stable").index)
    return Replay(lead_id=str(lead_id), as_of_ts=pd.Timestamp(queue.loc[mine, "as_of_ts"].iloc[0]),
                  model_version=int(version), features=X.iloc[0], scored=scored,
                  effects=effects.reset_index(drop=True), base_probability=float(explained.base[0]),
                  tables=checked.tables)
