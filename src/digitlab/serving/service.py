"""What the API serves from: one run's Predictor and what is built around it (the number reader, the
explainer, the image-work pool, the model batcher, the corrections store), opened once per worker process
and reached by the routes as a dependency (``current_service``)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from digitlab.feedback.store import FeedbackStore
from digitlab.inference.explain import Explainer
from digitlab.inference.marks import mark_model_info
from digitlab.inference.predictor import Predictor
from digitlab.reading.numbers import Reader
from digitlab.serving.access import Access
from digitlab.serving.config import ServeConfig
from digitlab.serving.errors import RequestError
from digitlab.serving.work import Batcher, WorkPool
from digitlab.version import __version__


@dataclass
class Service:
    config: ServeConfig
    predictor: Predictor
    reader: Reader
    explainer: Explainer
    pool: WorkPool
    batcher: Batcher
    store: FeedbackStore | None
    access: Access | None
    model_info: dict[str, Any]
    background: set[asyncio.Task] = field(default_factory=set)  # work no answer waits for, kept till done

    @classmethod
    def open(cls, config: ServeConfig) -> Service:
        """The model is loaded once, here, with ``config.threads`` inference threads."""
        predictor = Predictor(config.run, engine=config.engine, threads=config.threads)
        reader = Reader(predictor)  # loads the run's mark model (verified) if it has one
        store = FeedbackStore(config.feedback, max_records=config.feedback_max,
                              connect_timeout=config.feedback_timeout,
                              statement_timeout=config.feedback_timeout) if config.feedback else None
        access = Access(store, open_feedback=config.open_feedback, per_minute=config.feedback_rate,
                        burst=config.feedback_burst, quota=config.feedback_quota) if store else None
        return cls(config=config, predictor=predictor, reader=reader, explainer=Explainer(predictor),
                   pool=WorkPool(config.image_threads, config.max_queue, config.time_limit),
                   batcher=Batcher(lambda images: predictor.predict_batch(images).probabilities,
                                   enabled=config.batching),
                   store=store, access=access,
                   model_info=describe_model(predictor, config))

    def later(self, function: Callable[..., Any], *arguments: Any) -> None:
        """``function(*arguments)`` on the pool after the answer has gone (queuing withheld readings): its
        failures (a busy pool, a store that is down) are logged, never the client's."""
        async def quietly() -> None:
            try:
                await self.pool.run(function, *arguments)
            except Exception as error:
                logging.getLogger("digitlab.serving").warning("background work failed: %s", error)

        task = asyncio.get_running_loop().create_task(quietly())
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "engine": self.predictor.engine, "worker_pid": os.getpid(),
                "image_work": self.pool.state(), "model_calls": self.batcher.state()}

    def close(self) -> None:
        self.pool.close()
        self.batcher.close()
        if self.store is not None:
            self.store.close()


def describe_model(predictor: Predictor, config: ServeConfig) -> dict[str, Any]:
    """GET /v1/model: what is served, how it did on the test set, what it accepts and the limits."""
    run = predictor.run
    metrics = run.metrics.get("test", {})
    return {
        "run": run.name,
        "model": run.config["model"],
        "parameters": run.config.get("parameters"),
        "engine": predictor.engine,
        "test_accuracy": metrics.get("accuracy"),
        "macro_f1": metrics.get("macro", {}).get("f1"),
        "input": predictor.input_spec,
        "accepts": ["multipart/form-data (field 'file')", "application/json {pixels: 28x28 0-255}",
                    "application/json {image_base64}"],
        "limits": config.limits(),
        "feedback": config.feedback is not None,
        "feedback_needs_token": config.feedback is not None and not config.open_feedback,
        "digitlab": __version__,
        "mark_model": mark_model_info(run),
        "calibration": predictor.calibration.to_json(),
    }


def current_service(request: Request) -> Service:
    """The dependency every route takes: the worker's Service."""
    return request.app.state.service


def feedback_store(request: Request) -> FeedbackStore:
    """The dependency of the routes that write corrections: the store, or 404 where the server keeps none."""
    store = current_service(request).store
    if store is None:
        raise RequestError(404, "feedback_off", "this server does not store corrections "
                           "(start it with --feedback STORE to store them)")
    return store


CurrentService = Annotated[Service, Depends(current_service)]
CorrectionsStore = Annotated[FeedbackStore, Depends(feedback_store)]
