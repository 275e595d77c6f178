"""``digitlab app RUN --out DIR``: the on-device app, a static PWA that reads digits in the browser.

DIR gets the app's HTML, CSS and JS (``web/``: the drawing page's own files, read by ``web/device.js``), the ONNX
npm package ``onnxruntime-web`` by ``make``; no Node is needed here), the run's ``model.onnx`` (its SHA-256
checked against the one recorded at export), its ``marks.onnx`` if it has one (the mark model, checked the
same way), ``model.json`` (what the app needs to know of the model) and
``precache.json`` (every file and a version, for the service worker). Nothing is fetched from another host.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from digitlab.errors import DigitlabError, option
from digitlab.fileio import sha256_file
from digitlab.inference.calibration import CANDIDATE_MASS, Calibration
from digitlab.inference.marks import MARKS_FILE, mark_model_info, verified_marks
from digitlab.inference.predictor import verified_onnx
from digitlab.models import get_spec
from digitlab.runs import ONNX_FILE, Run, open_run
from digitlab.serving.front import WEB, page_html
from digitlab.version import __version__

VENDOR = WEB / "vendor"
VENDOR_FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs")
APP_FILES = ("style.css", "app.js", "drawing.js", "device.js", "imaging.js", "numbers.js", "paper.js", "sw.js",
             "manifest.webmanifest", "icon-192.png", "icon-512.png")
INDEX = "index.html"  # the page, filled in for the device reader (front.page_html)


def app_files(run: Run) -> dict[str, Path]:
    """Every file of the app but its page and the two it is told (model.json, precache.json): name in the app
    -> source."""
    missing = [name for name in VENDOR_FILES if not (VENDOR / name).is_file()]
    if missing:
        raise DigitlabError(f"the ONNX Runtime Web files are missing from {VENDOR} ({', '.join(missing)}); "
                            "install them with: make vendor (npm ci, then a copy)")
    files = {name: WEB / name for name in APP_FILES}
    files |= {f"vendor/{name}": VENDOR / name for name in VENDOR_FILES}
    files[ONNX_FILE] = verified_onnx(run)
    marks = verified_marks(run)
    if marks is not None:
        files[MARKS_FILE] = marks
    return files


def model_json(run: Run) -> dict:
    """What the app knows of its model: names, input layout, accuracy, hash."""
    return {"run": run.name, "model": run.config["model"], "flatten": not get_spec(run.config["model"]).takes_images,
            "test_accuracy": run.metrics.get("test", {}).get("accuracy"), "sha256": run.config["onnx"]["sha256"],
            "marks": mark_model_info(run), "calibration": Calibration.of_config(run.config).to_json(),
            "candidate_mass": CANDIDATE_MASS, "digitlab": __version__}


def precache_json(files: dict[str, Path], model: dict) -> dict:
    """The service worker's list: every file, and a version that changes whenever any of them does."""
    digest = hashlib.sha256(json.dumps(model, sort_keys=True).encode() + page_html("device").encode())
    for name in sorted(files):
        digest.update(name.encode() + sha256_file(files[name]).encode())
    return {"version": digest.hexdigest()[:16], "files": ["./", INDEX, "model.json", *sorted(files)]}


SW_FILE = "sw.js"
SW_VERSION_MARK = "__DIGITLAB_APP_VERSION__"


def service_worker(version: str) -> str:
    """sw.js with the build's version written in: a new build is a new worker to the browser."""
    return (WEB / SW_FILE).read_text().replace(SW_VERSION_MARK, version)


def _write_app(run: Run, directory: Path) -> dict:
    files = app_files(run)
    for name, source in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, directory / name)
    (directory / INDEX).write_text(page_html("device"))
    model = model_json(run)
    precache = precache_json(files, model)
    (directory / "model.json").write_text(json.dumps(model, indent=2) + "\n")
    (directory / "precache.json").write_text(json.dumps(precache, indent=2) + "\n")
    (directory / SW_FILE).write_text(service_worker(precache["version"]))
    size = sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
    return {"directory": str(directory), "files": len(files) + 3, "bytes": size, "model": model}


def build_app(run: str | os.PathLike | Run, out: str | os.PathLike, *, overwrite: bool = False) -> dict:
    """Build the app for ``run`` into ``out`` (atomically: a finished build replaces it as a whole, and an
    existing ``out`` only with ``overwrite``). Returns {"directory", "files", "bytes", "model"}."""
    run = run if isinstance(run, Run) else open_run(run)
    out = Path(out)
    if out.exists() and not overwrite:
        raise DigitlabError(f"{out} already exists; pass {option('overwrite')} to replace it")
    if out.exists() and not is_app_build(out):
        raise DigitlabError(f"{out} is not an app that digitlab built, so {option('overwrite')} will not replace it "
                            "(choose another --out, or remove it yourself)")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        summary = _write_app(run, staging)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {**summary, "directory": str(out)}


def is_app_build(path: Path) -> bool:
    """Whether ``path`` is what build_app writes (its model.json and precache.json), or an empty directory:
    what --overwrite may replace, so that a typo in --out cannot delete a home directory."""
    if path.is_dir() and not any(path.iterdir()):
        return True
    try:
        model = json.loads((path / "model.json").read_text())
        precache = json.loads((path / "precache.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(model, dict) and "digitlab" in model and isinstance(precache, dict) and "version" in precache


def app_available(run: Run) -> str | None:
    """Why the app cannot be built for ``run`` (None when it can): no ONNX file, or no runtime files."""
    if not run.file(ONNX_FILE).exists():
        return f"the run has no {ONNX_FILE}; export it with: digitlab export {run.path}"
    if not all((VENDOR / name).is_file() for name in VENDOR_FILES):
        return "the ONNX Runtime Web files are not installed (make vendor)"
    return None
