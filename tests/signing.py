"""Sign-off for tests whose subject is not the sign-off: workspace users per team (made once per database), both
teams' approvals of a version's current definition recorded in the leadscore database, and an admin's promotion
(``--force`` past the metric gates, never past the signatures, which score and nightly check)."""

from pipeline import users
from pipeline.steps import promote

NAMES = {"marketing": ("mia", "member"), "sales": ("sam", "member"), "data-science": ("ops", "admin")}


def user(team: str):
    """The test user of ``team`` (marketing: mia, sales: sam, data-science: ops, an admin)."""
    name, role = NAMES[team]
    found = users.get_user(name)
    return found or users.add_user(name, team=team, role=role, password="test-password")[0]


def sign(config, version: int, teams=("marketing", "sales")) -> None:
    for team in teams:
        promote.approve(config, version=version, user=user(team), comment="ok")


def sign_and_promote(config, version: int, *, reason: str = "tests", force: bool = True):
    """Both teams sign ``version``, then the admin promotes it (forced past the metric gates unless ``force=False``)."""
    sign(config, version)
    return promote.promote(config, version=version, by=user("data-science"), force=force, reason=reason)
