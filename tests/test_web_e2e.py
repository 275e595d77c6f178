"""The drawing page in a real headless Chromium (Debian's), driven by Playwright against a real server.

It draws digits with pointer events, checks the predicted digit and the probability bars, uploads a
PNG, writes a three-digit number in number mode and checks the boxes, ticks "why?" and checks the
evidence tint over what the model saw, corrects readings (a digit, a number) and finds them stored, and
keeps screenshots in
test-artifacts/ (desktop and phone-sized).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import running_server

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def marked_run(marked_mnist_run):
    """The session's real-MNIST model with its mark model (conftest.marked_mnist_run): good enough to read
    hand-drawn digits and numbers."""
    return marked_mnist_run[0]


@pytest.fixture(scope="module")
def feedback_store(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("feedback") / "store"


@pytest.fixture(scope="module")
def server(marked_run, feedback_store):
    with running_server(marked_run.path, "--feedback", str(feedback_store), "--open-feedback") as (_, url):
        yield url


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run does this in CI)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def stroke(page, points: list[tuple[float, float]]) -> None:
    """One pen stroke through canvas coordinates (0-280 high), sent as real mouse -> pointer events."""
    box = page.locator("#pad").bounding_box()
    scale = box["width"] / page.eval_on_selector("#pad", "pad => pad.width")
    x0, y0 = points[0]
    page.mouse.move(box["x"] + x0 * scale, box["y"] + y0 * scale)
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x * scale, box["y"] + y * scale, steps=8)
    page.mouse.up()


def read_result(page, previous: str = "–") -> tuple[str, list[float]]:
    # generous: under `make test` the other worker may be training on the same two cores
    page.wait_for_function(f"document.getElementById('digit').textContent !== {previous!r}", timeout=30000)
    digit = page.locator("#digit").text_content()
    widths = page.eval_on_selector_all(".bar .fill", "bars => bars.map(b => parseFloat(b.style.width))")
    return digit, widths


def test_drawing_and_uploading_digits(server, browser, marked_run):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1000, "height": 720})
    page.goto(server)
    page.wait_for_function("document.getElementById('model-info').textContent.includes('cnn')")

    stroke(page, [(140, 40), (142, 240)])  # a one
    digit, widths = read_result(page)
    assert digit == "1"
    assert len(widths) == 10 and abs(sum(widths) - 100) < 1.5 and max(widths) == widths[1]
    assert page.locator(".bar.top").get_attribute("data-digit") == "1"
    seen_has_ink = "c => c.getContext('2d').getImageData(0, 0, 112, 112).data.some(v => v > 200)"
    assert page.eval_on_selector("#seen", seen_has_ink)

    page.click("#clear")
    assert page.locator("#digit").text_content() == "–"
    stroke(page, [(60, 60), (220, 60), (110, 250)])  # a seven: bar, then the diagonal
    digit, _ = read_result(page)
    assert digit == "7"
    page.wait_for_timeout(400)  # let the bars' width transition finish before the picture
    page.screenshot(path=str(ARTIFACTS / "web-page.png"), full_page=True)

    from digitlab import load_mnist

    _, (x_test, y_test) = load_mnist(verbose=False)
    index = int(np.flatnonzero(y_test == 3)[0])
    upload = ARTIFACTS / "upload-3.png"
    Image.fromarray(255 - x_test[index]).resize((220, 220), Image.Resampling.BICUBIC).save(upload)
    page.set_input_files("#upload", str(upload))
    digit, _ = read_result(page, previous="7")
    assert digit == "3"

    page.set_input_files("#upload", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}])
    page.wait_for_function("document.getElementById('message').textContent.length > 0", timeout=15000)
    assert "not an image" in page.locator("#message").text_content()


def test_phone_sized_screen(server, browser):
    page = browser.new_page(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page.goto(server)
    pad = page.locator("#pad").bounding_box()
    assert pad["width"] <= 390 and pad["x"] >= 0 and pad["x"] + pad["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    stroke(page, [(140, 40), (142, 240)])
    digit, _ = read_result(page)
    assert digit == "1"
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(400)
    page.screenshot(path=str(ARTIFACTS / "web-page-phone.png"), full_page=True)


def ellipse(centre_x: float, centre_y: float, width: float, height: float) -> list[tuple[float, float]]:
    angles = np.linspace(0, 2 * np.pi, 25)
    return [(centre_x + width / 2 * np.sin(a), centre_y - height / 2 * np.cos(a)) for a in angles]


def test_number_mode_reads_a_written_number_and_boxes_each_digit(server, browser):
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    page.goto(server)
    page.click("#mode-number")
    assert page.eval_on_selector("#pad", "pad => pad.width") == 840
    assert page.locator("#mode-number").get_attribute("aria-pressed") == "true"
    stroke(page, [(140, 40), (142, 240)])  # 1
    stroke(page, [(340, 50), (480, 50), (390, 245)])  # 7
    stroke(page, ellipse(680, 140, 110, 190))  # 0
    page.wait_for_function("document.querySelector('[data-testid=prediction]').textContent === '170'",
                           timeout=20000)
    found = page.eval_on_selector_all("#digits li", "items => items.map(i => i.dataset.digit)")
    assert found == ["1", "7", "0"]
    boxed_columns = page.eval_on_selector("#boxes", """c => {
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, columns = new Set();
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) columns.add(((i - 3) / 4) % c.width);
        return [...columns]; }""")
    # the boxes are drawn over each digit: their outlines reach the three digits' columns
    assert any(100 < x < 180 for x in boxed_columns) and any(330 < x < 490 for x in boxed_columns)
    assert any(620 < x < 740 for x in boxed_columns)
    assert page.locator("#bars").is_hidden() and page.locator("#digits").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-page-number.png"), full_page=True)

    page.click("#clear")
    assert page.locator("[data-testid=prediction]").text_content() == "–"
    assert page.eval_on_selector_all("#digits li", "items => items.length") == 0
    page.click("#mode-digit")
    assert page.eval_on_selector("#pad", "pad => pad.width") == 280 and page.locator("#bars").is_visible()


def test_the_why_toggle_tints_what_the_model_saw_with_its_evidence(server, browser):
    page = browser.new_page(viewport={"width": 1000, "height": 720})
    page.goto(server)
    page.wait_for_function("document.getElementById('model-info').textContent.includes('cnn')")
    stroke(page, [(60, 60), (220, 60), (110, 250)])  # a seven, read without the map
    digit, _ = read_result(page)
    assert digit == "7" and page.eval_on_selector("#seen", "c => c.dataset.explained") == "false"
    tinted = """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let red = 0, blue = 0;
        for (let i = 0; i < d.length; i += 4) { if (d[i] > 180 && d[i + 1] < 120) red++;
                                                if (d[i + 2] > 180 && d[i] < 120) blue++; }
        return [red, blue]; }"""
    assert page.eval_on_selector("#seen", tinted) == [0, 0]
    page.check("#explain")  # asks again, now for the saliency map, and tints the 28x28
    page.wait_for_function("document.getElementById('seen').dataset.explained === 'true'", timeout=15000)
    red, _ = page.eval_on_selector("#seen", tinted)
    assert red > 50  # evidence for the 7 lies on its strokes (112x112 canvas: 16 pixels per input pixel)
    assert page.locator("#digit").text_content() == "7"
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(400)
    page.screenshot(path=str(ARTIFACTS / "web-page-explain.png"), full_page=True)
    page.uncheck("#explain")
    assert page.eval_on_selector("#seen", "c => c.dataset.explained") == "false"
    assert page.eval_on_selector("#seen", tinted) == [0, 0]


def test_a_correction_from_the_page_is_stored(server, browser, feedback_store):
    from digitlab.feedback.store import FeedbackStore

    page = browser.new_page(viewport={"width": 1000, "height": 800})
    page.goto(server)
    page.wait_for_function("document.getElementById('model-info').textContent.includes('cnn')")
    assert page.locator("#correct").is_hidden()  # nothing read yet, nothing to correct
    stroke(page, [(140, 40), (142, 240)])  # a one; say it was a 7 written badly
    digit, _ = read_result(page)
    assert digit == "1" and page.locator("#correct").is_visible()
    page.click("#correct-digits button[data-digit='7']")
    page.wait_for_function("document.getElementById('correct-status').dataset.saved === 'true'", timeout=15000)
    assert "Saved: it was 7" in page.locator("#correct-status").text_content()
    saved_id = page.eval_on_selector("#correct-status", "s => s.dataset.id")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-page-correction.png"), full_page=True)

    page.click("#mode-number")
    stroke(page, [(140, 40), (142, 240)])
    stroke(page, [(340, 50), (480, 50), (390, 245)])
    page.wait_for_function("document.querySelector('[data-testid=prediction]').textContent.length === 2",
                           timeout=20000)
    page.fill("#correct-input", "12")
    page.click("#correct-number button")
    page.wait_for_function("document.getElementById('correct-status').dataset.saved === 'true'", timeout=15000)

    store = FeedbackStore(feedback_store)
    records = {record.id: record for record in store.records()}
    store.close()
    digit_record = records[saved_id]
    assert digit_record.label == "7" and digit_record.reported_prediction == "1"
    assert digit_record.upload.startswith(b"\x89PNG") and digit_record.inputs.shape == (1, 28, 28)
    number_record = next(record for record in records.values() if record.label == "12")
    assert number_record.inputs.shape == (2, 28, 28) and len(number_record.reported_prediction) == 2


def test_a_writer_sends_a_correction_from_the_page_with_their_token(marked_run, browser, tmp_path):
    """Served with tokens required, the page asks for a writer's token: without it the correction is refused
    (401, said on the page, nothing stored); with it the correction waits for review under the writer's name."""
    from digitlab.feedback.store import FeedbackStore
    from digitlab.feedback.tokens import add_token

    store_path = tmp_path / "store"
    store = FeedbackStore(store_path)
    writer = add_token(store, "classroom", "writer")
    store.close()
    with running_server(marked_run.path, "--feedback", str(store_path)) as (_, url):
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.goto(url)
        page.wait_for_function("document.getElementById('model-info').textContent.includes('cnn')")
        stroke(page, [(140, 40), (142, 240)])
        read_result(page)
        assert page.locator("#correct").is_visible() and page.locator("#writer-token").is_visible()
        page.click("#correct-digits button[data-digit='7']")
        page.wait_for_function("document.getElementById('correct-status').dataset.saved === 'false'", timeout=15000)
        assert "writer's token" in page.locator("#correct-status").text_content()
        page.fill("#writer-token", writer)
        page.click("#correct-digits button[data-digit='7']")
        page.wait_for_function("document.getElementById('correct-status').dataset.saved === 'true'", timeout=15000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web-page-writer-token.png"), full_page=True)
        page.reload()  # the token is kept for the tab, not sent anywhere else
        page.wait_for_function("document.getElementById('model-info').textContent.includes('cnn')")
        assert page.input_value("#writer-token") == writer
        page.close()
    store = FeedbackStore(store_path)
    records = list(store.records())
    store.close()
    assert [(record.label, record.status, record.submitted_by) for record in records] == [("7", "pending", "classroom")]


# ------------------------------------------------------------------------------------------------
# The on-device app at /app/: read in the browser, offline after one visit


def open_app(browser, server, **context_options):
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.goto(f"{server}/app/")
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30000)
    return context, page


