"""Explanations: faithful on a real MNIST model (deleting salient ink hurts more than random ink; a randomised
model gives other maps), and shown everywhere a reading is: `digitlab explain`, the API flag, the gallery."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from scipy.stats import spearmanr

from conftest import api_client, block_digit, block_place, run_cli
from digitlab.inference.explain import METHODS, Explainer, deletion_check, integrated_gradients, occlusion
from digitlab.inference.predictor import Predictor
from digitlab.serving.app import create_app
from digitlab.serving.config import ServeConfig

SAMPLE = 100  # MNIST test images the faithfulness checks average over
DELETED = 40  # pixels deleted (set to background) per image


@pytest.fixture(scope="module")
def mnist_sample(mnist_run, mnist):
    """The session's model trained on real MNIST (conftest.mnist_run) and SAMPLE of its test images."""
    return mnist_run, mnist.x_test[:SAMPLE]


@pytest.mark.integration
@pytest.mark.parametrize("method", METHODS)
def test_deleting_the_most_salient_pixels_hurts_more_than_deleting_random_ink(mnist_sample, method):
    run, images = mnist_sample
    predictor = Predictor(run)
    check = deletion_check(predictor, images, Explainer(predictor, method).explain(images), pixels=DELETED)
    assert check["drop_salient"] > 2 * check["drop_random_ink"] and check["drop_salient"] > 0.2, check


@pytest.mark.integration
@pytest.mark.parametrize("method", METHODS)
def test_a_model_with_randomised_weights_gives_different_maps(mnist_sample, method):
    """Adebayo et al. 2018: a map that survives randomising the model explains the image, not the model.
    Signed maps are compared (the ranking the deletion test uses); their absolute values share the ink's shape."""
    from digitlab._keras import keras
    from digitlab.models import get_spec

    run, images = mnist_sample
    spec = get_spec(run.config["model"])
    trained = run.load_model()
    randomised = keras.models.clone_model(trained)  # same architecture, freshly initialised weights
    assert not np.allclose(trained.get_weights()[0], randomised.get_weights()[0])
    digits = np.argmax(trained.predict(spec.prepare(images), verbose=0), axis=1)

    def maps(model) -> np.ndarray:
        if method == "occlusion":
            _, every = occlusion(lambda batch: model.predict(spec.prepare(batch), verbose=0, batch_size=2048), images)
            return every[np.arange(len(images)), digits]
        return integrated_gradients(model, spec.prepare, images, digits[:, None])[:, 0]

    first, again, other = maps(trained), maps(trained), maps(randomised)
    same = np.mean([spearmanr(a.ravel(), b.ravel())[0] for a, b in zip(first, again, strict=True)])
    different = np.nanmean([spearmanr(a.ravel(), b.ravel())[0] for a, b in zip(first, other, strict=True)])
    assert same > 0.99 and different < 0.5, (same, different)


def test_saliency_of_the_synthetic_digits_lies_on_their_own_block(exported_run, learnable_dataset):
    """Class k of the learnable data is a lit block at place k: the evidence for k must be there."""
    explanations = Explainer(Predictor(exported_run)).explain(learnable_dataset.x_test[:30])
    on_block = 0
    for explanation in explanations:
        row, column = block_place(explanation.digit)
        peak = np.unravel_index(np.argmax(explanation.saliency), explanation.saliency.shape)
        on_block += row - 2 <= peak[0] < row + 8 and column - 2 <= peak[1] < column + 8
        assert explanation.runner_up != explanation.digit and explanation.input.shape == (28, 28)
    assert on_block >= 27


