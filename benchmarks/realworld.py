"""Real-world-looking digits: MNIST *test* digits re-drawn the way users send them, and how well a model
reads them through (a) naive "convert to L, resize to 28x28" and (b) digitlab's imaging pipeline.

Each test digit is upscaled onto a larger canvas (64-400 px), at a random place and scale, with a
thinner or thicker pen, rotated a little, in random ink and paper colours of either polarity, with
sensor noise, and saved as JPEG (quality 35-95) or PNG (sometimes with a transparent background, as a
canvas drawing would be). Images are made from a fixed seed, so every run sees the same set.

    python -m benchmarks.realworld RUN [--count 2000] [--seed 0] [--save-examples DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

RESULTS = Path(__file__).resolve().parent / "results" / "realworld.json"


def redraw(digit: np.ndarray, rng: np.random.Generator, size: tuple[int, int] | None = None) -> bytes:
    """One MNIST digit (28x28 uint8, white on black) as the bytes of a photo-like or canvas-like image
    (of ``size``, else of a random size of 64-400 pixels a side)."""
    drawn = tuple(int(v) for v in rng.integers(64, 401, size=2))
    width, height = size or drawn
    size = int(min(width, height) * rng.uniform(0.35, 0.9))
    big = np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)
    pen = int(round(rng.uniform(-0.5, 1.5) * size / 28))  # thinner (< 0) or thicker pen, in source pixels
    if pen > 0:
        big = ndimage.grey_dilation(big, size=(pen + 1, pen + 1))
    elif pen < 0:
        big = ndimage.grey_erosion(big, size=(1 - pen, 1 - pen))
    big = np.asarray(Image.fromarray(np.clip(big, 0, 255).astype(np.uint8)).rotate(
        rng.uniform(-12, 12), resample=Image.Resampling.BILINEAR, expand=True), dtype=np.float32) / 255.0
    canvas = np.zeros((height, width), dtype=np.float32)
    top = int(rng.integers(0, max(1, height - big.shape[0] + 1)))
    left = int(rng.integers(0, max(1, width - big.shape[1] + 1)))
    piece = big[: height - top, : width - left]
    canvas[top: top + piece.shape[0], left: left + piece.shape[1]] = piece

    light = rng.uniform(170, 255, size=3)
    dark = rng.uniform(0, 90, size=3)
    ink_colour, paper_colour = (dark, light) if rng.random() < 0.7 else (light, dark)
    if rng.random() < 0.4:  # a coloured pen
        ink_colour = ink_colour * rng.uniform(0.3, 1.0, size=3)
    rgb = paper_colour * (1 - canvas[..., None]) + ink_colour * canvas[..., None]
    rgb += rng.normal(0, rng.uniform(0, 12), size=rgb.shape)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)

    buffer = io.BytesIO()
    choice = rng.random()
    if choice < 0.6:
        Image.fromarray(rgb).save(buffer, format="JPEG", quality=int(rng.integers(35, 96)))
    elif choice < 0.8:
        rgba = np.dstack([np.broadcast_to(ink_colour.astype(np.uint8), rgb.shape), (canvas * 255).astype(np.uint8)])
        Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG")  # strokes on a transparent canvas
    else:
        Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def make_set(count: int, seed: int) -> tuple[list[bytes], np.ndarray, np.ndarray]:
    from digitlab import load_mnist

    _, (x_test, y_test) = load_mnist(verbose=False)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(x_test), size=count, replace=False)
    return [redraw(x_test[i], rng) for i in chosen], y_test[chosen], chosen


def measure(run_path: str, count: int, seed: int, save_examples: Path | None) -> dict:
    from digitlab.inference.predictor import Predictor
    from digitlab.reading.imaging import NoDigitFound, bytes_to_image, image_to_mnist, naive_mnist

    def prepared(data: bytes) -> np.ndarray | None:
        try:
            return image_to_mnist(bytes_to_image(data)).image
        except NoDigitFound:
            return None  # counted as a wrong answer

    started = time.perf_counter()
    files, labels, chosen = make_set(count, seed)
    predictor = Predictor(run_path)
    naive = np.stack([naive_mnist(bytes_to_image(data)) for data in files])
    naive_accuracy = float(np.mean(predictor.predict_batch(naive).digits == labels))
    pipeline = [prepared(data) for data in files]
    found = [index for index, image in enumerate(pipeline) if image is not None]
    digits = predictor.predict_batch(np.stack([pipeline[index] for index in found])).digits
    pipeline_accuracy = float(np.sum(digits == labels[found]) / len(files))
    if save_examples:
        save_examples.mkdir(parents=True, exist_ok=True)
        for index in range(12):
            (save_examples / f"example-{index:02d}-label{labels[index]}.img").write_bytes(files[index])
    return {
        "command": f"python -m benchmarks.realworld {run_path} --count {count} --seed {seed}",
        "run": run_path,
        "count": count,
        "seed": seed,
        "naive_accuracy": round(naive_accuracy, 4),
        "pipeline_accuracy": round(pipeline_accuracy, 4),
        "no_digit_found": len(files) - len(found),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run directory of the model to read the digits with")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-examples", type=Path, help="also write a few of the generated files here")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="the results file (default: results/realworld.json; the shipped model's figures go to "
                        "results/realworld-shipped.json)")
    arguments = parser.parse_args()
    result = measure(arguments.run, arguments.count, arguments.seed, arguments.save_examples)
    from benchmarks.report import out_option, record

    result["command"] += out_option(arguments.out, RESULTS)
    record(arguments.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
