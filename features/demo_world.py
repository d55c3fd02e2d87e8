"""The demo world: a simulated B2B company's two years of marketing and sales data.

Pure: ``generate_world`` returns frames and touches no file (``pipeline.steps.generate`` writes them).
The world is the six source tables of the data contract (leads, accounts, campaigns, engagement_events,
sales_activities, opportunities) and ``truth``: per lead the latent fit, intent and the true probability
of ever becoming a sale, for oracle metrics.

How the world works, so the model has something real to find:
- a lead's *fit* comes from its company (industry, size, country, existing customer), its job title
  (seniority, department), its email domain, its source and the quality of its first campaign;
- its *intent* is latent; it drives how often the lead engages and which kinds of events it produces
  (high intent → more pricing-page visits, form fills, webinars);
- a lead that will buy opens an opportunity after a delay; in the weeks before, its engagement ramps up
  (buying signals); opportunities are won with a probability driven by fit and intent;
- leads that will not buy may be disqualified, or get an opportunity that is lost;
- campaigns differ in quality: each draws the fit *and* the intent of the leads it brings around its own
  level (webinars and partners better on average, content syndication worse), and costs what its
  channel costs (trade shows dear, email cheap), so cost per quality lead differs between campaigns;
- sales owners differ in follow-up speed: each works their leads at their own pace (a mean gap between
  touches from about a day to a few weeks), each lead a little faster or slower than that, and a lead
  worked faster is more likely to be won (the logit of the win falls with the log of the gap).
Everything is vectorised numpy; the same seed gives identical tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.params import GenerateParams

DAY = 86_400

INDUSTRIES = {  # name: (share, effect on fit)
    "software": (0.20, 0.7), "financial_services": (0.12, 0.4), "healthcare": (0.12, 0.2),
    "manufacturing": (0.15, 0.0), "logistics": (0.09, 0.1), "retail": (0.13, -0.3),
    "education": (0.10, -0.6), "public_sector": (0.09, -0.7),
}
COUNTRIES = {
    "US": (0.38, 0.3), "GB": (0.12, 0.2), "DE": (0.10, 0.1), "FR": (0.07, -0.1), "NL": (0.05, 0.2),
    "CA": (0.06, 0.2), "AU": (0.05, 0.0), "IN": (0.08, -0.6), "BR": (0.05, -0.4), "ES": (0.04, -0.3),
}
CHANNELS = {  # channel: (share of campaigns, mean quality, median cost)
    "email": (0.25, 0.0, 4_000), "paid_search": (0.18, 0.2, 18_000), "paid_social": (0.15, -0.3, 14_000),
    "webinar": (0.14, 0.4, 9_000), "trade_show": (0.10, 0.3, 45_000), "content_syndication": (0.10, -0.5, 12_000),
    "partner": (0.08, 0.5, 8_000),
}
# Follow-up: an owner's mean gap between touches is FOLLOW_UP_MEDIAN_DAYS · exp(FOLLOW_UP_SPREAD · z),
# z spread evenly over the owners; each lead's own gap varies around its owner's by LEAD_GAP_SPREAD.
FOLLOW_UP_MEDIAN_DAYS = 5.0
FOLLOW_UP_SPREAD = 0.9
LEAD_GAP_SPREAD = 0.4
FOLLOW_UP_EFFECT = 0.45  # logit of a win falls by this per unit of log(gap / median)
CAMPAIGN_INTENT_SPREAD = 0.5  # campaign-level shift of its leads' intent, around its quality
CHANNEL_SOURCE = {
    "email": "email", "paid_search": "paid_search", "paid_social": "paid_social", "webinar": "webinar",
    "trade_show": "trade_show", "content_syndication": "content_syndication", "partner": "partner_referral",
}
NO_CAMPAIGN_SOURCES = {"web_organic": (0.7, 0.3), "outbound": (0.3, -0.2)}  # share, effect
SENIORITY = {  # level: (share, effect, title prefixes)
    "c_level": (0.05, 0.5, ["Chief {d} Officer", "C{d0}O"]),
    "vp": (0.09, 0.6, ["VP of {D}", "Vice President, {D}"]),
    "director": (0.16, 0.5, ["Director of {D}", "{D} Director"]),
    "manager": (0.30, 0.2, ["{D} Manager", "Senior {D} Manager"]),
    "individual": (0.30, -0.3, ["{D} Specialist", "{D} Analyst", "Senior {D} Associate"]),
    "student": (0.10, -1.2, ["Student", "Intern"]),
}
DEPARTMENTS = {
    "engineering": (0.22, 0.4), "it": (0.18, 0.4), "operations": (0.16, 0.1), "marketing": (0.14, 0.0),
    "sales": (0.12, -0.1), "finance": (0.10, 0.0), "hr": (0.08, -0.4),
}
FREE_EMAIL = ["gmail.com", "outlook.com", "yahoo.com", "hotmail.com"]
# event type: (base share, tilt by intent, tilt in the buying ramp)
EVENT_TYPES = {
    "email_open": (0.38, -0.2, -1.0), "email_click": (0.12, 0.2, 0.0), "web_visit": (0.24, 0.1, 0.3),
    "content_download": (0.06, 0.3, 0.3), "ad_click": (0.08, -0.1, -0.5),
    "webinar_attend": (0.03, 0.5, 0.8), "event_attend": (0.02, 0.4, 0.6),
    "pricing_page_visit": (0.04, 0.8, 1.8), "form_submit": (0.03, 0.8, 1.8),
}
ACTIVITY_TYPES = ["call", "email", "meeting"]
ACTIVITY_OUTCOMES = ["connected", "no_answer", "left_voicemail", "replied", "no_reply"]
# Contact names: the leads table's optional contact_name, drawn from a generator of its own so that adding it left
# every other draw of the world (and so the demo's figures) unchanged.
FIRST_NAMES = ["Ada", "Alan", "Amara", "Ben", "Carla", "Chen", "Dana", "Elif", "Farid", "Grace", "Hana", "Ivan",
               "Jonas", "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Rosa", "Sven", "Tomoko", "Uma", "Yusuf"]
LAST_NAMES = ["Adeyemi", "Becker", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Hughes", "Ito", "Jensen",
              "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi", "Silva", "Tanaka"]
WORDS_A = ["North", "Blue", "Bright", "Iron", "Silver", "Summit", "Harbor", "Quantum", "Vertex", "Cedar",
           "Atlas", "Nova", "Pioneer", "Granite", "Crescent", "Orbit", "Maple", "Falcon", "Delta", "Echo"]
WORDS_B = ["Logistics", "Systems", "Health", "Foods", "Analytics", "Robotics", "Capital", "Retail",
           "Energy", "Labs", "Networks", "Works", "Partners", "Dynamics", "Software", "Industries"]


@dataclass(frozen=True)
class World:
    """The six contract tables, and apart from them the truth no real CRM holds: for oracle metrics only,
    never a source the pipeline reads."""

    tables: dict[str, pd.DataFrame]
    truth: pd.DataFrame


def _pick(rng: np.random.Generator, table: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    names = np.array(list(table))
    shares = np.array([v[0] for v in table.values()], dtype=float)
    idx = rng.choice(len(names), size=n, p=shares / shares.sum())
    effects = np.array([v[1] for v in table.values()], dtype=float)
    return names[idx], effects[idx]


def _ts(start: pd.Timestamp, days: np.ndarray) -> pd.Series:
    seconds = np.round(np.asarray(days, dtype=float) * DAY)
    out = pd.Series(start + pd.to_timedelta(np.nan_to_num(seconds), unit="s"))
    out[np.isnan(seconds)] = pd.NaT
    return out.astype("datetime64[ns, UTC]")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate_world(n_leads: int, seed: int, params: GenerateParams) -> World:
    """Simulate the world. Pure: no I/O; same (n_leads, seed, params) → identical frames."""
    if n_leads < 100:
        raise ValueError("the demo world needs at least 100 leads")
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(params.start, tz="UTC")
    horizon = float(params.days)

    # Accounts
    n_accounts = max(30, n_leads // 3)
    industry, industry_eff = _pick(rng, INDUSTRIES, n_accounts)
    acc_country, country_eff = _pick(rng, COUNTRIES, n_accounts)
    employees = np.clip(np.round(np.exp(rng.normal(np.log(250), 1.6, n_accounts))), 2, 200_000)
    size_eff = 0.9 - 0.25 * (np.log10(employees) - 3.2) ** 2  # mid-market buys most
    is_customer = rng.random(n_accounts) < 0.06
    account_eff = industry_eff + country_eff + size_eff + 0.6 * is_customer + rng.normal(0, 0.2, n_accounts)
    names = (np.array(WORDS_A)[rng.integers(0, len(WORDS_A), n_accounts)] + " "
             + np.array(WORDS_B)[rng.integers(0, len(WORDS_B), n_accounts)])
    account_ids = np.arange(1, n_accounts + 1, dtype=np.int64)
    accounts = pd.DataFrame({
        "account_id": account_ids,
        "name": [f"{n} {i}" for n, i in zip(names, account_ids, strict=True)],
        "industry": industry,
        "employees": employees.astype(np.int64),
        "annual_revenue": np.round(employees * np.exp(rng.normal(np.log(180_000), 0.5, n_accounts)), -3),
        "country": acc_country,
        "is_customer": is_customer,
        "customer_since_ts": _ts(start, np.where(is_customer, -rng.uniform(30, 1500, n_accounts), np.nan)),
    })

    # Campaigns
    channel, quality_mean = _pick(rng, CHANNELS, params.n_campaigns)
    median_cost = np.array([CHANNELS[c][2] for c in channel], dtype=float)
    camp_start = np.sort(rng.uniform(-60, horizon - 30, params.n_campaigns))
    camp_quality = quality_mean + rng.normal(0, 0.35, params.n_campaigns)
    camp_intent = CAMPAIGN_INTENT_SPREAD * (camp_quality + rng.normal(0, 0.3, params.n_campaigns))
    campaign_ids = np.arange(1, params.n_campaigns + 1, dtype=np.int64)
    campaigns = pd.DataFrame({
        "campaign_id": campaign_ids,
        "name": [f"{c.replace('_', ' ').title()} #{i}" for c, i in zip(channel, campaign_ids, strict=True)],
        "channel": channel,
        "start_ts": _ts(start, camp_start),
        "cost": np.round(median_cost * rng.lognormal(0, 0.4, params.n_campaigns), -2),
    })

    # Leads: arrivals grow over time (linear density), each from an account
    u = rng.random(n_leads)
    created = np.sort(horizon * (np.sqrt(1 + 3 * u) - 1))  # density ∝ 1 + 1.5 t/horizon
    acc = rng.integers(0, n_accounts, n_leads)
    from_campaign = rng.random(n_leads) < 0.75
    n_started = np.searchsorted(camp_start, created, side="right")
    from_campaign &= n_started > 0
    camp_idx = np.where(from_campaign, np.floor(rng.random(n_leads) * np.maximum(n_started, 1)), -1).astype(int)
    nc_source, nc_eff = _pick(rng, NO_CAMPAIGN_SOURCES, n_leads)
    source = np.where(from_campaign, np.array([CHANNEL_SOURCE[c] for c in channel])[camp_idx], nc_source)
    source_eff = np.where(from_campaign, camp_quality[camp_idx], nc_eff)
    seniority, seniority_eff = _pick(rng, SENIORITY, n_leads)
    department, dept_eff = _pick(rng, DEPARTMENTS, n_leads)
    job_title = _job_titles(rng, seniority, department)
    free_email = rng.random(n_leads) < np.where(seniority == "student", 0.8, 0.18)
    domain = np.where(free_email, np.array(FREE_EMAIL)[rng.integers(0, len(FREE_EMAIL), n_leads)],
                      np.char.add(np.char.lower(np.char.replace(names[acc].astype(str), " ", "")), ".com"))
    country = np.where(rng.random(n_leads) < 0.9, acc_country[acc], _pick(rng, COUNTRIES, n_leads)[0])
    fit = (account_eff[acc] + source_eff + seniority_eff + dept_eff - 0.7 * free_email
           + rng.normal(0, 0.25, n_leads))
    intent = rng.normal(0, 1, n_leads) + np.where(from_campaign, camp_intent[np.maximum(camp_idx, 0)], 0.0)

    # Who works the lead, and how fast: owners from quick (about a day between touches) to slow (weeks)
    owners = np.array([f"rep_{i:02d}" for i in range(1, params.n_owners + 1)])
    owner_idx = rng.integers(0, params.n_owners, n_leads)
    owner_z = rng.permutation(np.linspace(-1.5, 1.5, params.n_owners)) if params.n_owners > 1 else np.zeros(1)
    lead_gap_days = (FOLLOW_UP_MEDIAN_DAYS * np.exp(FOLLOW_UP_SPREAD * owner_z[owner_idx])
                     * np.exp(rng.normal(0, LEAD_GAP_SPREAD, n_leads)))
    follow_up_eff = -FOLLOW_UP_EFFECT * np.log(lead_gap_days / FOLLOW_UP_MEDIAN_DAYS)

    # Fate: will this lead buy, and when?
    # Interest from the right people is what sells: intent counts for more when fit is good (and a
    # student's enthusiasm for little), an interaction a points table cannot express.
    p_win = _sigmoid(-4.85 + 0.9 * fit + 1.1 * intent + 0.45 * (fit - 0.8) * intent + follow_up_eff)
    will_win = rng.random(n_leads) < p_win
    p_lost_opp = _sigmoid(-3.6 + 0.3 * fit + 0.6 * intent)
    gets_lost_opp = ~will_win & (rng.random(n_leads) < p_lost_opp)
    has_opp = will_win | gets_lost_opp
    opp_delay = rng.gamma(2.2, 35 * np.exp(-0.25 * intent), n_leads)
    opp_created = np.where(has_opp, created + 3 + opp_delay, np.nan)
    cycle = np.where(will_win, rng.gamma(2.0, 14, n_leads), rng.gamma(2.0, 20, n_leads))
    opp_closed = opp_created + cycle
    disq = ~has_opp & (rng.random(n_leads) < 0.35)
    disq_at = np.where(disq, created + rng.exponential(50, n_leads) + 1, np.nan)

    # Engagement stops when the lead becomes an opportunity, is disqualified, or goes cold (a year)
    active_end = np.fmin(np.fmin(opp_created, disq_at), created + 365)
    active_end = np.minimum(active_end, horizon)
    events = _engagement(rng, created, active_end, opp_created, intent, camp_idx, camp_start, horizon)

    lead_ids = np.arange(100_001, 100_001 + n_leads, dtype=np.int64)
    owner = owners[owner_idx]
    observed_opp = has_opp & (opp_created < horizon)
    closed_seen = observed_opp & (opp_closed < horizon)
    status = np.where(closed_seen & will_win, "converted",
                      np.where(observed_opp, "opportunity",
                               np.where(disq & (disq_at < horizon), "disqualified", "open")))
    leads = pd.DataFrame({
        "lead_id": lead_ids,
        "created_ts": _ts(start, created),
        "source": source,
        "account_id": account_ids[acc],
        "first_campaign_id": pd.array(np.where(camp_idx >= 0, campaign_ids[np.maximum(camp_idx, 0)], 0),
                                      dtype="Int64"),
        "country": country,
        "job_title": job_title,
        "owner_id": owner,
        "email_domain": domain,
        "status": status,
        "disqualified_ts": _ts(start, np.where(disq & (disq_at < horizon), disq_at, np.nan)),
    })
    leads.loc[camp_idx < 0, "first_campaign_id"] = pd.NA
    names_rng = np.random.default_rng([seed, 1])
    leads.insert(leads.columns.get_loc("job_title"), "contact_name",
                 np.char.add(np.char.add(np.array(FIRST_NAMES)[names_rng.integers(0, len(FIRST_NAMES), n_leads)], " "),
                             np.array(LAST_NAMES)[names_rng.integers(0, len(LAST_NAMES), n_leads)]).astype(object))

    ev_lead, ev_days, ev_type, ev_campaign, ev_detail = events
    engagement_events = pd.DataFrame({
        "lead_id": lead_ids[ev_lead],
        "event_ts": _ts(start, ev_days),
        "event_type": np.array(list(EVENT_TYPES))[ev_type],
        "detail": ev_detail,
        "campaign_id": pd.array(np.where(ev_campaign >= 0, campaign_ids[np.maximum(ev_campaign, 0)], 0),
                                dtype="Int64"),
    })
    engagement_events.loc[ev_campaign < 0, "campaign_id"] = pd.NA
    engagement_events = engagement_events.sort_values(["event_ts", "lead_id"], kind="stable", ignore_index=True)

    opp_idx = np.flatnonzero(observed_opp)
    closed_in_view = opp_closed[opp_idx] < horizon
    opportunities = pd.DataFrame({
        "opportunity_id": np.arange(1, len(opp_idx) + 1, dtype=np.int64),
        "lead_id": lead_ids[opp_idx],
        "created_ts": _ts(start, opp_created[opp_idx]),
        "closed_ts": _ts(start, np.where(closed_in_view, opp_closed[opp_idx], np.nan)),
        "is_won": will_win[opp_idx] & closed_in_view,
        "amount": np.round(accounts["annual_revenue"].to_numpy()[acc[opp_idx]] * 0.002 + 8_000, -2),
        "stage": np.where(~closed_in_view, "open", np.where(will_win[opp_idx], "closed_won", "closed_lost")),
    })

    # Current-state flag, as a CRM shows it today: includes accounts won during the world. Using it as a
    # feature would leak the label; features.history derives customer status point in time instead.
    won_accounts = np.unique(acc[np.flatnonzero(will_win & closed_seen)])
    accounts.loc[won_accounts, "is_customer"] = True
    sales_activities = _sales_activities(rng, lead_ids, created, active_end, lead_gap_days, owner, start)
    truth = pd.DataFrame({
        "lead_id": lead_ids, "fit": fit, "intent": intent, "follow_up_gap_days": lead_gap_days,
        "propensity": p_win, "will_win": will_win,
    })
    return World(
        tables={
            "leads": leads, "accounts": accounts, "campaigns": campaigns,
            "engagement_events": engagement_events, "sales_activities": sales_activities,
            "opportunities": opportunities,
        },
        truth=truth,
    )


def _job_titles(rng: np.random.Generator, seniority: np.ndarray, department: np.ndarray) -> np.ndarray:
    titles = np.empty(len(seniority), dtype=object)
    pick = rng.random(len(seniority))
    for level, (_, _, patterns) in SENIORITY.items():
        for dept in DEPARTMENTS:
            mask = (seniority == level) & (department == dept)
            if not mask.any():
                continue
            d = {"it": "IT", "hr": "HR"}.get(dept, dept.title())
            options = [p.format(D=d, d=d, d0=d[0]) for p in patterns]
            titles[mask] = np.array(options, dtype=object)[(pick[mask] * len(options)).astype(int)]
    return titles


def _engagement(rng, created, active_end, opp_created, intent, camp_idx, camp_start, horizon):
    """Events per lead: a decaying baseline whose rate follows intent, plus a ramp before an opportunity."""
    n = len(created)
    duration = np.maximum(active_end - created, 0)
    tau = 45.0
    rate = 0.2 * np.exp(0.55 * intent + rng.normal(0, 0.35, n))
    expected = rate * tau * (1 - np.exp(-duration / tau))
    counts = rng.poisson(expected)
    lead = np.repeat(np.arange(n), counts)
    u = rng.random(len(lead))
    frac = 1 - np.exp(-duration[lead] / tau)
    days = created[lead] - tau * np.log(1 - u * frac)
    ramp_flag = np.zeros(len(lead), dtype=bool)

    # Buying signals in the 35 days before the opportunity opens
    ramp_window = 35.0
    has_ramp = ~np.isnan(opp_created)
    ramp_counts = np.where(has_ramp, rng.poisson(2.5 * np.exp(0.3 * intent)), 0)
    r_lead = np.repeat(np.arange(n), ramp_counts)
    r_days = opp_created[r_lead] - ramp_window * (1 - np.sqrt(rng.random(len(r_lead))))
    keep = (r_days > created[r_lead]) & (r_days < np.minimum(opp_created[r_lead], horizon))
    lead = np.concatenate([lead, r_lead[keep]])
    days = np.concatenate([days, r_days[keep]])
    ramp_flag = np.concatenate([ramp_flag, np.ones(int(keep.sum()), dtype=bool)])

    keep = days < horizon
    lead, days, ramp_flag = lead[keep], days[keep], ramp_flag[keep]
    base = np.log(np.array([v[0] for v in EVENT_TYPES.values()]))
    tilt = np.array([v[1] for v in EVENT_TYPES.values()])
    ramp_tilt = np.array([v[2] for v in EVENT_TYPES.values()])
    logits = base + np.outer(intent[lead], tilt) + np.outer(ramp_flag, ramp_tilt)
    ev_type = np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)

    # Campaign touch: own first campaign half the time, otherwise any campaign already running
    running = np.searchsorted(camp_start, days, side="right")
    other = np.where(running > 0, np.floor(rng.random(len(lead)) * np.maximum(running, 1)), -1).astype(int)
    own = camp_idx[lead]
    campaign = np.where((own >= 0) & (rng.random(len(lead)) < 0.5), own, other)
    campaign_event = np.isin(ev_type, [0, 1, 4, 5, 6])  # opens, clicks, ads, webinars, events
    campaign = np.where(campaign_event, campaign, -1)

    # Which form: buying-ramp fills are mostly demo and contact requests, the rest mostly gated content
    form = ev_type == list(EVENT_TYPES).index("form_submit")
    p_buying = np.where(ramp_flag, 0.7, _sigmoid(-2.0 + 0.8 * intent[lead]))
    buying = rng.random(len(lead)) < p_buying
    buying_kind = np.where(rng.random(len(lead)) < 0.6, "demo_request", "contact_sales")
    other_kind = np.array(["newsletter", "content_gate", "event_registration"])[rng.integers(0, 3, len(lead))]
    detail = np.where(form, np.where(buying, buying_kind, other_kind), None)
    return lead, days, ev_type, campaign, detail


def _sales_activities(rng, lead_ids, created, active_end, gap_days, owner, start):
    """Each owner works a lead at their own pace: touches as a renewal process with the lead's mean gap.

    The gaps are exponential, so the wait from any moment (a scoring night) to the next touch has the
    same mean gap: slow owners show up as slow follow-up after a lead is graded, fast ones as fast.
    Touches stop when the lead leaves the queue, or after 90 days.
    """
    n = len(created)
    worked = np.minimum(np.maximum(active_end - created, 0), 90)
    # Enough gaps to cover each lead's worked period almost surely, then keep the ones inside it.
    draws = np.ceil(worked / gap_days * 1.5 + 4 * np.sqrt(worked / gap_days + 1) + 2).astype(np.int64)
    lead = np.repeat(np.arange(n), draws)
    gaps = rng.exponential(1.0, len(lead)) * gap_days[lead]
    starts = np.cumsum(draws) - draws
    cumulative = np.cumsum(gaps)
    offset = cumulative - np.repeat(cumulative[starts] - gaps[starts], draws)
    keep = offset < worked[lead]
    lead, days = lead[keep], created[lead[keep]] + offset[keep]
    frame = pd.DataFrame({
        "activity_id": np.arange(1, len(lead) + 1, dtype=np.int64),
        "lead_id": lead_ids[lead],
        "activity_ts": _ts(start, days),
        "activity_type": np.array(ACTIVITY_TYPES)[rng.choice(3, len(lead), p=[0.5, 0.4, 0.1])],
        "outcome": np.array(ACTIVITY_OUTCOMES)[rng.integers(0, len(ACTIVITY_OUTCOMES), len(lead))],
        "owner_id": owner[lead],
    })
    frame = frame.sort_values(["activity_ts", "lead_id"], kind="stable", ignore_index=True)
    frame["activity_id"] = np.arange(1, len(frame) + 1, dtype=np.int64)
    return frame