def test_explain_command_writes_a_picture_and_json_per_file(exported_run, tmp_path):
    for label in (2, 5):
        (tmp_path / f"digit{label}.png").write_bytes(block_digit(label))
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    out = tmp_path / "why"
    command = ["explain", str(exported_run.path)]
    result = run_cli(*command, str(tmp_path), "--out", str(out), "--json")
    assert result.returncode == 1  # one file could not be read; the others were explained
    assert result.stderr.strip() == "digitlab: 1 of 3 files could not be read"
    rows = {row["file"].rsplit("/", 1)[-1]: row for row in json.loads(result.stdout)}
    assert "not an image" in rows["broken.png"]["error"]
    for label in (2, 5):
        row = rows[f"digit{label}.png"]
        assert row["digit"] == label and row["error"] is None
        record = json.loads((out / f"digit{label}.json").read_text())
        assert set(record) >= {"file", "digit", "confidence", "runner_up", "input", "saliency", "saliency_runner_up"}
        assert np.asarray(record["saliency"]).shape == np.asarray(record["input"]).shape == (28, 28)
        assert Image.open(out / f"digit{label}.png").size[0] > 300  # three panels
    again = run_cli(*command, str(tmp_path / "digit2.png"), "--out", str(out))
    assert again.returncode == 1 and "already exists; pass --overwrite" in again.stderr
    assert "Traceback" not in again.stderr and len(again.stderr.strip().splitlines()) == 1
    gradients = run_cli(*command, str(tmp_path / "digit2.png"), "--out", str(out), "--overwrite",
                                "--method", "integrated-gradients")
    assert gradients.returncode == 0, gradients.stderr
    assert json.loads((out / "digit2.json").read_text())["method"] == "integrated-gradients"


def test_the_api_adds_saliency_when_asked(exported_run):
    client = api_client(create_app(ServeConfig(exported_run.path)))
    plain = client.post("/v1/predict", files={"file": ("d.png", block_digit(6))}).json()
    assert "saliency" not in plain
    explained = client.post("/v1/predict?explain=true", files={"file": ("d.png", block_digit(6))})
    assert explained.status_code == 200, explained.text
    body = explained.json()
    saliency = np.asarray(body["saliency"])
    assert body["digit"] == 6 and saliency.shape == np.asarray(body["saliency_runner_up"]).shape == (28, 28)
    peak = np.unravel_index(np.argmax(saliency), saliency.shape)
    assert 9 <= peak[0] < 17 and 12 <= peak[1] < 20  # on block 6 (rows 11-16, columns 14-19)
    batch = client.post("/v1/predict/batch?explain=1", files=[("files", (f"{d}.png", block_digit(d))) for d in (1, 8)])
    assert [len(p["saliency"]) for p in batch.json()["predictions"]] == [28, 28]
    page = Image.new("L", (200, 100), 255)
    for left in (30, 120):
        page.paste(0, (left, 20, left + 20, 80))
    reading = client.post("/v1/read?explain=true", files={"file": ("n.png", _png(page))}).json()
    assert all(np.asarray(digit["saliency"]).shape == np.asarray(digit["input"]).shape == (28, 28)
               for digit in reading["digits"])
    wrong = client.post("/v1/predict?explain=perhaps", files={"file": ("d.png", block_digit(6))})
    assert wrong.status_code == 422 and "explain must be true or false" in wrong.json()["error"]["message"]
    blank = client.post("/v1/predict?explain=true", json={"pixels": [[0] * 28] * 28})
    assert blank.status_code == 422 and blank.json()["error"]["code"] == "no_digit"


def _png(image: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_gallery_maps_are_each_mistakes_evidence_for_its_answer(exported_run, learnable_dataset):
    from digitlab.evaluation import mistake_saliency
    from digitlab.models import get_spec

    model = exported_run.load_model()
    spec = get_spec(exported_run.config["model"])
    examples = [{"index": 0, "predicted": 3}, {"index": 1, "predicted": 7}]
    maps = mistake_saliency(model, spec, learnable_dataset.x_test, examples)
    _, every = occlusion(lambda batch: model.predict(spec.prepare(batch), verbose=0), learnable_dataset.x_test[:2])
    assert maps.shape == (2, 28, 28)
    assert np.allclose(maps, every[[0, 1], [3, 7]], atol=1e-5)
    assert mistake_saliency(model, spec, learnable_dataset.x_test, []) is None