def test_the_app_reads_a_drawn_digit_with_the_network_off(server, browser):
    context, page = open_app(browser, server, viewport={"width": 1000, "height": 800})
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=30000)  # every file is cached
    context.set_offline(True)
    page.reload()
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30000)
    assert "on this device" in page.locator("#status").text_content()
    stroke(page, [(140, 40), (142, 240)])
    digit, widths = read_result(page)
    assert digit == "1" and abs(sum(widths) - 100) < 1.5
    seen_has_ink = "c => c.getContext('2d').getImageData(0, 0, 112, 112).data.some(v => v > 200)"
    assert page.eval_on_selector("#seen", seen_has_ink)
    context.close()


def test_the_app_runs_no_model_whose_sha256_differs_and_its_worker_names_its_version(server, browser):
    context = browser.new_context(service_workers="block")
    context.route("**/app/model.onnx", lambda route: route.fulfill(body=b"\x08\x07not the model that was built",
                                                                 content_type="application/octet-stream"))
    page = context.new_page()
    page.goto(f"{server}/app/")
    page.wait_for_function("document.getElementById('status').textContent.includes('could not be loaded')",
                           timeout=30000)
    assert "SHA-256" in page.locator("#status").text_content()
    assert page.evaluate("document.body.dataset.ready") != "true"
    worker = page.evaluate("fetch('sw.js').then(r => r.text())")
    version = page.evaluate("fetch('precache.json').then(r => r.json()).then(p => p.version)")
    assert f'const VERSION = "{version}"' in worker and "__DIGITLAB_APP_VERSION__" not in worker
    assert 'cache: "reload"' in worker and "startsWith(PREFIX)" in worker
    context.close()


