"""The server under real uploads: image work off the event loop, 503 when full, a time limit, request
budgets, and model calls shared by requests that arrive together. Real servers on loopback; the
assertions are about order and counts, not about how fast this machine is."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

import numpy as np
import pytest
from PIL import Image, ImageDraw

from conftest import api_client, running_server

BIG = 5000  # a 25-megapixel PNG: small to send (a plain page compresses well), slow to decode


def big_page_png() -> bytes:
    page = Image.new("RGB", (BIG, BIG), (245, 242, 235))
    ImageDraw.Draw(page).line([(1500, 1500), (3500, 1500), (2200, 4000)], fill=(20, 20, 30), width=120)
    buffer = io.BytesIO()
    page.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def multipart(files: list[bytes], field: str = "files") -> tuple[bytes, str]:
    boundary = "digitlabtestboundary"
    body = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"f{index}.png\"\r\n"
                    f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n" for index, data in enumerate(files))
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post(url: str, body: bytes, content_type: str, timeout: float = 60) -> tuple[int, dict, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, json.loads(error.read())


def get_json(url: str, timeout: float = 10) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


@contextmanager
def server(run_path, *options: str):
    with running_server(run_path, *options) as (_, url):
        yield url


def worker_answering(url: str, timeout: float = 10) -> int:
    """The pid of the worker that answers a new connection's request."""
    return get_json(f"{url}/healthz", timeout)["worker_pid"]


def listening_sockets(pid: int, port: int) -> set[str]:
    """The inodes of the sockets process ``pid`` listens on at ``port`` (from /proc, Linux)."""
    from pathlib import Path

    listening = {fields[9] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
                 if (fields := line.split())[3] == "0A" and int(fields[1].split(":")[1], 16) == port}
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            held.add(target[len("socket:["):-1])
    return held & listening


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing is Linux's")
def test_connections_opened_together_reach_every_worker_and_a_dead_one_gets_none(exported_run):
    """Each worker listens on a socket of its own (SO_REUSEPORT): connections opened at once are spread
    over the workers by the kernel, and once a worker is killed its socket goes with it, so that no new
    connection waits on a socket nobody accepts on."""
    import http.client
    import os
    import signal

    with server(exported_run.path, "--workers", "2") as url:
        deadline, workers = time.monotonic() + 60, set()
        while len(workers) < 2:  # both workers up
            assert time.monotonic() < deadline, "the second worker did not start"
            workers.add(worker_answering(url))
        host, port = url.removeprefix("http://").split(":")
        first, second = (listening_sockets(pid, int(port)) for pid in workers)
        assert first and second and not first & second  # a socket each, not one shared
        connections = [http.client.HTTPConnection(host, int(port), timeout=10) for _ in range(32)]
        for connection in connections:
            connection.connect()  # all opened before any is used, as a proxy's pool or wrk opens them
        answered_by = []
        for connection in connections:
            connection.request("GET", "/healthz")
            answered_by.append(json.loads(connection.getresponse().read())["worker_pid"])
            connection.close()
        assert set(answered_by) == workers, answered_by
        killed = answered_by[0]
        os.kill(killed, signal.SIGKILL)
        time.sleep(0.5)
        after = [worker_answering(url, timeout=5) for _ in range(20)]  # a hang here would time out
        assert killed not in after


def in_background(function, *arguments) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def target():
        outcome["result"] = function(*arguments)
        outcome["done"] = time.monotonic()

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def wait_for_image_work(url: str, outcome: dict) -> None:
    """Until the server reports image work in progress (and the big request is not answered yet)."""
    deadline = time.monotonic() + 30
    while get_json(f"{url}/healthz")["image_work"]["in_progress"] < 1:
        assert "done" not in outcome, f"the big request finished before it was seen in work: {outcome}"
        assert time.monotonic() < deadline, "the big request never started"
        time.sleep(0.002)


@pytest.fixture(scope="module")
def two_big_pages() -> tuple[bytes, str]:
    return multipart([big_page_png(), big_page_png()])


def test_a_small_request_is_answered_while_a_large_photo_is_in_work(exported_run, learnable_dataset,
                                                                    two_big_pages):
    small = json.dumps({"pixels": learnable_dataset.x_test[0].tolist()}).encode()
    with server(exported_run.path, "--workers", "1") as url:
        big, outcome = in_background(post, f"{url}/v1/predict/batch", *two_big_pages)
        wait_for_image_work(url, outcome)
        status, _, answer = post(f"{url}/v1/predict", small, "application/json")
        small_done = time.monotonic()
        still_in_work = get_json(f"{url}/healthz")["image_work"]["in_progress"]
        big.join()
    assert status == 200 and answer["digit"] == int(np.argmax(answer["probabilities"]))
    assert outcome["result"][0] == 200 and len(outcome["result"][2]["predictions"]) == 2
    assert small_done < outcome["done"] and still_in_work >= 1  # answered before the photos were


