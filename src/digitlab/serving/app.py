"""The REST API and the drawing page, as a FastAPI app around one Predictor.

    POST /v1/predict         one image: multipart upload (field "file"), or JSON {"pixels": 28x28 0-255}
                             or {"image_base64": "..."}; ?include_input=true adds the 28x28 the model saw,
                             ?explain=true its saliency maps (evidence for the digit and the runner-up)
    POST /v1/predict/batch   many: multipart (several "files"), or JSON {"items": [...]} (up to max_batch)
    POST /v1/feedback        a correction: the same bodies plus "label" ("7", "2026"), stored when the
                             server was started with a feedback store (201 {"id"} once committed)
    POST /v1/read            the whole number in one image (the same bodies as /v1/predict): every digit,
                             left to right, with its box, confidence and top 3 (?explain=true: each
                             digit's 28x28 input and saliency map)
    GET  /v1/model           run name, model, metrics, input spec
    GET  /healthz            liveness
    GET  /                   the drawing page (static files, no build step)
    GET  /app/               the on-device app (see offline_app.py): read in the browser, offline

Every bad request is a 4xx JSON error {"error": {"code", "message"}}, never a 500; a server too busy
to take more image work answers 503 with Retry-After. Uploads are read into memory within the request's
byte budget and never touch the disk. The event loop only parses: decoding, imaging and the model run
on threads (see work.py), so one phone photo never holds up the small requests around it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import math
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartParser

from digitlab.errors import DigitlabError, InvalidArgument
from digitlab.feedback.store import FeedbackStore, StoreError, StoreFull, check_label, open_store
from digitlab.inference.explain import Explainer, rounded
from digitlab.inference.marks import mark_model_info
from digitlab.inference.predictor import Predictor
from digitlab.reading.imaging import ImageError, load_image, mnist_ready, open_image, to_mnist
from digitlab.reading.numbers import Reader
from digitlab.serving import offline_app
from digitlab.serving.config import MAX_BATCH, ServeConfig
from digitlab.serving.work import LARGE_UPLOAD_BYTES, Batcher, Overloaded, WorkPool
from digitlab.version import __version__

LOOP_JSON_BYTES = 64 * 1024  # JSON bodies larger than this are parsed on the pool, not the event loop

STATIC = Path(__file__).resolve().parent / "static"


class RequestError(Exception):
    """A client error with its HTTP status and a stable machine-readable code."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


_IMAGE_ERROR_STATUS = {"empty": 400, "too_large": 413, "unsupported_image": 415, "bad_image": 400, "no_digit": 422,
                       "bad_base64": 422, "too_many_marks": 422}


def _error_response(error: Exception) -> JSONResponse:
    """The 4xx/503 answer to an error a handler raised on purpose."""
    if isinstance(error, Overloaded):
        response = _error(503, "busy", str(error))
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    if isinstance(error, RequestError):
        return _error(error.status, error.code, error.message)
    return _error(422, "unprocessable", str(error))  # a DigitlabError


HANDLED = (RequestError, Overloaded, DigitlabError)


class Shortcut:
    """Pure ASGI middleware that hands POSTs to the image endpoints straight to their handlers.

    The request then skips the framework's per-request layers (exception middleware, router, endpoint
    wrapping), which cost more than parsing the request and running the model together; the routes stay
    declared on the app for the schema, for other methods, and as the same handlers' second way in.
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
            response = _error_response(error)
        await response(scope, receive, send)


def _image_error(error: ImageError) -> RequestError:
    return RequestError(_IMAGE_ERROR_STATUS.get(error.code, 400), error.code, str(error))


# ------------------------------------------------------------------------------------------------
# Request parsing


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise RequestError(413, "too_large", f"request body is over the {limit / 1e6:.1f} MB limit")
        except ValueError:
            raise RequestError(400, "bad_request", "invalid Content-Length header") from None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, "too_large", f"request body is over the {limit / 1e6:.1f} MB limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _pixels_to_image(pixels: Any) -> np.ndarray:
    try:
        array = np.asarray(pixels, dtype=np.float32)
    except (TypeError, ValueError):
        raise RequestError(422, "bad_pixels", "pixels must be a 28x28 array of numbers 0-255") from None
    if array.shape != (28, 28):
        raise RequestError(422, "bad_pixels", f"pixels must be a 28x28 array, got shape {list(array.shape)}")
    if not (array.min() >= 0 and array.max() <= 255):  # NaN fails both comparisons, infinities one
        raise RequestError(422, "bad_pixels", "pixel values must be numbers in 0..255")
    return array


class InMemoryMultiPartParser(MultiPartParser):
    """Starlette's parser, keeping uploads in memory instead of spooling them to disk; the body it parses
    has already been capped at the request's byte budget, so memory stays bounded."""

    spool_max_size = sys.maxsize