def test_the_app_on_a_phone_reads_touch_and_a_photo(server, browser, tmp_path):
    context, page = open_app(browser, server, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    pad = page.locator("#pad").bounding_box()
    assert pad["width"] <= 390
    page.evaluate("""() => {  // one stroke of a finger: pointer events of type touch, down the middle
        const pad = document.getElementById('pad'), box = pad.getBoundingClientRect();
        const at = (y) => ({clientX: box.left + box.width / 2, clientY: box.top + y * box.height, pointerId: 7,
                            pointerType: 'touch', isPrimary: true, bubbles: true});
        pad.dispatchEvent(new PointerEvent('pointerdown', at(0.15)));
        for (let y = 0.2; y <= 0.85; y += 0.05) pad.dispatchEvent(new PointerEvent('pointermove', at(y)));
        pad.dispatchEvent(new PointerEvent('pointerup', at(0.85)));
    }""")
    digit, _ = read_result(page)
    assert digit == "1"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "app-phone.png"), full_page=True)

    from benchmarks.uploads import phone_photo_jpeg

    from digitlab import load_mnist

    _, (x_test, y_test) = load_mnist(verbose=False)
    index = int(np.flatnonzero(y_test == 3)[1])
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(phone_photo_jpeg(x_test[index], np.random.default_rng(0), size=(1600, 1200)))
    assert page.get_attribute("#photo", "capture") == "environment"  # a phone opens its camera
    assert "image/" in page.get_attribute("#photo", "accept")
    page.set_input_files("#photo", str(photo))
    digit, _ = read_result(page, previous="1")
    assert digit == "3"
    context.close()


