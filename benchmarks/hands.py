"""Writers MNIST lacks: single digits by hands no MNIST writer had, read through imaging like any upload.

Three sources, none of them used to train or tune anything:

- ``pyclustering``: the 250 digit images (25 of each digit, by one writer) that pyclustering 0.10.1.2's sdist
  ships, fetched from PyPI by ``pip download`` and checked against SHA256 below;
- ``fonts``: the digits of the handwriting fonts Debian packages (``make fonts`` installs them; not
  fonts-femkeklaver, whose digits are outlines no one writes): each font is a writer, each digit drawn 12
  times at its own size, pen weight and tilt, in the number reader's four looks;
- ``styles``: four made-up writers applied to MNIST *test* digits, each beyond the ranges the ``writers``
  augmentation trains with: a hard right slant and narrow hand, a backhand and wide one, a shaky hand
  (strong elastic distortion) and a thick blunt pen.

Accuracy is per source and over all images; the target (>= 97%) is for all of them together.

    python -m benchmarks.hands RUN [RUN ...]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from benchmarks.report import publish
from digitlab.data import load_dataset
from digitlab.inference.predictor import Predictor
from digitlab.reading.imaging import ImageError, bytes_to_mnist
from digitlab.reading.synthetic import LOOKS, render

RESULTS = Path(__file__).resolve().parent / "results" / "hands.json"
SEED = 20261204  # no training uses it
PYCLUSTERING = ("pyclustering==0.10.1.2", "pyclustering-0.10.1.2.tar.gz",
                "8a98fd299fcc1e21b7b7c963275162dd7194aa3d921aa66d313775597cf833d1")
CACHE = Path.home() / ".cache" / "digitlab" / "hands"
# Debian's handwriting fonts (package: files); `make fonts` installs the packages.
FONTS = {
    "fonts-dkg-handwriting": ("truetype/fifthhorseman/dkg.ttf",),
    "fonts-breip": ("truetype/breip/Breip.ttf",),
    "fonts-bwht": tuple(f"opentype/bwht/BecauseWe{name}-Regular.otf"
                        for name in ("Build", "Connect", "Create", "Learn", "Mentor", "Organize")),
    "fonts-humor-sans": ("truetype/humor-sans/Humor-Sans.ttf",),
    "fonts-comic-neue": ("opentype/comic-neue/ComicNeue-Regular.otf",),
    "fonts-dancingscript": ("opentype/dancingscript/DancingScript-Regular.otf",),
    "fonts-kaushanscript": ("opentype/kaushanscript/KaushanScript-Regular.otf",),
    "fonts-kristi": ("truetype/kristi/Kristi.ttf",),
}
FONT_ROOT = Path("/usr/share/fonts")
PER_FONT_DIGIT = 12
STYLE_DIGITS = 400
STYLES = {  # (shear, width, turn in degrees, elastic alpha, pen dilation)
    "slanted-narrow": (0.7, 0.55, 8.0, 0.0, 0),
    "backhand-wide": (-0.4, 1.3, -6.0, 0.0, 0),
    "shaky": (0.0, 1.0, 0.0, 40.0, 0),
    "thick-pen": (0.2, 1.0, 0.0, 0.0, 3),
}


def pyclustering_digits() -> tuple[list[bytes], np.ndarray]:
    """The sdist's digit PNGs and their labels (Digit_D_SampleNN.png), from a verified download."""
    name, file_name, sha256 = PYCLUSTERING
    archive = CACHE / file_name
    if not archive.exists() or hashlib.sha256(archive.read_bytes()).hexdigest() != sha256:
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as folder:
            subprocess.run([sys.executable, "-m", "pip", "download", name, "--no-deps", "--no-binary", ":all:",
                            "-d", folder, "-q"], check=True)
            data = (Path(folder) / file_name).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise SystemExit(f"{file_name}: its SHA-256 is not the one recorded; not using it")
        archive.write_bytes(data)
    images, labels = [], []
    with tarfile.open(archive) as tar:
        for member in sorted(tar.getmembers(), key=lambda member: member.name):
            if "/samples/images/digits/Digit_" in member.name and member.name.endswith(".png"):
                images.append(tar.extractfile(member).read())
                labels.append(int(member.name.rsplit("Digit_", 1)[1][0]))
    return images, np.array(labels)


def font_files() -> dict[str, Path]:
    missing = [package for package, files in FONTS.items() if not all((FONT_ROOT / f).is_file() for f in files)]
    if missing:
        raise SystemExit(f"missing handwriting fonts ({', '.join(missing)}): install them with `make fonts`")
    return {Path(f).stem: FONT_ROOT / f for files in FONTS.values() for f in files}


