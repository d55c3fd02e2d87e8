"""Who may open the workspace: users (team, role, password hash), their API tokens, in the leadscore database.

Tables (SQLAlchemy Core, created on first use, self-contained so a migration can take them over as they are):

- ``leadscore_users``: name (unique, matched case-insensitively), team (``marketing``, ``sales``,
  ``data-science``), role (``member``, ``manager``, ``admin``), owner_id (the CRM owner id whose leads the user
  works; empty = the user's name), password_hash (Argon2id, argon2-cffi's defaults), created_at.
- ``leadscore_tokens``: the SHA-256 of each API token, its user and creation time. A token is 256 random bits,
  shown once; a fast hash is enough for a secret that long (a stolen table gives nothing to guess), and it keeps a
  token check to one indexed lookup per API call.

Passwords are never stored or printed except the one-time password ``add_user`` returns to the CLI that asked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from pipeline import io

TEAMS = ("marketing", "sales", "data-science")
ROLES = ("member", "manager", "admin")
TOKEN_PREFIX = "lst_"
MIN_PASSWORD_LENGTH = 8

metadata = sa.MetaData()
users_table = sa.Table(
    "leadscore_users", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("name_key", sa.String(200), nullable=False, unique=True),  # lower-cased: one user per spelling
    sa.Column("team", sa.String(20), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("owner_id", sa.String(200), nullable=True),
    sa.Column("password_hash", sa.String(300), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)
tokens_table = sa.Table(
    "leadscore_tokens", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("leadscore_users.id"), nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.String(40), nullable=False),
)

_hasher = PasswordHasher()
# Verified against when the user does not exist, so an unknown name costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class User:
    id: int
    name: str
    team: str
    role: str
    owner_id: str | None
    created_at: str
    session_stamp: str = ""  # changes with the password (and with a user removed and added again)

    @property
    def owner_key(self) -> str:
        """The owner id whose leads are this user's (compared case-insensitively with the scores' owner_id)."""
        return (self.owner_id or self.name).strip().lower()

    @property
    def sees_every_owner(self) -> bool:
        """Managers and admins pick any owner's queue; members see their own leads only."""
        return self.role in ("manager", "admin")


