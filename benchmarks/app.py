"""The on-device app in a real browser (Debian's Chromium, headless, on this machine's cores).

Size: every file the app is made of (what a phone downloads once), the ONNX Runtime wasm and the model
apart. First load: from navigation to the model ready to read, with an empty cache, over loopback from
`digitlab serve` (median of 5 fresh browser contexts). Per reading: what the app does after each stroke
(imaging.js on the canvas' 280x280 pixels, then the model in ONNX Runtime Web, one wasm thread), timed
inside the page, median and p90 of 100 canvas drawings of MNIST test digits.

    python -m benchmarks.app runs/quickstart/cnn
"""

from __future__ import annotations

import argparse
import base64
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "app.json"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"]
READINGS = 100


def _serve(run: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "digitlab", "serve", run, "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="an exported run directory (runs/quickstart/cnn)")
    arguments = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from benchmarks.uploads import canvas_png
    from digitlab import load_mnist
    from digitlab.serving.offline_app import build_app

    with tempfile.TemporaryDirectory() as scratch:
        built = build_app(arguments.run, Path(scratch) / "app")
        wasm = (Path(built["directory"]) / "vendor" / "ort-wasm-simd-threaded.wasm").stat().st_size
        model = (Path(built["directory"]) / "model.onnx").stat().st_size
    _, (x_test, y_test) = load_mnist(verbose=False)
    drawings = [base64.b64encode(canvas_png(digit)).decode() for digit in x_test[:READINGS]]
    process, url = _serve(arguments.run)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                                 args=CHROMIUM_FLAGS)
            loads = []
            for _ in range(5):
                context = browser.new_context()
                page = context.new_page()
                started = time.perf_counter()
                page.goto(f"{url}/app/")
                page.wait_for_function("document.body.dataset.ready === 'true'", timeout=60000)
                loads.append(time.perf_counter() - started)
                context.close()
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{url}/app/")
            page.wait_for_function("document.body.dataset.ready === 'true'", timeout=60000)
            timings = page.evaluate("""async (drawings) => {
                const {decode} = await import('./imaging.js');
                const pictures = [];
                for (const text of drawings) {
                    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
                    pictures.push((await decode(new Blob([bytes]))).picture);
                }
                for (const picture of pictures.slice(0, 5)) await window.digitlabApp.readPixels(picture);  // warm-up
                const times = [], digits = [];
                for (const picture of pictures) {
                    times.push(await window.digitlabApp.readPixels(picture));
                    digits.push(Number(document.getElementById('digit').textContent));
                }
                return {times, digits};
            }""", drawings)
            version = browser.version
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
    times = timings["times"]
    from benchmarks.report import publish

    publish(RESULTS, {
        "command": f"python -m benchmarks.app {arguments.run}", "browser": f"Chromium {version} (headless)",
        "model": built["model"]["model"], "app_megabytes": round(built["bytes"] / 1e6, 2),
        "wasm_megabytes": round(wasm / 1e6, 2), "model_megabytes": round(model / 1e6, 2),
        "first_load_seconds": round(statistics.median(loads), 3), "first_loads": [round(t, 3) for t in loads],
        "reading_median_ms": round(statistics.median(times), 2),
        "reading_p90_ms": round(float(np.percentile(times, 90)), 2),
        "readings": len(times), "accuracy": float(np.mean(np.asarray(timings["digits"]) == y_test[:READINGS])),
    })


if __name__ == "__main__":
    main()
