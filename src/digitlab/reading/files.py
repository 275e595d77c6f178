"""``digitlab predict`` on files: collect image paths, read and prepare each (one bad file does not
stop the rest; many files are prepared on every core), classify them in batches, and render the
answers as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab import plots
from digitlab.errors import DigitlabError, InvalidArgument, option
from digitlab.fileio import atomic_write_text
from digitlab.inference.explain import Explainer
from digitlab.inference.predictor import Prediction, Predictor
from digitlab.reading.imaging import MAX_IMAGE_BYTES, ImageError, NoDigitFound, bytes_to_mnist
from digitlab.reading.numbers import Reader, count_digits
from digitlab.tables import text_table

PARALLEL_FROM = 64  # fewer files than this are prepared in this process: starting workers would cost more
PREDICT_CHUNK = 4096  # images per model call
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
FORMATS = ("table", "csv", "json")


def collect_image_paths(arguments: list[str]) -> list[str]:
    """Files as given, directories expanded to their image files, unexpanded globs expanded (sorted)."""
    import glob

    paths: list[str] = []
    for argument in arguments:
        if os.path.isdir(argument):
            paths += sorted(str(p) for p in Path(argument).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif any(character in argument for character in "*?[") and not os.path.exists(argument):
            paths += sorted(glob.glob(argument, recursive=True)) or [argument]
        else:
            paths.append(argument)
    return paths


@dataclass(frozen=True)
class FileResult:
    path: str
    prediction: Prediction | None = None
    error: str | None = None
    warning: str | None = None
    no_digit: bool = False  # the error is that the image holds no ink


def prepare_file(path: str) -> tuple[np.ndarray | None, str | None, str | None, bool]:
    """One file's 28x28 input, or why it could not be read (and whether that is an image without ink), and
    a warning when the image holds several digits (runs in a worker process for many files)."""
    try:
        if os.path.getsize(path) > MAX_IMAGE_BYTES:
            raise ImageError(f"file is over the {MAX_IMAGE_BYTES / 1e6:.1f} MB limit")
        with open(path, "rb") as stream:
            prepared = bytes_to_mnist(stream.read())
        ink = prepared.working_ink()
        marks = 1 if ink is None else count_digits(ink)
    except (OSError, ImageError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        return None, reason, None, isinstance(error, NoDigitFound)
    warning = None if marks < 2 else (f"the image holds {marks} digits side by side, and predict reads one; "
                                      "`digitlab read` reads whole numbers")
    return prepared.image, None, warning, False


def default_workers() -> int:
    return len(os.sched_getaffinity(0))


def predict_files(predictor: Predictor, paths: list[str], *, workers: int | None = None,
                  progress: bool = False) -> list[FileResult]:
    """Each file read, prepared and classified on its own: one bad file does not stop the rest.

    With ``workers`` > 1 and many files, files are prepared in that many processes; ``progress`` shows a
    progress bar on standard error.
    """
    from tqdm import tqdm

    workers = default_workers() if workers is None else workers
    with tqdm(total=len(paths), unit="file", desc="reading", disable=not progress, file=sys.stderr) as bar:
        if workers > 1 and len(paths) >= PARALLEL_FROM:
            import multiprocessing

            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                prepared = []
                for outcome in pool.map(prepare_file, paths, chunksize=max(1, len(paths) // (8 * workers))):
                    prepared.append(outcome)
                    bar.update()
        else:
            prepared = []
            for path in paths:
                prepared.append(prepare_file(path))
                bar.update()
    readable = [index for index, (image, *_) in enumerate(prepared) if image is not None]
    results = [FileResult(path, error=error, no_digit=no_digit)
               for path, (_, error, _, no_digit) in zip(paths, prepared, strict=True)]
    for start in range(0, len(readable), PREDICT_CHUNK):
        chunk = readable[start:start + PREDICT_CHUNK]
        batch = predictor.predict_batch(np.stack([prepared[index][0] for index in chunk]))
        for row, index in enumerate(chunk):
            results[index] = FileResult(paths[index], prediction=batch[row], warning=prepared[index][2])
    return results


def result_rows(results: list[FileResult]) -> list[dict]:
    """One JSON-ready row per file: the digit (None when withheld), its status, confidence, top 3 (the
    candidates of a withheld reading) and all probabilities, or the error."""
    rows = []
    for result in results:
        prediction = result.prediction
        if prediction is None:
            status = NO_DIGIT_STATUS if result.no_digit else None
            rows.append({"file": result.path, "digit": None, "status": status, "confidence": None, "top3": None,
                         "probabilities": None, "error": result.error, "warning": None})
        else:
            rows.append({"file": result.path, "digit": prediction.given, "status": prediction.status,
                         "confidence": round(prediction.confidence, 4),
                         "top3": [[digit, round(p, 4)] for digit, p in prediction.top(3)],
                         "probabilities": [round(p, 6) for p in prediction.probabilities], "error": None,
                         "warning": result.warning})
    return rows


NO_DIGIT_STATUS = "no-digit-found"


def reading_text(row: dict) -> str:
    """How a table says a row's digit: the digit, "not a digit", or "not sure: 4 or 9?"."""
    if row["digit"] is not None:
        return str(row["digit"])
    if row["status"] == "not-a-digit":
        return "not a digit"
    if row["status"] == "unsure":
        return "not sure: " + " or ".join(str(digit) for digit, _ in row["top3"][:2]) + "?"
    return "-"


