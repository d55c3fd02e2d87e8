"""A tiny published store for the workspace tests: hand-written source tables (contacts, titles, sales touches,
engagement) and two published nights of scores, written through ``pipeline.io`` as the nightly job writes them;
users in the same SQLite database."""

from types import SimpleNamespace

import pandas as pd

NIGHTS = (pd.Timestamp("2026-06-01", tz="UTC"), pd.Timestamp("2026-06-08", tz="UTC"))
XSS = "<script>alert(1)</script>"
BRACKETS = "Acme [/] Corp"
PASSWORDS = {"rep_01": "rep-one-password", "rep_02": "rep-two-password", "sam": "manager-password",
             "mia": "marketing-password"}

# lead_id: (company, contact, title, source, owner, created, probability on night 2)
LEADS = {
    1: (XSS, "Ada Lovelace", "CTO", "webinar", "rep_01", "2026-05-20", 0.61),
    2: (BRACKETS, "Grace Hopper", "VP Engineering", "paid_search", "rep_01", "2026-03-01", 0.42),
    3: ("Initech", "Peter Gibbons", "Engineer", "webinar", "rep_01", "2026-06-05", 0.08),
    4: ("Globex", "Hank Scorpio", "CEO", "referral", "Rep_02", "2026-05-01", 0.55),
    5: ("Umbrella", "Alice Abernathy", "Head of Security", "webinar", "Rep_02", "2026-04-10", 0.12),
    6: ("Hooli", "Gavin Belson", "CEO", "paid_search", "rep_03", "2026-02-14", 0.33),
}
for i in range(7, 7 + 55):  # enough of rep_03's leads for two pages
    LEADS[i] = (f"Filler {i:03d} Ltd", f"Contact {i}", "Analyst", "content", "rep_03", "2026-01-01", 0.01 + i / 1000)


def _grade(p: float) -> str:
    return "A" if p >= 0.5 else "B" if p >= 0.3 else "C" if p >= 0.1 else "D"


def scores_for(night: pd.Timestamp, lead_ids) -> pd.DataFrame:
    rows = []
    shift = 0.0 if night == NIGHTS[1] else -0.05
    for lead_id in lead_ids:
        company, _, _, source, owner, _, p = LEADS[lead_id]
        p = max(0.005, p + shift)
        rows.append({"lead_id": lead_id, "as_of_ts": night, "probability": p, "score": int(p * 100) + 1,
                     "grade": _grade(p), "model_version": 3 if night == NIGHTS[1] else 2, "definition_version": "d1",
                     "owner_id": owner, "company": company, "source": source,
                     "reasons_positive": f"attended a webinar ({lead_id}) · visited pricing twice",
                     "reasons_negative": "no reply to the last email", "scored_at": night + pd.Timedelta(hours=2)})
    return pd.DataFrame(rows).sort_values("probability", ascending=False, ignore_index=True)


def sources_tables() -> dict[str, pd.DataFrame]:
    leads = pd.DataFrame([{"lead_id": k, "created_ts": pd.Timestamp(v[5], tz="UTC"), "source": v[3],
                           "job_title": v[2], "owner_id": v[4], "contact_name": v[1],
                           "first_campaign_id": 7 if k in (1, 5) else None} for k, v in LEADS.items()])
    activities = pd.DataFrame([
        {"lead_id": 1, "activity_ts": pd.Timestamp("2026-06-09 10:00", tz="UTC"), "activity_type": "call",
         "outcome": "voicemail", "owner_id": "rep_01"},
        {"lead_id": 2, "activity_ts": pd.Timestamp("2026-06-05 09:30", tz="UTC"), "activity_type": "email",
         "outcome": "sent", "owner_id": "rep_01"},
    ])
    events = pd.DataFrame([
        {"lead_id": 1, "event_ts": pd.Timestamp("2026-05-25 14:00", tz="UTC"), "event_type": "webinar_attend",
         "campaign_id": 7, "detail": "Scaling pipelines"},
        {"lead_id": 1, "event_ts": pd.Timestamp("2026-06-02 08:00", tz="UTC"), "event_type": "pricing_page_visit",
         "campaign_id": None, "detail": ""},
    ])
    campaigns = pd.DataFrame([{"campaign_id": 7, "channel": "webinar", "name": "June webinar"}])
    utc = "datetime64[ns, UTC]"
    opportunities = pd.DataFrame({"lead_id": pd.Series(dtype="int64"), "created_ts": pd.Series(dtype=utc),
                                  "closed_ts": pd.Series(dtype=utc), "is_won": pd.Series(dtype=bool)})
    return {"leads": leads, "sales_activities": activities, "engagement_events": events, "campaigns": campaigns,
            "opportunities": opportunities}


def publish(root, *, url: str | None = None, users=True) -> SimpleNamespace:
    """Write the tiny store under ``root`` (its database at ``url``, default a SQLite file there); returns its
    locations."""
    from pipeline import io
    from pipeline import users as users_mod

    url = url or f"sqlite:///{root}/leadscore.db"
    io.write_sources(sources_tables(), root / "sources")
    io.write_scores(scores_for(NIGHTS[0], [1, 2, 4, 6]), NIGHTS[0], url=url, folder=root / "scores")
    io.write_scores(scores_for(NIGHTS[1], list(LEADS)), NIGHTS[1], url=url, folder=root / "scores")
    io.record_run({"run_id": "run-night-2", "as_of": "2026-06-08", "started": "2026-06-08T02:00:00+00:00",
                   "finished": "2026-06-08T02:01:00+00:00", "status": "published", "leads_scored": len(LEADS),
                   "rejects": 1, "model_version": 3, "definition_version": "d1", "warnings": "[]", "error": None},
                  url=url)
    io.write_rejects(pd.DataFrame([{"table_name": "leads", "row_number": 4, "row_key": "99",
                                    "column_name": "created_ts", "reason": "not a timestamp",
                                    "value": "yesterday-ish"}]),
                     run_id="run-night-2", as_of=NIGHTS[1], url=url)
    if users:
        users_mod.add_user("rep_01", team="sales", password=PASSWORDS["rep_01"], url=url)
        users_mod.add_user("rep_02", team="sales", password=PASSWORDS["rep_02"], url=url)
        users_mod.add_user("sam", team="sales", role="manager", password=PASSWORDS["sam"], url=url)
        users_mod.add_user("mia", team="marketing", password=PASSWORDS["mia"], url=url)
    return SimpleNamespace(root=root, url=url, sources=root / "sources")
