"""``digitlab export``, ``app`` and ``serve``: a run as ONNX, as an on-device app, as a REST API."""

from __future__ import annotations

import argparse
from pathlib import Path

from digitlab.cli.common import EXIT_OK, new_command, positive_float, print_record, whole
from digitlab.inference.export import export_onnx
from digitlab.inference.predictor import ENGINES
from digitlab.inference.shipped import run_or_shipped
from digitlab.reading.imaging import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS
from digitlab.serving.config import (
    FEEDBACK_MAX,
    FEEDBACK_QUOTA,
    FEEDBACK_RATE,
    LOCAL_HOSTS,
    LOG_LEVELS,
    MAX_BATCH,
    MAX_QUEUE,
    MAX_REQUEST_BYTES,
    MAX_REQUEST_PIXELS,
    TIME_LIMIT_SECONDS,
    ServeConfig,
    ServerOptions,
)
from digitlab.serving.offline_app import build_app
from digitlab.serving.server import serve


def add_export(commands) -> None:
    new_command(commands, "export", command_export, run="run directory", json="print what was checked as JSON")


def command_export(arguments: argparse.Namespace) -> int:
    """export a run's model to ONNX (model.onnx), checked against Keras

    Write RUN/model.onnx with Keras' ONNX export, check that ONNX Runtime reproduces the Keras outputs on 1,000
    test images within 1e-4, and record its SHA-256. ONNX serves without TensorFlow and is the format for mobile
    (ONNX Runtime Mobile), browsers (onnxruntime-web) and other languages.
    """
    record = export_onnx(arguments.run)
    return print_record(arguments.json, record, lambda: (
        f"Wrote {Path(arguments.run) / record['file']} ({record['bytes'] / 1e6:.2f} MB) in "
        f"{record['export_seconds']:.1f} s; ONNX Runtime matches Keras on {record['checked_images']} test "
        f"images within {record['max_abs_difference']:.1e}"))


def add_app(commands) -> None:
    app = new_command(commands, "app", command_app, run="an exported run directory", shipped=True,
                      json="print what was built as JSON")
    app.add_argument("--out", default="app", metavar="DIR", help="where to build it (default: %(default)s)")
    app.add_argument("--overwrite", action="store_true", help="replace --out if it exists")


def command_app(arguments: argparse.Namespace) -> int:
    """build the on-device app: a PWA that reads digits in the browser, offline

    Write into --out a static web app (HTML, CSS, JS, the run's model.onnx and ONNX Runtime Web's wasm) that
    reads drawn or photographed digits entirely in the browser, with the same preprocessing as the server. It
    installs on phones as a PWA and works offline after one visit. The run must be exported.
    """
    summary = build_app(run_or_shipped(arguments.run), arguments.out, overwrite=arguments.overwrite)
    return print_record(arguments.json, summary, lambda: (
        f"Built the app for {summary['model']['run']} ({summary['model']['model']}) in {summary['directory']}: "
        f"{summary['files']} files, {summary['bytes'] / 1e6:.1f} MB. Serve it over HTTPS (or from localhost) "
        "and open it on a phone; after one visit it works offline. `digitlab serve` also serves it at /app/."))


def _store_location(store: str | None) -> str | None:
    """A store directory made absolute (workers may start elsewhere); a URL as given."""
    return store if store is None or "://" in store else str(Path(store).resolve())


# The size limits of serve: option, default, what it bounds.
LIMITS = (
    ("--max-bytes", MAX_IMAGE_BYTES, "largest image file accepted, in bytes"),
    ("--max-pixels", MAX_IMAGE_PIXELS, "largest image accepted, in decoded pixels"),
    ("--max-batch", MAX_BATCH, "most images in one batch request"),
    ("--max-request-bytes", MAX_REQUEST_BYTES, "largest request body, batch included, in bytes"),
    ("--max-request-pixels", MAX_REQUEST_PIXELS, "most pixels the images of one request may declare, batch included"),
)


