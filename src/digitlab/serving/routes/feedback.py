"""POST /v1/feedback: a correction, what the image really shows, into the server's store."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from digitlab.feedback.store import StoreError
from digitlab.reading.imaging import ImageError
from digitlab.serving.answers import store_correction
from digitlab.serving.errors import RequestError, image_error
from digitlab.serving.parsing import json_response, parse_body
from digitlab.serving.schema import ERRORS, FEEDBACK_BODY, FEEDBACK_ERRORS, FeedbackOut
from digitlab.serving.service import CorrectionsStore, CurrentService

router = APIRouter()


@router.post("/v1/feedback", summary="Store a correction: what the image really shows", status_code=201,
             openapi_extra=FEEDBACK_BODY, responses=ERRORS | FEEDBACK_ERRORS, response_model=FeedbackOut)
async def feedback(request: Request, store: CorrectionsStore, service: CurrentService) -> Response:
    items, fields = await parse_body(request, service.config, service.pool, batch=False)
    try:
        record_id, created = await service.pool.run(store_correction, items[0], fields, service.config,
                                                    service.reader, store, service.predictor.model_sha256)
    except ImageError as error:
        raise image_error(error) from None
    except StoreError as error:
        raise RequestError(503, "store_unavailable", str(error)) from None
    return json_response({"id": record_id, "stored": created}, status_code=201 if created else 200)
