"""What a request's answer takes, computed off the event loop (see work.py): its items decoded within the
pixel budget, their 28x28 inputs, the number one image shows, a correction stored."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
from PIL import Image

from digitlab.errors import InvalidArgument
from digitlab.feedback.store import UNSURE_SENDER, FeedbackStore, StoreFull, check_label
from digitlab.inference.calibration import statuses
from digitlab.inference.explain import Explainer, rounded
from digitlab.reading.imaging import DRAFT_SIDE, ImageError, decode_opened, image_to_mnist, read_header
from digitlab.reading.numbers import NumberReading, Reader, draft_side
from digitlab.serving.access import Access
from digitlab.serving.config import ServeConfig
from digitlab.serving.errors import RequestError, image_error
from digitlab.serving.parsing import Item, base64_bytes, is_large
from digitlab.serving.work import WorkPool


def decode_items(items: list[Item], config: ServeConfig,
                 draft_side: int = DRAFT_SIDE) -> list[Image.Image | np.ndarray]:
    """A request's items as images (on a pool thread): base64 decoded, the request's pixel budget checked
    on the files' declared sizes before any is decoded, then decoded (a large JPEG no smaller than
    ``draft_side``)."""
    files = [base64_bytes(item) if isinstance(item, str) else item for item in items]
    opened = [read_header(item, max_bytes=config.max_bytes, max_pixels=config.max_pixels)
              if isinstance(item, bytes) else item for item in files]  # headers only, so far
    declared = sum(math.prod(image.size) for image in opened if not isinstance(image, np.ndarray))
    if declared > config.max_request_pixels:
        raise ImageError(f"the request's images hold {declared:,} pixels, over the request's "
                         f"{config.max_request_pixels:,}-pixel budget", "too_large")
    return [image if isinstance(image, np.ndarray) else decode_opened(image, draft_side) for image in opened]


def prepare_items(items: list[Item], config: ServeConfig) -> list[np.ndarray]:
    """The 28x28 inputs of a request's items (on a pool thread): decoded, then imaging."""
    return [image_to_mnist(image).image for image in decode_items(items, config)]


def read_item(item: Item, config: ServeConfig, reader: Reader, explainer: Explainer | None = None,
              min_confidence: float | None = None, decimal_comma: bool = False,
              paper: bool = False) -> tuple[dict, NumberReading]:
    """The number one item shows, as the answer and as read (on a pool thread: decoding, finding the digits
    and their model call); with an ``explainer``, each digit also gets its 28x28 input and saliency map;
    with ``paper``, printed lines are taken out first."""
    reading = reader.read(decode_items([item], config, draft_side(paper))[0], min_confidence=min_confidence,
                          decimal_comma=decimal_comma, paper=paper)
    answer = reading.to_json()
    if explainer is not None:
        explanations = explainer.explain(np.stack([digit.input for digit in reading.digits]))
        for entry, explanation in zip(answer["digits"], explanations, strict=True):
            entry["input"] = explanation.input.astype(int).tolist()
            entry["saliency"] = rounded(explanation.saliency)
    return answer, reading


def text_field(fields: dict[str, Any], name: str, longest: int) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > longest:
        raise RequestError(422, f"bad_{name}", f"{name} must be text of at most {longest} characters")
    return value


def store_correction(item: Item, fields: dict[str, Any], config: ServeConfig, reader: Reader, store: FeedbackStore,
                     model_sha256: str | None, sender: str | None = None) -> tuple[str, bool]:
    """Store one correction (on a pool thread): the inputs the model saw, one per digit of the label (a
    one-digit label: the input /v1/predict sees; longer: the digits the number reader finds, as many as
    the label has), the model's reading of them, and the upload itself when it is a file of modest size."""
    if "label" not in fields:
        raise RequestError(422, "no_label", 'the correction needs a "label": the digits the image shows')
    try:
        label = check_label(fields["label"])
    except InvalidArgument as error:
        raise RequestError(422, "bad_label", str(error)) from None
    reported = text_field(fields, "prediction", 80)
    client_id = text_field(fields, "client_id", 128)
    if isinstance(item, str):
        item = base64_bytes(item)  # once: the image below and the upload kept with the correction
    (image,) = decode_items([item], config)
    if len(label) == 1:
        inputs = image_to_mnist(image).image[None]
        prediction = str(reader.predictor.predict_batch(inputs).digits[0])
    else:
        reading = reader.read(image)
        if len(reading.digits) != len(label):
            raise RequestError(422, "label_mismatch", f"the label has {len(label)} digits but {len(reading.digits)} "
                               f"were found in the image (read as {reading.read_as})")
        inputs, prediction = np.stack([digit.input for digit in reading.digits]), reading.read_as
    upload = item if config.feedback_uploads and isinstance(item, bytes) else None
    try:
        return store.add(label=label, inputs=inputs, prediction=prediction, reported_prediction=reported,
                         model_sha256=model_sha256, upload=upload, client_id=client_id, submitted_by=sender)
    except StoreFull as error:
        raise RequestError(409, "store_full", str(error)) from None
    except InvalidArgument as error:
        raise RequestError(422, "bad_correction", str(error)) from None


