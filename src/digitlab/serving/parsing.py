"""Reading a request: its body within the byte budget (on the event loop), multipart uploads kept in memory,
JSON bodies parsed and their items checked on the pool, and true/false query flags.

The image endpoints parse their bodies here rather than through FastAPI's body parameters: one endpoint
takes either multipart/form-data or JSON, the limits must apply while the body streams in, and FastAPI's
parameter machinery costs more per request than the model does (``benchmarks/loadtest.py``). Their
request schema is declared in ``schema.py``.
"""

from __future__ import annotations

import base64
import binascii
import sys
from typing import Any

import numpy as np
import orjson
from fastapi import Request
from fastapi.responses import Response
from starlette.formparsers import MultiPartParser

from digitlab.errors import InvalidArgument
from digitlab.reading.imaging import ImageError, mnist_ready
from digitlab.reading.imaging.decode import declared_pixels
from digitlab.rules import Rule
from digitlab.serving.config import ServeConfig
from digitlab.serving.errors import RequestError
from digitlab.serving.work import LARGE_UPLOAD_BYTES, LARGE_UPLOAD_PIXELS, WorkPool


async def read_body(request: Request, limit: int) -> bytes:
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


def pixels_to_image(pixels: Any) -> np.ndarray:
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


# An item of a request, as parsed: a 28x28 input ready for the model, or work for the
# pool (pixels that need imaging, an image file's bytes, or base64 text of one).
Item = np.ndarray | bytes | str


def item_from_json(item: Any, config: ServeConfig) -> Item:
    """One JSON item ({"pixels": ...} or {"image_base64": ...}), checked but not yet decoded."""
    if not isinstance(item, dict) or len({"pixels", "image_base64"} & set(item)) != 1:
        raise RequestError(422, "bad_json", 'expected an object with exactly one of "pixels" or "image_base64"')
    if "pixels" in item:
        pixels = pixels_to_image(item["pixels"])
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


def base64_bytes(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError("image_base64 is not valid base64", "bad_base64") from None


async def parse_items(request: Request, config: ServeConfig, pool: WorkPool, *, batch: bool) -> list[Item]:
    return (await parse_body(request, config, pool, batch=batch))[0]


async def parse_body(request: Request, config: ServeConfig, pool: WorkPool, *,
                      batch: bool) -> tuple[list[Item], dict[str, Any]]:
    """A request's image items, and its other fields (multipart text fields, or the JSON object's other
    keys; for a single item only)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    max_batch = config.max_batch if batch else 1
    if content_type == "multipart/form-data":
        body = await read_body(request, config.max_request_bytes)  # the parser never sees more than this

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
        return await pool.run(json_items, await read_json_body(request, config.max_request_bytes), config, batch)
    raise RequestError(415, "unsupported_media_type",
                       "send multipart/form-data with a file, or application/json with pixels or image_base64")


async def read_json_body(request: Request, limit: int) -> bytes:
    """A JSON body of at most ``limit`` bytes, unparsed (415 for another content type, 400 when empty)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise RequestError(415, "unsupported_media_type", "send application/json")
    body = await read_body(request, limit)
    if not body:
        raise RequestError(400, "empty", "empty request body")
    return body


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:  # also invalid UTF-8, NaN and integers beyond 64 bits
        raise RequestError(400, "bad_json", "request body is not valid JSON") from None


def json_items(body: bytes, config: ServeConfig, batch: bool) -> tuple[list[Item], dict[str, Any]]:
    """A JSON body's image items and other fields (on a pool thread: parsing a body of pixels costs about what
    the model does, and a large one must not hold up the event loop)."""
    payload = parse_json(body)
    if not batch:
        fields = {k: v for k, v in payload.items() if k not in ("pixels", "image_base64")} \
            if isinstance(payload, dict) else {}
        return [item_from_json(payload, config)], fields
    items = payload.get("items") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items:
        raise RequestError(422, "bad_json", 'expected {"items": [...]} with at least one item')
    if len(items) > config.max_batch:
        raise RequestError(413, "batch_too_large", f"batch of {len(items)} is over the limit of {config.max_batch}")
    return [item_from_json(item, config) for item in items], {}


async def read_json(request: Request, limit: int, pool: WorkPool) -> Any:
    """A JSON body of at most ``limit`` bytes, parsed on the pool."""
    return await pool.run(parse_json, await read_json_body(request, limit))


def is_large(items: list[Item]) -> bool:
    """Whether a request's files are large enough for the pool's large lane: a phone photo's bytes, or the
    pixels a small file declares (a 60 KB PNG can declare 25 megapixels)."""
    if sum(len(item) for item in items if isinstance(item, bytes | str)) > LARGE_UPLOAD_BYTES:
        return True
    return sum(declared_pixels(item) or 0 for item in items if isinstance(item, bytes)) > LARGE_UPLOAD_PIXELS


def query_flag(request: Request, name: str) -> bool:
    """A true/false query parameter (absent: false)."""
    if not request.scope["query_string"]:
        return False
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise RequestError(422, "invalid_request", f"{name} must be true or false")
    return value in ("true", "1", "yes")


def query_number(request: Request, name: str, rule: Rule) -> float | None:
    """A number query parameter, checked by ``rule`` (absent: None)."""
    if not request.scope["query_string"] or name not in request.query_params:
        return None
    try:
        return rule.parse(name, request.query_params[name])
    except InvalidArgument as error:
        raise RequestError(422, "invalid_request", str(error)) from None


def json_response(payload: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status_code,
                    media_type="application/json")