def test_the_app_prepares_images_as_the_server_does(server, browser, marked_run):
    """imaging.js against imaging.py on 200 images of the real-world set (photo-like and canvas-like)."""
    import base64

    from benchmarks.realworld import make_set

    from digitlab.inference.predictor import Predictor
    from digitlab.reading.imaging import bytes_to_mnist

    files, _, _ = make_set(200, seed=0)
    context, page = open_app(browser, server)
    in_browser = page.evaluate("""async (encoded) => {
        const imaging = await import('./imaging.js');
        const inputs = [];
        for (const text of encoded) {
            const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
            const {picture, isJpeg} = await imaging.decode(new Blob([bytes]));
            inputs.push(Array.from(imaging.toMnist(picture, {isJpeg})));
        }
        return inputs; }""", [base64.b64encode(data).decode() for data in files])
    context.close()
    browser_inputs = np.asarray(in_browser, dtype=np.uint8).reshape(-1, 28, 28)
    server_inputs = np.stack([bytes_to_mnist(data).image for data in files])
    difference = np.abs(browser_inputs.astype(int) - server_inputs.astype(int)).mean(axis=(1, 2))
    predictor = Predictor(marked_run)
    same = (predictor.predict_batch(browser_inputs).digits == predictor.predict_batch(server_inputs).digits).mean()
    assert same >= 0.99 and difference.mean() <= 2.0, (same, difference.mean(), difference.max())


def test_the_app_reads_a_written_number(server, browser):
    context, page = open_app(browser, server, viewport={"width": 1000, "height": 800})
    page.click("#mode-number")
    assert page.eval_on_selector("#pad", "pad => pad.width") == 840
    stroke(page, [(140, 40), (142, 240)])  # 1
    stroke(page, [(340, 50), (480, 50), (390, 245)])  # 7
    stroke(page, ellipse(680, 140, 110, 190))  # 0
    page.wait_for_function("document.querySelector('[data-testid=prediction]').textContent === '170'",
                           timeout=20000)
    assert page.eval_on_selector_all("#digits li", "items => items.map(i => i.dataset.digit)") == ["1", "7", "0"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "app-number.png"), full_page=True)
    context.close()


