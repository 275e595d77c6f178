"""One build step besides setuptools' own: the on-device app's onnxruntime-web files.

They come from the npm registry, at the version and integrity hash package-lock.json pins, into
src/digitlab/serving/web/vendor (where `make vendor` puts them from node_modules), so that a wheel built by
`python -m build` or `pip install .` holds them without Node; the download is checked before anything of it
is used. Everything else is declared in pyproject.toml.
"""

import base64
import hashlib
import io
import json
import os
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
VENDOR = ROOT / "src" / "digitlab" / "serving" / "web" / "vendor"
FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs")  # as Makefile's
REGISTRY = "https://registry.npmjs.org"


def vendor_onnxruntime_web() -> None:
    if all((VENDOR / name).is_file() for name in FILES):
        return
    pinned = json.loads((ROOT / "package-lock.json").read_text())["packages"]["node_modules/onnxruntime-web"]
    url = f"{REGISTRY}/onnxruntime-web/-/onnxruntime-web-{pinned['version']}.tgz"
    with urllib.request.urlopen(url, timeout=300) as response:
        data = response.read()
    algorithm, expected = pinned["integrity"].split("-", 1)
    if base64.b64encode(hashlib.new(algorithm, data).digest()).decode() != expected:
        raise SystemExit(f"{url}: its {algorithm} is not the one package-lock.json pins; not using it")
    VENDOR.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for name in FILES:
            content = archive.extractfile(f"package/dist/{name}").read()
            handle, temporary = tempfile.mkstemp(dir=VENDOR, prefix=f".{name}.")
            with os.fdopen(handle, "wb") as stream:
                stream.write(content)
            os.chmod(temporary, 0o644)
            os.replace(temporary, VENDOR / name)


class BuildWithVendor(build_py):
    def run(self):
        vendor_onnxruntime_web()
        super().run()


setup(cmdclass={"build_py": BuildWithVendor})
