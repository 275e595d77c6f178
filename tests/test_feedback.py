"""Corrections: POST /v1/feedback stores them (SQLite in WAL mode, or a real PostgreSQL), nothing acknowledged is
lost when the server is killed with SIGKILL, a re-sent correction counts once, and `digitlab feedback`
summarises, exports and deletes them."""

from __future__ import annotations

import base64
import http.client
import io
import json
import signal
import threading
import time
import urllib.error
import urllib.request
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import api_client, block_digit, block_image, run_cli, running_server
from digitlab.data import read_idx
from digitlab.feedback.store import FeedbackStore
from digitlab.serving.app import create_app
from digitlab.serving.config import ServeConfig


def block_pixels(label: int) -> list[list[int]]:
    return block_image(label).astype(int).tolist()


def number_png(marks: int) -> bytes:
    page = Image.new("L", (100 * marks, 100), 255)
    for index in range(marks):
        page.paste(0, (30 + 100 * index, 20, 50 + 100 * index, 80))
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    return buffer.getvalue()


OPEN_STORE = ("--open-feedback", "--feedback-rate", "100000", "--feedback")  # then the store


@pytest.fixture
def client(exported_run, tmp_path):
    config = ServeConfig(exported_run.path, feedback=str(tmp_path / "store"), feedback_max=6, open_feedback=True)
    with api_client(create_app(config)) as test_client:
        yield test_client


def test_a_correction_is_stored_with_what_the_model_saw(client, exported_run, tmp_path):
    sent = client.post("/v1/feedback", json={"pixels": block_pixels(3), "label": "5", "prediction": "3",
                                             "client_id": "page-1"})
    assert sent.status_code == 201, sent.text
    assert sent.json()["stored"] is True
    again = client.post("/v1/feedback", json={"pixels": block_pixels(3), "label": "5", "client_id": "page-1"})
    assert again.status_code == 200 and again.json() == {"id": sent.json()["id"], "stored": False, "status": "pending"}
    upload = client.post("/v1/feedback", files={"file": ("d.png", block_digit(7))}, data={"label": "7"})
    assert upload.status_code == 201, upload.text
    number = client.post("/v1/feedback", json={"image_base64": base64.b64encode(number_png(3)).decode(),
                                               "label": "204"})
    assert number.status_code == 201, number.text

    store = FeedbackStore(tmp_path / "store")
    records = {record.id: record for record in store.records()}
    store.close()
    assert len(records) == 3
    first = records[sent.json()["id"]]
    assert first.label == "5" and first.prediction == "3" and first.reported_prediction == "3"
    assert first.inputs.shape == (1, 28, 28) and first.inputs.max() == 255 and first.upload is None
    assert first.model_sha256 == exported_run.config["onnx"]["sha256"] and first.created_at.endswith("Z")
    assert records[upload.json()["id"]].upload == block_digit(7)  # the original upload, kept (it is small)
    whole = records[number.json()["id"]]
    assert whole.label == "204" and whole.inputs.shape == (3, 28, 28) and len(whole.prediction) == 3


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"pixels": block_pixels(3)}, 422, "no_label"),
    ({"pixels": block_pixels(3), "label": "seven"}, 422, "bad_label"),
    ({"pixels": block_pixels(3), "label": "-1"}, 422, "bad_label"),
    ({"pixels": block_pixels(3), "label": ""}, 422, "bad_label"),
    ({"pixels": block_pixels(3), "label": "12"}, 422, "label_mismatch"),  # one digit found, two in the label
    ({"pixels": block_pixels(3), "label": "3", "client_id": 7.5}, 422, "bad_client_id"),
    ({"pixels": [[0] * 28] * 28, "label": "3"}, 422, "no_digit"),
    ({"label": "3"}, 422, "bad_json"),
])
def test_bad_corrections_are_4xx_and_not_stored(client, tmp_path, body, status, code):
    response = client.post("/v1/feedback", json=body)
    assert response.status_code == status and response.json()["error"]["code"] == code, response.text
    store = FeedbackStore(tmp_path / "store")
    assert store.count() == 0
    store.close()


