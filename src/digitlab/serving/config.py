"""How ``digitlab serve`` and ``create_app`` are configured: one typed, picklable value, handed from
the command line to every worker process as it is (no environment variables in between)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from digitlab.errors import InvalidArgument
from digitlab.reading.imaging import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS
from digitlab.reading.inference import ENGINES

MAX_BATCH = 64
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@dataclass(frozen=True)
class ServeConfig:
    """What the app serves and its limits; ``threads`` are ONNX Runtime's inference threads per worker."""

    run: Path
    engine: str = "auto"
    threads: int = 1
    max_bytes: int = MAX_IMAGE_BYTES
    max_pixels: int = MAX_IMAGE_PIXELS
    max_batch: int = MAX_BATCH
    cors_origins: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "run", Path(self.run))
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
        if self.engine not in ENGINES:
            raise InvalidArgument(f"unknown engine {self.engine!r}; choose one of: {', '.join(ENGINES)}")
        for name in ("threads", "max_bytes", "max_pixels", "max_batch"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidArgument(f"{name} must be a whole number >= 1, got {value!r}")


@dataclass(frozen=True)
class ServerOptions:
    """Where and how uvicorn listens: address, worker processes, logging."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "warning"
    access_log: bool = False
