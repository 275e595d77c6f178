"""How ``digitlab serve`` and ``create_app`` are configured: one typed, picklable value, handed from
the command line to every worker process as it is (no environment variables in between)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digitlab.errors import InvalidArgument
from digitlab.feedback.store import MAX_RECORDS as FEEDBACK_MAX
from digitlab.inference.predictor import ENGINES
from digitlab.reading.imaging import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS
from digitlab.rules import Rule, check_fields, setting

MAX_BATCH = 64
MAX_REQUEST_BYTES = 8 * 1024 * 1024  # a whole request, batch included: far below 64 single-image limits
MAX_REQUEST_PIXELS = 50_000_000  # the declared pixels of all images of a request (two phone photos)
MAX_QUEUE = 64  # image tasks waiting for a thread, beyond which requests get 503
TIME_LIMIT_SECONDS = 10.0
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")  # the Host names a server answers by default
FEEDBACK_RATE = 30  # corrections a minute per sender, on average
FEEDBACK_BURST = 20  # ... and at once
FEEDBACK_QUOTA = 1000  # corrections of one sender waiting for review
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@dataclass(frozen=True)
class ServeConfig:
    """What the app serves and its limits.

    ``threads`` are ONNX Runtime's inference threads; ``image_threads`` decode and prepare uploads (default:
    one per core), with room for ``max_queue`` more tasks waiting; ``time_limit`` bounds one request's
    image work. ``max_bytes``/``max_pixels`` bound one image, ``max_request_bytes``/``max_request_pixels``
    a whole request, batch included. ``batching`` lets requests that arrive together share a model call.
    ``feedback`` is where corrections are stored (a directory or a postgresql:// URL; None: not at all),
    up to ``feedback_max`` of them, with their original uploads unless ``feedback_uploads`` is off; writing
    them needs a writer's token unless ``open_feedback`` (a demo on one's own machine), within
    ``feedback_rate`` a minute (bursts of ``feedback_burst``) and ``feedback_quota`` waiting for review per
    sender (serving/access.py). With ``queue_unsure`` the readings /v1/predict and /v1/read withhold as
    "unsure" enter the review queue too (as sender "unsure", the model's likeliest digits as the proposed
    label; a number only when none of its pieces is "not a digit"), so that a person reads them. Requests
    whose Host is not in ``allowed_hosts`` ("*": any) are refused
    (DNS rebinding), as are POSTs from other sites than the page's own and ``cors_origins``.
    """

    run: Path
    engine: str = setting("auto", Rule(str, "inference engine", choices=ENGINES))
    threads: int = setting(1, Rule(int, "ONNX Runtime threads per model call", low=1))
    image_threads: int = field(default_factory=lambda: ServeConfig.default_image_threads(),
                               metadata={"rule": Rule(int, "threads that decode and prepare uploads", low=1)})
    max_queue: int = setting(MAX_QUEUE, Rule(int, "image tasks that may wait for a thread", low=0))
    time_limit: float = setting(TIME_LIMIT_SECONDS, Rule(float, "seconds one request's image work may take",
                                                         low=0, low_open=True))
    max_bytes: int = setting(MAX_IMAGE_BYTES, Rule(int, "largest image file, in bytes", low=1))
    max_pixels: int = setting(MAX_IMAGE_PIXELS, Rule(int, "largest image, in decoded pixels", low=1))
    max_request_bytes: int = setting(MAX_REQUEST_BYTES, Rule(int, "largest request body, in bytes", low=1))
    max_request_pixels: int = setting(MAX_REQUEST_PIXELS, Rule(int, "most declared pixels of one request", low=1))
    max_batch: int = setting(MAX_BATCH, Rule(int, "most images in one batch request", low=1))
    batching: bool = setting(True, Rule(bool, "requests that arrive together share a model call"))
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    feedback: str | None = None
    feedback_max: int = setting(FEEDBACK_MAX, Rule(int, "most corrections the store takes", low=1))
    feedback_uploads: bool = setting(True, Rule(bool, "keep the uploaded image of a correction"))
    open_feedback: bool = setting(False, Rule(bool, "corrections need no token"))
    feedback_timeout: float = setting(10.0, Rule(float, "seconds a correction may wait on the store", low=0,
                                                 low_open=True))
    feedback_rate: int = setting(FEEDBACK_RATE, Rule(int, "corrections a minute per sender", low=1))
    feedback_burst: int = setting(FEEDBACK_BURST, Rule(int, "corrections at once per sender", low=1))
    feedback_quota: int = setting(FEEDBACK_QUOTA, Rule(int, "corrections waiting for review per sender", low=1))
    queue_unsure: bool = setting(False, Rule(bool, "readings withheld as not sure wait for a reviewer"))
    allowed_hosts: tuple[str, ...] = LOCAL_HOSTS

    def __post_init__(self) -> None:
        object.__setattr__(self, "run", Path(self.run))
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
        object.__setattr__(self, "allowed_hosts", tuple(host.lower().strip("[]") for host in self.allowed_hosts))
        if self.feedback is not None:
            object.__setattr__(self, "feedback", os.fspath(self.feedback))
        check_fields(self)
        if self.queue_unsure and self.feedback is None:
            raise InvalidArgument("queue_unsure needs a corrections store (feedback) to queue the readings in")

    @staticmethod
    def default_image_threads() -> int:
        """One image thread per core this process may run on."""
        return len(os.sched_getaffinity(0))

    def limits(self) -> dict[str, Any]:
        """What /v1/model reports of the limits."""
        return {"max_bytes": self.max_bytes, "max_pixels": self.max_pixels, "max_batch": self.max_batch,
                "max_request_bytes": self.max_request_bytes, "max_request_pixels": self.max_request_pixels,
                "time_limit_seconds": self.time_limit}


@dataclass(frozen=True)
class ServerOptions:
    """Where and how uvicorn listens: address, worker processes, logging, and what bounds connections:
    at most ``limit_concurrency`` connections and tasks per worker (more are answered 503), idle keep-alive
    connections closed after ``keep_alive`` seconds, slow requests per serving/protocol.py, and a shutdown
    that waits ``graceful_shutdown`` seconds for requests in flight, not for ever."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "warning"
    access_log: bool = False
    limit_concurrency: int = 512
    keep_alive: float = 5.0
    graceful_shutdown: float = 10.0
    header_timeout: float = 10.0
    body_timeout: float = 30.0
