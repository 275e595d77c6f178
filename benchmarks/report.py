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
    from digitlab.runs import package_versions

    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "date": time.strftime("%Y-%m-%d"), "versions": package_versions()}


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


def realworld_table(payload: dict) -> str:
    return "\n".join([
        "| images | naive: convert to L + resize to 28x28 | digitlab's imaging pipeline | no digit found |",
        "|---|---|---|---|",
        f"| {payload['count']} re-drawn MNIST test digits (seed {payload['seed']}) | {payload['naive_accuracy']:.2%} "
        f"| {payload['pipeline_accuracy']:.2%} | {payload['no_digit_found']} |",
        "",
        f"Model: `{payload['run']}`; command: `{payload['command']}` ({payload['machine']['date']}, "
        f"{payload['machine']['cores']} cores).",
    ])


def loadtest_table(payload: dict) -> str:
    lines = ["| server workers | concurrency | requests per round | requests/s | p50 | p90 | p99 | errors |",
             "|---|---|---|---|---|---|---|---|"]
    for r in payload["results"]:
        lines.append(f"| {r['workers']} | {r['concurrency']} | {min(r['requests_per_round']):,}+ "
                     f"| {r['requests_per_second']:,.0f} | {r['p50_ms']:.1f} ms | {r['p90_ms']:.1f} ms "
                     f"| {r['p99_ms']:.1f} ms | {r['errors']} |")
    machine = payload["machine"]
    lines += ["", f"Model `{payload['model']}` served from ONNX; medians of 3 rounds; command: `{payload['command']}` "
              f"({machine['date']}, {machine['cores']} cores shared by server and load generator)."]
    return "\n".join(lines)


def tuning_table(payload: dict) -> str:
    counts = payload["counts"]
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in payload["best_params"].items())
    return "\n".join([
        "| | validation accuracy | test accuracy (retrained on 60k, "
        f"{payload['final_epochs']} epochs) | time |",
        "|---|---|---|---|",
        f"| `mlp` defaults (128 relu units, Adam 1e-3, batch 32) | - | {payload['default_test_accuracy']:.2%} | - |",
        f"| best of {payload['trials']} trials ({counts['COMPLETE']} complete, {counts['PRUNED']} pruned) "
        f"| {payload['best_validation_accuracy']:.2%} | {payload['tuned_test_accuracy']:.2%} "
        f"| search {payload['search_seconds'] / 60:.1f} min + retrain {payload['retrain_seconds']:.0f} s |",
        "",
        f"Best parameters: {params}.",
        "",
        f"Command: `{payload['command']}` ({payload['machine']['date']}, {payload['machine']['cores']} cores; "
        f"{payload['epochs_per_trial']} epochs per trial).",
    ])


def inference_table(payload: dict) -> str:
    lines = ["| model | multiply-adds / image | engine | batch images/s (bound) | single image median / p99 "
             "(bound) |", "|---|---|---|---|---|"]
    for r in payload["results"]:
        for engine in ("keras", "onnx"):
            if engine not in r:
                continue
            e = r[engine]
            lines.append(f"| {r['model']} | {r['multiply_adds']:,} | {engine} | {e['images_per_second']:,} "
                         f"({r['bound_images_per_second']:,}) | {e['single_median_ms']:.3f} / "
                         f"{e['single_p99_ms']:.3f} ms ({r['bound_single_ms'] * 1000:.1f} us) |")
    machine = payload["machine"]
    lines += ["", f"Bound: {payload['measured_gflops']} GFLOP/s measured (float32 matmul, all cores) / "
              f"(2 x multiply-adds). Command: `{payload['command']}` ({machine['date']}, {machine['cores']} cores)."]
    return "\n".join(lines)


def accuracy_table(payload: dict) -> str:
    lines = ["| run | command | training time | peak memory | test accuracy | with `--tta` |",
             "|---|---|---|---|---|---|"]
    for member in payload["members"]:
        peak = member.get("peak_rss_megabytes")
        lines.append(f"| {Path(member['run']).name} | `{member['command']}` | {member['train_seconds'] / 60:.1f} min "
                     f"| {'-' if peak is None else f'{peak / 1000:.2f} GB'} | {member['test_accuracy']:.2%} "
                     f"| {member['test_accuracy_tta']:.2%} |")
    plain, tta = payload["ensemble"], payload["ensemble_tta"]
    lines.append(f"| ensemble of the {len(payload['members'])} | `digitlab ensemble RUN... [--tta]` | - | - "
                 f"| {plain['test_accuracy']:.2%} ({plain['misclassified']} wrong) "
                 f"| {tta['test_accuracy']:.2%} ({tta['misclassified']} wrong) |")
    machine = payload["machine"]
    lines += ["", f"Command: `{payload['command']}` ({machine['date']}, {machine['cores']} cores; peak memory is the "
              "resident set of the `digitlab train` process)."]
    return "\n".join(lines)


def speed_table(payload: dict) -> str:
    seed, target = payload["seed_model_cost"], payload["time_to_99"]
    lines = ["| comparison (same run, alternating) | digitlab | reference | ratio |", "|---|---|---|---|",
             f"| lesson `linear` model, 20 epochs batch 32: `digitlab.train` vs a bare Keras script "
             f"| {_median(seed['digitlab_seconds']):.1f} s | {_median(seed['bare_keras_seconds']):.1f} s "
             f"| {seed['median_ratio']:.2f}x the time |"]
    for name, result in target["models"].items():
        settings = result["settings"]
        recipe = (f"{settings['epochs']} epochs max, batch {settings['batch_size']}, lr {settings['learning_rate']:g} "
                  f"{settings['schedule']}, {settings['precision']}")
        ours = "not reached" if result["median_seconds"] is None else f"{result['median_seconds']:.1f} s"
        speedup = "-" if result["speedup"] is None else f"{result['speedup']:.1f}x faster"
        model, _, variant = name.partition(" ")
        lines.append(f"| time to 99.0% test accuracy: `{model}`{' ' + variant if variant else ''} ({recipe}) "
                     f"vs Keras `mnist_convnet` "
                     f"| {ours} | {target['reference_median_seconds']:.1f} s | {speedup} |")
    machine = payload["machine"]
    lines += ["", f"Medians of {len(target['rounds'])} rounds (time to 99%) and {len(seed['digitlab_seconds'])} pairs "
              f"(lesson model). Commands: `{target['command']}`, `{seed['command']}` ({machine['date']}, "
              f"{machine['cores']} cores)."]
    return "\n".join(lines)


def _median(values: list[float]) -> float:
    import statistics

    return statistics.median(values)


TABLES = {
    "speed": ("speed.json", speed_table),
    "accuracy": ("accuracy.json", accuracy_table),
    "inference": ("inference.json", inference_table),
    "tuning": ("tuning.json", tuning_table),
    "backends": ("backends.json", backends_table),
    "realworld": ("realworld.json", realworld_table),
    "loadtest": ("loadtest.json", loadtest_table),
}


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
