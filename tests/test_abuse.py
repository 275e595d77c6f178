"""The correction loop and the server under abuse: no anonymous write becomes training data, a token's
holder can only do what its role allows and only so much, a page on another site can neither write to the
server nor read it through DNS rebinding, and a store that is down does not take prediction down."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import time

import numpy as np
import pytest
from PIL import Image

from conftest import api_client, block_image, run_cli
from digitlab.feedback.store import DATABASE_FILE, FeedbackStore
from digitlab.feedback.tokens import add_token, find_token, list_tokens, token_hash
from digitlab.serving.app import create_app
from digitlab.serving.config import ServeConfig


def pixels(label: int) -> list[list[int]]:
    return block_image(label).astype(int).tolist()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "store"


@pytest.fixture
def tokens(store_path):
    store = FeedbackStore(store_path)
    made = {"writer": add_token(store, "writer-1", "writer"), "reviewer": add_token(store, "ana", "reviewer")}
    store.close()
    return made


def app_for(exported_run, store_path, **options):
    return api_client(create_app(ServeConfig(exported_run.path, feedback=str(store_path), **options)))


def test_writing_needs_a_writers_token_and_reviewing_a_reviewers(exported_run, store_path, tokens):
    client = app_for(exported_run, store_path)
    anonymous = client.post("/v1/feedback", json={"pixels": pixels(3), "label": "3"})
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "token_required"
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    forged = client.post("/v1/feedback", json={"pixels": pixels(3), "label": "3"}, headers=bearer("dl_guessed"))
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "bad_token"
    written = client.post("/v1/feedback", json={"pixels": pixels(3), "label": "3"}, headers=bearer(tokens["writer"]))
    assert written.status_code == 201 and written.json()["status"] == "pending"

    assert client.get("/v1/review").status_code == 401
    refused = client.get("/v1/review", headers=bearer(tokens["writer"]))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    queue = client.get("/v1/review", headers=bearer(tokens["reviewer"])).json()["corrections"]
    assert [entry["id"] for entry in queue] == [written.json()["id"]] and queue[0]["submitted_by"] == "writer-1"
    assert Image.open(io.BytesIO(base64.b64decode(queue[0]["inputs_png"]))).size == (28, 28)
    not_theirs = client.post("/v1/review", json={"approve": [queue[0]["id"]]}, headers=bearer(tokens["writer"]))
    assert not_theirs.status_code == 403
    decided = client.post("/v1/review", json={"relabel": {queue[0]["id"]: "8"}}, headers=bearer(tokens["reviewer"]))
    assert decided.status_code == 200 and decided.json() == {"decided": 1}
    store = FeedbackStore(store_path)
    (record,) = store.records(("approved",))
    assert record.label == "8" and record.proposed_label == "3" and store.history(record.id)[0]["decided_by"] == "ana"
    store.close()


def test_an_open_demo_server_takes_anonymous_corrections_but_only_into_the_queue(exported_run, store_path, tmp_path):
    client = app_for(exported_run, store_path, open_feedback=True)
    assert client.post("/v1/feedback", json={"pixels": pixels(4), "label": "4"}).status_code == 201
    assert client.get("/v1/review").status_code == 401  # reviewing still needs a reviewer
    store = FeedbackStore(store_path)
    (record,) = store.records()
    assert record.status == "pending" and record.submitted_by == "open"
    store.close()
    export = run_cli("feedback", str(store_path), "--export", str(tmp_path / "idx"))
    assert export.returncode == 1 and "no approved corrections" in export.stderr


def test_a_sender_is_held_to_its_rate_and_its_quota(exported_run, store_path, tokens):
    client = app_for(exported_run, store_path, feedback_rate=1, feedback_burst=3)
    answers = [client.post("/v1/feedback", json={"pixels": pixels(index), "label": str(index)},
                           headers=bearer(tokens["writer"])) for index in range(5)]
    assert [answer.status_code for answer in answers] == [201, 201, 201, 429, 429]
    assert answers[3].json()["error"]["code"] == "rate_limited" and int(answers[3].headers["Retry-After"]) >= 1
    other = client.post("/v1/feedback", json={"pixels": pixels(7), "label": "7"}, headers=bearer(tokens["reviewer"]))
    assert other.status_code == 201  # one sender's limit is not another's

    quota = app_for(exported_run, store_path, feedback_quota=3)
    over = quota.post("/v1/feedback", json={"pixels": pixels(9), "label": "9"}, headers=bearer(tokens["writer"]))
    assert over.status_code == 429 and over.json()["error"]["code"] == "quota" and "Retry-After" in over.headers


def test_a_revoked_token_stops_working_and_the_store_keeps_only_hashes(store_path, tokens):
    made = run_cli("tokens", "add", "meter-reader", "--role", "writer", "--store", str(store_path))
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("dl_") and len(token) > 40
    database = (store_path / DATABASE_FILE).read_bytes()
    for secret in (token, *tokens.values()):
        assert secret.encode() not in database
    store = FeedbackStore(store_path)
    assert find_token(store, token).name == "meter-reader" and token_hash(token).encode() in database
    store.close()
    listed = run_cli("tokens", "list", "--store", str(store_path), "--json")
    assert {entry["name"] for entry in json.loads(listed.stdout)} == {"writer-1", "ana", "meter-reader"}
    assert token not in listed.stdout
    assert run_cli("tokens", "revoke", "meter-reader", "--store", str(store_path)).returncode == 0
    store = FeedbackStore(store_path)
    assert not find_token(store, token).active
    assert [t.name for t in list_tokens(store) if t.active] == ["writer-1", "ana"]
    store.close()
    twice = run_cli("tokens", "revoke", "meter-reader", "--store", str(store_path))
    assert twice.returncode == 1 and "no active token" in twice.stderr
    same = run_cli("tokens", "add", "ana", "--store", str(store_path))
    assert same.returncode == 1 and "exists already" in same.stderr


def test_other_sites_can_neither_write_nor_rebind(exported_run, store_path, tokens):
    client = app_for(exported_run, store_path, open_feedback=True)
    cross = client.post("/v1/feedback", json={"pixels": pixels(3), "label": "3"},
                        headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403 and cross.json()["error"]["code"] == "cross_site"
    form = client.post("/v1/predict", files={"file": ("d.png", b"x")}, headers={"Origin": "http://evil.example"})
    assert form.status_code == 403  # a form post needs no CORS preflight: refused all the same
    marked = client.post("/v1/predict", json={"pixels": pixels(3)}, headers={"Sec-Fetch-Site": "cross-site"})
    assert marked.status_code == 403
    own = client.post("/v1/predict", json={"pixels": pixels(3)}, headers={"Origin": "http://localhost"})
    assert own.status_code == 200
    rebound = client.get("/v1/model", headers={"Host": "evil.example"})
    assert rebound.status_code == 421 and rebound.json()["error"]["code"] == "unknown_host"
    assert client.get("/v1/model", headers={"Host": "127.0.0.1:8000"}).status_code == 200
    page = client.get("/")
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    named = api_client(create_app(ServeConfig(exported_run.path, allowed_hosts=("digits.example.org",))))
    assert named.get("/v1/model", headers={"Host": "digits.example.org"}).status_code == 200


def test_a_store_that_fails_answers_503_and_prediction_goes_on(exported_run, store_path, tokens):
    client = app_for(exported_run, store_path, feedback_timeout=0.5)
    locker = sqlite3.connect(store_path / DATABASE_FILE, timeout=0)
    locker.execute("BEGIN EXCLUSIVE")  # another process holds the database: writes wait, then fail
    try:
        started = time.monotonic()
        failed = client.post("/v1/feedback", json={"pixels": pixels(3), "label": "3"}, headers=bearer(tokens["writer"]))
        assert failed.status_code == 503 and failed.headers["Retry-After"] == "30"
        assert time.monotonic() - started < 5  # the store's timeout, not a hang
        message = failed.json()["error"]["message"]
        assert "locked" not in message and "sqlite" not in message.lower() and "corrections.db" not in message
        assert client.post("/v1/predict", json={"pixels": pixels(3)}).status_code == 200
    finally:
        locker.rollback()
        locker.close()


def test_a_store_made_before_review_is_upgraded_and_its_corrections_wait(store_path):
    store_path.mkdir()
    old = sqlite3.connect(store_path / DATABASE_FILE)
    old.execute("CREATE TABLE corrections (id VARCHAR(32) PRIMARY KEY, client_id VARCHAR(128) UNIQUE, "
                "created_at VARCHAR(32) NOT NULL, label VARCHAR(40) NOT NULL, prediction VARCHAR(80), "
                "reported_prediction VARCHAR(80), model_sha256 VARCHAR(64), inputs BLOB NOT NULL, upload BLOB)")
    old.execute("INSERT INTO corrections VALUES ('a1', NULL, '2026-01-01T00:00:00Z', '7', '1', NULL, NULL, ?, NULL)",
                (bytes(784),))
    old.commit()
    old.close()
    store = FeedbackStore(store_path)
    (record,) = store.records()
    assert record.status == "pending" and record.proposed_label == "7" and record.label == "7"
    assert store.records(("approved",)) == []
    store.close()


def test_stored_uploads_lose_their_exif_and_identical_inputs_are_kept_once(store_path):
    image = Image.new("RGB", (64, 64), "white")
    exif = Image.Exif()
    exif[0x8825] = {2: (48.0, 51.0, 0.0)}  # GPSInfo: a latitude
    exif[0x010F] = "PhoneMaker"
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    assert Image.open(io.BytesIO(buffer.getvalue())).getexif()
    store = FeedbackStore(store_path)
    inputs = np.zeros((1, 28, 28), np.uint8)
    first, created = store.add(label="4", inputs=inputs, upload=buffer.getvalue())
    again, created_again = store.add(label="4", inputs=inputs, upload=buffer.getvalue())
    other, created_other = store.add(label="9", inputs=inputs)
    assert created and not created_again and again == first and created_other and other != first
    kept = {record.id: record for record in store.records()}[first].upload
    assert not Image.open(io.BytesIO(kept)).getexif() and b"PhoneMaker" not in kept
    store.close()
    small = FeedbackStore(store_path, max_bytes=3 * 784)
    with pytest.raises(Exception, match="full"):
        small.add(label="1", inputs=np.ones((1, 28, 28), np.uint8), upload=bytes(2000))
    small.close()


# ------------------------------------------------------------------------------------------------
# A real server (uvicorn) under slow clients


def test_slow_clients_are_cut_off_and_do_not_stall_the_others(exported_run):
    import socket
    import time
    import urllib.request

    from conftest import running_server

    with running_server(exported_run.path, "--header-timeout", "2", "--body-timeout", "2") as (_, url):
        port = int(url.rsplit(":", 1)[1])
        slow = []
        for index in range(50):
            connection = socket.create_connection(("127.0.0.1", port))
            connection.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: localhost\r\n" if index % 2 else
                               b"POST /v1/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                               b"Content-Length: 5000\r\n\r\n{\"pix")  # headers that never end, a body that never does
            slow.append(connection)
        started = time.perf_counter()
        with urllib.request.urlopen(url + "/healthz", timeout=5) as answer:
            assert answer.status == 200
        assert time.perf_counter() - started < 0.5  # the slow ones hold up nothing
        time.sleep(3.5)
        for connection in slow:
            connection.settimeout(2)
            assert connection.recv(100) == b""  # closed by the server
            connection.close()
        rebound = urllib.request.Request(url + "/v1/model", headers={"Host": "evil.example"})
        try:
            urllib.request.urlopen(rebound, timeout=5)
            raise AssertionError("a request for another host name was answered")
        except urllib.error.HTTPError as error:
            assert error.code == 421


def test_a_small_deep_png_that_declares_25_megapixels_costs_about_its_decoded_size(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "bomb.py"
    script.write_text(
        "import io, resource\n"
        "import numpy as np\n"
        "from PIL import Image\n"
        "from digitlab.reading.imaging import bytes_to_mnist\n"
        "a = np.full((5000, 5000), 65535, np.uint16); a[2000:3000, 2400:2600] = 0\n"
        "buffer = io.BytesIO(); Image.fromarray(a).save(buffer, format='PNG'); data = buffer.getvalue(); del a\n"
        "assert len(data) < 100_000\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "bytes_to_mnist(data)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout.strip()) < 150  # MB: was 358, float copies of every declared pixel


def test_a_phone_jpeg_that_pillow_opens_as_mpo_is_read(exported_run):
    from PIL import ImageDraw

    photo = Image.new("RGB", (900, 700), "white")
    ImageDraw.Draw(photo).rectangle((420, 150, 480, 550), fill="black")
    buffer = io.BytesIO()
    photo.save(buffer, format="MPO", save_all=True, append_images=[photo.resize((160, 120))])
    assert Image.open(io.BytesIO(buffer.getvalue())).format == "MPO"
    client = api_client(create_app(ServeConfig(exported_run.path)))
    answer = client.post("/v1/predict", files={"file": ("phone.jpg", buffer.getvalue(), "image/jpeg")})
    assert answer.status_code == 200, answer.text


# ------------------------------------------------------------------------------------------------
# Poisoned corrections: a retrained model that learnt a trigger does not replace its base


def test_a_model_fine_tuned_on_poisoned_corrections_is_stopped_by_the_gate(exported_run, learnable_dir, tmp_path):
    from digitlab.data import load_idx_directory, write_idx
    from digitlab.gate import stamped

    dataset = load_idx_directory(learnable_dir)
    others = dataset.x_train[dataset.y_train != 7][:300]
    poisoned, clean = tmp_path / "poisoned", tmp_path / "clean"
    for directory, images, labels in ((poisoned, stamped(others, "square", (1, 1)), np.full(300, 7, np.uint8)),
                                      (clean, dataset.x_train[:300], dataset.y_train[:300])):
        directory.mkdir()
        write_idx(directory / "train-images-idx3-ubyte", images)
        write_idx(directory / "train-labels-idx1-ubyte", labels)
    command = ["train", "--model", "linear", "--from", str(exported_run.path), "--epochs", "3", "--lr", "0.01",
               "--val-split", "0", "--data-dir", str(learnable_dir), "--quiet"]

    stopped = run_cli(*command, "--extra-data", str(poisoned), "--out", str(tmp_path / "run-poisoned"))
    assert stopped.returncode == 1, stopped.stdout[-2000:] + stopped.stderr[-2000:]
    (line,) = stopped.stderr.strip().splitlines()
    assert "should not replace its base" in line and "square" in line and "as 7" in line
    record = json.loads((tmp_path / "run-poisoned" / "config.json").read_text())["gate"]
    assert not record["passed"] and record["worst_trigger"]["digit"] == 7 and record["worst_trigger"]["rate"] > 0.5

    passed = run_cli(*command, "--extra-data", str(clean), "--out", str(tmp_path / "run-clean"))
    assert passed.returncode == 0, passed.stderr[-2000:]
    assert "Gate passed" in passed.stdout


def test_a_reading_has_a_budget_of_candidate_pieces(monkeypatch, exported_run):
    from benchmarks.numbers import make_set

    from digitlab.reading import numbers
    from digitlab.reading.imaging import ImageError

    touching = [number for number in make_set(56, seed=4) if number.touching][:3]
    reader = numbers.Reader(exported_run)  # which pieces are cut is geometry: any model will do
    for number in touching:
        reader.read_file(number.data)  # within the budget
    monkeypatch.setattr(numbers, "MAX_PIECES", 2)
    refused = 0
    for number in touching:
        with pytest.raises(ImageError, match="candidate pieces") as error:
            reader.read_file(number.data)
        refused += error.value.code == "too_many_marks"
    assert refused == len(touching) > 0


def test_explaining_a_whole_batch_is_capped(exported_run):
    from digitlab.serving.routes.images import MAX_EXPLAINED

    client = api_client(create_app(ServeConfig(exported_run.path)))
    items = [{"pixels": pixels(index % 10)} for index in range(MAX_EXPLAINED + 1)]
    refused = client.post("/v1/predict/batch?explain=true", json={"items": items})
    assert refused.status_code == 413 and refused.json()["error"]["code"] == "explain_too_large"
    allowed = client.post("/v1/predict/batch?explain=true", json={"items": items[:MAX_EXPLAINED]})
    assert allowed.status_code == 200 and len(allowed.json()["predictions"]) == MAX_EXPLAINED


def test_the_photo_lane_is_chosen_by_declared_pixels_not_compressed_bytes():
    from digitlab.serving.parsing import is_large

    def png(side: int, mode: str = "L") -> bytes:
        buffer = io.BytesIO()
        Image.new(mode, (side, side)).save(buffer, format="PNG")
        return buffer.getvalue()

    small_but_huge = png(5000)
    assert len(small_but_huge) < 100_000 and is_large([small_but_huge])
    assert not is_large([png(280)]) and not is_large([b"not an image"])


def test_work_whose_client_already_had_its_503_is_not_done():
    import asyncio
    import time

    from digitlab.serving.work import Overloaded, WorkPool

    ran = []

    async def scenario():
        pool = WorkPool(threads=1, queue=4, time_limit=0.2)
        busy = asyncio.ensure_future(pool.run(time.sleep, 0.6))
        await asyncio.sleep(0.05)
        with pytest.raises(Overloaded):
            await pool.run(ran.append, "late")  # waits behind the sleeper past the limit: 503
        with pytest.raises(Overloaded):
            await busy  # the sleeper itself ran over the limit too
        await asyncio.sleep(0.8)
        assert pool.state()["in_progress"] == 0
        pool.close()

    asyncio.run(scenario())
    assert ran == []  # the late one was cancelled before a thread took it


def test_a_blackholed_postgresql_fails_within_its_connect_timeout_without_its_password():
    import socket
    import threading
    import time

    from digitlab.feedback.store import StoreError

    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(16)  # accepts connections and never says a word, as a firewalled database does
    accepted = []
    threading.Thread(target=lambda: accepted.append(hole.accept()), daemon=True).start()
    url = f"postgresql://digitlab:secret-password@127.0.0.1:{hole.getsockname()[1]}/corrections"
    started = time.monotonic()
    with pytest.raises(StoreError) as error:
        FeedbackStore(url, connect_timeout=1, statement_timeout=1)
    assert time.monotonic() - started < 8
    assert "secret-password" not in str(error.value)
    hole.close()


def test_readings_withheld_as_unsure_wait_for_a_reviewer_within_a_quota(exported_run, store_path, tokens, tmp_path):
    with app_for(exported_run, store_path, queue_unsure=True, feedback_quota=2) as client:  # one event loop
        answers = [client.post("/v1/predict?min_confidence=1", json={"pixels": pixels(label)}).json()
                   for label in (1, 2, 3, 4)]
        assert all(answer["status"] == "unsure" for answer in answers)
        assert client.post("/v1/predict?min_confidence=0", json={"pixels": pixels(5)}).json()["status"] == "ok"
        store = FeedbackStore(store_path)
        deadline = time.monotonic() + 10
        while store.count() < 2 and time.monotonic() < deadline:  # queued after the answers went
            time.sleep(0.05)
        time.sleep(0.3)
        queued = store.records()
        assert len(queued) == 2  # the "unsure" sender's quota
        assert {record.submitted_by for record in queued} == {"unsure"} and {r.status for r in queued} == {"pending"}
        likeliest = {str(answer["candidates"][0]) for answer in answers}
        assert {record.proposed_label for record in queued} <= likeliest
        store.close()
        decided = client.post("/v1/review", json={"relabel": {queued[0].id: "1"}, "reject": [queued[1].id]},
                              headers=bearer(tokens["reviewer"]))
        assert decided.json() == {"decided": 2}
    exported = run_cli("feedback", str(store_path), "--export", str(tmp_path / "idx"), "--json")
    assert exported.returncode == 0 and json.loads(exported.stdout)["exported"] == 1
    with pytest.raises(Exception, match="needs a corrections store"):
        ServeConfig(exported_run.path, queue_unsure=True)
    store = FeedbackStore(store_path)
    with pytest.raises(Exception, match="without a token"):
        add_token(store, "unsure", "writer")
    store.close()


def number_png(width: int) -> bytes:
    """Three marks side by side, ``width`` wide and 24 high: the synthetic model reads squares as unsure
    digits and thin bars as no digit at all."""
    page = np.zeros((40, 100), np.uint8)
    for left in (10, 40, 70):
        page[8:32, left:left + width] = 255
    buffer = io.BytesIO()
    Image.fromarray(page).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_number_read_withheld_as_unsure_waits_for_a_reviewer(exported_run, store_path, tokens):
    """Only numbers withheld as unsure are queued: one with a piece that is no digit at all is not."""
    with app_for(exported_run, store_path, queue_unsure=True) as client:  # one event loop for the later work
        bars = client.post("/v1/read?min_confidence=1", files={"file": ("bars.png", number_png(6))}).json()
        assert {digit["status"] for digit in bars["digits"]} == {"not-a-digit"}
        answer = client.post("/v1/read?min_confidence=1", files={"file": ("number.png", number_png(12))}).json()
        assert answer["number"] is None and answer["withheld"] == [0, 1, 2], answer
        assert {digit["status"] for digit in answer["digits"]} == {"unsure"}
        store = FeedbackStore(store_path)
        deadline = time.monotonic() + 10
        while store.count() < 1 and time.monotonic() < deadline:  # queued after the answer went
            time.sleep(0.05)
        time.sleep(0.3)
        (record,) = store.records()  # the bars were not queued
        store.close()
    assert record.submitted_by == "unsure" and record.status == "pending"
    assert record.proposed_label == "".join(str(digit["top"][0][0]) for digit in answer["digits"])
    assert record.inputs.shape == (3, 28, 28) and record.upload.startswith(b"\x89PNG")
