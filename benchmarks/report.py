"""Shared by every benchmark: machine facts, and writing a results file atomically."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from digitlab.fileio import atomic_write_text


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "date": time.strftime("%Y-%m-%d")}


def write_results(path: Path, payload: dict) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")


# ------------------------------------------------------------------------------------------------
# Tables in benchmarks/README.md, regenerated from results/*.json between marker comments.

README = Path(__file__).resolve().parent / "README.md"
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def backends_table(payload: dict) -> str:
    lines = [
        "| backend | venv size | `import keras` | lesson model s/epoch | hidden-layer s/epoch "
        "| `mnist_convnet` s/epoch | predict img/s (lesson / hidden / convnet) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in payload["results"]:
        lines.append(
            f"| {r['backend']} | {r['venv_megabytes'] / 1000:.2f} GB | {r['import_keras_seconds']:.2f} s "
            f"| {r['linear_seconds_per_epoch']:.2f} "
            f"({100 * r['linear_test_accuracy']:.1f}% after {r['linear_epochs']}) "
            f"| {r['mlp_seconds_per_epoch']:.2f} ({100 * r['mlp_test_accuracy']:.1f}% after {r['mlp_epochs']}) "
            f"| {r['convnet_seconds_per_epoch']:.2f} ({100 * r['convnet_test_accuracy']:.1f}% after "
            f"{r['convnet_epochs']}) "
            f"| {r['linear_predict_images_per_second'] / 1000:.0f}k / {r['mlp_predict_images_per_second'] / 1000:.0f}k"
            f" / {r['convnet_predict_images_per_second'] / 1000:.1f}k |"
        )
    machine = payload["machine"]
    lines.append("")
    lines.append(f"Measured {machine['date']} on {machine['cpu']}, {machine['cores']} cores, "
                 f"Python {machine['python']}; command: `{payload['command']}`.")
    return "\n".join(lines)


TABLES = {"backends": ("backends.json", backends_table)}


def regenerate_readme() -> None:
    text = README.read_text()
    for name, (file_name, render) in TABLES.items():
        path = RESULTS_DIR / file_name
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if not path.exists() or start not in text:
            continue
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = f"{before}{start}\n{render(json.loads(path.read_text()))}\n{end}{after}"
    atomic_write_text(README, text)


if __name__ == "__main__":
    regenerate_readme()