def test_a_full_store_says_so(client):
    for index in range(6):
        assert client.post("/v1/feedback", json={"pixels": block_pixels(index), "label": str(index)}).status_code == 201
    same = client.post("/v1/feedback", json={"pixels": block_pixels(1), "label": "1"})
    assert same.status_code == 200 and same.json()["stored"] is False  # the same inputs and label: stored once
    full = client.post("/v1/feedback", json={"pixels": block_pixels(1), "label": "7"})
    assert full.status_code == 409 and full.json()["error"]["code"] == "store_full"


def test_without_a_store_corrections_are_refused(exported_run):
    client = api_client(create_app(ServeConfig(exported_run.path)))
    response = client.post("/v1/feedback", json={"pixels": block_pixels(3), "label": "3"})
    assert response.status_code == 404 and "--feedback" in response.json()["error"]["message"]
    assert client.get("/v1/model").json()["feedback"] is False


def test_feedback_command_reviews_and_exports_only_what_was_approved(client, tmp_path):
    for label, shown in (("5", 3), ("5", 2), ("1", 1)):
        assert client.post("/v1/feedback", json={"pixels": block_pixels(shown), "label": label}).status_code == 201
    store = tmp_path / "store"
    command = ["feedback", str(store)]
    unreviewed = run_cli(*command, "--export", str(tmp_path / "idx"))
    assert unreviewed.returncode == 1 and "no approved corrections" in unreviewed.stderr  # nothing trains unreviewed
    report = json.loads(run_cli(*command, "--json").stdout)
    assert report["count"] == 3 and report["per_digit"]["5"] == 2 and report["per_digit"]["1"] == 1
    assert report["by_status"] == {"pending": 3, "approved": 0, "rejected": 0}
    assert report["confusion"][5][3] == 1 and report["confusion"][5][2] == 1 and report["wrong"] == 2
    assert (store / "gallery.png").exists() and report["gallery"] == str(store / "gallery.png")
    ids = {(record["label"], record["prediction"]): record["id"] for record in report["records"]}
    five_read_as_3, five_read_as_2, one = ids[("5", "3")], ids[("5", "2")], ids[("1", "1")]

    decided = run_cli(*command, "--json", "--approve", five_read_as_3, "--reject", one, "--relabel",
                      f"{five_read_as_2}=2", "--reviewer", "ana", "--export", str(tmp_path / "idx"))
    assert decided.returncode == 0, decided.stderr
    report = json.loads(decided.stdout)
    assert report["decided"] == {"approve": [five_read_as_3], "reject": [one], "relabel": [five_read_as_2]}
    assert report["by_status"] == {"pending": 0, "approved": 2, "rejected": 1} and report["exported"] == 2
    images, labels = read_idx(tmp_path / "idx" / "train-images-idx3-ubyte"), \
        read_idx(tmp_path / "idx" / "train-labels-idx1-ubyte")
    assert images.shape == (2, 28, 28) and sorted(labels.tolist()) == [2, 5]
    assert json.loads((tmp_path / "idx" / "export.json").read_text())["statuses"] == ["approved"]
    opened = FeedbackStore(store)
    relabelled = {record.id: record for record in opened.records()}[five_read_as_2]
    assert relabelled.label == "2" and relabelled.proposed_label == "5" and relabelled.prediction == "2"
    (decision,) = opened.history(five_read_as_2)
    assert decision["decided_by"] == "ana" and decision["label_before"] == "5"
    assert decision["status_before"] == "pending" and decision["action"] == "relabel"
    opened.close()
    again = run_cli(*command, "--export", str(tmp_path / "idx"))
    assert again.returncode == 1 and "pass --overwrite" in again.stderr and "Traceback" not in again.stderr
    unknown = run_cli(*command, "--approve", "no-such-id")
    assert unknown.returncode != 0 and "no-such-id" in unknown.stderr and "Traceback" not in unknown.stderr

    deleted = run_cli(*command, "--delete", one)
    assert deleted.returncode == 0, deleted.stderr
    table = run_cli(*command)
    assert table.returncode == 0 and table.stdout.startswith("2 corrections (2 digits) in")
    missing = run_cli(*command, "--delete", "no-such-id")
    assert missing.returncode == 1 and missing.stderr.strip() == \
        f"digitlab: error: no correction with id 'no-such-id' in {store}"
    bad = run_cli("feedback", "mysql://x/y")
    assert bad.returncode == 1 and "unsupported store" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    absent = run_cli("feedback", str(tmp_path / "typo"))
    assert absent.returncode == 1 and "no corrections store here" in absent.stderr
    assert not (tmp_path / "typo").exists()  # looking does not make a store