def test_a_canvas_is_not_queued_behind_a_photo_even_with_one_image_thread(exported_run, two_big_pages):
    """Large uploads have a lane of their own: the one image thread stays free for the canvas."""
    canvas = io.BytesIO()
    Image.new("RGB", (280, 280), "white").save(canvas, format="PNG")
    with server(exported_run.path, "--workers", "1", "--image-threads", "1") as url:
        big, outcome = in_background(post, f"{url}/v1/predict/batch", *two_big_pages)
        wait_for_image_work(url, outcome)
        status, _, answer = post(f"{url}/v1/predict", *multipart([canvas.getvalue()], "file"))
        small_done = time.monotonic()
        big.join()
    assert status == 422 and answer["error"]["code"] == "no_digit"  # imaged (blank), not refused or queued
    assert outcome["result"][0] == 200 and small_done < outcome["done"]


def test_the_large_lane_runs_behind_the_image_threads():
    import asyncio
    import os

    from digitlab.serving.work import LARGE_LANE_NICE, WorkPool

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    async def both() -> tuple[int, int]:
        pool = WorkPool(threads=1, queue=4, time_limit=5)
        try:
            return await pool.run(niceness), await pool.run(niceness, large=True)
        finally:
            pool.close()

    normal, large = asyncio.run(both())
    assert large == normal + LARGE_LANE_NICE



def test_a_worker_keeps_its_long_lived_objects_out_of_full_collections(exported_run):
    """What a worker holds for its life (modules, the model's session, the routes) is frozen, so a full
    collection walks only what requests create."""
    import gc

    from digitlab.serving.config import ServeConfig
    from digitlab.serving.server import worker_app

    assert gc.get_freeze_count() == 0
    try:
        app = worker_app(ServeConfig(exported_run.path))
        assert app.routes
        assert gc.get_freeze_count() > 10 * len(gc.get_objects())  # the collector no longer walks them
    finally:
        gc.unfreeze()

def test_a_full_pool_answers_503_with_retry_after_and_recovers(exported_run, two_big_pages):
    canvas = io.BytesIO()
    Image.new("RGB", (280, 280), "white").save(canvas, format="PNG")
    with server(exported_run.path, "--workers", "1", "--image-threads", "1", "--max-queue", "0") as url:
        big, outcome = in_background(post, f"{url}/v1/predict/batch", *two_big_pages)
        wait_for_image_work(url, outcome)
        status, headers, answer = post(f"{url}/v1/predict", *multipart([canvas.getvalue()], "file"))
        big.join()
        assert status == 503 and answer["error"]["code"] == "busy" and int(headers["retry-after"]) >= 1
        assert outcome["result"][0] == 200  # the work that was admitted finished
        status, _, answer = post(f"{url}/v1/predict", *multipart([canvas.getvalue()], "file"))
        assert status == 422 and answer["error"]["code"] == "no_digit"  # admitted again once the pool is free


def test_image_work_over_the_time_limit_is_answered_503(exported_run, two_big_pages):
    with server(exported_run.path, "--workers", "1", "--time-limit", "0.02") as url:
        status, headers, answer = post(f"{url}/v1/predict/batch", *two_big_pages)
        assert status == 503 and "longer than the 0.02 s limit" in answer["error"]["message"]
        assert "retry-after" in headers
        assert get_json(f"{url}/healthz")["status"] == "ok"


@pytest.fixture
def budget_client(exported_run):

    from digitlab.serving.app import create_app
    from digitlab.serving.config import ServeConfig

    return api_client(create_app(ServeConfig(exported_run.path, max_request_pixels=50_000_000,
                                             max_request_bytes=600_000)))


def test_the_request_pixel_budget_counts_the_whole_batch(budget_client):
    page = io.BytesIO()
    Image.new("L", (4500, 4500), 255).save(page, format="PNG")  # 20 MP each, under the per-image limit
    body, content_type = multipart([page.getvalue()] * 3)
    response = budget_client.post("/v1/predict/batch", content=body, headers={"content-type": content_type})
    assert response.status_code == 413 and "over the request's 50,000,000-pixel budget" in response.text


def test_the_request_byte_budget_counts_the_whole_batch(budget_client):
    noise = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)).save(noise, "PNG")
    assert len(noise.getvalue()) < 600_000 < 3 * len(noise.getvalue())  # one fits, three do not
    body, content_type = multipart([noise.getvalue()] * 3)
    response = budget_client.post("/v1/predict/batch", content=body, headers={"content-type": content_type})
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


