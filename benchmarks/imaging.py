"""What one real upload costs, split into decode / prepare (imaging.image_to_mnist) / infer, per kind and size
of image, as medians over repeats on one core; and `digitlab predict` on 1,000 photo-like files with one
process and with all cores. Imaging is decode + prepare (the median of their sum per image): the part
the issue's per-size targets time, the model's own call being measured beside it.

With --beside, the figures are kept beside the main ones (under `beside`, labelled with this CPU's maker
and bfloat16 hardware) instead of replacing them: how a second machine records its own.

    python -m benchmarks.imaging RUN [--repeats 30] [--beside]

RUN should be exported to ONNX (inference is ONNX Runtime with one thread, as the server runs it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "imaging.json"


def uploads(x_test: np.ndarray) -> dict[str, list[bytes]]:
    from benchmarks.uploads import canvas_png, phone_photo_jpeg, photo_like

    rng = np.random.default_rng(0)
    return {
        "280x280 canvas PNG (the page's)": [canvas_png(x_test[i]) for i in range(40)],
        "384x384 photo-like upload": photo_like(x_test[:40], rng, size=(384, 384)),
        "real-world set, 64-400 px": photo_like(x_test[40:240], rng),
        "1200x1200 PNG drawing": [canvas_png(x_test[i], side=1200, pen=72) for i in range(10)],
        "12 MP phone photo (4000x3000 JPEG)": [phone_photo_jpeg(x_test[i], rng) for i in range(5)],
    }


def time_stages(files: list[bytes], predictor, repeats: int) -> dict:
    from digitlab.reading.imaging import bytes_to_image, image_to_mnist

    decode, prepare, infer = [], [], []
    for _ in range(repeats):
        for data in files:
            started = time.perf_counter()
            image = bytes_to_image(data)
            decoded = time.perf_counter()
            prepared = image_to_mnist(image).image
            ready = time.perf_counter()
            predictor.predict(prepared)
            done = time.perf_counter()
            decode.append(decoded - started)
            prepare.append(ready - decoded)
            infer.append(done - ready)
    medians = {name: round(1000 * statistics.median(values), 3)
               for name, values in (("decode_ms", decode), ("prepare_ms", prepare), ("infer_ms", infer))}
    imaging = [a + b for a, b in zip(decode, prepare, strict=True)]  # what the targets time
    total = [a + b for a, b in zip(imaging, infer, strict=True)]
    return {"files": len(files), "mean_bytes": round(statistics.mean(map(len, files))), **medians,
            "imaging_ms": round(1000 * statistics.median(imaging), 3),
            "total_ms": round(1000 * statistics.median(total), 3), "samples": len(total)}


def time_predict_command(run: str, files: list[bytes], workers: int, repeats: int = 3) -> float:
    with tempfile.TemporaryDirectory() as temp:
        for index, data in enumerate(files):
            (Path(temp) / f"upload{index:04d}.png").write_bytes(data)
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "digitlab", "predict", run, temp, "--format", "csv", "--output",
                            str(Path(temp) / "answers.csv"), "--overwrite", "--workers", str(workers)],
                           check=True, capture_output=True)
            seconds.append(time.perf_counter() - started)
    return round(statistics.median(seconds), 2)


def measure(run: str, repeats: int) -> dict:
    from benchmarks.uploads import photo_like
    from digitlab import load_mnist
    from digitlab.inference.predictor import Predictor

    _, (x_test, _) = load_mnist(verbose=False)
    predictor = Predictor(run, threads=1)
    sizes = []
    for name, files in uploads(x_test).items():
        sizes.append({"upload": name, **time_stages(files, predictor, repeats if len(files) > 5 else 4)})
    many = photo_like(x_test[:1000], np.random.default_rng(1))
    predict = {"files": len(many), "one_process_seconds": time_predict_command(run, many, 1),
               "all_cores_seconds": time_predict_command(run, many, 2)}
    return {"command": f"python -m benchmarks.imaging {run} --repeats {repeats}", "run": run,
            "engine": predictor.engine, "sizes": sizes, "predict_1000_files": predict}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run directory, exported to ONNX")
    parser.add_argument("--repeats", type=int, default=30, help="passes over each set of files (default: 30)")
    from benchmarks.report import BESIDE_HELP, record

    parser.add_argument("--beside", action="store_true", help=BESIDE_HELP)
    arguments = parser.parse_args()
    result = measure(arguments.run, arguments.repeats)

    if arguments.beside:
        result["command"] += " --beside"
    record(RESULTS, result, beside=arguments.beside)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