# ------------------------------------------------------------------------------------------------
# A real server killed in the middle of a burst


def send(url: str, client_id: str, label: int) -> tuple[int, dict]:
    """One client's correction, its pixels its own (identical inputs with one label are stored once)."""
    pixels, stamp = block_pixels(label), zlib.crc32(client_id.encode())
    for shift in (0, 8, 16, 24):  # away from the border, where an input still looks like MNIST's
        pixels[6 + (stamp >> shift) % 16][6 + (stamp >> (shift + 4)) % 16] = 100 + shift
    body = json.dumps({"pixels": pixels, "label": str(label), "client_id": client_id}).encode()
    request = urllib.request.Request(f"{url}/v1/feedback", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_no_acknowledged_correction_is_lost_when_the_server_is_killed(exported_run, tmp_path):
    store = tmp_path / "store"
    with running_server(exported_run.path, *OPEN_STORE, str(store)) as (process, url):
        acknowledged, attempted = burst_then_kill(process, url)

    kept = {record.client_id: record.id for record in FeedbackStore(store).records()}
    assert all(kept.get(client_id) == record_id for client_id, record_id in acknowledged.items())

    with running_server(exported_run.path, *OPEN_STORE, str(store)) as (_, url):  # the clients re-send what they sent
        for client_id in attempted:
            status, answer = send(url, client_id, int(client_id.rsplit("-", 1)[1]) % 10)
            assert status in (200, 201), answer
            if client_id in acknowledged:
                assert status == 200 and answer == {"id": acknowledged[client_id], "stored": False, "status": "pending"}
    records = FeedbackStore(store).records()
    assert sorted(record.client_id for record in records) == sorted(attempted)  # each stored exactly once


def burst_then_kill(process, url: str) -> tuple[dict[str, str], list[str]]:
    """16 clients sending corrections; kill -9 once 150 are acknowledged: (acknowledged client id -> record id,
    every client id attempted)."""
    acknowledged: dict[str, str] = {}  # client id -> id in the answer
    attempted: list[str] = []
    lock = threading.Lock()

    def client(worker: int) -> None:
        for index in range(400):
            client_id = f"w{worker}-{index}"
            with lock:
                attempted.append(client_id)
            try:
                status, answer = send(url, client_id, index % 10)
            except (OSError, http.client.HTTPException):
                return  # the server is gone, perhaps in the middle of an answer (not acknowledged then)
            if status == 201:
                with lock:
                    acknowledged[client_id] = answer["id"]

    workers = [threading.Thread(target=client, args=(worker,)) for worker in range(16)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 150 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)  # in the middle of the burst: requests are in flight
    process.wait(timeout=10)
    for worker in workers:
        worker.join(timeout=60)
    assert len(acknowledged) >= 150 and len(attempted) > len(acknowledged)
    return acknowledged, attempted


@pytest.mark.integration
def test_several_servers_share_one_postgresql_store(exported_run, postgres_server):
    url = postgres_server("corrections")
    apps = [api_client(create_app(ServeConfig(exported_run.path, feedback=url, open_feedback=True))) for _ in range(2)]
    ids = []
    for index in range(6):
        response = apps[index % 2].post("/v1/feedback", json={"pixels": block_pixels(index), "label": str(index),
                                                               "client_id": f"c{index}"})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    duplicate = apps[1].post("/v1/feedback", json={"pixels": block_pixels(0), "label": "0", "client_id": "c0"})
    assert duplicate.status_code == 200 and duplicate.json()["id"] == ids[0]
    summary = run_cli("feedback", url, "--json")
    assert summary.returncode == 0, summary.stderr
    report = json.loads(summary.stdout)
    assert report["count"] == 6 and sorted(r["id"] for r in report["records"]) == sorted(ids)
    assert "unused-password" not in report["store"] and report["gallery"] is None


# ------------------------------------------------------------------------------------------------
# Retraining on corrections: --extra-data and --from


def writer_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A writer the synthetic data lacks: digit k is a bright bar across row 1 + 2k."""
    generator = np.random.default_rng(seed)
    labels = (np.arange(count) % 10).astype(np.uint8)
    images = generator.integers(0, 60, (count, 28, 28), dtype=np.uint8)
    for image, label in zip(images, labels, strict=True):
        image[1 + 2 * label:3 + 2 * label, :] = 255
    return images, labels


def test_training_on_corrections_learns_the_new_writer_and_records_it(exported_run, learnable_dir, tmp_path):
    from digitlab.data import write_idx
    from digitlab.inference.predictor import Predictor
    from digitlab.pipeline import train

    images, labels = writer_digits(60, seed=1)
    extra = tmp_path / "extra"
    extra.mkdir()
    write_idx(extra / "train-images-idx3-ubyte", images)
    write_idx(extra / "train-labels-idx1-ubyte", labels)
    (extra / "export.json").write_text(json.dumps({"statuses": ["approved", "pending"], "images": 60}))
    held_images, held_labels = writer_digits(100, seed=2)

    def writer_accuracy(run) -> float:
        return float((Predictor(run, engine="keras").predict_batch(held_images).digits == held_labels).mean())

    assert writer_accuracy(exported_run) < 0.5
    tuned = train("linear", data_dir=learnable_dir, out=tmp_path / "tuned", epochs=3, learning_rate=0.01, verbose=0,
                  extra_data=extra, extra_weight=5, from_run=exported_run.path)
    assert writer_accuracy(tuned) > 0.9 and tuned.metrics["test"]["accuracy"] > 0.9
    record = tuned.config["extra_data"]
    assert record["images"] == 60 and record["held_out"] == 6 and record["fit"] == 54 and record["weight"] == 5
    assert record["export"]["statuses"] == ["approved", "pending"]  # trained on unreviewed corrections: recorded
    assert tuned.config["gate"]["passed"], tuned.config["gate"]  # a new writer is no trigger
    from digitlab.data import load_extra_data

    assert record["sha256"] == load_extra_data(extra).sha256
    assert tuned.config["from"]["model_sha256"] == exported_run.model_sha256()

    # with a vanishing learning rate, fine-tuning keeps the starting weights: --from really starts from them
    kept = train("linear", data_dir=learnable_dir, out=tmp_path / "kept", epochs=1, learning_rate=1e-9, verbose=0,
                 from_run=exported_run.path)
    for before, after in zip(exported_run.load_model().get_weights(), kept.load_model().get_weights(), strict=True):
        assert np.allclose(before, after, atol=1e-5)

    command = ["train", "--data-dir", str(learnable_dir), "--epochs", "1", "--quiet"]
    wrong_model = run_cli(*command, "--model", "mlp", "--from", str(exported_run.path), "--out",
                                  str(tmp_path / "x"))
    assert wrong_model.returncode == 2 and "fine-tuning it needs --model linear" in wrong_model.stderr  # a usage error
    missing = run_cli(*command, "--model", "linear", "--extra-data", str(tmp_path / "nowhere"), "--out",
                              str(tmp_path / "y"))
    assert missing.returncode == 1 and "extra-data directory not found" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
