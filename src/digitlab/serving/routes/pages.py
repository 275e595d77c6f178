"""The pages: the drawing page at / (static files, no build step) and the on-device app at /app/ (see
offline_app.py). They are files and mounts rather than API routes, so they are added to the app itself."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from digitlab.inference.predictor import Predictor
from digitlab.serving import offline_app
from digitlab.serving.errors import error_json
from digitlab.serving.front import WEB, page_html


def add_pages(app: FastAPI, predictor: Predictor) -> None:
    """The drawing page at / with its files under /static, the review queue at /review, and the on-device
    app at /app/."""
    page = page_html("server")

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    review = (WEB / "review.html").read_text()

    @app.get("/review", include_in_schema=False)
    async def review_page() -> HTMLResponse:
        """The review queue; it reads and decides through /v1/review with a reviewer's token."""
        return HTMLResponse(review)

    add_offline_app(app, predictor)
    app.mount("/static", StaticFiles(directory=WEB), name="static")


def add_offline_app(app: FastAPI, predictor: Predictor) -> None:
    """The on-device app at /app/, served from the package's files and the run's verified model.onnx; the
    two files it is told (model.json, precache.json) are made on first request. Without an exported run or
    the runtime files, /app/ says why in a 404."""
    run = predictor.run
    reason = offline_app.app_available(run)
    if reason is not None:
        @app.get("/app/", include_in_schema=False)
        async def no_app():
            return error_json(404, "no_app", f"the on-device app is not available: {reason}")
        return
    told: dict[str, Any] = {}

    def described() -> dict[str, Any]:
        if not told:
            files = offline_app.app_files(run)
            model = offline_app.model_json(run)
            precache = offline_app.precache_json(files, model)
            told.update(files=files, model=model, precache=precache,
                        worker=offline_app.service_worker(precache["version"]))
        return told

    @app.get("/app/model.json", include_in_schema=False)
    async def app_model() -> JSONResponse:
        return JSONResponse(described()["model"])

    @app.get("/app/precache.json", include_in_schema=False)
    async def app_precache() -> JSONResponse:
        return JSONResponse(described()["precache"], headers={"Cache-Control": "no-store"})

    @app.get("/app/sw.js", include_in_schema=False)
    async def app_worker() -> Response:
        return Response(described()["worker"], media_type="text/javascript", headers={"Cache-Control": "no-cache"})

    @app.get("/app/model.onnx", include_in_schema=False)
    async def app_onnx() -> FileResponse:
        return FileResponse(described()["files"]["model.onnx"], media_type="application/octet-stream")

    @app.get("/app/marks.onnx", include_in_schema=False)
    async def app_marks():
        path = described()["files"].get(offline_app.MARKS_FILE)
        if path is None:
            return error_json(404, "no_marks", "the run has no mark model; train one with: digitlab train-marks RUN")
        return FileResponse(path, media_type="application/octet-stream")

    page = page_html("device")

    async def app_page() -> HTMLResponse:
        return HTMLResponse(page)

    for path in ("/app/", f"/app/{offline_app.INDEX}"):
        app.add_api_route(path, app_page, include_in_schema=False)
    app.mount("/app", StaticFiles(directory=WEB), name="app")