# An item of a request, as parsed on the event loop: a 28x28 input ready for the model, or work for the
# pool (pixels that need imaging, an image file's bytes, or base64 text of one).
Item = np.ndarray | bytes | str


def _item_from_json(item: Any, config: ServeConfig) -> Item:
    """One JSON item ({"pixels": ...} or {"image_base64": ...}), checked but not yet decoded."""
    if not isinstance(item, dict) or len({"pixels", "image_base64"} & set(item)) != 1:
        raise RequestError(422, "bad_json", 'expected an object with exactly one of "pixels" or "image_base64"')
    if "pixels" in item:
        pixels = _pixels_to_image(item["pixels"])
        ready = mnist_ready(pixels)
        return pixels if ready is None else ready
    encoded = item["image_base64"]
    if not isinstance(encoded, str):
        raise RequestError(422, "bad_json", "image_base64 must be a string")
    if encoded.startswith("data:"):
        encoded = encoded.partition(",")[2]
    if len(encoded) > config.max_bytes * 4 // 3 + 4:
        raise RequestError(413, "too_large", f"image is over the {config.max_bytes / 1e6:.1f} MB limit")
    return encoded


def _base64_bytes(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError("image_base64 is not valid base64", "bad_base64") from None


def decode_items(items: list[Item], config: ServeConfig) -> list[Image.Image | np.ndarray]:
    """A request's items as images (on a pool thread): base64 decoded, the request's pixel budget checked
    on the files' declared sizes before any is decoded, then decoded."""
    files = [_base64_bytes(item) if isinstance(item, str) else item for item in items]
    opened = [open_image(item, max_bytes=config.max_bytes, max_pixels=config.max_pixels)
              if isinstance(item, bytes) else item for item in files]  # headers only, so far
    declared = sum(math.prod(image.size) for image in opened if not isinstance(image, np.ndarray))
    if declared > config.max_request_pixels:
        raise ImageError(f"the request's images hold {declared:,} pixels, over the request's "
                         f"{config.max_request_pixels:,}-pixel budget", "too_large")
    return [image if isinstance(image, np.ndarray) else load_image(image) for image in opened]


def prepare_items(items: list[Item], config: ServeConfig) -> list[np.ndarray]:
    """The 28x28 inputs of a request's items (on a pool thread): decoded, then imaging."""
    return [to_mnist(image).image for image in decode_items(items, config)]


def read_item(item: Item, config: ServeConfig, reader: Reader, explainer: Explainer | None = None) -> dict:
    """The number one item shows (on a pool thread: decoding, finding the digits and their model call);
    with an ``explainer``, each digit also gets its 28x28 input and saliency map."""
    reading = reader.read(decode_items([item], config)[0])
    answer = reading.to_json()
    if explainer is not None:
        explanations = explainer.explain(np.stack([digit.input for digit in reading.digits]))
        for entry, explanation in zip(answer["digits"], explanations, strict=True):
            entry["input"] = explanation.input.astype(int).tolist()
            entry["saliency"] = rounded(explanation.saliency)
    return answer


def _text_field(fields: dict[str, Any], name: str, longest: int) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > longest:
        raise RequestError(422, f"bad_{name}", f"{name} must be text of at most {longest} characters")
    return value


def store_correction(item: Item, fields: dict[str, Any], config: ServeConfig, reader: Reader, store: FeedbackStore,
                     model_sha256: str | None) -> tuple[str, bool]:
    """Store one correction (on a pool thread): the inputs the model saw, one per digit of the label (a
    one-digit label: the input /v1/predict sees; longer: the digits the number reader finds, as many as
    the label has), the model's reading of them, and the upload itself when it is a file of modest size."""
    if "label" not in fields:
        raise RequestError(422, "no_label", 'the correction needs a "label": the digits the image shows')
    try:
        label = check_label(fields["label"])
    except InvalidArgument as error:
        raise RequestError(422, "bad_label", str(error)) from None
    reported = _text_field(fields, "prediction", 80)
    client_id = _text_field(fields, "client_id", 128)
    if isinstance(item, str):
        item = _base64_bytes(item)  # once: the image below and the upload kept with the correction
    (image,) = decode_items([item], config)
    if len(label) == 1:
        inputs = to_mnist(image).image[None]
        prediction = str(reader.predictor.predict_batch(inputs).digits[0])
    else:
        reading = reader.read(image)
        if len(reading.digits) != len(label):
            raise RequestError(422, "label_mismatch", f"the label has {len(label)} digits but {len(reading.digits)} "
                               f"were found in the image (read as {reading.number})")
        inputs, prediction = np.stack([digit.input for digit in reading.digits]), reading.number
    upload = item if config.feedback_uploads and isinstance(item, bytes) else None
    try:
        return store.add(label=label, inputs=inputs, prediction=prediction, reported_prediction=reported,
                         model_sha256=model_sha256, upload=upload, client_id=client_id)
    except StoreFull as error:
        raise RequestError(409, "store_full", str(error)) from None
    except InvalidArgument as error:
        raise RequestError(422, "bad_correction", str(error)) from None


async def _parse_request(request: Request, config: ServeConfig, pool: WorkPool, *, batch: bool) -> list[Item]:
    return (await _parse_body(request, config, pool, batch=batch))[0]


async def _parse_body(request: Request, config: ServeConfig, pool: WorkPool, *,
                      batch: bool) -> tuple[list[Item], dict[str, Any]]:
    """A request's image items, and its other fields (multipart text fields, or the JSON object's other
    keys; for a single item only)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    max_batch = config.max_batch if batch else 1
    if content_type == "multipart/form-data":
        body = await _read_body(request, config.max_request_bytes)  # the parser never sees more than this

        async def stream():
            yield body

        parser = InMemoryMultiPartParser(request.headers, stream(), max_files=max_batch, max_fields=16)
        try:
            form = await parser.parse()
        except Exception as error:  # malformed multipart, too many files or fields
            message = str(getattr(error, "message", error)) or "malformed multipart body"
            raise RequestError(400, "bad_multipart", message) from None
        try:
            uploads = [value for key, value in form.multi_items()
                       if key in ("file", "files") and hasattr(value, "read")]
            files = [await upload.read() for upload in uploads]
        finally:
            await form.close()  # the uploads' in-memory files, read or not
        if not files:
            raise RequestError(422, "no_file", 'multipart body has no file field named "file" (or "files")')
        for data in files:
            if len(data) > config.max_bytes:
                raise RequestError(413, "too_large", f"image is over the {config.max_bytes / 1e6:.1f} MB limit")
        return files, {key: value for key, value in form.multi_items() if isinstance(value, str)}
    if content_type == "application/json":
        body = await _read_body(request, config.max_request_bytes)
        if not body:
            raise RequestError(400, "empty", "empty request body")
        try:  # a large body is parsed on the pool, so that it cannot hold up the event loop
            payload = orjson.loads(body) if len(body) <= LOOP_JSON_BYTES else await pool.run(orjson.loads, body)
        except orjson.JSONDecodeError:  # also invalid UTF-8, NaN and integers beyond 64 bits
            raise RequestError(400, "bad_json", "request body is not valid JSON") from None
        if not batch:
            fields = {k: v for k, v in payload.items() if k not in ("pixels", "image_base64")} \
                if isinstance(payload, dict) else {}
            return [_item_from_json(payload, config)], fields
        items = payload.get("items") if isinstance(payload, dict) else None
        if not isinstance(items, list) or not items:
            raise RequestError(422, "bad_json", 'expected {"items": [...]} with at least one item')
        if len(items) > max_batch:
            raise RequestError(413, "batch_too_large", f"batch of {len(items)} is over the limit of {max_batch}")
        return [_item_from_json(item, config) for item in items], {}
    raise RequestError(415, "unsupported_media_type",
                       "send multipart/form-data with a file, or application/json with pixels or image_base64")


def _large(items: list[Item]) -> bool:
    """Whether a request's files are large enough (a phone photo) for the pool's large lane."""
    return sum(len(item) for item in items if isinstance(item, bytes | str)) > LARGE_UPLOAD_BYTES


async def _prepared_images(items: list[Item], config: ServeConfig, pool: WorkPool) -> list[np.ndarray]:
    """Inputs ready for the model: items that need decoding or imaging go to the pool, as one task."""
    work = [index for index, item in enumerate(items) if not (isinstance(item, np.ndarray) and item.dtype == np.uint8)]
    if not work:
        return items  # type: ignore[return-value]
    try:
        work_items = [items[index] for index in work]
        prepared = await pool.run(prepare_items, work_items, config, large=_large(work_items))
    except ImageError as error:
        raise _image_error(error) from None
    images = list(items)
    for index, image in zip(work, prepared, strict=True):
        images[index] = image
    return images


class PredictionOut(BaseModel):
    digit: int
    confidence: float
    probabilities: list[float]
    input: list[list[int]] | None = None
    runner_up: int | None = None  # with ?explain=true
    saliency: list[list[float]] | None = None
    saliency_runner_up: list[list[float]] | None = None


class BatchOut(BaseModel):
    predictions: list[PredictionOut]


class DigitOut(BaseModel):
    digit: int
    confidence: float
    box: list[int]
    top: list[list[float]]
    input: list[list[int]] | None = None  # with ?explain=true
    saliency: list[list[float]] | None = None


class NumberOut(BaseModel):
    number: str
    confidence: float
    digits: list[DigitOut]


def _flag(request: Request, name: str) -> bool:
    """A true/false query parameter (absent: false)."""
    if not request.scope["query_string"]:
        return False
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise RequestError(422, "invalid_request", f"{name} must be true or false")
    return value in ("true", "1", "yes")


def _json(payload: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status_code,
                    media_type="application/json")


def _prediction_json(probabilities: np.ndarray, images: list[np.ndarray], include_input: bool) -> list[dict]:
    probabilities = probabilities.round(6)
    results = []
    for digit, row, image in zip(probabilities.argmax(axis=1).tolist(), probabilities.tolist(), images, strict=True):
        entry = {"digit": digit, "confidence": row[digit], "probabilities": row}
        if include_input:
            entry["input"] = image.astype(int).tolist()
        results.append(entry)
    return results


# ------------------------------------------------------------------------------------------------
# OpenAPI descriptions of the two request bodies (the handlers parse them by content type)

_ITEM_SCHEMA = {
    "type": "object",
    "properties": {
        "pixels": {"type": "array", "minItems": 28, "maxItems": 28,
                   "items": {"type": "array", "minItems": 28, "maxItems": 28,
                             "items": {"type": "number", "minimum": 0, "maximum": 255}}},
        "image_base64": {"type": "string", "description": "an image file (PNG, JPEG, ...) in base64"},
    },
}
_FILE_SCHEMA = {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"]}
_PREDICT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": _ITEM_SCHEMA}, "multipart/form-data": {"schema": _FILE_SCHEMA}}}}
_BATCH_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": _ITEM_SCHEMA}}}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}}}
_EXPLAIN = {"name": "explain", "in": "query", "required": False, "schema": {"type": "boolean", "default": False},
            "description": "also return saliency maps (occlusion): 28x28 evidence for the digit, by pixel"}
_CORRECTION_FIELDS = {
    "label": {"type": "string", "pattern": "^[0-9]{1,40}$", "description": "the digits the image really shows"},
    "prediction": {"type": "string", "maxLength": 80, "description": "the reading being corrected (optional)"},
    "client_id": {"type": "string", "minLength": 1, "maxLength": 128,
                  "description": "the client's id for this correction: a re-sent one is stored once"},
}
_FEEDBACK_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {**_ITEM_SCHEMA, "properties": {**_ITEM_SCHEMA["properties"], **_CORRECTION_FIELDS},
                                    "required": ["label"]}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file", "label"], "properties": {
        **_FILE_SCHEMA["properties"], **_CORRECTION_FIELDS}}}}}}
_INCLUDE_INPUT = {"parameters": [{"name": "include_input", "in": "query", "required": False,
                                  "description": "also return the 28x28 input the model saw",
                                  "schema": {"type": "boolean", "default": False}}, _EXPLAIN]}
_ERRORS = {status: {"description": description, "content": {"application/json": {"schema": {
    "type": "object", "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}}}}}}}}
    for status, description in ((400, "malformed request"), (413, "too large"), (415, "unsupported type"),
                                (422, "invalid content, or no digit found"),
                                (503, "busy, or image work over the time limit: retry after Retry-After seconds"))}


_FEEDBACK_ERRORS = {404: {"description": "this server does not store corrections"},
                    409: {"description": "the corrections store is full"}}


class FeedbackOut(BaseModel):
    id: str
    stored: bool  # False: a correction with this client_id was stored before (this is its id)


def _file_endpoint(path: Path) -> Callable[[], Awaitable[FileResponse]]:
    async def send_file() -> FileResponse:
        return FileResponse(path)

    return send_file


def _add_offline_app(app: FastAPI, predictor: Predictor) -> None:
    """The on-device app at /app/, served from the package's files and the run's verified model.onnx; the
    two files it is told (model.json, precache.json) are made on first request. Without an exported run or
    the runtime files, /app/ says why in a 404."""
    run = predictor.run
    reason = offline_app.app_available(run)
    if reason is not None:
        @app.get("/app/", include_in_schema=False)
        async def no_app():
            return _error(404, "no_app", f"the on-device app is not available: {reason}")
        return
    told: dict[str, Any] = {}

    def described() -> dict[str, Any]:
        if not told:
            files = offline_app.app_files(run)
            model = offline_app.model_json(run)
            told.update(files=files, model=model, precache=offline_app.precache_json(files, model))
        return told

    @app.get("/app/model.json", include_in_schema=False)
    async def app_model() -> JSONResponse:
        return JSONResponse(described()["model"])

    @app.get("/app/precache.json", include_in_schema=False)
    async def app_precache() -> JSONResponse:
        return JSONResponse(described()["precache"], headers={"Cache-Control": "no-store"})

    @app.get("/app/model.onnx", include_in_schema=False)
    async def app_onnx() -> FileResponse:
        return FileResponse(described()["files"]["model.onnx"], media_type="application/octet-stream")

    @app.get("/app/marks.onnx", include_in_schema=False)
    async def app_marks():
        path = described()["files"].get(offline_app.MARKS_FILE)
        if path is None:
            return _error(404, "no_marks", "the run has no mark model; train one with: digitlab train-marks RUN")
        return FileResponse(path, media_type="application/octet-stream")

    for name in offline_app.SHARED_FILES:
        app.add_api_route(f"/app/{name}", _file_endpoint(offline_app.STATIC / name), include_in_schema=False)
    app.mount("/app", StaticFiles(directory=offline_app.PWA, html=True), name="app")


def create_app(config: ServeConfig) -> FastAPI:
    """The app for one run; the model is loaded once, here, with ``config.threads`` inference threads."""
    predictor = Predictor(config.run, engine=config.engine, threads=config.threads)
    metrics = predictor.run.metrics.get("test", {})
    model_info = {
        "run": predictor.run.name,
        "model": predictor.run.config["model"],
        "parameters": predictor.run.config.get("parameters"),
        "engine": predictor.engine,
        "test_accuracy": metrics.get("accuracy"),
        "macro_f1": metrics.get("macro", {}).get("f1"),
        "input": predictor.input_spec,
        "accepts": ["multipart/form-data (field 'file')", "application/json {pixels: 28x28 0-255}",
                    "application/json {image_base64}"],
        "limits": config.limits(),
        "feedback": config.feedback is not None,
        "digitlab": __version__,
    }

    pool = WorkPool(config.image_threads, config.max_queue, config.time_limit)
    reader = Reader(predictor)
    model_info["mark_model"] = mark_model_info(predictor.run)  # Reader loaded it (verified) if there is one
    explainer = Explainer(predictor)
    store = open_store(config.feedback, max_records=config.feedback_max) if config.feedback else None
    model_sha256 = predictor.model_sha256
    batcher = Batcher(lambda images: predictor.predict_batch(images).probabilities, enabled=config.batching)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        pool.close()
        batcher.close()
        if store is not None:
            store.close()

    # No OpenTelemetry: FastAPI's check for it costs more per request than parsing one (see Shortcut).
    app = FastAPI(title="digitlab", version=__version__, lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False},
                  description="Handwritten-digit recognition: send an image, get the digit and its probabilities.")

    async def handled_error(_: Request, error: Exception) -> JSONResponse:
        return _error_response(error)

    for error_type in HANDLED:
        app.add_exception_handler(error_type, handled_error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError):
        return _error(422, "invalid_request", "; ".join(str(e.get("msg")) for e in error.errors()) or "invalid")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException):
        return _error(error.status_code, "http_error", str(error.detail))

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict:
        return {"status": "ok", "engine": predictor.engine, "worker_pid": os.getpid(), "image_work": pool.state(),
                "model_calls": batcher.state()}

    @app.get("/v1/model", summary="The model being served")
    async def model() -> dict:
        return model_info

    # The image routes build their JSON themselves (FastAPI's generic response encoding would cost more
    # than parsing the request and running the model together), and requests reach them through
    # Shortcut, added below. The query flag is read from the request rather than declared as a parameter:
    # FastAPI's parameter machinery costs more per request than the model does; the schema documents it.
    @app.post("/v1/predict", summary="Classify one image", openapi_extra=_PREDICT_BODY | _INCLUDE_INPUT,
              responses=_ERRORS, response_model=PredictionOut)
    async def predict(request: Request) -> Response:
        return _json((await answer(request, batch=False))[0])

    @app.post("/v1/predict/batch", summary="Classify several images", openapi_extra=_BATCH_BODY | _INCLUDE_INPUT,
              responses=_ERRORS, response_model=BatchOut)
    async def predict_batch(request: Request) -> Response:
        return _json({"predictions": await answer(request, batch=True)})

    async def answer(request: Request, *, batch: bool) -> list[dict]:
        include_input, explain = _flag(request, "include_input"), _flag(request, "explain")
        images = await _prepared_images(await _parse_request(request, config, pool, batch=batch), config, pool)
        probabilities = await batcher.probabilities(images[0][None] if len(images) == 1 else np.stack(images))
        results = _prediction_json(probabilities, images, include_input)
        if explain:
            explanations = await pool.run(explainer.explain, np.stack(images))
            for entry, explanation in zip(results, explanations, strict=True):
                entry.update(runner_up=explanation.runner_up, saliency=rounded(explanation.saliency),
                             saliency_runner_up=rounded(explanation.saliency_runner_up))
        return results

    @app.post("/v1/read", summary="Read the whole number in one image",
              openapi_extra=_PREDICT_BODY | {"parameters": [_EXPLAIN]}, responses=_ERRORS, response_model=NumberOut)
    async def read(request: Request) -> Response:
        explain = _flag(request, "explain")
        (item,) = await _parse_request(request, config, pool, batch=False)
        try:
            return _json(await pool.run(read_item, item, config, reader, explainer if explain else None,
                                        large=_large([item])))
        except ImageError as error:
            raise _image_error(error) from None

    @app.post("/v1/feedback", summary="Store a correction: what the image really shows", status_code=201,
              openapi_extra=_FEEDBACK_BODY, responses=_ERRORS | _FEEDBACK_ERRORS, response_model=FeedbackOut)
    async def feedback(request: Request) -> Response:
        if store is None:
            raise RequestError(404, "feedback_off", "this server does not store corrections "
                               "(start it with --feedback STORE to store them)")
        items, fields = await _parse_body(request, config, pool, batch=False)
        try:
            record_id, created = await pool.run(store_correction, items[0], fields, config, reader, store,
                                                model_sha256)
        except ImageError as error:
            raise _image_error(error) from None
        except StoreError as error:
            raise RequestError(503, "store_unavailable", str(error)) from None
        return _json({"id": record_id, "stored": created}, status_code=201 if created else 200)

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html")

    _add_offline_app(app, predictor)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(Shortcut, handlers={"/v1/predict": predict, "/v1/predict/batch": predict_batch,
                                           "/v1/read": read, "/v1/feedback": feedback})
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST"])
    return app