def test_the_app_reads_numbers_as_the_server_does(server, browser, marked_run):
    """numbers.js against numbers.py on 60 numbers of the number benchmark's set (all spacings and looks),
    both with the run's mark model."""
    import base64

    from benchmarks.numbers import make_set

    from digitlab.reading.imaging import ImageError
    from digitlab.reading.numbers import Reader

    numbers = make_set(60, seed=1)
    context, page = open_app(browser, server)
    page.click("#mode-number")
    assert page.evaluate("window.digitlabApp.usesMarkModel")
    in_browser = page.evaluate("""async (encoded) => {
        const imaging = await import('./imaging.js');
        const read = [];
        for (const text of encoded) {
            const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
            const {picture, isJpeg} = await imaging.decode(new Blob([bytes]));
            await window.digitlabApp.readPixels(picture, {isJpeg});
            read.push(document.getElementById('digit').textContent);
        }
        return read; }""", [base64.b64encode(number.data).decode() for number in numbers])
    context.close()
    reader = Reader(marked_run)
    assert reader.marks is not None
    with urllib.request.urlopen(f"{server}/v1/model") as response:  # and the server's /v1/read reads with it
        assert json.loads(response.read())["mark_model"]["sha256"] == marked_run.config["marks"]["sha256"]

    def read_on_server(data: bytes) -> str:
        try:
            return reader.read_file(data).number
        except ImageError:
            return "\u2013"  # the app shows a dash and says why

    on_server = [read_on_server(number.data) for number in numbers]
    agree = np.mean([a == b for a, b in zip(in_browser, on_server, strict=True)])
    assert agree >= 0.95, list(zip(in_browser, on_server, strict=True))


def test_the_app_reads_numbers_on_printed_paper_as_the_server_does(server, browser, marked_run, mnist):
    """paper.js against paper.py: numbers of MNIST test digits photographed on ruled, squared, dotted and
    boxed paper (the paper benchmark's kind), read with --paper by the CLI's reader and by the app."""
    import base64

    from digitlab.reading.imaging import ImageError
    from digitlab.reading.numbers import Reader
    from digitlab.reading.pages import page_numbers

    numbers = page_numbers(mnist.x_test, mnist.y_test, 16, seed=5)
    context, page = open_app(browser, server)
    page.click("#mode-number")
    in_browser = page.evaluate("""async (encoded) => {
        const imaging = await import('./imaging.js');
        const read = [];
        for (const text of encoded) {
            const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
            const {picture, isJpeg} = await imaging.decode(new Blob([bytes]));
            await window.digitlabApp.readPixels(picture, {isJpeg, paper: true});
            read.push(document.getElementById('digit').textContent);
        }
        return read; }""", [base64.b64encode(number.data).decode() for number in numbers])
    context.close()
    reader = Reader(marked_run, paper=True)

    def read_on_server(data: bytes) -> str:
        try:
            return reader.read_file(data).number
        except ImageError:
            return "\u2013"

    on_server = [read_on_server(number.data) for number in numbers]
    assert in_browser == on_server, list(zip(in_browser, on_server, [n.truth for n in numbers], strict=True))


# ------------------------------------------------------------------------------------------------
# "Not a digit" and "not sure": the CLI, the API, the page and the app answer the same


def refusal_images(directory: Path, mnist) -> dict[str, Path]:
    """A printed letter, a drawn scribble and lined paper (none of them a digit), and an MNIST test digit,
    as the files a user would upload."""
    import matplotlib
    from PIL import ImageDraw, ImageFont

    from digitlab.reading.negatives import negative_uploads

    font = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), 200)
    letter = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(letter).text((50, 10), "K", font=font, fill=0)
    files = {"letter": directory / "letter-K.png", "scribble": directory / "scribble.png",
             "paper": directory / "lined-paper.png", "digit": directory / "digit-7.png"}
    letter.save(files["letter"])
    files["scribble"].write_bytes(negative_uploads("scribbles", 1, seed=7)[0])
    files["paper"].write_bytes(negative_uploads("lined-paper", 1, seed=7)[0])
    seven = mnist.x_test[int(np.flatnonzero(mnist.y_test == 7)[0])]
    Image.fromarray(255 - seven).resize((220, 220), Image.Resampling.BICUBIC).save(files["digit"])
    return files