def add_serve(commands) -> None:
    serve = new_command(commands, "serve", command_serve, run="run directory (export it first for the fastest answers)",
                        shipped=True)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, this machine only)")
    serve.add_argument("--port", type=whole(0), default=8000, help="(default: %(default)s)")
    serve.add_argument("--workers", type=whole(1), default=1, help="worker processes (default: 1)")
    serve.add_argument("--engine", choices=ENGINES, default=ENGINES[0],
                       help="auto: ONNX Runtime when the run was exported, else Keras (default: %(default)s)")
    serve.add_argument("--threads", type=whole(1), default=1,
                       help="ONNX Runtime threads per model call (default: %(default)s)")
    serve.add_argument("--image-threads", type=whole(1), metavar="N",
                       help="threads per worker that decode and prepare uploads (default: one per core)")
    serve.add_argument("--max-queue", type=whole(0), default=MAX_QUEUE, metavar="N",
                       help="image tasks that may wait for a thread; beyond them requests get 503 with "
                       "Retry-After (default: %(default)s)")
    serve.add_argument("--time-limit", type=positive_float, default=TIME_LIMIT_SECONDS, metavar="SECONDS",
                       help="longest one request's image work may take (default: %(default)s)")
    serve.add_argument("--no-batching", action="store_true",
                       help="one model call per request, instead of sharing a call among requests that arrive "
                       "together (for comparison)")
    for option, default, what in LIMITS:
        serve.add_argument(option, type=whole(1), default=default, metavar="N", help=f"{what} (default: %(default)s)")
    serve.add_argument("--cors-origin", action="append", metavar="ORIGIN",
                       help="allow browser calls from ORIGIN (repeatable); no CORS unless given")
    serve.add_argument("--feedback", metavar="STORE",
                       help="store corrections sent to POST /v1/feedback in STORE: a directory (SQLite, made if "
                       "missing) or a postgresql:// URL; without it, corrections are refused and nothing is stored")
    serve.add_argument("--feedback-max", type=whole(1), default=FEEDBACK_MAX, metavar="N",
                       help="most corrections the store takes (default: %(default)s)")
    serve.add_argument("--feedback-no-uploads", action="store_true",
                       help="keep only the 28x28 inputs of a correction, not the uploaded image (kept up to 1 MB, "
                       "its EXIF and other metadata stripped)")
    serve.add_argument("--feedback-timeout", type=positive_float, default=10.0, metavar="SECONDS",
                       help="longest a correction waits on a slow, locked or unreachable store before its 503 "
                       "(default: %(default)s)")
    serve.add_argument("--open-feedback", action="store_true",
                       help="take corrections without a token (a demo on your own machine); they still wait for a "
                       "reviewer. Without it, writing needs a writer's token (digitlab tokens add)")
    serve.add_argument("--feedback-rate", type=whole(1), default=FEEDBACK_RATE, metavar="N",
                       help="corrections a minute per sender, per worker, on average (default: %(default)s)")
    serve.add_argument("--feedback-quota", type=whole(1), default=FEEDBACK_QUOTA, metavar="N",
                       help="corrections of one sender that may wait for review (default: %(default)s)")
    serve.add_argument("--queue-unsure", action="store_true",
                       help="readings /v1/predict and /v1/read withhold as not sure enter the review queue too "
                       "(sender 'unsure', the likeliest digits proposed), so that a person reads them; needs "
                       "--feedback")
    serve.add_argument("--allowed-host", action="append", metavar="NAME",
                       help="a Host name to answer besides localhost, 127.0.0.1, ::1 and --host (repeatable; '*': "
                       "any, behind a proxy that checks it)")
    serve.add_argument("--header-timeout", type=positive_float, default=10.0, metavar="SECONDS",
                       help="close a connection whose request headers take longer (default: %(default)s)")
    serve.add_argument("--body-timeout", type=positive_float, default=30.0, metavar="SECONDS",
                       help="close a connection whose request body takes longer after its headers "
                       "(default: %(default)s)")
    serve.add_argument("--max-connections", type=whole(1), default=512, metavar="N",
                       help="connections and requests one worker takes at once; more are answered 503 "
                       "(default: %(default)s)")
    serve.add_argument("--log-level", default="warning", choices=LOG_LEVELS, help="(default: %(default)s)")
    serve.add_argument("--access-log", action="store_true", help="log every request")


def allowed_hosts(bound: str, extra: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The Host names served: this machine's, the address bound (unless it is every address) and ``extra``."""
    named = () if bound in ("0.0.0.0", "::", "") else (bound,)
    return tuple(dict.fromkeys((*LOCAL_HOSTS, *named, *extra)))


def command_serve(arguments: argparse.Namespace) -> int:
    """REST API and a drawing web page for a run

    Serve RUN over HTTP: POST /v1/predict, POST /v1/predict/batch, POST /v1/read, GET /v1/model, GET /healthz,
    the OpenAPI schema at /openapi.json, docs at /docs, and a page at / to draw digits on. With --feedback,
    POST /v1/feedback takes corrections from writers' tokens (or anyone, with --open-feedback) into a review
    queue that reviewers' tokens read and decide on (GET/POST /v1/review, or digitlab feedback STORE --approve).
    Only the Host names given are answered, and writes from other sites are refused.
    """
    config = ServeConfig(run=run_or_shipped(arguments.run).resolve(), engine=arguments.engine,
                         threads=arguments.threads,
                         image_threads=arguments.image_threads or ServeConfig.default_image_threads(),
                         max_queue=arguments.max_queue, time_limit=arguments.time_limit,
                         max_bytes=arguments.max_bytes, max_pixels=arguments.max_pixels,
                         max_request_bytes=arguments.max_request_bytes, max_request_pixels=arguments.max_request_pixels,
                         max_batch=arguments.max_batch, batching=not arguments.no_batching,
                         cors_origins=tuple(arguments.cors_origin or ()), feedback=_store_location(arguments.feedback),
                         feedback_max=arguments.feedback_max, feedback_uploads=not arguments.feedback_no_uploads,
                         open_feedback=arguments.open_feedback, feedback_rate=arguments.feedback_rate,
                         feedback_timeout=arguments.feedback_timeout,
                         feedback_quota=arguments.feedback_quota, queue_unsure=arguments.queue_unsure,
                         allowed_hosts=allowed_hosts(arguments.host, arguments.allowed_host or ()))
    options = ServerOptions(host=arguments.host, port=arguments.port, workers=arguments.workers,
                            header_timeout=arguments.header_timeout, body_timeout=arguments.body_timeout,
                            limit_concurrency=arguments.max_connections,
                            log_level=arguments.log_level, access_log=arguments.access_log)
    feedback = "" if not arguments.feedback else (
        "; corrections from anyone, into the review queue at /review" if arguments.open_feedback else
        f"; corrections need a writer's token (digitlab tokens add NAME --store {arguments.feedback}), "
        "reviewed at /review")
    serve(config, options, on_ready=lambda: print(
        f"Serving {arguments.run or 'the shipped model'} at http://{arguments.host}:{arguments.port}/ "
        f"(API docs at /docs{feedback}); Ctrl-C stops",
        flush=True))
    return EXIT_OK