def font_digit(font: Path, digit: int, rng: np.random.Generator) -> np.ndarray:
    """One digit in a font as ink (white on black, 0..1): its own size, pen weight and tilt."""
    size = int(rng.integers(40, 110))
    face = ImageFont.truetype(str(font), size=size)
    image = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(image).text((size // 2, size // 3), str(digit), font=face, fill=255,
                               stroke_width=int(rng.integers(0, max(1, size // 30) + 1)), stroke_fill=255)
    turned = image.rotate(rng.uniform(-6, 6), resample=Image.Resampling.BILINEAR)
    return np.asarray(turned, dtype=np.float32) / 255.0


def font_set(rng: np.random.Generator) -> tuple[list[bytes], np.ndarray, list[str]]:
    uploads, labels, writers = [], [], []
    for name, font in font_files().items():
        for digit in range(10):
            for index in range(PER_FONT_DIGIT):
                uploads.append(render(font_digit(font, digit, rng), LOOKS[index % len(LOOKS)], rng))
                labels.append(digit)
                writers.append(name)
    return uploads, np.array(labels), writers


def styled(digit: np.ndarray, style: tuple[float, float, float, float, int], rng: np.random.Generator) -> np.ndarray:
    """An MNIST digit (28x28, 0..1) as one of STYLES writes it, on a 56x56 canvas so nothing is cut off."""
    shear, width, turn, alpha, pen = style
    canvas = np.zeros((56, 56), np.float32)
    canvas[14:42, 14:42] = digit
    angle = np.deg2rad(turn)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = rotation @ np.array([[1.0, 0.0], [shear, 1.0 / width]])  # output (row, column) -> input
    centre = np.array([27.5, 27.5])
    grid = np.stack(np.meshgrid(np.arange(56), np.arange(56), indexing="ij"), -1) - centre
    source = grid @ matrix.T + centre
    if alpha:
        field = ndimage.gaussian_filter(rng.uniform(-1, 1, (56, 56, 2)), sigma=(4, 4, 0)) * alpha
        source = source + field
    out = ndimage.map_coordinates(canvas, [source[..., 0], source[..., 1]], order=1, cval=0.0)
    if pen:
        out = ndimage.grey_dilation(out, size=(pen, pen))
    return np.clip(out, 0, 1)


def style_set(rng: np.random.Generator) -> tuple[list[bytes], np.ndarray, list[str]]:
    dataset = load_dataset(None)
    uploads, labels, writers = [], [], []
    for name, style in STYLES.items():
        chosen = rng.choice(len(dataset.y_test), STYLE_DIGITS, replace=False)
        for index, which in enumerate(chosen):
            ink = styled(dataset.x_test[which].astype(np.float32) / 255.0, style, rng)
            ink = np.asarray(Image.fromarray((ink * 255).astype(np.uint8)).resize((112, 112), Image.Resampling.BICUBIC),
                             dtype=np.float32) / 255.0
            uploads.append(render(ink, LOOKS[index % len(LOOKS)], rng))
            labels.append(int(dataset.y_test[which]))
            writers.append(name)
    return uploads, np.array(labels), writers


def to_inputs(uploads: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """The 28x28 inputs imaging makes of the uploads, and which uploads it found a digit in."""
    inputs, found = [], []
    for data in uploads:
        try:
            inputs.append(bytes_to_mnist(data).image)
            found.append(True)
        except ImageError:
            found.append(False)
    return np.stack(inputs), np.array(found)


def build_sets() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]]:
    """source -> (inputs, labels, found, writer of each upload)."""
    rng = np.random.default_rng(SEED)
    images, labels = pyclustering_digits()
    sources = {"pyclustering": (images, labels, ["pyclustering"] * len(labels)),
               "fonts": font_set(rng), "styles": style_set(rng)}
    sets = {}
    for name, (uploads, labels, writers) in sources.items():
        inputs, found = to_inputs(uploads)
        sets[name] = (inputs, labels, found, writers)
    return sets


def measure(run_path: str, sets: dict) -> dict:
    predictor = Predictor(run_path, min_confidence=0)  # the reading itself; abstention is measured apart
    by_source, right_all, total_all = {}, 0, 0
    for name, (inputs, labels, found, writers) in sets.items():
        right = np.zeros(len(labels), bool)
        right[found] = predictor.predict_batch(inputs).digits == labels[found]
        writers = np.array(writers)
        by_writer = {writer: round(float(right[writers == writer].mean()), 4) for writer in dict.fromkeys(writers)}
        by_source[name] = {"images": len(labels), "accuracy": round(float(right.mean()), 4),
                           "no_digit_found": int((~found).sum()), "by_writer": by_writer}
        right_all, total_all = right_all + int(right.sum()), total_all + len(labels)
    return {"trained_with": predictor.run.config.get("recipe") or predictor.run.config["model"],
            "accuracy": round(right_all / total_all, 4), "images": total_all, "by_source": by_source}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN")
    arguments = parser.parse_args()
    sets = build_sets()
    results = {run: measure(run, sets) for run in arguments.runs}
    publish(RESULTS, {"command": "python -m benchmarks.hands " + " ".join(arguments.runs), "runs": results,
                      "seed": SEED, "target": 0.97})


if __name__ == "__main__":
    main()