def test_the_cli_the_api_the_page_and_the_app_refuse_the_same_images(abstaining_run, browser, mnist, tmp_path):
    import base64

    from conftest import run_cli

    files = refusal_images(tmp_path, mnist)
    cli = json.loads(run_cli("predict", abstaining_run.path, *files.values(), "--format", "json").stdout)
    by_cli = {name: row["status"] for name, row in zip(files, cli, strict=True)}
    assert by_cli["digit"] == "ok" and cli[-1]["digit"] == 7
    assert by_cli["letter"] in ("not-a-digit", "unsure") and by_cli["scribble"] in ("not-a-digit", "unsure")
    assert all(row["digit"] is None for row in cli if row["status"] != "ok")

    with running_server(abstaining_run.path) as (_, url):
        by_api = {}
        for name, path in files.items():
            body = json.dumps({"image_base64": base64.b64encode(path.read_bytes()).decode()}).encode()
            request = urllib.request.Request(f"{url}/v1/predict", data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    by_api[name] = json.loads(response.read())["status"]
            except urllib.error.HTTPError as error:  # an image without ink: 422 no_digit
                assert json.loads(error.read())["error"]["code"] == "no_digit"
                by_api[name] = "no-digit-found"
        assert by_api == by_cli

        for where, selector, shot in (("/", "#upload", "web-page-not-a-digit.png"),
                                      ("/app/", "#photo", "app-not-a-digit.png")):
            page = browser.new_page(viewport={"width": 1000, "height": 760})
            page.goto(url + where)
            page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30000)
            seen = {}
            for name, path in files.items():
                page.set_input_files(selector, str(path))
                page.wait_for_function("document.getElementById('digit').dataset.status !== ''", timeout=15000)
                page.wait_for_timeout(300)
                seen[name] = page.eval_on_selector("#digit", "d => d.dataset.status")
                text = page.locator("#digit").text_content()
                if seen[name] == "not-a-digit":
                    assert text == "not a digit"
                elif seen[name] == "unsure":
                    assert text.startswith("not sure: ") and page.locator("#candidates button").count() == 3
                if name == "letter":
                    ARTIFACTS.mkdir(exist_ok=True)
                    page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
                page.evaluate("document.getElementById('digit').dataset.status = ''")
            assert seen == by_cli, where
            page.close()


# ------------------------------------------------------------------------------------------------
# The review queue at /review


def test_a_reviewer_decides_the_queue_by_keyboard(exported_run, browser, tmp_path):
    from conftest import block_image
    from digitlab.feedback.store import FeedbackStore
    from digitlab.feedback.tokens import add_token

    store_path = tmp_path / "store"
    store = FeedbackStore(store_path)
    writer, reviewer = add_token(store, "form-app", "writer"), add_token(store, "ana", "reviewer")
    store.close()
    with running_server(exported_run.path, "--feedback", str(store_path)) as (_, url):
        ids = []
        for label in (3, 5, 6):
            body = json.dumps({"pixels": block_image(label).astype(int).tolist(), "label": str(label)}).encode()
            request = urllib.request.Request(f"{url}/v1/feedback", data=body, headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {writer}"})
            with urllib.request.urlopen(request, timeout=30) as answer:
                ids.append(json.loads(answer.read())["id"])
        page = browser.new_page()
        page.goto(f"{url}/review")
        page.fill("#token", "dl_wrong")
        page.click("#token-form button")
        page.wait_for_function("document.getElementById('review-status').textContent.includes('cannot open')")
        page.fill("#token", reviewer)
        page.click("#token-form button")
        page.wait_for_function("document.body.dataset.ready === 'true'")
        cards = page.locator("#queue li")
        assert cards.count() == 3 and "by form-app" in cards.first.text_content()
        shown = page.eval_on_selector_all("#queue li", "items => items.map(item => item.dataset.id)")
        assert sorted(shown) == sorted(ids)
        page.locator("body").click(position={"x": 5, "y": 5})
        for keys in (["a"], ["r"], ["8", "Enter"]):
            before = page.locator("#queue li[data-decided]").count()
            for key in keys:
                page.keyboard.press(key)
            page.wait_for_function(f"document.querySelectorAll('#queue li[data-decided]').length > {before}")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "review.png"), full_page=True)
        page.close()
    store = FeedbackStore(store_path)
    records = {record.id: record for record in store.records()}
    assert [records[i].status for i in shown] == ["approved", "rejected", "approved"]
    assert records[shown[2]].label == "8" and records[shown[2]].proposed_label != "8"
    assert all(store.history(i)[0]["decided_by"] == "ana" for i in ids)
    store.close()