def render_rows(rows: list[dict], output_format: str) -> str:
    """The rows as a text table, CSV (file, digit, status, confidence, top3, error, warning) or JSON."""
    if output_format == "json":
        return json.dumps(rows, indent=2) + "\n"
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["file", "digit", "status", "confidence", "top3", "error", "warning"])
        for row in rows:
            top3 = " ".join(f"{d}:{p:.3f}" for d, p in row["top3"]) if row["top3"] else ""
            writer.writerow([row["file"], "" if row["digit"] is None else row["digit"], row["status"] or "",
                             "" if row["confidence"] is None else row["confidence"], top3, row["error"] or "",
                             row["warning"] or ""])
        return buffer.getvalue()
    if output_format != "table":
        raise InvalidArgument(f"unknown format {output_format!r}; choose one of: {', '.join(FORMATS)}")
    body = [[row["file"], reading_text(row),
             "-" if row["confidence"] is None else f"{row['confidence']:.1%}",
             ", ".join(f"{d} ({p:.0%})" for d, p in row["top3"]) if row["top3"] else f"error: {row['error']}"]
            for row in rows]
    return text_table(["file", "digit", "confidence", "top 3"], body) + "\n"


@dataclass(frozen=True)
class PredictionReport:
    """What ``digitlab predict`` or ``digitlab read`` produced: one row per file and the rendered text
    (already written when an output was given)."""

    text: str
    rows: list[dict]
    output: str | None

    @property
    def failed(self) -> int:
        return sum(row["error"] is not None for row in self.rows)

    @property
    def warnings(self) -> list[tuple[str, str]]:
        """(file, warning) for each file read with a caveat (an image that holds several digits)."""
        return [(row["file"], row["warning"]) for row in self.rows if row.get("warning")]


def _files_to_read(paths: list[str], output_format: str, output: str | os.PathLike | None,
                   overwrite: bool) -> list[str]:
    """The image files named by ``paths``, after checking the format and that ``output`` may be written."""
    if output_format not in FORMATS:
        raise InvalidArgument(f"unknown format {output_format!r}; choose one of: {', '.join(FORMATS)}")
    if output and Path(output).exists() and not overwrite:
        raise DigitlabError(f"{output} already exists; pass {option('overwrite')} to replace it")
    files = collect_image_paths(paths)
    if not files:
        raise DigitlabError("no image files found in the given paths")
    return files


def _report(rows: list[dict], text: str, output: str | os.PathLike | None) -> PredictionReport:
    if output:
        atomic_write_text(output, text)
    return PredictionReport(text, rows, None if output is None else str(output))


def predict_paths(run, paths: list[str], *, engine: str = "auto", output_format: str = "table",
                  output: str | os.PathLike | None = None, overwrite: bool = False, workers: int | None = None,
                  progress: bool = False, min_confidence: float | None = None) -> PredictionReport:
    """Classify the image files in ``paths`` (files, directories, globs) and render the answers;
    with ``output``, write them there (atomically; an existing file only with ``overwrite``).
    ``workers`` processes prepare the files (default: one per core); ``progress`` shows a bar on stderr."""
    files = _files_to_read(paths, output_format, output, overwrite)
    if workers is not None and workers < 1:
        raise InvalidArgument(f"workers must be at least 1, got {workers}")
    predictor = Predictor(run, engine=engine, min_confidence=min_confidence)
    rows = result_rows(predict_files(predictor, files, workers=workers, progress=progress))
    return _report(rows, render_rows(rows, output_format), output)


