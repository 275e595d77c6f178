"""Put a trained run into the package as the model that ships (src/digitlab/shipped): `make shipped-model`.

The run must be complete, calibrated (a validation split), exported to ONNX and given its mark model; what
ships is its ONNX model, mark model, config (with the command that trained it, the data's fingerprint, and
a "shipped" record of the figures below) and metrics. The Keras files stay behind: reading needs none.

    python -m benchmarks.ship runs/shipped/default
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from digitlab.fileio import atomic_write_bytes, atomic_write_text, sha256_file
from digitlab.inference.marks import MARKS_FILE
from digitlab.inference.shipped import SHIPPED_DIR
from digitlab.runs import CONFIG_FILE, ONNX_FILE, open_run
from digitlab.training.settings import train_command

FILES = (ONNX_FILE, MARKS_FILE, "metrics.json", "history.json")
MINIMUM_TEST_ACCURACY = 0.995  # the floor for the shipped model


def ship(run_path: str, destination: Path = SHIPPED_DIR) -> dict:
    run = open_run(run_path)
    config = run.config
    missing = [what for what, present in (("a calibration (train with a validation split)", config.get("calibration")),
                                          ("an ONNX export (digitlab export)", config.get("onnx")),
                                          ("a mark model (digitlab train-marks)", config.get("marks")))
               if not present]
    if missing:
        raise SystemExit(f"{run.path} lacks {', '.join(missing)}")
    accuracy = run.metrics["test"]["accuracy"]
    if accuracy < MINIMUM_TEST_ACCURACY:
        raise SystemExit(f"{run.path}: MNIST test accuracy {accuracy:.2%} is under {MINIMUM_TEST_ACCURACY:.1%}")
    for name in (ONNX_FILE, MARKS_FILE):
        recorded = config["onnx" if name == ONNX_FILE else "marks"]["sha256"]
        if sha256_file(run.file(name)) != recorded:
            raise SystemExit(f"{run.file(name)}: its SHA-256 is not the one recorded")
    destination.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        atomic_write_bytes(destination / name, run.file(name).read_bytes())
    record = {"from_run": run.path.name, "trained_with": train_command(config), "date": time.strftime("%Y-%m-%d"),
              "mnist_test_accuracy": accuracy, "data_fingerprint": config["data"]["fingerprint"]}
    shipped = {**config, "shipped": record, "data": {**config["data"], "data_dir": None}}
    atomic_write_text(destination / CONFIG_FILE, json.dumps(shipped, indent=2) + "\n")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", metavar="RUN")
    print(json.dumps(ship(parser.parse_args().run), indent=2))


if __name__ == "__main__":
    main()
