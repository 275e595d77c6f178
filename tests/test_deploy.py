"""Export, Predictor, the REST API (in-process) with every kind of bad request, and `digitlab predict`."""

from __future__ import annotations

import base64
import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import api_client, block_digit, run_cli
from digitlab.inference.export import export_onnx
from digitlab.inference.predictor import Predictor
from digitlab.models import get_spec
from digitlab.reading.imaging import bytes_to_mnist
from digitlab.runs import RunError
from digitlab.serving.app import create_app
from digitlab.serving.config import ServeConfig


@pytest.fixture(scope="module")
def client(exported_run):
    return api_client(create_app(ServeConfig(exported_run.path, max_bytes=200_000, max_batch=4)))


# ------------------------------------------------------------------------------------------------
# Export and Predictor


def test_export_records_a_verified_onnx_file(exported_run, learnable_dataset):
    """Checked here independently of the export's own check: the file's hash, and ONNX Runtime's outputs
    against Keras' on images the export never saw."""
    import onnxruntime

    from digitlab.fileio import sha256_file

    onnx = exported_run.config["onnx"]
    path = exported_run.path / "model.onnx"
    assert onnx["sha256"] == sha256_file(path) and onnx["checked_images"] == 200
    images = get_spec("linear").prepare(learnable_dataset.x_train[:100])
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    from_onnx = session.run(None, {session.get_inputs()[0].name: images})[0]
    from_keras = np.asarray(exported_run.load_model()(images))
    np.testing.assert_allclose(from_onnx, from_keras, atol=1e-5)


def test_batch_normalized_cnn_trains_and_exports_with_its_learned_statistics(learnable_dataset, tmp_path):
    """With ``normalization=batch`` each convolution loses its bias to a BatchNormalization; the exported
    model must use the statistics learned in training, so that one image alone reads as it does in a batch."""
    from digitlab.pipeline import train

    run = train("cnn", dataset=learnable_dataset, out=tmp_path / "cnn-bn", epochs=2, learning_rate=0.01, verbose=0,
                hyper={"filters": 4, "convs_per_block": 2, "normalization": "batch"})
    model_layers = run.load_model().layers
    layers = [layer.__class__.__name__ for layer in model_layers]
    assert layers.count("BatchNormalization") == 4 and layers.count("Conv2D") == 4
    assert all(not layer.use_bias for layer in model_layers if layer.__class__.__name__ == "Conv2D")
    export_onnx(run, check_images=learnable_dataset.x_test)  # refuses a file that differs from Keras
    predictor = Predictor(run)
    batch = predictor.predict_batch(learnable_dataset.x_test[:20])
    assert [predictor.predict(image).digit for image in learnable_dataset.x_test[:20]] == list(batch.digits)
    assert np.mean(batch.digits == learnable_dataset.y_test[:20]) > 0.8


def test_export_that_does_not_reproduce_keras_is_not_kept(exported_run, tmp_path, learnable_dataset):
    import shutil

    from digitlab.inference.export import ExportError

    copy = tmp_path / "run"
    shutil.copytree(exported_run.path, copy)
    (copy / "model.onnx").unlink()
    with pytest.raises(ExportError, match="differ from Keras"):
        export_onnx(copy, check_images=learnable_dataset.x_test, tolerance=-1.0)  # no difference passes
    assert not (copy / "model.onnx").exists() and not list(copy.glob(".model*.onnx"))


def test_onnx_and_keras_predictors_agree(exported_run, learnable_dataset):
    images = learnable_dataset.x_test[:50]
    onnx, keras = Predictor(exported_run), Predictor(exported_run, engine="keras")
    assert onnx.engine == "onnx" and keras.engine == "keras"
    np.testing.assert_allclose(onnx.predict_batch(images).probabilities, keras.predict_batch(images).probabilities,
                               atol=1e-5)
    batch = onnx.predict_batch(images)
    assert np.mean(batch.digits == learnable_dataset.y_test[:50]) > 0.9  # the blocks are easy to tell apart
    single = onnx.predict(images[0])
    assert single == batch[0] and abs(sum(single.probabilities) - 1) < 1e-6
    assert single.top(3)[0] == (single.digit, single.confidence)
    assert [digit for digit, _ in single.top(3)] == list(np.argsort(batch.probabilities[0])[::-1][:3])