async def prepared_images(items: list[Item], config: ServeConfig, pool: WorkPool) -> list[np.ndarray]:
    """Inputs ready for the model: items that need decoding or imaging go to the pool, as one task."""
    work = [index for index, item in enumerate(items) if not (isinstance(item, np.ndarray) and item.dtype == np.uint8)]
    if not work:
        return items  # type: ignore[return-value]
    try:
        work_items = [items[index] for index in work]
        prepared = await pool.run(prepare_items, work_items, config, large=is_large(work_items))
    except ImageError as error:
        raise image_error(error) from None
    images = list(items)
    for index, image in zip(work, prepared, strict=True):
        images[index] = image
    return images


_QUEUING = threading.Lock()


def queue_withheld(results: list[dict], images: list[np.ndarray], items: list[Item], config: ServeConfig,
                   store: FeedbackStore, access: Access, model_sha256: str | None) -> int:
    """The readings of ``results`` withheld as "unsure", into the review queue (on a pool thread, after the
    answer has gone): the input the model saw, the upload, and the likeliest digit as the proposed label,
    which a reviewer approves, relabels or rejects; within the "unsure" sender's rate and quota. How many
    were queued (a store that fails queues nothing and says so in the log: prediction never waits on it)."""
    queued = 0
    for entry, image, item in zip(results, images, items, strict=True):
        if entry["status"] == "unsure":
            created = _queue_unsure(str(entry["candidates"][0]), image[None], item, config, store, access,
                                    model_sha256)
            if created is None:
                break
            queued += created
    return queued


def queue_withheld_number(reading: NumberReading, item: Item, config: ServeConfig, store: FeedbackStore,
                          access: Access, model_sha256: str | None) -> int:
    """A number /v1/read withheld because some of its digits were unsure (none "not a digit"), into the
    review queue as queue_withheld does for digits: its digits' inputs, its likeliest digits proposed."""
    statuses_ = {digit.status for digit in reading.digits}
    if "unsure" not in statuses_ or "not-a-digit" in statuses_:
        return 0
    likeliest = "".join(str(digit.digit) for digit in reading.digits)
    created = _queue_unsure(likeliest, np.stack([digit.input for digit in reading.digits]), item, config, store,
                            access, model_sha256)
    return created or 0


def _queue_unsure(likeliest: str, inputs: np.ndarray, item: Item, config: ServeConfig, store: FeedbackStore,
                  access: Access, model_sha256: str | None) -> int | None:
    """One withheld reading queued under the "unsure" sender: 1, or 0 past its rate or quota or when already
    stored, None when the store is full."""
    upload = base64_bytes(item) if isinstance(item, str) else item
    with _QUEUING:  # the quota's count and the insert as one step in this worker
        if not access.may_queue_unsure():
            return 0
        try:
            _, created = store.add(label=likeliest, inputs=inputs, prediction=likeliest, model_sha256=model_sha256,
                                   submitted_by=UNSURE_SENDER,
                                   upload=upload if config.feedback_uploads and isinstance(upload, bytes) else None)
        except StoreFull:
            return None
    return int(created)


def prediction_json(probabilities: np.ndarray, images: list[np.ndarray], include_input: bool,
                    threshold: float) -> list[dict]:
    """Each image's answer: the digit (None when withheld), its status, confidence and probabilities; a
    withheld reading lists its candidates, the three likeliest digits."""
    kinds = statuses(probabilities, threshold)
    probabilities = probabilities.round(6)
    results = []
    for digit, row, image, status in zip(probabilities.argmax(axis=1).tolist(), probabilities.tolist(), images,
                                         kinds, strict=True):
        entry = {"digit": digit if status == "ok" else None, "status": status, "confidence": row[digit],
                 "probabilities": row}
        if status != "ok":
            entry["candidates"] = sorted(range(10), key=row.__getitem__, reverse=True)[:3]
        if include_input:
            entry["input"] = image.astype(int).tolist()
        results.append(entry)
    return results


