"""The workspace's secrets and guards: the cookie-signing key, CSRF tokens, and the sign-in rate limit."""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from collections import deque
from pathlib import Path

from starlette.datastructures import MutableHeaders

from pipeline import io

SECRET_ENV = "LEADSCORE_SECRET_KEY"
SECRET_FILE = ".leadscore-secret-key"
MIN_SECRET_LENGTH = 32


def secret_key() -> str:
    """The key that signs session cookies: ``$LEADSCORE_SECRET_KEY``, else the one kept in
    ``<project home>/.leadscore-secret-key`` (generated on first start with permissions 0600). A key shorter
    than 32 characters is refused: a guessable key lets anyone forge a session."""
    key = os.environ.get(SECRET_ENV, "").strip()
    if key:
        if len(key) < MIN_SECRET_LENGTH:
            raise ValueError(f"{SECRET_ENV} must be at least {MIN_SECRET_LENGTH} characters long "
                             "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')")
        return key
    return _key_file(io.at_home(SECRET_FILE))


def _key_file(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process wrote it first: read theirs
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48) + "\n")
    if path.stat().st_mode & 0o077:
        raise ValueError(f"{path} is readable by other users: chmod 600 it (it signs every session cookie)")
    key = path.read_text().strip()
    if len(key) < MIN_SECRET_LENGTH:
        raise ValueError(f"{path} holds a key shorter than {MIN_SECRET_LENGTH} characters: delete it to make a new one")
    return key


def csrf_token(session: dict) -> str:
    """The session's CSRF token (made on first use); every form posts it back."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_valid(session: dict, submitted: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and submitted) and hmac.compare_digest(str(expected), str(submitted))


class LoginLimiter:
    """Failed sign-ins counted per user name and per client address over a sliding window; past the limit, every
    attempt (a right password included) is refused until the oldest failure leaves the window. In memory: one
    server process, as ``leadscore serve`` runs it; a restart forgets the counts."""

    def __init__(self, *, per_user: int = 5, per_address: int = 20, window_seconds: float = 900.0,
                 clock=time.monotonic):
        self.limits = {"user": per_user, "address": per_address}
        self.window = window_seconds
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, name: str, address: str) -> list[tuple[str, str]]:
        return [("user", name.strip().lower()), ("address", address)]

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def retry_after(self, name: str, address: str) -> int:
        """Seconds until an attempt is allowed again (0: allowed now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in self._keys(name, address):
                failures = self._recent(key, now)
                if len(failures) >= self.limits[key[0]]:
                    wait = max(wait, failures[-self.limits[key[0]]] + self.window - now)
        return int(wait) + 1 if wait > 0 else 0

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key in self._keys(name, address):
                self._recent(key, now).append(now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(("user", name.strip().lower()), None)


class SecurityHeaders:
    """Every response's security headers (CSP, nosniff, referrer, no framing; ``no-store`` but for /health and
    /static). A plain ASGI middleware: Starlette's ``@app.middleware("http")`` runs each response through a task
    and a stream, a millisecond of every API call."""

    def __init__(self, app, *, csp: str, docs_csp: str):
        self.app, self.csp, self.docs_csp = app, csp, docs_csp

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = self.docs_csp if path == "/api/docs" else self.csp
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                headers["X-Frame-Options"] = "DENY"
                if path != "/health" and not path.startswith("/static"):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
