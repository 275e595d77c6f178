"""How the API says no: every refusal is a JSON error {"error": {"code", "message"}} with a 4xx status, or
503 with Retry-After when the server is too busy; never a 500 for something the client sent."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from digitlab.errors import DigitlabError
from digitlab.reading.imaging import ImageError
from digitlab.serving.work import Overloaded


class RequestError(Exception):
    """A client error with its HTTP status and a stable machine-readable code."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_json(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


_IMAGE_ERROR_STATUS = {"empty": 400, "too_large": 413, "unsupported_image": 415, "bad_image": 400, "no_digit": 422,
                       "bad_base64": 422, "too_many_marks": 422}


def error_response(error: Exception) -> JSONResponse:
    """The 4xx/503 answer to an error a handler raised on purpose."""
    if isinstance(error, Overloaded):
        response = error_json(503, "busy", str(error))
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    if isinstance(error, RequestError):
        return error_json(error.status, error.code, error.message, error.headers)
    return error_json(422, "unprocessable", str(error))  # a DigitlabError


HANDLED = (RequestError, Overloaded, DigitlabError)


def image_error(error: ImageError) -> RequestError:
    return RequestError(_IMAGE_ERROR_STATUS.get(error.code, 400), error.code, str(error))




def add_error_handlers(app: FastAPI) -> None:
    """The JSON errors for what a handler raises on purpose, for FastAPI's own validation, and for
    Starlette's HTTP errors (unknown paths, wrong methods)."""

    async def handled_error(_: Request, error: Exception) -> JSONResponse:
        return error_response(error)

    for error_type in HANDLED:
        app.add_exception_handler(error_type, handled_error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError):
        return error_json(422, "invalid_request", "; ".join(str(e.get("msg")) for e in error.errors()) or "invalid")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException):
        return error_json(error.status_code, "http_error", str(error.detail))