class UserError(ValueError):
    """A user cannot be added or found (exit 1 in the CLI)."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _engine(url: str | None) -> sa.Engine:
    """The leadscore database, its tables made or migrated by ``pipeline.store`` (revision 0002 creates them)."""
    return io.migrated_engine(url)


def _user(row) -> User:
    stamp = hashlib.sha256(f"{row.id}:{row.password_hash}".encode()).hexdigest()[:32]
    return User(id=row.id, name=row.name, team=row.team, role=row.role, owner_id=row.owner_id,
                created_at=row.created_at, session_stamp=stamp)


def _password_ok(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return password


def add_user(name: str, *, team: str, role: str = "member", password: str | None = None,
             owner_id: str | None = None, url: str | None = None) -> tuple[User, str]:
    """Add a user; returns the user and the password (the one given, or a new random one to show once)."""
    name = name.strip()
    if not name:
        raise UserError("a user needs a name")
    if team not in TEAMS:
        raise UserError(f"team must be one of {', '.join(TEAMS)}, not {team!r}")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    password = _password_ok(secrets.token_urlsafe(12) if password is None else password)
    eng = _engine(url)
    try:
        with eng.begin() as conn:
            taken = conn.execute(sa.select(users_table.c.name).where(
                users_table.c.name_key == name.lower())).scalar()
            if taken is not None:
                raise UserError(f"a user named {taken!r} exists already")
            conn.execute(users_table.insert().values(
                name=name, name_key=name.lower(), team=team, role=role, owner_id=(owner_id or None),
                password_hash=_hasher.hash(password), created_at=_now()))
            row = conn.execute(sa.select(users_table).where(users_table.c.name_key == name.lower())).one()
    finally:
        eng.dispose()
    return _user(row), password


def _row(name: str, url: str | None):
    eng = _engine(url)
    try:
        with eng.connect() as conn:
            return conn.execute(sa.select(users_table).where(users_table.c.name_key == name.strip().lower())).first()
    finally:
        eng.dispose()


def get_user(name: str, *, url: str | None = None) -> User | None:
    row = _row(name, url)
    return _user(row) if row is not None else None


def list_users(*, url: str | None = None) -> list[User]:
    eng = _engine(url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(sa.select(users_table).order_by(users_table.c.team, users_table.c.name_key)).all()
    finally:
        eng.dispose()
    return [_user(r) for r in rows]


def authenticate(name: str, password: str, *, url: str | None = None) -> User | None:
    """The user if ``password`` is theirs, else None (an unknown name takes as long as a wrong password)."""
    row = _row(name, url)
    try:
        _hasher.verify(row.password_hash if row is not None else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return _user(row) if row is not None else None


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(name: str, *, url: str | None = None) -> str:
    """A new API token for ``name`` (shown once; only its hash is kept)."""
    user = get_user(name, url=url)
    if user is None:
        raise UserError(f"no user named {name!r} (add one with `leadscore user add`)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    eng = _engine(url)
    try:
        with eng.begin() as conn:
            conn.execute(tokens_table.insert().values(user_id=user.id, token_sha256=_token_digest(token),
                                                      created_at=_now()))
    finally:
        eng.dispose()
    return token


def user_for_token(token: str, *, url: str | None = None, engine: sa.Engine | None = None) -> User | None:
    """The user an API token belongs to (None: no such token). ``engine``: one a server keeps on the leadscore
    database for its life (its connection pool), so a request does not open and migrate-check the database."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    eng = engine if engine is not None else _engine(url)
    try:
        with eng.connect() as conn:
            row = conn.execute(
                sa.select(users_table).join(tokens_table, tokens_table.c.user_id == users_table.c.id)
                .where(tokens_table.c.token_sha256 == _token_digest(token))).first()
    finally:
        if engine is None:
            eng.dispose()
    return _user(row) if row is not None else None


def _existing(conn, name: str):
    row = conn.execute(sa.select(users_table).where(users_table.c.name_key == name.strip().lower())).first()
    if row is None:
        raise UserError(f"no user named {name!r} (`leadscore user list` shows who there is)")
    return row


def set_password(name: str, password: str | None = None, *, url: str | None = None) -> tuple[User, str]:
    """A new password for ``name`` (the one given, or a new random one to show once). Every session signed in with
    the old one ends: the session stamp follows the password hash."""
    password = _password_ok(secrets.token_urlsafe(12) if password is None else password)
    eng = _engine(url)
    try:
        with eng.begin() as conn:
            row = _existing(conn, name)
            conn.execute(users_table.update().where(users_table.c.id == row.id).values(
                password_hash=_hasher.hash(password)))
            row = conn.execute(sa.select(users_table).where(users_table.c.id == row.id)).one()
    finally:
        eng.dispose()
    return _user(row), password


def revoke_tokens(name: str, *, url: str | None = None) -> int:
    """Delete every API token of ``name``; returns how many there were."""
    eng = _engine(url)
    try:
        with eng.begin() as conn:
            row = _existing(conn, name)
            return conn.execute(tokens_table.delete().where(tokens_table.c.user_id == row.id)).rowcount
    finally:
        eng.dispose()


def remove_user(name: str, *, url: str | None = None) -> User:
    """Remove ``name`` and their API tokens: their sessions and tokens stop working at the next request. Their
    approvals and promotions stay on record under their name (the sign-off history is not rewritten)."""
    eng = _engine(url)
    try:
        with eng.begin() as conn:
            row = _existing(conn, name)
            conn.execute(tokens_table.delete().where(tokens_table.c.user_id == row.id))
            conn.execute(users_table.delete().where(users_table.c.id == row.id))
    finally:
        eng.dispose()
    return _user(row)