def read_paths(run, paths: list[str], *, engine: str = "auto", output_format: str = "table",
               output: str | os.PathLike | None = None, overwrite: bool = False,
               progress: bool = False, min_confidence: float | None = None,
               decimal_comma: bool = False, paper: bool = False) -> PredictionReport:
    """Read the number in each image file of ``paths`` (files, directories, globs), one line per file (its
    decimal separator a comma with ``decimal_comma``); a file that cannot be read gets its reason and the rest
    continue. Rendered and written like predict."""
    from tqdm import tqdm

    files = _files_to_read(paths, output_format, output, overwrite)
    reader, rows = Reader(run, engine=engine, min_confidence=min_confidence, paper=paper), []
    for path in tqdm(files, unit="file", desc="reading", disable=not progress, file=sys.stderr):
        try:
            if os.path.getsize(path) > MAX_IMAGE_BYTES:
                raise ImageError(f"file is over the {MAX_IMAGE_BYTES / 1e6:.1f} MB limit")
            with open(path, "rb") as stream:
                reading = reader.read_file(stream.read(), decimal_comma=decimal_comma)
            rows.append({"file": path, **reading.to_json(), "error": None})
        except (OSError, ImageError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            rows.append({"file": path, "number": None, "confidence": None, "withheld": None, "minus": None,
                         "point": None, "digits": None, "error": reason})
    return _report(rows, render_numbers(rows, output_format), output)


def render_numbers(rows: list[dict], output_format: str) -> str:
    """Number readings as a text table, CSV (file, number, confidence, digits, error, withheld: the positions
    of the digits withheld, which leave the number empty) or JSON."""
    if output_format == "json":
        return json.dumps(rows, indent=2) + "\n"

    def digits_text(row: dict) -> str:
        return " ".join(f"{'?' if d['digit'] is None else d['digit']}:{d['confidence']:.3f}"
                        for d in row["digits"]) if row["digits"] else ""

    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["file", "number", "confidence", "digits", "error", "withheld"])
        for row in rows:
            writer.writerow([row["file"], row["number"] or "", "" if row["confidence"] is None
                             else round(row["confidence"], 4), digits_text(row), row["error"] or "",
                             " ".join(map(str, row["withheld"] or []))])
        return buffer.getvalue()
    body = [[row["file"], row["number"] or "-", "-" if row["confidence"] is None else f"{row['confidence']:.1%}",
             digits_text(row) or f"error: {row['error']}"] for row in rows]
    return text_table(["file", "number", "confidence", "digits (digit:confidence)"], body) + "\n"


def _output_names(files: list[str]) -> list[str]:
    """Each file's stem, made unique (a/x.png and b/x.png become x and x-2)."""
    names, taken = [], set()
    for path in files:
        stem, name, count = Path(path).stem, Path(path).stem, 1
        while name in taken:
            count += 1
            name = f"{stem}-{count}"
        taken.add(name)
        names.append(name)
    return names


def explain_paths(run, paths: list[str], *, out: str | os.PathLike = "explanations", method: str = "occlusion",
                  engine: str = "auto", overwrite: bool = False, output_format: str = "table",
                  progress: bool = False) -> PredictionReport:
    """Explain the reading of each image file in ``paths``: into ``out``, NAME.png (the input with the
    evidence for its digit and for the runner-up) and NAME.json; a file that cannot be read gets its reason
    and the rest continue. The rows (file, digit, confidence, runner_up, png, json, error) render as a table
    or JSON."""
    from tqdm import tqdm


    if output_format not in ("table", "json"):
        raise InvalidArgument(f"unknown format {output_format!r}; choose table or json")
    files = _files_to_read(paths, output_format, None, overwrite)
    out = Path(out)
    names = _output_names(files)
    existing = [out / f"{name}{suffix}" for name in names for suffix in (".png", ".json")
                if (out / f"{name}{suffix}").exists()]
    if existing and not overwrite:
        raise DigitlabError(f"{existing[0]} already exists; pass {option('overwrite')} to replace it")
    explainer = Explainer(run, method, engine=engine)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for path, name in tqdm(list(zip(files, names, strict=True)), unit="file", desc="explaining",
                           disable=not progress, file=sys.stderr):
        image, error, *_ = prepare_file(path)
        if image is None:
            rows.append({"file": path, "digit": None, "confidence": None, "runner_up": None, "png": None,
                         "json": None, "error": error})
            continue
        (explanation,) = explainer.explain(image)
        picture, record = out / f"{name}.png", out / f"{name}.json"
        plots.save_figure(plots.explanation_figure(explanation), picture)
        atomic_write_text(record, json.dumps({"file": path, **explanation.to_json()}) + "\n")
        rows.append({"file": path, "digit": explanation.digit, "confidence": round(explanation.confidence, 4),
                     "runner_up": explanation.runner_up, "png": str(picture), "json": str(record), "error": None})
    if output_format == "json":
        return PredictionReport(json.dumps(rows, indent=2) + "\n", rows, None)
    body = [[row["file"], reading_text(row),
             "-" if row["confidence"] is None else f"{row['confidence']:.1%}",
             "-" if row["runner_up"] is None else str(row["runner_up"]), row["png"] or f"error: {row['error']}"]
            for row in rows]
    return PredictionReport(text_table(["file", "digit", "confidence", "runner-up", "explanation"], body) + "\n",
                            rows, None)