def test_requests_that_arrive_together_share_model_calls(exported_run, learnable_dataset):
    bodies = [json.dumps({"pixels": image.tolist()}).encode() for image in learnable_dataset.x_test[:64]]
    # The synthetic digits are not MNIST-like, so each goes through the image pool first: room for all
    # 256 in its queue, so that a slow machine answers 503 to none of them (that is tested elsewhere).
    with server(exported_run.path, "--workers", "1", "--max-queue", "256") as url:
        threads = [in_background(post, f"{url}/v1/predict", body, "application/json") for body in bodies * 4]
        for thread, _ in threads:
            thread.join()
        calls = get_json(f"{url}/healthz")["model_calls"]
    from digitlab.inference.predictor import Predictor
    from digitlab.reading.imaging import image_to_mnist

    alone = Predictor(exported_run).predict_batch(np.stack([image_to_mnist(image).image
                                                            for image in learnable_dataset.x_test[:64]]))
    statuses = [outcome["result"][0] for _, outcome in threads]
    assert statuses == [200] * len(threads), sorted(set(statuses))
    for index, (_, outcome) in enumerate(threads):  # a shared call gives each request its own answer
        np.testing.assert_allclose(outcome["result"][2]["probabilities"], alone.probabilities[index % 64], atol=1e-5)
    assert calls["images"] == 256 and calls["calls"] < 256  # some requests shared a call


def test_the_image_endpoints_shortcut_keeps_cors_errors_and_other_methods(exported_run, learnable_dataset):
    """The image endpoints bypass the framework's routing for speed; what the app promises still holds."""

    from digitlab.serving.app import create_app
    from digitlab.serving.config import ServeConfig

    client = api_client(create_app(ServeConfig(exported_run.path, cors_origins=("http://pad.example",))))
    origin = {"Origin": "http://pad.example"}
    answer = client.post("/v1/predict", json={"pixels": learnable_dataset.x_test[0].tolist()}, headers=origin)
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "http://pad.example"
    refused = client.post("/v1/predict", json={"pixels": [[300] * 28] * 28}, headers=origin)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "bad_pixels"
    assert refused.headers["access-control-allow-origin"] == "http://pad.example"
    not_a_number = json.dumps({"pixels": [[float("nan")] * 28] * 28})  # Python's json writes NaN; JSON has none
    refused = client.post("/v1/predict", content=not_a_number, headers={"content-type": "application/json"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_json"
    wrong_method = client.get("/v1/predict")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "http_error"


def test_uploads_are_closed_once_read(exported_run):
    """Each upload's in-memory file is closed by the request that read it, not left to the garbage collector
    (which warns, per request, under load)."""
    import gc
    import warnings

    from digitlab.serving.app import create_app
    from digitlab.serving.config import ServeConfig

    client = api_client(create_app(ServeConfig(exported_run.path)))
    drawing = Image.new("L", (120, 120), 255)
    ImageDraw.Draw(drawing).line([(60, 15), (60, 105)], fill=0, width=12)
    png = io.BytesIO()
    drawing.save(png, format="PNG")
    body, content_type = multipart([png.getvalue()], field="file")
    with warnings.catch_warnings():  # what earlier tests in this process left behind is not this request's
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        assert client.post("/v1/predict", content=body, headers={"content-type": content_type}).status_code == 200
        gc.collect()
    assert not [str(warning.message) for warning in caught if issubclass(warning.category, ResourceWarning)]


@pytest.mark.parametrize("format", ["GIF", "PNG"])
def test_palette_uploads_are_read_not_a_500(exported_run, format):
    """A GIF is always a palette image, and so are many optimised PNGs: both endpoints read them."""

    from digitlab.serving.app import create_app
    from digitlab.serving.config import ServeConfig

    client = api_client(create_app(ServeConfig(exported_run.path)))
    drawing = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(drawing).line([(100, 20), (100, 180)], fill=0, width=16)
    upload = io.BytesIO()
    drawing.convert("P").save(upload, format=format)
    for path in ("/v1/predict", "/v1/read"):
        answer = client.post(path, files={"file": (f"one.{format.lower()}", upload.getvalue())})
        assert answer.status_code == 200, answer.text


def test_serving_on_a_port_in_use_fails_in_one_line(exported_run):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for workers in ("1", "2"):
            result = subprocess.run([sys.executable, "-m", "digitlab", "serve", str(exported_run.path), "--port",
                                     str(port), "--workers", workers], capture_output=True, text=True, timeout=120)
            assert result.returncode != 0 and "Serving" not in result.stdout
            assert result.stderr.strip().splitlines() == [f"digitlab: error: cannot serve on 127.0.0.1:{port}: "
                                                          "Address already in use"]
