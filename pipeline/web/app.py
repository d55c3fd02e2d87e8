"""The workspace: a FastAPI application with server-rendered pages (Jinja2, autoescaped) and a JSON API.

Pages (signed-in users, session cookie): ``/queue`` (+ ``/queue.csv``), ``/leads/{id}`` (with sales' feedback form),
``/runs``, ``/definition``
(with the Approve/Reject forms of the user's team and, for an admin or data-science manager, Promote); ``/login`` and
``/health`` are the only routes open to anyone. ``/report`` (+ ``/report.html``, the same page as one file) shows
``leadscore report``'s numbers live from the stores. API (``/api/...``, bearer token from ``leadscore user token``):
the same queue, lead, definition and runs as JSON, and recording a lead's feedback, described at ``/api/docs`` (Swagger
UI served from this app, no CDN).
"""


import contextlib
import csv
import gc
import io as textio
import logging
import math
import os
import threading
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

import jinja2
import pandas as pd
from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from starlette.middleware.sessions import SessionMiddleware

from pipeline import feedback, io, signoff, users
from pipeline.steps import promote as promote_step
from pipeline.web import data, definitions, reports
from pipeline.web.security import LoginLimiter, SecurityHeaders, csrf_token, csrf_valid, secret_key

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
SESSION_COOKIE = "leadscore_session"
SESSION_MAX_AGE = 12 * 60 * 60  # a working day; then sign in again
CSP = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
DOCS_CSP = "default-src 'self'; script-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"


class FeedbackIn(BaseModel):
    """A rep's disposition of a lead; the score it is about is read from the published store, never sent."""

    disposition: str = Field(description="One of: " + ", ".join(f"{k} ({v})" for k, v in feedback.DISPOSITIONS.items()))
    comment: str = Field("", description=f"Optional, at most {feedback.MAX_COMMENT_CHARS} characters.")
    night: str | None = Field(None, description="YYYY-MM-DD: the night of the score the rep saw; default the lead's "
                                                "latest published night.")


class NotSignedIn(Exception):
    """A page was asked for without a session: answered with a redirect to the login page."""