def test_tampered_onnx_file_is_refused(exported_run, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(exported_run.path, copy)
    with open(copy / "model.onnx", "ab") as stream:
        stream.write(b"\0")
    with pytest.raises(RunError, match="SHA-256 does not match"):
        Predictor(copy)


# ------------------------------------------------------------------------------------------------
# The API


def test_health_and_model(client):
    health = client.get("/healthz").json()
    assert (health["status"], health["engine"]) == ("ok", "onnx")
    work = health["image_work"]
    assert work["in_progress"] == 0 and work["capacity"] == work["threads"] + 64
    info = client.get("/v1/model").json()
    assert info["model"] == "linear" and info["input"]["shape"] == [28, 28]
    assert 0.5 < info["test_accuracy"] <= 1


def test_predict_upload_json_and_base64(client):
    for label in (0, 5, 9):
        upload = client.post("/v1/predict?include_input=true", files={"file": ("d.png", block_digit(label))})
        assert upload.status_code == 200, upload.text
        body = upload.json()
        assert body["digit"] == label
        assert len(body["probabilities"]) == 10 and abs(sum(body["probabilities"]) - 1) < 1e-4
        assert np.asarray(body["input"]).shape == (28, 28)
    encoded = base64.b64encode(block_digit(3)).decode()
    assert client.post("/v1/predict", json={"image_base64": encoded}).json()["digit"] == 3
    photo = block_digit(3, size=200, dark_on_light=True)  # re-centred by the pipeline, as a photo would be
    seen = client.post("/v1/predict?include_input=true", files={"file": ("p.png", photo)}).json()["input"]
    assert np.array_equal(np.asarray(seen), bytes_to_mnist(photo).image)
    pixels = np.zeros((28, 28), int)
    pixels[3:9, 8:14] = 255  # label 1's block
    assert client.post("/v1/predict", json={"pixels": pixels.tolist()}).json()["digit"] == 1


def test_batch(client):
    response = client.post("/v1/predict/batch", files=[("files", (f"{d}.png", block_digit(d))) for d in (2, 7)])
    assert [p["digit"] for p in response.json()["predictions"]] == [2, 7]
    encoded = base64.b64encode(block_digit(4)).decode()
    response = client.post("/v1/predict/batch", json={"items": [{"image_base64": encoded}] * 3})
    assert [p["digit"] for p in response.json()["predictions"]] == [4, 4, 4]


def truncated_png() -> bytes:
    complete = block_digit(1, size=200, dark_on_light=True)
    return complete[: len(complete) // 2]


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"content": b"", "headers": {"content-type": "application/json"}}, 400, "empty"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "bad_json"),
        ({"files": {"file": ("x.png", b"")}}, 400, "empty"),
        ({"files": {"file": ("x.txt", b"just some text")}}, 415, "unsupported_image"),
        ({"files": {"file": ("x.png", truncated_png())}}, 400, "bad_image"),
        ({"files": {"file": ("x.png", b"\x89PNG" + b"0" * 300_000)}}, 413, "too_large"),
        ({"files": {"other": ("x.png", block_digit(1))}}, 422, "no_file"),
        ({"json": {"pixels": [[0] * 28] * 27}}, 422, "bad_pixels"),
        ({"json": {"pixels": [[300] * 28] * 28}}, 422, "bad_pixels"),
        ({"json": {"pixels": [["a"] * 28] * 28}}, 422, "bad_pixels"),
        ({"json": {"pixels": [[0] * 28] * 28}}, 422, "no_digit"),
        ({"json": {"image_base64": "***"}}, 422, "bad_base64"),
        ({"json": {"image_base64": 5}}, 422, "bad_json"),
        ({"json": [1, 2, 3]}, 422, "bad_json"),
        ({"json": {"pixels": [], "image_base64": ""}}, 422, "bad_json"),
        ({"content": b"raw", "headers": {"content-type": "text/plain"}}, 415, "unsupported_media_type"),
    ],
)
def test_bad_requests_are_4xx_json(client, kwargs, status, code):
    response = client.post("/v1/predict", **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def test_decompression_bomb_and_batch_limits(client):
    buffer = io.BytesIO()
    Image.new("L", (6000, 5000)).save(buffer, format="PNG")  # 30 megapixels in a few kB
    response = client.post("/v1/predict", files={"file": ("bomb.png", buffer.getvalue())})
    assert response.status_code == 413 and "pixel limit" in response.json()["error"]["message"]
    encoded = base64.b64encode(block_digit(4)).decode()
    response = client.post("/v1/predict/batch", json={"items": [{"image_base64": encoded}] * 5})
    assert response.status_code == 413 and response.json()["error"]["code"] == "batch_too_large"
    assert client.post("/v1/predict/batch", json={"items": []}).status_code == 422


def test_page_and_schema_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and '<canvas id="pad"' in page.text
    assert client.get("/static/app.js").status_code == 200
    schema = client.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/predict/batch", "/v1/model", "/healthz"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200
    assert "access-control-allow-origin" not in client.get("/healthz", headers={"Origin": "http://x"}).headers


def test_schemathesis_finds_no_server_errors(exported_run, tmp_path):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    app = create_app(ServeConfig(exported_run.path, feedback=str(tmp_path / "corrections"),
                                 allowed_hosts=("testserver",)))  # the Host schemathesis's ASGI client sends
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)

    failures, calls = [], []
    for operation in schema.get_all_operations():
        operation = operation.ok()

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call()
            calls.append((case.path, response.status_code))
            if response.status_code >= 500:
                failures.append((case.method, case.path, response.status_code, response.text[:200]))
            case.validate_response(response, checks=(not_a_server_error,))

        check()
    assert not failures
    assert {path for path, _ in calls} == {"/healthz", "/v1/model", "/v1/predict", "/v1/predict/batch", "/v1/read",
                                           "/v1/feedback", "/v1/review"}
    assert sum(path.startswith("/v1/predict") for path, _ in calls) >= 40


