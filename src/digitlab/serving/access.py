"""Who may write corrections and review them on a running server, and how much.

Writing needs a writer's (or a reviewer's) bearer token, unless the operator started the server with
--open-feedback for a demo on their own machine, where corrections are written as "open"; reviewing always
needs a reviewer's token. Each sender has a rate (a token bucket: ``feedback_rate`` corrections a minute,
bursts of up to ``feedback_burst``) and a quota of corrections waiting for review (``feedback_quota``); past
either the answer is 429 with Retry-After. Limits are kept per worker process.
"""

from __future__ import annotations

import math
import threading
import time

from digitlab.feedback.store import OPEN_WRITER, UNSURE_SENDER, FeedbackStore
from digitlab.feedback.tokens import TokenCheck
from digitlab.serving.errors import RequestError

QUOTA_RETRY_SECONDS = 3600  # a sender over quota waits for a review, not for a clock


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def need_token(role: str) -> RequestError:
    return RequestError(401, "token_required", f"this needs a {role}'s token: send Authorization: Bearer TOKEN "
                        "(digitlab tokens add NAME --role ROLE --store STORE makes one)",
                        {"WWW-Authenticate": 'Bearer realm="digitlab"'})


class RateLimit:
    """A token bucket per sender: ``per_minute`` a minute on average, up to ``burst`` at once."""

    def __init__(self, per_minute: float, burst: int):
        self.rate, self.burst = per_minute / 60.0, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def wait(self, sender: str) -> float:
        """0 when ``sender`` may go now (and one is taken), else the seconds until it may."""
        now = time.monotonic()
        with self._lock:
            level, then = self._buckets.get(sender, (float(self.burst), now))
            level = min(float(self.burst), level + (now - then) * self.rate)
            if level >= 1.0:
                self._buckets[sender] = (level - 1.0, now)
                return 0.0
            self._buckets[sender] = (level, now)
            return (1.0 - level) / self.rate


class Access:
    """A worker's gate for corrections and reviews."""

    def __init__(self, store: FeedbackStore, *, open_feedback: bool, per_minute: float, burst: int, quota: int):
        self.store, self.open_feedback, self.quota = store, open_feedback, quota
        self.tokens = TokenCheck(store)
        self.rate = RateLimit(per_minute, burst)

    def sender(self, token: str | None, role: str) -> str:
        """The name a request writes (role "writer") or reviews (role "reviewer") under, or the 401/403/429
        that says why it may not. Runs on a pool thread: it may ask the store."""
        if token is None:
            if role == "writer" and self.open_feedback:
                name = OPEN_WRITER
            else:
                raise need_token(role)
        else:
            found = self.tokens(token)
            if found is None or not found.active:
                raise RequestError(401, "bad_token", "this token is unknown or revoked",
                                   {"WWW-Authenticate": 'Bearer realm="digitlab", error="invalid_token"'})
            if not found.may(role):
                raise RequestError(403, "forbidden", f"token {found.name!r} is a {found.role}'s; this needs a {role}'s")
            name = found.name
        if role == "writer":
            refused = self._over_limits(name)
            if refused is not None:
                raise refused
        return name

    def may_queue_unsure(self) -> bool:
        """Whether one more withheld reading may join the review queue: the "unsure" sender has a writer's rate
        and quota, so that a flood of unclear images cannot bury the reviewers."""
        return self._over_limits(UNSURE_SENDER) is None

    def _over_limits(self, name: str) -> RequestError | None:
        wait = self.rate.wait(name)
        if wait > 0:
            return RequestError(429, "rate_limited", f"too many corrections from {name!r}; try again in "
                                f"{math.ceil(wait)} s", {"Retry-After": str(math.ceil(wait))})
        if self.store.count_by(name) >= self.quota:
            return RequestError(429, "quota", f"{name!r} has {self.quota} corrections waiting for review; more are "
                                "taken once a reviewer has decided on them", {"Retry-After": str(QUOTA_RETRY_SECONDS)})
        return None
