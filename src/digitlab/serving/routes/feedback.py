"""POST /v1/feedback: a correction, what the image really shows, into the server's store, as pending; and
GET/POST /v1/review: a reviewer's view of the queue and their decisions. Writing needs a writer's token
(or a server started with --open-feedback), reviewing a reviewer's (serving/access.py)."""

from __future__ import annotations

import base64
import io
import logging

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response

from digitlab.errors import InvalidArgument
from digitlab.feedback.store import REVIEW_STATUSES, StoreError
from digitlab.reading.imaging import ImageError
from digitlab.serving.access import bearer_token, need_token
from digitlab.serving.answers import store_correction
from digitlab.serving.errors import RequestError, image_error
from digitlab.serving.parsing import json_response, parse_body, read_json
from digitlab.serving.schema import ERRORS, FEEDBACK_BODY, FEEDBACK_ERRORS, FeedbackOut
from digitlab.serving.service import CorrectionsStore, CurrentService

router = APIRouter()
log = logging.getLogger("digitlab.serving")
STORE_RETRY_SECONDS = 30
REVIEW_PAGE_LIMIT = 200


def store_unavailable(error: StoreError) -> RequestError:
    """503 without the driver's words (they can name hosts, users and tables); the log keeps them."""
    log.warning("corrections store: %s", error)
    return RequestError(503, "store_unavailable", "the corrections store is unavailable; try again later",
                        {"Retry-After": str(STORE_RETRY_SECONDS)})


@router.post("/v1/feedback", summary="Store a correction (pending review): what the image really shows",
             status_code=201, openapi_extra=FEEDBACK_BODY, responses=ERRORS | FEEDBACK_ERRORS,
             response_model=FeedbackOut)
async def feedback(request: Request, store: CorrectionsStore, service: CurrentService) -> Response:
    token = bearer_token(request.headers.get("authorization"))
    if token is None and not service.config.open_feedback:
        raise need_token("writer")  # 401 before the body is read
    items, fields = await parse_body(request, service.config, service.pool, batch=False)

    def write() -> tuple[str, bool]:
        sender = service.access.sender(token, "writer")
        return store_correction(items[0], fields, service.config, service.reader, store,
                                service.predictor.model_sha256, sender)

    try:
        record_id, created = await service.pool.run(write)
    except ImageError as error:
        raise image_error(error) from None
    except StoreError as error:
        raise store_unavailable(error) from None
    return json_response({"id": record_id, "stored": created, "status": "pending"},
                         status_code=201 if created else 200)


def inputs_png(inputs: np.ndarray) -> str:
    """The 28x28 inputs the model saw, side by side, as a base64 PNG for the review page."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.concatenate(list(inputs), axis=1)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@router.get("/v1/review", summary="The review queue (a reviewer's token)")
async def review_queue(request: Request, store: CorrectionsStore, service: CurrentService,
                       status: str = "pending", limit: int = 100) -> Response:
    if status not in REVIEW_STATUSES:
        raise RequestError(422, "bad_status", f"status is one of: {', '.join(REVIEW_STATUSES)}")
    limit = max(1, min(int(limit), REVIEW_PAGE_LIMIT))
    token = bearer_token(request.headers.get("authorization"))

    def queue() -> list[dict]:
        service.access.sender(token, "reviewer")
        entries = []
        for record in store.iter_records((status,), uploads=True):
            entries.append({**record.summary(), "inputs_png": inputs_png(record.inputs),
                            "upload_base64": base64.b64encode(record.upload).decode() if record.upload else None})
            if len(entries) >= limit:
                break
        return entries

    try:
        return json_response({"status": status, "corrections": await service.pool.run(queue)})
    except StoreError as error:
        raise store_unavailable(error) from None


@router.post("/v1/review", summary="Approve, reject or relabel corrections (a reviewer's token)")
async def review(request: Request, store: CorrectionsStore, service: CurrentService) -> Response:
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise need_token("reviewer")
    body = await read_json(request, service.config.max_request_bytes, service.pool)
    if not isinstance(body, dict) or not set(body) <= {"approve", "reject", "relabel"}:
        raise RequestError(422, "bad_review", 'send {"approve": [ID...], "reject": [ID...], "relabel": {ID: LABEL}}')
    approve, reject, relabel = body.get("approve", []), body.get("reject", []), body.get("relabel", {})
    if not (isinstance(approve, list) and isinstance(reject, list) and isinstance(relabel, dict)
            and all(isinstance(i, str) for i in [*approve, *reject, *relabel])):
        raise RequestError(422, "bad_review", "approve and reject are lists of ids, relabel maps ids to labels")

    def decide() -> int:
        reviewer = service.access.sender(token, "reviewer")
        decided = 0
        for action, ids in (("approve", approve), ("reject", reject)):
            if ids:
                decided += len(store.review(ids, action, reviewer))
        for record_id, label in relabel.items():
            decided += len(store.review([record_id], "relabel", reviewer, str(label)))
        return decided

    try:
        decided = await service.pool.run(decide)
    except InvalidArgument as error:
        raise RequestError(422, "bad_review", str(error)) from None
    except StoreError as error:
        raise store_unavailable(error) from None
    return json_response({"decided": decided})

