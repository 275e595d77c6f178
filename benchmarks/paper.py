"""Numbers on real-looking paper: how well `digitlab read` reads numbers of MNIST *test* digits written on
ruled, squared, dotted and boxed paper and photographed (``digitlab.reading.pages``), a quarter of them
with a minus sign or a decimal point; and how long one 12-megapixel photo of such a page takes to read.

Reported per paper and for the signed numbers: whole numbers right, and characters right (``digit_accuracy``:
1 - the character error rate, by edit distance, signs and points counting as characters), and what went wrong
(benchmarks.numbers' split, merge, classify, failed). The reader's paper
settings were chosen on sets built the same way from MNIST *training* digits (``--digits train --seed 1``),
never on this one (seed 0, test digits).

    python -m benchmarks.paper RUN [RUN ...] [--count 400] [--seed 0] [--digits test|train]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.numbers import error_kind, summarise
from benchmarks.report import publish
from digitlab import plots
from digitlab.data import load_dataset
from digitlab.reading.imaging import ImageError
from digitlab.reading.numbers import Reader
from digitlab.reading.pages import PAPERS, PageNumber, page_numbers
from digitlab.runs import open_run
from digitlab.training.settings import train_command

RESULTS = Path(__file__).resolve().parent / "results" / "paper.json"
PHOTO_SIZE = (4000, 3000)  # 12 megapixels, as a phone takes them


def photo_seconds(reader: Reader, number: PageNumber, repeats: int = 5) -> float:
    """Median seconds to read one page photo scaled up to PHOTO_SIZE (decoding included)."""
    buffer = io.BytesIO()
    Image.open(io.BytesIO(number.data)).convert("RGB").resize(PHOTO_SIZE, Image.Resampling.BICUBIC).save(
        buffer, format="JPEG", quality=90)
    data = buffer.getvalue()
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        reader.read_file(data)
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])  # the first warms the model up


def measure(run_path: str, numbers: list[PageNumber]) -> dict:
    run = open_run(run_path)
    reader = Reader(run, min_confidence=0, paper=True)  # the reading itself; abstention is its own benchmark
    outcomes = []
    for number in numbers:
        try:
            read = reader.read_file(number.data).read_as
        except ImageError:
            read = None
        outcomes.append({"truth": number.truth, "read": read, "error": error_kind(number.truth, read),
                         "paper": number.paper, "signed": number.signed})
    return {"run": run_path, "trained_with": train_command(run.config),
            "mark_model": bool(run.config.get("marks")),
            "all": summarise(outcomes),
            "by_paper": {paper: summarise([o for o in outcomes if o["paper"] == paper]) for paper in PAPERS},
            "signed": summarise([o for o in outcomes if o["signed"]]),
            "unsigned": summarise([o for o in outcomes if not o["signed"]]),
            "photo_12mp_ms": round(1000 * photo_seconds(reader, numbers[0]), 1),
            "wrong_examples": [o for o in outcomes if o["error"]][:20]}


def draw_readings(run_path: str, numbers: list[PageNumber], directory: Path) -> None:
    """directory/paper-KIND.png: the first number on each kind of paper, boxed as ``digitlab read --paper``
    reads it, with what it read and what is written."""
    reader = Reader(open_run(run_path), paper=True)
    directory.mkdir(parents=True, exist_ok=True)
    for paper in PAPERS:
        number = next(n for n in numbers if n.paper == paper)
        reading = reader.read_file(number.data)
        photo = np.asarray(Image.open(io.BytesIO(number.data)).convert("RGB"))
        figure = plots.reading_figure(photo, [digit.box for digit in reading.digits],
                                      [str(digit.digit) for digit in reading.digits],
                                      f"{paper} paper: read {reading.read_as}, written {number.truth}")
        plots.save_figure(figure, directory / f"paper-{paper}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN")
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--digits", choices=("test", "train"), default="test",
                        help="which MNIST digits the numbers are made of (train: for choosing settings)")
    parser.add_argument("--pictures", type=Path, metavar="DIR",
                        help="also draw the first number of each paper as the first RUN read it (README's pictures)")
    arguments = parser.parse_args()
    dataset = load_dataset(None)
    images, labels = ((dataset.x_test, dataset.y_test) if arguments.digits == "test"
                      else (dataset.x_train, dataset.y_train))
    numbers = page_numbers(images, labels, arguments.count, arguments.seed)
    results = {run: measure(run, numbers) for run in arguments.runs}
    if arguments.pictures:
        draw_readings(arguments.runs[0], numbers, arguments.pictures)
    command = f"python -m benchmarks.paper {' '.join(arguments.runs)} --count {arguments.count} --seed {arguments.seed}"
    if arguments.digits == "test":
        publish(RESULTS, {"command": command, "count": arguments.count, "seed": arguments.seed, "runs": results})
    else:  # a tuning set: printed, never recorded
        for run, result in results.items():
            print(run, result["all"], {paper: r["whole_accuracy"] for paper, r in result["by_paper"].items()},
                  "signed", result["signed"])


if __name__ == "__main__":
    main()