def _fmt_ts(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return pd.Timestamp(value).strftime(fmt)


def _fmt_pct(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{float(value):.1%}"


def _reasons(text) -> list[str]:
    return [r for r in str(text or "").split(" · ") if r]


def _blank_missing(value):
    """What every ``{{ … }}`` prints: a missing value (None, NaN, NA, NaT) as nothing, never "nan"."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, finalize=_blank_missing)
    env.filters.update(ts=_fmt_ts, pct=_fmt_pct, reasons=_reasons)
    return Jinja2Templates(env=env)


def _safe_next(target: str | None) -> str:
    """Only a path of this site (never ``//host`` or ``https://…``): no open redirect through the login page."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/queue"


def create_app(*, url: str | None = None, sources: Path | None = None, secret: str | None = None,
               limiter: LoginLimiter | None = None, https_only: bool | None = None,
               params: Path | None = None) -> FastAPI:
    """The workspace over the scores database ``url`` (default ``$LEADSCORE_DB_URL``) and the source folder
    ``sources`` (default ``$LEADSCORE_SOURCES``); ``secret`` signs the session cookies (default: see
    :func:`pipeline.web.security.secret_key`); ``https_only`` marks the session cookie ``Secure`` (default:
    ``$LEADSCORE_SECURE_COOKIES`` is ``1``/``true``, for a workspace served behind HTTPS); ``params``: the
    params.yaml the Definition page reads (model name, required approvals; default ``./params.yaml``). The sign-off
    record is read and written where every command keeps it (``$LEADSCORE_DB_URL``, as ``leadscore serve`` runs it
    the same database as ``url``)."""
    if https_only is None:
        https_only = os.environ.get("LEADSCORE_SECURE_COOKIES", "").strip().lower() in ("1", "true", "yes")
    context = data.SourceContext(sources)

    params_path = params or Path("params.yaml")

    def config():
        from pipeline.config import load_config

        return load_config(params_path)

    scorers: list = []  # the one-lead scorer: its champion loaded once per process, on the first request
    scorer_lock = threading.Lock()

    def lead_scorer():
        from pipeline import one_lead

        with scorer_lock:
            if not scorers:
                scorers.append(one_lead.OneLeadScorer(config(), sources=sources, url=url))
            return scorers[0]

    token_engines: list = []  # the API's token checks: one engine on the leadscore database (its pool) per process

    def token_engine():
        with scorer_lock:
            if not token_engines:
                token_engines.append(io.migrated_engine(url))
            return token_engines[0]

    report_cache = reports.ReportCache(config, sources=sources, url=url, sources_stamp=context.stamp,
                                       params=params_path)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        # The source tables and the report are read in the background as the server starts, not by the first person
        # signing in.
        def warm():
            try:
                context.tables()
                report_cache.warm()
                try:
                    lead_scorer().champion()  # the one-lead endpoint's model, loaded and checked before a request
                except Exception as exc:  # noqa: BLE001 — no champion yet, or not signed: the endpoint will say so
                    log.info("one-lead scoring not warmed: %s", exc)
                # What is alive once the server has warmed (modules, sources, the report, the champion) is left out
                # of the garbage collector's full passes: scanning it took 250 ms, stalling whatever request ran.
                gc.freeze()
            finally:
                _app.state.warmed.set()

        _app.state.warmed = threading.Event()  # set when the warm-up is over (a benchmark waits for it)
        threading.Thread(target=warm, daemon=True).start()
        yield
        gc.unfreeze()  # the process may go on (tests, an embedding program): collect normally again
        if scorers:
            scorers[0].close()
        for engine in token_engines:
            engine.dispose()

    app = FastAPI(lifespan=lifespan, title="leadscore workspace", version="1", docs_url=None, redoc_url=None,
                  openapi_url=None,
                  description="Scored leads, one lead's history and the nightly runs, for the CRM sync and scripts. "
                              "Authenticate with `Authorization: Bearer <token>` (`leadscore user token NAME`).")
    app.add_middleware(SessionMiddleware, secret_key=secret or secret_key(), session_cookie=SESSION_COOKIE,
                       max_age=SESSION_MAX_AGE, same_site="lax", https_only=https_only)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = _templates()
    limiter = limiter or LoginLimiter()
    bearer = HTTPBearer(auto_error=False, description="An API token from `leadscore user token NAME`.")

    app.add_middleware(SecurityHeaders, csp=CSP, docs_csp=DOCS_CSP)

    @app.exception_handler(NotSignedIn)
    async def to_login(request: Request, _exc: NotSignedIn):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)

    def session_user(request: Request) -> users.User | None:
        """The session's user, if it still stands: the user exists and the password is the one signed in with
        (a changed password or a removed user ends every session at its next request)."""
        name = request.session.get("user")
        user = users.get_user(name, url=url) if name else None
        if user is None or request.session.get("stamp") != user.session_stamp:
            return None
        return user

    def page_user(request: Request) -> users.User:
        user = session_user(request)
        if user is None:
            request.session.clear()
            raise NotSignedIn()
        return user

    def api_user(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> users.User:
        user = users.user_for_token(credentials.credentials, engine=token_engine()) if credentials else None
        if user is None:
            raise HTTPException(401, "a valid API token is needed (Authorization: Bearer <token>; "
                                     "`leadscore user token NAME`)", headers={"WWW-Authenticate": "Bearer"})
        return user

    PageUser = Annotated[users.User, Depends(page_user)]
    ApiUser = Annotated[users.User, Depends(api_user)]

    def queue_filters(
        night: Annotated[str | None, Query(description="YYYY-MM-DD; default the latest published night")] = None,
        owner: Annotated[str | None, Query(description="An owner id (managers, admins); members: their own")] = None,
        grade: Annotated[list[str], Query(description="Grades to keep (repeat); default all")] = [],  # noqa: B006
        source: Annotated[str | None, Query(description="Lead source")] = None,
        campaign: Annotated[str | None, Query(description="The lead's first campaign (name, else id)")] = None,
        min_age: Annotated[str | None, Query(description="Lead age on that night, in days, at least")] = None,
        max_age: Annotated[str | None, Query(description="Lead age on that night, in days, at most")] = None,
        untouched: Annotated[bool, Query(description="Only leads with no sales touch after that night")] = False,
        q: Annotated[str, Query(description="Company or contact name contains")] = "",
        sort: Annotated[str, Query(description="score_desc (default) or score_asc")] = "score_desc",
        page: Annotated[int, Query(ge=1)] = 1,
    ) -> data.QueueFilters:
        def days(text: str | None, name: str) -> int | None:
            if text is None or not text.strip():
                return None
            if not text.strip().isdigit():
                raise HTTPException(422, f"{name} must be a whole number of days")
            return int(text)

        return data.QueueFilters(night=night or None, owner=owner or None, grade=[g for g in grade if g],
                                 source=source or None, campaign=campaign or None,
                                 min_age_days=days(min_age, "min_age"), max_age_days=days(max_age, "max_age"),
                                 untouched=untouched, q=q,
                                 sort=sort if sort in data.SORTS else "score_desc", page=page)

    Filters = Annotated[data.QueueFilters, Depends(queue_filters)]

    def load_queue(user: users.User, filters: data.QueueFilters) -> data.Queue:
        try:
            return data.build_queue(user, filters, context, url=url)
        except data.Forbidden as exc:
            raise HTTPException(403, str(exc)) from None
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None

    def render(request: Request, template: str, user: users.User | None, status_code: int = 200, **values):
        values.update(request=request, user=user, csrf=csrf_token(request.session))
        return templates.TemplateResponse(request, template, values, status_code=status_code)

    # ---- open to anyone -------------------------------------------------------------------------------------

    @app.get("/health", include_in_schema=False)
    def health():
        return {"status": "ok"}

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, next: str = "/queue"):  # noqa: A002 — the query parameter's name
        return render(request, "login.html", None, next=_safe_next(next), error="", name="")

    @app.post("/login", response_class=HTMLResponse, include_in_schema=False)
    def login(request: Request, name: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
              csrf: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/queue"):  # noqa: A002
        target = _safe_next(next)
        if not csrf_valid(request.session, csrf):
            return render(request, "login.html", None, 403, next=target, name=name,
                          error="The form expired: sign in again.")
        address = request.client.host if request.client else "unknown"
        wait = limiter.retry_after(name, address)
        if wait:
            return render(request, "login.html", None, 429, next=target, name=name,
                          error=f"Too many failed sign-ins: try again in {math.ceil(wait / 60)} minute(s).")
        user = users.authenticate(name, password, url=url)
        if user is None:
            limiter.failed(name, address)
            return render(request, "login.html", None, 401, next=target, name=name,
                          error="Wrong name or password.")
        limiter.succeeded(name)
        request.session.clear()  # a fresh session (and CSRF token) for the signed-in user
        request.session["user"] = user.name
        request.session["stamp"] = user.session_stamp
        return RedirectResponse(target, status_code=303)

    # ---- pages ----------------------------------------------------------------------------------------------

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, user: PageUser, csrf: Annotated[str, Form()] = ""):
        if not csrf_valid(request.session, csrf):
            raise HTTPException(403, "CSRF token missing or wrong")
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/account", response_class=HTMLResponse, include_in_schema=False)
    def account_page(request: Request, user: PageUser, done: str = ""):
        return render(request, "account.html", user, error="", done=done)

    @app.post("/account/password", response_class=HTMLResponse, include_in_schema=False)
    def change_password(request: Request, user: PageUser, csrf: Annotated[str, Form()] = "",
                        current: Annotated[str, Form()] = "", new: Annotated[str, Form()] = "",
                        repeat: Annotated[str, Form()] = ""):
        if not csrf_valid(request.session, csrf):
            return render(request, "account.html", user, 403, done="", error="The form expired: try again.")
        address = request.client.host if request.client else "unknown"
        wait = limiter.retry_after(user.name, address)
        if wait:
            return render(request, "account.html", user, 429, done="",
                          error=f"Too many wrong passwords: try again in {math.ceil(wait / 60)} minute(s).")
        if users.authenticate(user.name, current, url=url) is None:
            limiter.failed(user.name, address)
            return render(request, "account.html", user, 401, done="", error="The current password is wrong.")
        if new != repeat:
            return render(request, "account.html", user, 422, done="", error="The two new passwords differ.")
        if new == current:
            return render(request, "account.html", user, 422, done="",
                          error="The new password is the current one.")
        try:
            changed, _ = users.set_password(user.name, new, url=url)
        except users.UserError as exc:
            return render(request, "account.html", user, 422, done="", error=str(exc))
        request.session["stamp"] = changed.session_stamp  # this session stays signed in; every other one ends
        return RedirectResponse("/account?" + urlencode({"done": "Password changed: other sessions are signed "
                                                                  "out."}), status_code=303)

    @app.get("/", include_in_schema=False)
    def home(user: PageUser):
        return RedirectResponse("/queue", status_code=303)

    @app.get("/queue", response_class=HTMLResponse, include_in_schema=False)
    def queue_page(request: Request, user: PageUser, filters: Filters):
        queue = load_queue(user, filters)
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]

        def page_link(number: int) -> str:
            return "/queue?" + urlencode([*query, ("page", number)])

        return render(request, "queue.html", user, queue=queue, filters=filters, page_link=page_link,
                      csv_link="/queue.csv?" + urlencode(query), source_problem=context.problem)

    @app.get("/queue.csv", include_in_schema=False)
    def queue_csv(user: PageUser, filters: Filters):
        queue = load_queue(user, filters)
        body = _csv(queue)
        night = f"{queue.night:%Y-%m-%d}" if queue.night is not None else "none"
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="queue-{night}.csv"'})

    def visible_lead(user: users.User, lead_id: str) -> data.LeadDetail:
        detail = data.lead_detail(user, lead_id, context, url=url)
        if detail is None:
            raise HTTPException(404, f"no scored lead {lead_id} that you may see")
        return detail

    def record_feedback(user: users.User, lead_id: str, body: FeedbackIn) -> dict:
        """The one path of the page's form and the API: sales only (403), the lead page's visibility (404), then
        ``feedback.record`` (422 for what it refuses)."""
        with _answered_as({feedback.NotAllowed: 403, feedback.FeedbackError: 422, LookupError: 404}):
            feedback.require_recorder(user)
            visible_lead(user, lead_id)
            return feedback.record(lead_id, disposition=body.disposition, comment=body.comment, night=body.night,
                                   user=user, url=url)

    def lead_view(request: Request, user: users.User, detail: data.LeadDetail, status_code: int = 200, **values):
        values = {"done": "", "error": "", "comment": "", "disposition": "", **values}
        return render(request, "lead.html", user, status_code, lead=detail, latest=detail.history.iloc[-1],
                      can_record=feedback.may_record(user), dispositions=feedback.DISPOSITIONS,
                      max_comment=feedback.MAX_COMMENT_CHARS, **values)

    @app.get("/leads/{lead_id}", response_class=HTMLResponse, include_in_schema=False)
    def lead_page(request: Request, lead_id: str, user: PageUser, done: str = ""):
        detail = data.lead_detail(user, lead_id, context, url=url)
        if detail is None:
            return render(request, "error.html", user, 404, title="Lead not found",
                          message=f"No scored lead {lead_id} that you may see.")
        return lead_view(request, user, detail, done=done)

    @app.post("/leads/{lead_id}/feedback", response_class=HTMLResponse, include_in_schema=False)
    def lead_feedback_form(request: Request, lead_id: str, user: PageUser, csrf: Annotated[str, Form()] = "",
                           disposition: Annotated[str, Form()] = "", comment: Annotated[str, Form()] = ""):
        if not csrf_valid(request.session, csrf):
            raise HTTPException(403, "CSRF token missing or wrong: reload the page and try again")
        try:
            row = record_feedback(user, lead_id, FeedbackIn(disposition=disposition, comment=comment))
        except HTTPException as exc:
            if exc.status_code != 422:
                raise
            return lead_view(request, user, visible_lead(user, lead_id), 422, error=exc.detail, comment=comment,
                             disposition=disposition)
        done = f"Recorded: {feedback.label(row['disposition'])} (the {row['as_of_ts']:%Y-%m-%d} score)."
        return RedirectResponse(f"/leads/{lead_id}?" + urlencode({"done": done}) + "#feedback", status_code=303)

    @app.get("/runs", response_class=HTMLResponse, include_in_schema=False)
    def runs_page(request: Request, user: PageUser, run: str | None = None):
        runs = io.read_runs(url=url, limit=50)
        for col in ("started", "finished"):  # ISO text with microseconds: shown to the minute, in UTC
            if col in runs.columns:
                runs[col] = pd.to_datetime(runs[col], utc=True, errors="coerce", format="ISO8601").dt.strftime(
                    "%Y-%m-%d %H:%M")
        rejects = io.read_rejects(run_id=run, url=url) if run else pd.DataFrame()
        return render(request, "runs.html", user, runs=runs, run=run, rejects=rejects.head(500),
                      rejects_total=len(rejects))

    def built_report() -> reports.Built:
        try:
            return report_cache.get()
        except reports.ReportUnavailable as exc:
            raise HTTPException(503, f"The report cannot be built from the stores yet: {exc}") from None

    @app.get("/report", response_class=HTMLResponse, include_in_schema=False)
    def report_page(request: Request, user: PageUser):
        built = built_report()
        return render(request, "report.html", user, report=built.report, built_at=_fmt_ts(built.at))

    @app.get("/report.html", include_in_schema=False)
    def report_file(user: PageUser):
        built = built_report()
        name = f"report-{built.report.observed_until:%Y-%m-%d}.html"
        return HTMLResponse(built.report.page(), headers={"Content-Disposition": f'attachment; filename="{name}"'})

    def definition_url(version: int | None, segment: str, done: str = "") -> str:
        query = {k: v for k, v in (("segment", segment), ("version", version), ("done", done)) if v}
        return "/definition" + (f"?{urlencode(query)}" if query else "")

    def segment_config(segment: str):
        """The config of the model a form or page names: the global one, or a declared segment's (404 otherwise)."""
        try:
            return config().for_segment(segment or None)
        except ValueError as exc:
            if segment and "segment" in str(exc):
                raise HTTPException(404, str(exc)) from None
            raise

    @app.get("/definition", response_class=HTMLResponse, include_in_schema=False)
    def definition_page(request: Request, user: PageUser, version: int | None = None, done: str = "",
                        segment: str = ""):
        try:
            view = definitions.build(config(), user, version, segment=segment or None)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        except ValueError as exc:  # an undeclared segment (404), or an invalid params.yaml
            if segment and "segment" in str(exc):
                raise HTTPException(404, str(exc)) from None
            raise HTTPException(503, str(exc)) from None
        except FileNotFoundError as exc:  # no MLflow store here, no params.yaml
            raise HTTPException(503, str(exc)) from None
        return render(request, "definition.html", user, view=view, done=done)

    @app.post("/definition/{version}/decide", include_in_schema=False)
    def decide(request: Request, version: int, user: PageUser, csrf: Annotated[str, Form()] = "",
               decision: Annotated[str, Form()] = "", team: Annotated[str, Form()] = "",
               comment: Annotated[str, Form()] = "", segment: Annotated[str, Form()] = ""):
        if not csrf_valid(request.session, csrf):
            raise HTTPException(403, "CSRF token missing or wrong: reload the page and try again")
        if decision not in signoff.DECISIONS:
            raise HTTPException(422, "decision must be approve or reject")
        try:
            promote_step.approve(segment_config(segment), version=version, user=user, team=team or None,
                                 comment=comment.strip(), decision=decision)
        except signoff.NotAllowed as exc:
            raise HTTPException(403, str(exc)) from None
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        done = (f"{team or user.team} {'approved' if decision == 'approve' else 'rejected'} version {version}"
                + (f" of segment {segment}'s model" if segment else ""))
        return RedirectResponse(definition_url(version, segment, done), status_code=303)

    @app.post("/definition/{version}/promote", include_in_schema=False)
    def promote_version(request: Request, version: int, user: PageUser, csrf: Annotated[str, Form()] = "",
                        reason: Annotated[str, Form()] = "", segment: Annotated[str, Form()] = ""):
        if not csrf_valid(request.session, csrf):
            raise HTTPException(403, "CSRF token missing or wrong: reload the page and try again")
        try:
            outcome = promote_step.promote(segment_config(segment), version=version, by=user, reason=reason.strip())
        except signoff.NotAllowed as exc:
            raise HTTPException(403, str(exc)) from None
        except promote_step.PromotionRefused as exc:
            raise HTTPException(409, str(exc)) from None
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        done = (f"version {outcome.version} is champion" + (f" of segment {segment}" if segment else "")
                + (f" (was version {outcome.previous})" if outcome.previous is not None else ""))
        return RedirectResponse(definition_url(version, segment, done), status_code=303)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if request.url.path.startswith("/api") or (request.method != "GET"
                                                    and not request.url.path.startswith(("/definition/", "/leads/"))):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return render(request, "error.html", session_user(request), exc.status_code, title=f"{exc.status_code}",
                      message=exc.detail)

    # ---- API ------------------------------------------------------------------------------------------------

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi_schema(user: PageUser):
        return JSONResponse(app.openapi())

    @app.get("/api/docs", include_in_schema=False)
    def api_docs(user: PageUser):
        return get_swagger_ui_html(openapi_url="/api/openapi.json", title="leadscore API",
                                   swagger_js_url="/api/docs-static/swagger-ui-bundle.js",
                                   swagger_css_url="/api/docs-static/swagger-ui.css",
                                   swagger_favicon_url="/api/docs-static/favicon-32x32.png")  # all local: no CDN

    @app.get("/api/docs-static/{name}", include_in_schema=False)
    def docs_static(name: str, user: PageUser):
        import swagger_ui_bundle

        allowed = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
                   "favicon-32x32.png": "image/png"}
        if name not in allowed:
            raise HTTPException(404, "not found")
        return Response((Path(swagger_ui_bundle.swagger_ui_path) / name).read_bytes(), media_type=allowed[name])

    @app.get("/api/me", tags=["api"], summary="The token's user")
    def api_me(user: ApiUser) -> dict:
        return _user_json(user)

    @app.get("/api/queue", tags=["api"], summary="A night's queue, filtered, one page")
    def api_queue(user: ApiUser, filters: Filters) -> dict:
        queue = load_queue(user, filters)
        return {"night": _fmt_ts(queue.night, "%Y-%m-%d") or None, "owner": queue.owner, "total": len(queue.rows),
                "page": queue.page, "pages": queue.pages, "page_size": data.PAGE_SIZE,
                "empty_reason": queue.empty_reason or None, "leads": _records(queue.page_rows)}

    @app.get("/api/leads/{lead_id}", tags=["api"], summary="One lead: every night it was scored, its engagement, "
             "sales touches and sales feedback")
    def api_lead(lead_id: str, user: ApiUser) -> dict:
        detail = visible_lead(user, lead_id)
        history = detail.history[[c for c in ("as_of_ts", "probability", "score", "grade", "model_version",
                                              "definition_version", "owner_id", "company", "source",
                                              "reasons_positive", "reasons_negative") if c in detail.history]]
        return {"lead_id": detail.lead_id, "contact": detail.contact, "title": detail.title,
                "created_ts": _fmt_ts(detail.created_ts, "%Y-%m-%dT%H:%M:%SZ") or None,
                "nights": _records(history),
                "engagement": _records(detail.events),
                "sales_touches": _records(detail.touches),
                "feedback": _records(detail.feedback)}

    @app.post("/api/leads/{lead_id}/feedback", tags=["api"], status_code=201,
              summary="Record sales feedback on a lead (sales users; a member on their own leads only)",
              description="Stored with the grade, probability, model and definition version of the lead's published "
                          "score of that night, and the token's user. Feedback never changes a published score; a "
                          "lead's latest feedback is its current disposition, earlier ones are kept. 403: not a sales "
                          "user; 404: no scored lead you may see; 422: unknown disposition, a comment too long, or a "
                          "night the lead was not scored.")
    def api_lead_feedback(lead_id: str, body: FeedbackIn, user: ApiUser) -> dict:
        row = record_feedback(user, lead_id, body)
        return {**_records(pd.DataFrame([row]))[0], "disposition_label": feedback.label(row["disposition"])}

    @app.post("/api/leads/{lead_id}/score", tags=["api"],
              summary="Score one lead now with the champion (not published; logged)",
              description="Reads only this lead's rows (and its account's) from the sources, builds the nightly job's "
                          "features as of now (or `as_of`, ISO 8601, UTC) and scores them with the champion, which "
                          "must pass the nightly job's sign-off check. Returns probability, score, grade and reasons "
                          "with the model and definition version. Never published into the nightly scores; each score "
                          "is logged (table leadscore_one_lead_scores). A member may score their own leads only. 404: "
                          "no such lead that you may see; 422: the lead is not open then, or quarantined, or a bad "
                          "`as_of`; 503: no champion, or it fails the sign-off check, or the sources cannot be read.")
    def api_score_lead(lead_id: str, user: ApiUser, as_of: str | None = None) -> dict:
        from pipeline import one_lead, signoff

        try:
            when = pd.Timestamp(as_of) if as_of else None
        except ValueError:
            raise HTTPException(422, f"as_of {as_of!r} is not an ISO 8601 date or time") from None

        def may_see(owner: str | None) -> bool:
            return user.sees_every_owner or (owner or "").strip().lower() == user.owner_key

        with _answered_as({one_lead.LeadNotFound: 404, one_lead.LeadNotScorable: 422, LookupError: 503,
                           signoff.SignoffError: 503, ConnectionError: 503, FileNotFoundError: 503, ValueError: 422}):
            result = lead_scorer().score(lead_id, as_of=when, may_see=may_see, requested_by=user.name, via="api")
        return result.to_json()

    @app.get("/api/definition", tags=["api"], summary="A version's quality-lead definition (default the champion), "
             "its diff against the champion and its sign-off record")
    def api_definition(user: ApiUser, version: int | None = None,
                       segment: Annotated[str, Query(description="A declared segment: its own model")] = "") -> dict:
        try:
            view = definitions.build(config(), user, version, segment=segment or None)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        except ValueError as exc:
            if segment and "segment" in str(exc):
                raise HTTPException(404, str(exc)) from None
            raise HTTPException(503, str(exc)) from None
        except FileNotFoundError as exc:
            raise HTTPException(503, str(exc)) from None
        return {"model": view.model_name, "segment": view.segment, "segments": view.segments,
                "version": view.version, "champion": view.champion, "definition_version": view.definition_version,
                "definition": view.summary or None, "problem": view.problem or None,
                "alias_problem": view.alias_problem or None, "required_approvals": list(view.required),
                "missing_approvals": view.missing,
                "diff_against_champion": [{"what": w, "champion": a, "this": b} for w, a, b in view.diff],
                "decisions": [{k: d[k] for k in ("at", "team", "user_name", "role", "decision", "definition_version",
                                                 "comment", "current")} for d in view.decisions],
                "versions": [{"version": v.version, "definition_version": v.definition_version, "family": v.family,
                              "champion": v.champion, "approved_by": v.signed} for v in view.versions]}

    @app.get("/api/report", tags=["api"], summary="The report's numbers: the promise check per grade and night, "
             "coverage of buyers, the marketing and sales views, drift")
    def api_report(user: ApiUser) -> dict:
        report = built_report().report
        checked = report.monitor
        return {"observed_until": _fmt_ts(report.observed_until, "%Y-%m-%dT%H:%M:%SZ"), "verdict": report.verdict,
                "breach": report.breach, "promises": _records(checked.promises),
                "nights": _records(checked.cohorts), "buyers": _records(checked.buyers),
                "coverage": None if pd.isna(checked.coverage) else float(checked.coverage),
                "marketing": {k: _records(v) for k, v in report.marketing.items()},
                "sales": {k: _records(v) for k, v in report.sales.items()},
                "dispositions": _records(report.dispositions),
                "drift": {"night": report.drift_night,
                          "columns": _records(report.drift) if report.drift is not None else []}}

    @app.get("/api/runs", tags=["api"], summary="The nightly runs, newest first, and one run's rejects")
    def api_runs(user: ApiUser, run: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict:
        out = {"runs": _records(io.read_runs(url=url, limit=limit))}
        if run:
            out["rejects"] = _records(io.read_rejects(run_id=run, url=url))
        return out

    return app


@contextlib.contextmanager
def _answered_as(statuses: dict[type[Exception], int]):
    """What a call refuses, answered with the HTTP status of the first matching kind and its message."""
    try:
        yield
    except tuple(statuses) as exc:
        raise HTTPException(next(code for kind, code in statuses.items() if isinstance(exc, kind)), str(exc)) from None


def _user_json(user: users.User) -> dict:
    return {"name": user.name, "team": user.team, "role": user.role, "owner": user.owner_key}


def _records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: timestamps as ISO text, missing values as null."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = out.astype(object).where(out.notna(), None)
    return out.to_dict(orient="records")


_cell = io.spreadsheet_cell


def _csv(queue: data.Queue) -> str:
    buffer = textio.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(data.CSV_COLUMNS)
    night = _fmt_ts(queue.night, "%Y-%m-%d")
    for row in queue.rows.itertuples(index=False):
        writer.writerow([night, row.lead_id, _cell(row.company), _cell(row.contact), _cell(row.title),
                         _cell(row.source), _cell(row.campaign), _cell(row.owner), row.grade, row.score,
                         f"{row.probability:.4f}",
                         _fmt_ts(row.last_touch, "%Y-%m-%dT%H:%M:%SZ"), _cell(row.reasons_positive),
                         _cell(row.reasons_negative)])
    return buffer.getvalue()