# ------------------------------------------------------------------------------------------------
# digitlab predict


def test_predict_command_formats_and_failures(exported_run, tmp_path):
    for label in (1, 6):
        (tmp_path / f"digit{label}.png").write_bytes(block_digit(label))
    (tmp_path / "broken.png").write_bytes(b"not really a png")
    command = ["predict", str(exported_run.path)]
    table = run_cli(*command, str(tmp_path))
    assert table.returncode == 1  # one file failed
    assert "broken.png" in table.stdout and "error: not an image" in table.stdout
    assert "1 of 3 files could not be read" in table.stderr and "Traceback" not in table.stderr

    output = tmp_path / "out.json"
    good = run_cli(*command, str(tmp_path / "digit*.png"), "--format", "json", "--output", str(output))
    assert good.returncode == 0, good.stderr
    rows = json.loads(output.read_text())
    assert [row["digit"] for row in rows] == [1, 6] and all(len(row["top3"]) == 3 for row in rows)
    again = run_cli(*command, str(tmp_path / "digit1.png"), "--output", str(output))
    assert again.returncode == 1 and "already exists; pass --overwrite" in again.stderr
    csv = run_cli(*command, str(tmp_path / "digit6.png"), "--format", "csv")
    assert csv.stdout.splitlines()[0] == "file,digit,status,confidence,top3,error,warning"
    assert csv.stdout.splitlines()[1].split(",")[1] == "6"


def test_predict_on_many_files_uses_worker_processes_and_gives_the_same_answers(exported_run, learnable_dataset,
                                                                                tmp_path):
    from digitlab.reading.files import PARALLEL_FROM, predict_paths

    for index, image in enumerate(learnable_dataset.x_test[:PARALLEL_FROM + 6]):
        Image.fromarray(image).resize((84, 84)).save(tmp_path / f"digit{index:03d}.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    alone = predict_paths(exported_run.path, [str(tmp_path)], output_format="json", workers=1)
    shared = predict_paths(exported_run.path, [str(tmp_path)], output_format="json", workers=2)
    assert len(shared.rows) == PARALLEL_FROM + 7 and shared.failed == 1
    assert shared.rows == alone.rows  # the same answers, in the same order, whichever process read them
    assert shared.rows[0]["file"].endswith("broken.png") and "not an image" in shared.rows[0]["error"]


def test_read_answers_the_whole_number_with_boxes_left_to_right(client):
    page = Image.new("L", (300, 120), 255)
    for left in (30, 130, 220):  # three separate marks
        page.paste(0, (left, 20, left + 22, 100))
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    response = client.post("/v1/read", files={"file": ("number.png", buffer.getvalue(), "image/png")})
    assert response.status_code == 200, response.text
    reading = response.json()
    assert len(reading["number"]) == 3 and len(reading["digits"]) == 3
    assert reading["number"] == "".join(str(digit["digit"]) for digit in reading["digits"])
    assert [digit["box"][0] for digit in reading["digits"]] == pytest.approx([30, 130, 220], abs=4)
    assert reading["confidence"] == pytest.approx(np.prod([digit["confidence"] for digit in reading["digits"]]),
                                                  rel=1e-4)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    assert client.post("/v1/read", json={"image_base64": encoded}).json()["number"] == reading["number"]


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"pixels": [[0] * 28] * 28}, 422, "no_digit"),
    ({"image_base64": "***"}, 422, "bad_base64"),
    ({"pixels": [[300] * 28] * 28}, 422, "bad_pixels"),
])
def test_read_bad_input_is_4xx(client, body, status, code):
    response = client.post("/v1/read", json=body)
    assert response.status_code == status and response.json()["error"]["code"] == code


