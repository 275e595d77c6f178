"""CPU work off the event loop: a bounded pool for image work, and a batcher for the model.

The event loop only moves bytes. Decoding and imaging run on a pool of threads sized to the cores
(Pillow, NumPy and ONNX Runtime release the GIL for their heavy loops), and large uploads (phone photos)
on one more thread that runs a little behind the others, so that small requests keep their latency
beside them; a request that finds the pool and its queue full is refused at once with 503 and
Retry-After instead of piling up, and one whose work takes longer than the time limit is answered
without waiting for it. The model runs on a thread of its own, so that a queue of photos never delays a
small request's prediction; requests that arrive while it is busy share its next call, with no added
wait (TF Serving and Triton's dynamic batching with a zero batch timeout).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np


class Overloaded(Exception):
    """The pool and its queue are full, or the work took longer than the time limit: try again later."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


LARGE_UPLOAD_BYTES = 256 * 1024  # a request's files larger than this (a phone photo) go to the large lane,
LARGE_UPLOAD_PIXELS = 4_000_000  # as do files that declare more pixels than this, however small they are
LARGE_LANE_NICE = 3  # how far behind the other threads the large lane runs (Linux niceness)


class WorkPool:
    """``threads`` worker threads, one more for large uploads, and room for ``queue`` more tasks waiting;
    beyond that, Overloaded."""

    def __init__(self, threads: int, queue: int, time_limit: float):
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="digitlab-image")
        self.large_lane = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digitlab-large",
                                             initializer=_run_behind)
        self.threads, self.capacity, self.time_limit = threads, threads + queue, time_limit
        self.in_progress = 0  # submitted and not yet finished; only touched on the event loop

    async def run(self, function: Callable[..., Any], *arguments: Any, large: bool = False) -> Any:
        """``function(*arguments)`` on a pool thread (on the large lane if ``large``), within the time limit."""
        if self.in_progress >= self.capacity:
            raise Overloaded(f"the server is busy ({self.in_progress} images in work); try again shortly",
                             retry_after=1)
        self.in_progress += 1
        executor = self.large_lane if large else self.executor
        future = asyncio.get_running_loop().run_in_executor(executor, function, *arguments)
        future.add_done_callback(self._finished)  # counts the thread's work, even if the request gave up
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.time_limit)
        except asyncio.CancelledError:  # the client went away
            future.cancel()
            raise
        except TimeoutError:
            future.cancel()  # work still waiting for a thread never runs (one already running cannot be stopped)
            raise Overloaded(f"image work took longer than the {self.time_limit:g} s limit",
                             retry_after=max(1, round(self.time_limit))) from None

    def _finished(self, _future: asyncio.Future) -> None:
        self.in_progress -= 1

    def state(self) -> dict[str, int]:
        return {"in_progress": self.in_progress, "capacity": self.capacity, "threads": self.threads}

    def close(self) -> None:
        for executor in (self.executor, self.large_lane):
            executor.shutdown(wait=False, cancel_futures=True)


def _run_behind() -> None:
    """Lower the calling thread's CPU priority by LARGE_LANE_NICE (Linux; elsewhere nothing changes). Under
    full load a photo then takes longer (measured: 54 -> 94 ms) while the canvases beside it keep their
    pace; alone it takes as long as ever. A thread cannot raise its priority again, hence a lane of its own."""
    if sys.platform != "linux":  # elsewhere a thread's id is not what setpriority takes
        return
    try:
        own = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, own, os.getpriority(os.PRIO_PROCESS, own) + LARGE_LANE_NICE)
    except (AttributeError, OSError):
        pass


class Batcher:
    """One model call at a time, on a thread of its own; whatever is waiting when it is free goes into
    the next call together. With ``enabled`` False every request gets a call of its own (for comparison).
    """

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], *, enabled: bool = True, max_batch: int = 256):
        self.predict, self.enabled, self.max_batch = predict, enabled, max_batch
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digitlab-model")
        self.waiting: list[tuple[np.ndarray, asyncio.Future]] = []
        self.running = False
        self.calls = self.images = 0

    async def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities for ``images`` (n, 28, 28), from a model call shared with whoever is waiting."""
        loop = asyncio.get_running_loop()
        if not self.enabled:
            self.calls, self.images = self.calls + 1, self.images + len(images)
            return await loop.run_in_executor(self.executor, self.predict, images)
        future = loop.create_future()
        self.waiting.append((images, future))
        if not self.running:
            self._start(loop)
        return await future

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        taken, count = 0, 0
        while taken < len(self.waiting) and (taken == 0 or count + len(self.waiting[taken][0]) <= self.max_batch):
            count += len(self.waiting[taken][0])
            taken += 1
        batch, self.waiting = self.waiting[:taken], self.waiting[taken:]
        self.running = True
        self.calls, self.images = self.calls + 1, self.images + count
        stacked = batch[0][0] if len(batch) == 1 else np.concatenate([images for images, _ in batch])
        call = loop.run_in_executor(self.executor, self.predict, stacked)
        call.add_done_callback(lambda done: self._finished(loop, batch, done))

    def _finished(self, loop: asyncio.AbstractEventLoop, batch: list, call: asyncio.Future) -> None:
        self.running = False
        error = call.exception()
        start = 0
        for images, future in batch:
            if not future.done():  # its request may have gone away
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(call.result()[start:start + len(images)])
            start += len(images)
        if self.waiting:
            self._start(loop)

    def state(self) -> dict[str, Any]:
        return {"batching": self.enabled, "calls": self.calls, "images": self.images,
                "mean_batch": round(self.images / self.calls, 2) if self.calls else None}

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
