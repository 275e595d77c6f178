"""The REST API and the drawing page, as a FastAPI app around one run's Service.

    POST /v1/predict         one image: multipart upload (field "file"), or JSON {"pixels": 28x28 0-255}
                             or {"image_base64": "..."}; ?include_input=true adds the 28x28 the model saw,
                             ?explain=true its saliency maps (evidence for the digit and the runner-up)
    POST /v1/predict/batch   many: multipart (several "files"), or JSON {"items": [...]} (up to max_batch)
    POST /v1/feedback        a correction: the same bodies plus "label" ("7", "2026"), stored as pending
                             when the server was started with a feedback store (201 {"id"} once
                             committed); a writer's token (Authorization: Bearer) unless --open-feedback
    GET  /v1/review          the review queue; POST /v1/review approves, rejects, relabels (a reviewer's token)
    POST /v1/read            the whole number in one image (the same bodies as /v1/predict): every digit,
                             left to right, with its box, confidence and top 3 (?explain=true: each
                             digit's 28x28 input and saliency map)
    GET  /v1/model           run name, model, metrics, input spec
    GET  /healthz            liveness
    GET  /                   the drawing page (static files, no build step)
    GET  /app/               the on-device app (see offline_app.py): read in the browser, offline

The routes live in ``routes/`` (one router per concern), the schema in ``schema.py``, request parsing in
``parsing.py``, the work done off the event loop in ``answers.py`` and ``work.py``. Every bad request is a
4xx JSON error {"error": {"code", "message"}}, never a 500 (``errors.py``); unknown Host names and
cross-site writes are refused before anything else (``guard.py``); a server too busy to take more
image work answers 503 with Retry-After. Uploads are read into memory within the request's byte budget and
never touch the disk. The event loop only parses: decoding, imaging and the model run on threads, so one
phone photo never holds up the small requests around it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from fastapi.routing import APIRoute

from digitlab.serving.config import ServeConfig
from digitlab.serving.errors import HANDLED, add_error_handlers, error_response
from digitlab.serving.guard import Guard
from digitlab.serving.routes import feedback, health, images
from digitlab.serving.routes.pages import add_pages
from digitlab.serving.service import Service
from digitlab.version import __version__


class Shortcut:
    """Pure ASGI middleware that hands POSTs to the image endpoints straight to their handlers: the one
    place where a request steps outside the router.

    The request then skips the framework's per-request layers (exception middleware, router, endpoint
    wrapping), which cost more than parsing the request and running the model together
    (``benchmarks/loadtest.py``). The routes stay declared once, on their router: the handlers are taken
    from there, and the router still serves them for the schema and other methods.
    """

    def __init__(self, app, handlers: dict[str, Callable[[Request], Awaitable[Response]]]):
        self.app, self.handlers = app, handlers

    async def __call__(self, scope, receive, send) -> None:
        handler = self.handlers.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if handler is None:
            return await self.app(scope, receive, send)
        try:
            response = await handler(Request(scope, receive))
        except HANDLED as error:
            response = error_response(error)
        await response(scope, receive, send)


def hot_handlers() -> dict[str, Callable[[Request], Awaitable[Response]]]:
    """The handlers of images.HOT_PATHS, as their router declares them."""
    handlers = {route.path: route.endpoint for route in images.router.routes
                if isinstance(route, APIRoute) and route.path in images.HOT_PATHS and "POST" in route.methods}
    if set(handlers) != set(images.HOT_PATHS):
        raise RuntimeError(f"hot paths without a POST route: {set(images.HOT_PATHS) - set(handlers)}")
    return handlers


def create_app(config: ServeConfig) -> FastAPI:
    """The app for one run; the model is loaded once, here, with ``config.threads`` inference threads."""
    service = Service.open(config)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        service.close()

    # No OpenTelemetry: FastAPI's check for it costs more per request than parsing one (see Shortcut).
    app = FastAPI(title="digitlab", version=__version__, lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False},
                  description="Handwritten-digit recognition: send an image, get the digit and its probabilities.")
    app.state.service = service
    add_error_handlers(app)
    for router in (health.router, images.router, feedback.router):
        app.include_router(router)
    add_pages(app, service.predictor)
    app.add_middleware(Shortcut, handlers=hot_handlers())
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(Guard, allowed_hosts=config.allowed_hosts, trusted_origins=config.cors_origins)  # outermost
    return app