def test_read_refuses_noise_quickly(client):
    noise = Image.new("L", (400, 400), 255)
    pixels = noise.load()
    rng = np.random.default_rng(0)
    for x, y in rng.integers(5, 395, (300, 2)):
        for dx in range(4):
            for dy in range(4):
                pixels[int(x) + dx, int(y) + dy] = 0
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    response = client.post("/v1/read", files={"file": ("noise.png", buffer.getvalue(), "image/png")})
    assert response.status_code == 422 and response.json()["error"]["code"] == "too_many_marks"


def test_app_command_builds_the_offline_app(exported_run, tmp_path):
    out = tmp_path / "app"
    command = ["app", str(exported_run.path), "--out", str(out)]
    built = run_cli(*command, "--json")
    assert built.returncode == 0, built.stderr
    summary = json.loads(built.stdout)
    precache = json.loads((out / "precache.json").read_text())
    for name in ("index.html", "app.js", "imaging.js", "sw.js", "manifest.webmanifest", "model.onnx",
                 "vendor/ort-wasm-simd-threaded.wasm"):
        assert (out / name).is_file() and name in precache["files"]
    assert (out / "model.onnx").read_bytes() == exported_run.file("model.onnx").read_bytes()
    assert f'const VERSION = "{precache["version"]}"' in (out / "sw.js").read_text()  # a new build, a new worker
    assert json.loads((out / "model.json").read_text())["flatten"] is True  # linear takes 784 values
    manifest = json.loads((out / "manifest.webmanifest").read_text())
    assert manifest["display"] == "standalone" and {icon["sizes"] for icon in manifest["icons"]} == {"192x192",
                                                                                                     "512x512"}
    assert summary["bytes"] < 25e6  # the single wasm build: about 16 MB with the model
    html = (out / "index.html").read_text() + (out / "app.js").read_text()
    assert "http://" not in html and "https://" not in html  # nothing from another host
    again = run_cli(*command)
    assert again.returncode == 1 and "pass --overwrite" in again.stderr
    assert run_cli(*command, "--overwrite").returncode == 0  # an app build is replaced
    precious = tmp_path / "home"
    (precious / "notes").mkdir(parents=True)
    (precious / "notes" / "thesis.tex").write_text("years of work")
    refused = run_cli("app", str(exported_run.path), "--out", str(precious), "--overwrite")
    assert refused.returncode == 1 and "not an app that digitlab built" in refused.stderr
    assert (precious / "notes" / "thesis.tex").read_text() == "years of work"

    unexported = tmp_path / "unexported"
    shutil.copytree(exported_run.path, unexported)
    (unexported / "model.onnx").unlink()
    refused = run_cli("app", str(unexported), "--out", str(tmp_path / "x"))
    assert refused.returncode == 1 and "digitlab export" in refused.stderr and not (tmp_path / "x").exists()
    assert len(refused.stderr.strip().splitlines()) == 1


def test_serve_offers_the_app_at_app(client, exported_run):
    page = client.get("/app/")
    assert page.status_code == 200 and 'data-testid="prediction"' in page.text
    assert client.get("/app/model.json").json()["sha256"] == exported_run.config["onnx"]["sha256"]
    precache = client.get("/app/precache.json")
    assert precache.headers["cache-control"] == "no-store" and "model.onnx" in precache.json()["files"]
    for name in precache.json()["files"][1:]:
        assert client.get(f"/app/{name}").status_code == 200, name
    assert client.get("/app/vendor/ort.wasm.bundle.min.mjs").headers["content-type"].startswith("text/javascript")
    assert client.get("/app/model.json").json()["marks"] is None and "marks.onnx" not in precache.json()["files"]
    assert client.get("/v1/model").json()["mark_model"] is None  # /v1/read reads without one
    missing = client.get("/app/marks.onnx")  # a run without a mark model: the app reads without one
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "no_marks"
