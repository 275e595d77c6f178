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

MAX_BATCH = 64
MAX_REQUEST_BYTES = 8 * 1024 * 1024  # a whole request, batch included: far below 64 single-image limits
MAX_REQUEST_PIXELS = 50_000_000  # the declared pixels of all images of a request (two phone photos)
MAX_QUEUE = 64  # image tasks waiting for a thread, beyond which requests get 503
TIME_LIMIT_SECONDS = 10.0
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@dataclass(frozen=True)
class ServeConfig:
    """What the app serves and its limits.

    ``threads`` are ONNX Runtime's inference threads; ``image_threads`` decode and prepare uploads (default:
    one per core), with room for ``max_queue`` more tasks waiting; ``time_limit`` bounds one request's
    image work. ``max_bytes``/``max_pixels`` bound one image, ``max_request_bytes``/``max_request_pixels``
    a whole request, batch included. ``batching`` lets requests that arrive together share a model call.
    ``feedback`` is where corrections are stored (a directory or a postgresql:// URL; None: not at all),
    up to ``feedback_max`` of them, with their original uploads unless ``feedback_uploads`` is off.
    """

    run: Path
    engine: str = "auto"
    threads: int = 1
    image_threads: int = field(default_factory=lambda: ServeConfig.default_image_threads())
    max_queue: int = MAX_QUEUE
    time_limit: float = TIME_LIMIT_SECONDS
    max_bytes: int = MAX_IMAGE_BYTES
    max_pixels: int = MAX_IMAGE_PIXELS
    max_request_bytes: int = MAX_REQUEST_BYTES
    max_request_pixels: int = MAX_REQUEST_PIXELS
    max_batch: int = MAX_BATCH
    batching: bool = True
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    feedback: str | None = None
    feedback_max: int = FEEDBACK_MAX
    feedback_uploads: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "run", Path(self.run))
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
        if self.feedback is not None:
            object.__setattr__(self, "feedback", os.fspath(self.feedback))
        if self.engine not in ENGINES:
            raise InvalidArgument(f"unknown engine {self.engine!r}; choose one of: {', '.join(ENGINES)}")
        for name in ("threads", "image_threads", "max_bytes", "max_pixels", "max_request_bytes",
                     "max_request_pixels", "max_batch", "feedback_max"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidArgument(f"{name} must be a whole number >= 1, got {value!r}")
        if not isinstance(self.max_queue, int) or self.max_queue < 0:
            raise InvalidArgument(f"max_queue must be a whole number >= 0, got {self.max_queue!r}")
        if not isinstance(self.time_limit, int | float) or not self.time_limit > 0:
            raise InvalidArgument(f"time_limit must be a number of seconds > 0, got {self.time_limit!r}")

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
    """Where and how uvicorn listens: address, worker processes, logging."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "warning"
    access_log: bool = False
