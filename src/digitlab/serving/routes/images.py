"""POST /v1/predict, /v1/predict/batch and /v1/read: the digit in an image, in several, the number in one.

These are the hot paths: each route is declared here once, and requests reach its handler through
``app.Shortcut``, which skips the framework's per-request layers (see there). So the handlers take only
the Request, build their JSON themselves (FastAPI's generic response encoding costs more than parsing the
request and running the model together) and read their query flags from it; ``schema.py`` documents
bodies, flags and answers.
"""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response

from digitlab.inference.explain import rounded
from digitlab.inference.predictor import MIN_CONFIDENCE_RULE
from digitlab.reading.imaging import ImageError
from digitlab.serving.answers import prediction_json, prepared_images, queue_withheld, queue_withheld_number, read_item
from digitlab.serving.errors import RequestError, image_error
from digitlab.serving.parsing import is_large, json_response, parse_items, query_flag, query_number
from digitlab.serving.schema import (
    BATCH_BODY,
    DECIMAL_COMMA,
    ERRORS,
    EXPLAIN,
    INCLUDE_INPUT,
    MIN_CONFIDENCE,
    PAPER,
    PREDICT_BODY,
    BatchOut,
    NumberOut,
    PredictionOut,
)
from digitlab.serving.service import current_service

router = APIRouter()
MAX_EXPLAINED = 8  # images one request may have explained: occlusion runs the model 170 times for each


@router.post("/v1/predict", summary="Classify one image", openapi_extra=PREDICT_BODY | INCLUDE_INPUT,
             responses=ERRORS, response_model=PredictionOut)
async def predict(request: Request) -> Response:
    return json_response((await answer(request, batch=False))[0])


@router.post("/v1/predict/batch", summary="Classify several images", openapi_extra=BATCH_BODY | INCLUDE_INPUT,
             responses=ERRORS, response_model=BatchOut)
async def predict_batch(request: Request) -> Response:
    return json_response({"predictions": await answer(request, batch=True)})


async def answer(request: Request, *, batch: bool) -> list[dict]:
    service = current_service(request)
    include_input, explain = query_flag(request, "include_input"), query_flag(request, "explain")
    minimum = query_number(request, "min_confidence", MIN_CONFIDENCE_RULE)
    items = await parse_items(request, service.config, service.pool, batch=batch)
    if explain and len(items) > MAX_EXPLAINED:
        raise RequestError(413, "explain_too_large", f"explain=true takes at most {MAX_EXPLAINED} images a request "
                           f"(each costs about 170 model evaluations); this batch has {len(items)}")
    images = await prepared_images(items, service.config, service.pool)
    probabilities = await service.batcher.probabilities(images[0][None] if len(images) == 1 else np.stack(images))
    results = prediction_json(probabilities, images, include_input,
                              service.predictor.threshold if minimum is None else minimum)
    if service.config.queue_unsure and any(entry["status"] == "unsure" for entry in results):
        service.later(queue_withheld, results, images, items, service.config, service.store, service.access,
                      service.predictor.model_sha256)
    if explain:
        explanations = await service.pool.run(service.explainer.explain, np.stack(images))
        for entry, explanation in zip(results, explanations, strict=True):
            entry.update(runner_up=explanation.runner_up, saliency=rounded(explanation.saliency),
                         saliency_runner_up=rounded(explanation.saliency_runner_up))
    return results


@router.post("/v1/read", summary="Read the whole number in one image",
             openapi_extra=PREDICT_BODY | {"parameters": [EXPLAIN, MIN_CONFIDENCE, DECIMAL_COMMA, PAPER]},
             responses=ERRORS, response_model=NumberOut)
async def read(request: Request) -> Response:
    service = current_service(request)
    explain, minimum = query_flag(request, "explain"), query_number(request, "min_confidence", MIN_CONFIDENCE_RULE)
    comma, paper = query_flag(request, "decimal_comma"), query_flag(request, "paper")
    (item,) = await parse_items(request, service.config, service.pool, batch=False)
    try:
        answer, reading = await service.pool.run(read_item, item, service.config, service.reader,
                                                 service.explainer if explain else None, minimum, comma, paper,
                                                 large=is_large([item]))
    except ImageError as error:
        raise image_error(error) from None
    if service.config.queue_unsure and reading.withheld:
        service.later(queue_withheld_number, reading, item, service.config, service.store, service.access,
                      service.predictor.model_sha256)
    return json_response(answer)


# The routes app.Shortcut hands requests to directly.
HOT_PATHS = ("/v1/predict", "/v1/predict/batch", "/v1/read")
