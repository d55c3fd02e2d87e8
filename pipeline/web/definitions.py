"""The Definition page's data: the champion's and each candidate's quality-lead definition, the diff between a
candidate and the champion, the sign-off record of the version shown, and what the signed-in user may do with it.

Reads the registry through ``pipeline.tracking`` and the sign-off record through ``pipeline.signoff`` (the leadscore
database, never the MLflow tags)."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.definition import diff_definitions, render_markdown, summarize
from pipeline import signoff, tracking, users
from pipeline.config import Config


@dataclass
class VersionRow:
    version: int
    definition_version: str
    family: str
    champion: bool
    signed: list[str]  # teams whose approval of the version's current definition is on record


@dataclass
class DefinitionView:
    versions: list[VersionRow]
    version: int | None = None         # the version shown
    champion: int | None = None
    definition_version: str = ""
    markdown: str = ""
    summary: dict = field(default_factory=dict)
    diff: list[tuple[str, str, str]] = field(default_factory=list)  # against the champion
    decisions: list[dict] = field(default_factory=list)  # newest first, each with "current" (of this definition)
    required: tuple[str, ...] = ()
    missing: list[str] = field(default_factory=list)  # required teams without an approval on record
    can_sign_for: str | None = None   # the user's team, when it is one that signs
    can_promote: bool = False
    problem: str = ""                 # what the page cannot show (no model yet, no definition artifact)
    alias_problem: str = ""           # the alias points somewhere no leadscore promotion explains
    segment: str | None = None        # the segment whose model is shown (None: the global model)
    segments: list[str] = field(default_factory=list)  # the segments params.yaml declares, each its own model
    model_name: str = ""


def build(config: Config, user: users.User, version: int | None = None, segment: str | None = None) -> DefinitionView:
    """The page of the global model, or of ``segment``'s model (its own versions, definition, sign-off and champion:
    teams sign a segment's model here as they sign the global one). An undeclared segment is a ValueError."""
    tracking.configure()
    segments = [s.name for s in config.segments]
    config = config.for_segment(segment)
    name = config.registry.model_name
    required = tuple(config.promote.required_approvals)
    from mlflow import MlflowClient

    found = sorted(MlflowClient().search_model_versions(f"name = '{name}'"), key=lambda v: -int(v.version))
    champion = tracking.champion_version(name)
    view = DefinitionView(versions=[], champion=champion, required=required,
                          can_sign_for=user.team if user.team in required else None,
                          can_promote=signoff.may_promote(user), segment=segment, segments=segments, model_name=name)
    hashes: dict[int, str] = {}
    for mv in found:
        number = int(mv.version)
        try:
            hashes[number] = signoff.current_definition(name, number)[0]
        except LookupError:
            hashes[number] = ""
        signed = sorted(signoff.approvals(name, number, hashes[number])) if hashes[number] else []
        view.versions.append(VersionRow(number, hashes[number], (mv.tags or {}).get("model_family", ""),
                                        number == champion, signed))
    if not found:
        view.problem = (f"No version of {name} is registered yet (`leadscore train`)." if segment is None else
                        f"No version of segment {segment}'s model ({name}) is registered: not trained yet, or refused "
                        f"by the sufficiency gate (`leadscore train --segment {segment}` says why); its leads are "
                        "scored by the global model.")
        return view
    view.version = version if version is not None else (champion or int(found[0].version))
    if view.version not in hashes:
        raise LookupError(f"model {name!r} has no version {view.version}")
    records = signoff.promotions(name)
    if champion is not None and (not records or records[-1]["version"] != champion):
        view.alias_problem = (f"{name}@champion names version {champion}, which no leadscore promotion explains: "
                              "score and nightly refuse it until it is promoted through leadscore.")
    try:
        _, body = tracking.load_definition(name, view.version)
    except LookupError as exc:
        view.problem = str(exc)
        return view
    view.definition_version = hashes[view.version]
    view.markdown = render_markdown(body)
    view.summary = summarize(body, view.version)
    if champion is not None and champion != view.version:
        try:
            view.diff = diff_definitions(tracking.load_definition(name, champion)[1], body)
        except LookupError:
            view.diff = []
    rows = signoff.decisions(name, version=view.version)
    view.decisions = [{**r, "current": r["definition_version"] == view.definition_version} for r in reversed(rows)]
    signed = signoff.approvals(name, view.version, view.definition_version)
    view.missing = [t for t in required if t not in signed]
    return view
