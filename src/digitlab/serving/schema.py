"""The API's schema: the response models (FastAPI checks the answers against them in the tests and
publishes them at /openapi.json) and the request bodies of the image endpoints, which parse their bodies
themselves (``parsing.py``) and so declare them here."""

from __future__ import annotations

from pydantic import BaseModel

from digitlab.serving.config import MAX_BATCH


class PredictionOut(BaseModel):
    digit: int | None  # None when the reading is withheld (status not "ok")
    status: str  # ok, not-a-digit, unsure
    confidence: float
    probabilities: list[float]
    candidates: list[int] | None = None  # a withheld reading's three likeliest digits
    input: list[list[int]] | None = None
    runner_up: int | None = None  # with ?explain=true
    saliency: list[list[float]] | None = None
    saliency_runner_up: list[list[float]] | None = None


class BatchOut(BaseModel):
    predictions: list[PredictionOut]


class DigitOut(BaseModel):
    digit: int | None
    status: str
    confidence: float
    box: list[int]
    top: list[list[float]]
    input: list[list[int]] | None = None  # with ?explain=true
    saliency: list[list[float]] | None = None


class NumberOut(BaseModel):
    number: str | None  # None when any digit is withheld (see withheld and each digit's status); "-12.5"
    confidence: float
    withheld: list[int]
    minus: bool  # a minus sign before the digits
    point: int | None  # the decimal separator's place: after this many digits (None: no separator)
    digits: list[DigitOut]


class FeedbackOut(BaseModel):
    id: str
    stored: bool  # False: a correction with this client_id, or these inputs and label, was stored before
    status: str = "pending"  # every correction waits for a reviewer before it trains anything



ITEM_SCHEMA = {
    "type": "object",
    "properties": {
        "pixels": {"type": "array", "minItems": 28, "maxItems": 28,
                   "items": {"type": "array", "minItems": 28, "maxItems": 28,
                             "items": {"type": "number", "minimum": 0, "maximum": 255}}},
        "image_base64": {"type": "string", "description": "an image file (PNG, JPEG, ...) in base64"},
    },
}
FILE_SCHEMA = {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"]}
PREDICT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": ITEM_SCHEMA}, "multipart/form-data": {"schema": FILE_SCHEMA}}}}
BATCH_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": ITEM_SCHEMA}}}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}}}
EXPLAIN = {"name": "explain", "in": "query", "required": False, "schema": {"type": "boolean", "default": False},
            "description": "also return saliency maps (occlusion): 28x28 evidence for the digit, by pixel"}
CORRECTION_FIELDS = {
    "label": {"type": "string", "pattern": "^[0-9]{1,40}$", "description": "the digits the image really shows"},
    "prediction": {"type": "string", "maxLength": 80, "description": "the reading being corrected (optional)"},
    "client_id": {"type": "string", "minLength": 1, "maxLength": 128,
                  "description": "the client's id for this correction: a re-sent one is stored once"},
}
FEEDBACK_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {**ITEM_SCHEMA, "properties": {**ITEM_SCHEMA["properties"], **CORRECTION_FIELDS},
                                    "required": ["label"]}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file", "label"], "properties": {
        **FILE_SCHEMA["properties"], **CORRECTION_FIELDS}}}}}}
DECIMAL_COMMA = {"name": "decimal_comma", "in": "query", "required": False,
                 "schema": {"type": "boolean", "default": False},
                 "description": "write the number's decimal separator as a comma (12,5)"}
PAPER = {"name": "paper", "in": "query", "required": False, "schema": {"type": "boolean", "default": False},
         "description": "the number is written on ruled, squared, dotted or boxed paper: take the printed lines "
                        "and uneven light out first"}
MIN_CONFIDENCE = {"name": "min_confidence", "in": "query", "required": False,
                  "schema": {"type": "number", "minimum": 0, "maximum": 1},
                  "description": "withhold readings less confident than this (default: the run's threshold; 0: none)"}
INCLUDE_INPUT = {"parameters": [{"name": "include_input", "in": "query", "required": False,
                                  "description": "also return the 28x28 input the model saw",
                                  "schema": {"type": "boolean", "default": False}}, EXPLAIN, MIN_CONFIDENCE]}
ERRORS = {status: {"description": description, "content": {"application/json": {"schema": {
    "type": "object", "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}}}}}}}}
    for status, description in ((400, "malformed request"), (413, "too large"), (415, "unsupported type"),
                                (422, "invalid content, or no digit found"),
                                (503, "busy, or image work over the time limit: retry after Retry-After seconds"))}


FEEDBACK_ERRORS = {404: {"description": "this server does not store corrections"},
                    401: {"description": "a writer's token is needed"},
                    403: {"description": "the token may not write"},
                    409: {"description": "the corrections store is full"},
                    429: {"description": "over the rate or quota of corrections"},
                    503: {"description": "the corrections store is unavailable"}}
