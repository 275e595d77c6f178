"""GET /healthz and GET /v1/model: is this worker alive, and what does it serve."""

from __future__ import annotations

from fastapi import APIRouter

from digitlab.serving.service import CurrentService

router = APIRouter()


@router.get("/healthz", summary="Liveness")
async def healthz(service: CurrentService) -> dict:
    return service.health()


@router.get("/v1/model", summary="The model being served")
async def model(service: CurrentService) -> dict:
    return service.model_info
