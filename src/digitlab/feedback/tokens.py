"""Who may write corrections and who may review them: bearer tokens kept in the corrections store.

A token is 32 random bytes (``secrets.token_urlsafe``), shown once when it is made; the store keeps only
its SHA-256, so a copy of the database gives no one a working token. Writers send corrections; reviewers
also approve, reject and relabel them. A revoked token stops working at once for the CLI, and within
``TokenCheck.TTL`` seconds on a running server (which remembers recent answers so that a correction costs
no extra query).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass

from digitlab.errors import DigitlabError, InvalidArgument
from digitlab.feedback.store import RESERVED_SENDERS, FeedbackStore, utc_now

ROLES = ("writer", "reviewer")
TOKEN_ACTIONS = ("add", "list", "revoke")  # what ``digitlab tokens`` does
TOKEN_PREFIX = "dl_"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class Token:
    name: str
    role: str
    created_at: str
    revoked_at: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def may(self, role: str) -> bool:
        """A reviewer may also write; a writer may only write."""
        return self.active and (self.role == role or self.role == "reviewer")

    def to_json(self) -> dict:
        return {"name": self.name, "role": self.role, "created_at": self.created_at, "revoked_at": self.revoked_at}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_token(store: FeedbackStore, name: str, role: str) -> str:
    """A new token for ``name`` with ``role``: returned once, stored only as its hash."""
    import sqlalchemy as sa

    if not NAME_PATTERN.match(name or ""):
        raise InvalidArgument("a token's name is 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter "
                              "or digit")
    if name in RESERVED_SENDERS:
        raise InvalidArgument(f"{name!r} is what the server writes corrections under without a token; choose another "
                              "name")
    if role not in ROLES:
        raise InvalidArgument(f"unknown role {role!r}; choose one of: {', '.join(ROLES)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with store.engine.begin() as connection:
        if connection.execute(sa.select(store.tokens.c.name).where(store.tokens.c.name == name)).scalar():
            raise DigitlabError(f"a token named {name!r} exists already (revoke it, or choose another name)")
        connection.execute(store.tokens.insert().values(name=name, role=role, sha256=token_hash(token),
                                                        created_at=utc_now(), revoked_at=None))
    return token


def list_tokens(store: FeedbackStore) -> list[Token]:
    import sqlalchemy as sa

    with store.engine.connect() as connection:
        rows = connection.execute(sa.select(store.tokens).order_by(store.tokens.c.created_at)).all()
    return [Token(row.name, row.role, row.created_at, row.revoked_at) for row in rows]


def revoke_token(store: FeedbackStore, name: str) -> None:
    with store.engine.begin() as connection:
        changed = connection.execute(store.tokens.update().where(store.tokens.c.name == name,
                                                                 store.tokens.c.revoked_at.is_(None))
                                     .values(revoked_at=utc_now())).rowcount
    if not changed:
        raise DigitlabError(f"no active token named {name!r} in {store.safe_location}")


def find_token(store: FeedbackStore, token: str) -> Token | None:
    """The token whose hash this is, revoked or not; None for one the store never made."""
    import sqlalchemy as sa

    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = token_hash(token)
    with store.engine.connect() as connection:
        row = connection.execute(sa.select(store.tokens).where(store.tokens.c.sha256 == digest)).first()
    if row is None or not hmac.compare_digest(row.sha256, digest):
        return None
    return Token(row.name, row.role, row.created_at, row.revoked_at)


class TokenCheck:
    """A server's view of the tokens: answers remembered for TTL seconds, so that a burst of corrections
    costs one lookup and a revocation takes effect within TTL."""

    TTL = 5.0

    def __init__(self, store: FeedbackStore):
        self.store = store
        self._seen: dict[str, tuple[float, Token | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, token: str) -> Token | None:
        digest, now = token_hash(token), time.monotonic()
        with self._lock:
            seen = self._seen.get(digest)
        if seen is not None and now - seen[0] < self.TTL:
            return seen[1]
        found = find_token(self.store, token)
        with self._lock:
            if len(self._seen) > 10_000:  # guessed tokens must not grow it without bound
                self._seen.clear()
            self._seen[digest] = (now, found)
        return found


