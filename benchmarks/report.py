"""Shared by every benchmark: machine facts, and writing a results file atomically."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from digitlab.fileio import atomic_write_text

# The CPU features that decide how fast bfloat16 and int8 run: AMX tiles (Intel Sapphire Rapids on) and
# AVX-512 BF16 (also AMD Zen 4), recorded with every figure since machines of one kind differ in them.
CPU_FEATURES = ("amx_bf16", "amx_int8", "amx_tile", "avx512_bf16", "avx512_vnni", "avx512f", "avx2")
# oneDNN (TensorFlow's CPU kernels) at most at AVX-512 with BF16 and VNNI: the instructions an AMD EPYC Zen 4
# has, so that an AMX machine can measure the path a CPU without AMX takes.
WITHOUT_AMX_ISA = "AVX512_CORE_BF16"


def turn_off_amx() -> None:
    """Cap oneDNN at WITHOUT_AMX_ISA for this process. oneDNN reads the cap once, when TensorFlow first
    runs a kernel, so this must come before TensorFlow is imported."""
    if "tensorflow" in sys.modules:
        raise RuntimeError("turn_off_amx() must run before TensorFlow is imported")
    os.environ["ONEDNN_MAX_CPU_ISA"] = WITHOUT_AMX_ISA


def machine_info() -> dict:
    from digitlab.cpu import this_cpu
    from digitlab.runs import package_versions

    cpu = this_cpu()
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    machine = {"cpu": cpu.model, "cpu_features": [feature for feature in CPU_FEATURES if feature in cpu.flags],
               **({"onednn_max_cpu_isa": cap} if cap else {}),
               "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
               "date": time.strftime("%Y-%m-%d"), "versions": package_versions()}
    return {**machine, "cpu_kind": cpu_kind(machine)}


def cpu_kind(machine: dict) -> str:
    """"AMX", "AVX-512 BF16, no AMX", "AVX2, no AVX-512" (digitlab.cpu.KINDS) or "AMX turned off": which
    bfloat16 and vector hardware a figure was measured with (unknown for results recorded before the features
    were)."""
    from digitlab.cpu import AMX, kind_of

    if "cpu_features" not in machine:
        return "features not recorded"
    kind = kind_of(machine["cpu_features"])
    if kind == AMX and machine.get("onednn_max_cpu_isa") == WITHOUT_AMX_ISA:
        return "AMX turned off, AVX-512 BF16"
    return kind


def write_results(path: Path, payload: dict) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")


def record(path: Path, payload: dict, *, beside: bool = False) -> dict:
    """A benchmark's results with this machine's facts, written to ``path`` (with ``beside``, kept beside the
    figures already there; see keep_beside); returns what was recorded. The READMEs' tables are rendered
    from the results by their own step, ``python -m benchmarks.report``."""
    measured = {**payload, "machine": machine_info()}
    if not beside and path.exists():  # the main machine measured again: the other machines' figures stay
        others = json.loads(path.read_text()).get("beside")
        if others:
            measured["beside"] = others
    write_results(path, keep_beside(path, measured) if beside else measured)
    print(f"wrote {path}; render the tables with: python -m benchmarks.report", file=sys.stderr)
    return measured


def out_option(path: Path, default: Path) -> str:
    """" --out PATH" for a benchmark's recorded command when it wrote elsewhere than ``default`` (the path
    relative to the repository), else ""."""
    if path.resolve() == default.resolve():
        return ""
    try:
        return f" --out {path.resolve().relative_to(RESULTS_DIR.parent.parent)}"
    except ValueError:
        return f" --out {path}"


def publish(path: Path, payload: dict) -> None:
    """``record``, then print what was recorded."""
    print(json.dumps(record(path, payload), indent=2))


# ------------------------------------------------------------------------------------------------
# Tables in benchmarks/README.md and the summary in README.md, regenerated from results/*.json
# between marker comments.

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
    lines.append(f"Measured {_machine_line(machine)}, Python {machine['python']}; command: `{payload['command']}`.")
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


def _machine_line(machine: dict) -> str:
    return f"{machine['date']}, {machine['cpu']} ({cpu_kind(machine)}), {machine['cores']} cores"


def loadtest_table(payload: dict) -> str:
    shares = [r["requests_per_second"] / r["ceiling_requests_per_second"] for section in machine_sections(payload)
              for r in section["results"] if r["batching"] is not None]  # digitlab's own workloads, not the floor
    return "\n".join(per_machine(payload, _loadtest_rows) + [
        "", "CPU per request: user + system time of the server's processes and of wrk during a round, divided by "
        "the requests answered (in the mixed workload the photos' work is included); ceiling: cores / that sum, "
        "the most these cores could answer if nothing else ran. digitlab's workloads ran at "
        f"{min(shares):.0%}-{max(shares):.0%} of their ceilings."])


def _loadtest_rows(payload: dict) -> list[str]:
    lines = ["| workload | batching | requests per round | requests/s | p50 | p90 | p99 | errors "
              "| CPU per request: server + wrk | ceiling on these cores | notes |", "|---" * 11 + "|"]
    for r in payload["results"]:
        notes = []
        if "photo_share" in r:
            photo_p50 = statistics.median(round_["photo_p50_ms"] for round_ in r["rounds"])
            p99s = sorted(round_["p99_ms"] for round_ in r["rounds"])
            notes.append(f"{r['photo_share']:.1%} of requests were {r['photo_mb']:.1f} MB photos (their own p50 "
                         f"{photo_p50:.0f} ms); p50/p90/p99 are the canvas requests' (p99 per round "
                         f"{p99s[0]:.1f}-{p99s[-1]:.1f} ms)")
        if "worker_peak_rss_mb" in r:
            notes.append("peak RSS per worker " + " / ".join(f"{mb:.0f} MB" for mb in r["worker_peak_rss_mb"]))
        batching = {True: "yes", False: "no", None: "-"}[r["batching"]]
        lines.append(f"| {r['workload']} | {batching} "
                     f"| {min(r['requests_per_round']):,}+ | {r['requests_per_second']:,.0f} | {r['p50_ms']:.1f} ms "
                     f"| {r['p90_ms']:.1f} ms | {r['p99_ms']:.1f} ms | {r['errors']} "
                     f"| {r['server_cpu_ms']:.3f} + {r['client_cpu_ms']:.3f} ms | {r['ceiling_requests_per_second']:,} "
                     f"| {'; '.join(notes)} |")
    first = payload["results"][0]
    lines += ["", f"Model `{payload['model']}` served from ONNX by {first['workers']} worker processes at concurrency "
              f"{first['concurrency']}; medians of 3 rounds; command: `{payload['command']}` "
              f"({_machine_line(payload['machine'])}, shared by server and load generator); "
              + (f"served with {payload['served_with']}." if "served_with" in payload
                 else "served without a feedback store.")]
    return lines


def numbers_table(payload: dict) -> str:
    command, machine = payload["command"], payload["machine"]

    def row(name: str, group: dict) -> str:
        errors = group["errors"]
        return (f"| {name} | {group['numbers']} | {group['whole_accuracy']:.1%} | {group['digit_accuracy']:.1%} "
                f"| {errors['split']} | {errors['merge']} | {errors['classify']} | {errors['failed']} |")

    header = ["| numbers | count | whole numbers right | digit accuracy | split | merge | classify | failed |",
              "|---|---|---|---|---|---|---|---|"]

    def reader(result: dict) -> str:
        return f"`{result['run']}`" + (" with its mark model" if result.get("mark_model") else "")

    lines = [*header, *(row(f"**2-6 digits**, {reader(result)}", result["lengths_2_to_6"])
                         for result in payload["results"])]
    runs = {result["run"]: result["trained_with"] for result in payload["results"]}
    marks = [f"`{result['run']}` from `{result['mark_model']}`" for result in payload["results"]
             if result.get("mark_model")]
    lines += ["", "Runs: " + "; ".join(f"`{run}` from `{trained}`" for run, trained in runs.items()) + "."
              + (" Mark models (`digitlab train-marks`): " + "; ".join(marks) + "." if marks else ""), ""]
    mean = payload.get("mean_over_seeds")
    if mean:
        lines += [f"**Mean over {len(mean['runs'])} seeds** ({', '.join(f'`{run}`' for run in mean['runs'])}: "
                  f"`{mean['trained_with']}`, each with its own seed and its own mark model), 2-6 digits: "
                  f"**{mean['whole_accuracy_mean']:.1%}** ± {mean['whole_accuracy_std']:.1%} of numbers right "
                  f"(target >= 93%), **{mean['digit_accuracy_mean']:.2%}** ± {mean['digit_accuracy_std']:.2%} "
                  "digit accuracy (target >= 98.5%); ± is the standard deviation over the seeds.", ""]
    payload = payload["results"][-1]
    judged = "one of the seeds above" if mean else "the targets: >= 93% / >= 98.5%"
    lines += [*header, row(f"**2-6 digits** ({judged}), {reader(payload)}",
                           payload["lengths_2_to_6"]),
             row("2-6 digits, no digits touching", payload["lengths_2_to_6_not_touching"]),
             row("2-6 digits, some digits touching", payload["lengths_2_to_6_touching"]),
             row("all, 2-8 digits", payload["all"])]
    lines += [row(f"spacing: {name}", group) for name, group in payload["by_spacing"].items()]
    lines += [row(f"look: {name}", group) for name, group in payload["by_look"].items()]
    lines += ["", f"Model {reader(payload)}; {payload['median_ms_per_number']:.1f} ms per number (median, decode "
              f"included, one core). Command: `{command}` ({_machine_line(machine)})."]
    return "\n".join(lines)


def explain_table(payload: dict) -> str:
    lines = ["| method | engine | per image (median) | p90 | probability after deleting the 40 most salient pixels "
             "| after deleting 40 random ink pixels |", "|---|---|---|---|---|---|"]
    for r in payload["results"]:
        lines.append(f"| {r['method']} | {r['engine']} | {r['median_ms']:.1f} ms | {r['p90_ms']:.1f} ms "
                     f"| {r['probability'] - r['drop_salient']:.3f} (-{r['drop_salient']:.3f}) "
                     f"| {r['probability'] - r['drop_random_ink']:.3f} (-{r['drop_random_ink']:.3f}) |")
    first = payload["results"][0]
    lines += ["", f"Model `{payload['model']}`, one image per call, {first['images']} MNIST test images (mean "
              f"probability of the predicted digit before deleting: {first['probability']:.3f}). Command: "
              f"`{payload['command']}` ({_machine_line(payload['machine'])})."]
    return "\n".join(lines)


def writer_table(payload: dict) -> str:
    before = payload["before"]
    lines = ["| corrections | the writer's accuracy | the writer's error rate, vs before | MNIST test accuracy | "
             "MNIST change |", "|---|---|---|---|---|",
             f"| none (the base run) | {before['writer_accuracy']:.2%} | 1.00x | {before['mnist_test_accuracy']:.2%} "
             "| |"]
    for r in payload["results"]:
        label = "0 (fine-tuning alone)" if r["corrections"] == 0 else f"**{r['corrections']}**"
        lines.append(f"| {label} | {r['writer_accuracy']:.2%} | {r['writer_error_ratio']:.2f}x "
                     f"| {r['mnist_test_accuracy']:.2%} | {r['mnist_change_points']:+.2f} points |")
    tune = payload["fine_tune"]
    seeds = len(payload["results"][0]["members"])
    lines += ["", f"Base `{payload['model']}` run; {payload['writer']['held_out']:,} held-out digits in the writer's "
              f"style; fine-tuning {tune['epochs']} epochs at learning rate {tune['learning_rate']:g} "
              f"({tune['schedule']}), extra weight {tune['extra_weight']:g}; means of {seeds} seeds, final epoch. "
              f"Command: `{payload['command']}` ({_machine_line(payload['machine'])})."]
    return "\n".join(lines)


def app_table(payload: dict) -> str:
    p = payload
    lines = ["| what | measured | target |", "|---|---|---|",
             f"| the app's size (every file; of it, ONNX Runtime's wasm / the model) | {p['app_megabytes']:.1f} MB "
             f"({p['wasm_megabytes']:.1f} / {p['model_megabytes']:.1f} MB) | small: the single wasm build |",
             f"| first load, empty cache, loopback, to the model ready | {p['first_load_seconds']:.2f} s "
             f"(median of {len(p['first_loads'])}) | |",
             f"| one reading (imaging.js + the model, one wasm thread) | {p['reading_median_ms']:.1f} ms median, "
             f"{p['reading_p90_ms']:.1f} ms p90 of {p['readings']} | <= 10 ms (`cnn`) |",
             "", f"Model `{p['model']}` ({p['accuracy']:.0%} of the {p['readings']} canvas drawings read right); "
             f"{p['browser']}. Command: `{p['command']}` ({_machine_line(p['machine'])})."]
    return "\n".join(lines)


def imaging_table(payload: dict) -> str:
    return "\n".join(per_machine(payload, _imaging_rows))


def _imaging_rows(payload: dict) -> list[str]:
    lines = ["| upload | files (mean size) | decode | prepare | imaging (decode + prepare) | infer | total |",
             "|---|---|---|---|---|---|---|"]
    for r in payload["sizes"]:
        imaging = f"{r['imaging_ms']:.2f} ms" if "imaging_ms" in r else "not measured"  # figures older than it
        lines.append(f"| {r['upload']} | {r['files']} ({r['mean_bytes'] / 1000:,.1f} KB) | {r['decode_ms']:.2f} ms "
                     f"| {r['prepare_ms']:.2f} ms | {imaging} | {r['infer_ms']:.2f} ms | {r['total_ms']:.2f} ms |")
    predict = payload["predict_1000_files"]
    lines += ["", f"Medians per image on one core, {payload['engine']} inference. `digitlab predict` on "
              f"{predict['files']:,} photo-like files (process start included): {predict['one_process_seconds']:.1f} s "
              f"with `--workers 1`, {predict['all_cores_seconds']:.1f} s on all cores. Command: `{payload['command']}` "
              f"({_machine_line(payload['machine'])})."]
    return lines


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
              f"(2 x multiply-adds). Command: `{payload['command']}` ({_machine_line(machine)})."]
    return "\n".join(lines)


def peak_rss_mb(pid: int) -> float:
    """A live process's peak resident memory (VmHWM) in MB: its own, since exec. (getrusage's ru_maxrss of
    a child is not: Linux carries the high-water mark of the forked parent's memory into it.)"""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def member_summary(members: list[dict]) -> dict[str, float]:
    """The members' mean and sample standard deviation (final-epoch test accuracy, alone and with TTA), and
    their training time all together."""
    plain, tta = [m["test_accuracy"] for m in members], [m["test_accuracy_tta"] for m in members]
    return {"mean": statistics.mean(plain), "sd": statistics.stdev(plain) if len(plain) > 1 else 0.0,
            "mean_tta": statistics.mean(tta), "sd_tta": statistics.stdev(tta) if len(tta) > 1 else 0.0,
            "total_minutes": sum(m["train_seconds"] for m in members) / 60}


def accuracy_table(payload: dict) -> str:
    lines = ["| run | command | training time | peak memory | test accuracy | with `--tta` |",
             "|---|---|---|---|---|---|"]
    for member in payload["members"]:
        peak = member.get("peak_memory_megabytes")
        lines.append(f"| {Path(member['run']).name} | `{member['command']}` | {member['train_seconds'] / 60:.1f} min "
                     f"| {'-' if peak is None else f'{peak / 1000:.2f} GB'} | {member['test_accuracy']:.2%} "
                     f"| {member['test_accuracy_tta']:.2%} |")
    summary = member_summary(payload["members"])
    lines.append(f"| **mean ± sd of the {len(payload['members'])}** | | {summary['total_minutes']:.1f} min all "
                 f"together | | **{summary['mean']:.2%} ± {summary['sd']:.2%}** "
                 f"| {summary['mean_tta']:.2%} ± {summary['sd_tta']:.2%} |")
    plain, tta = payload["ensemble"], payload["ensemble_tta"]
    lines.append(f"| ensemble of the {len(payload['members'])} | `digitlab ensemble RUN... [--tta]` | - | - "
                 f"| {plain['test_accuracy']:.2%} ({plain['misclassified']} wrong) "
                 f"| {tta['test_accuracy']:.2%} ({tta['misclassified']} wrong) |")
    machine = payload["machine"]
    lines += ["", f"Command: `{payload['command']}` ({_machine_line(machine)}; peak memory is the `digitlab train` "
              "process's own high-water mark, VmHWM, read while it runs; -: not measured)."]
    return "\n".join(lines)


def epoch_cost_table(payload: dict) -> str:
    return "\n".join(per_machine(payload, _epoch_cost_rows))


def _epoch_cost_rows(payload: dict) -> list[str]:
    members, epochs, budget = payload["members"], payload["member_epochs"], payload["budget_minutes"]
    lines = [f"| precision | normalization | s per epoch | {members} members x {epochs} epochs | within {budget} min "
             "| peak memory |", "|---|---|---|---|---|---|"]
    for variant in payload["variants"]:
        minutes = members * epochs * variant["seconds_per_epoch"] / 60
        lines.append(f"| {variant['precision']} | {variant['normalization']} | {variant['seconds_per_epoch']:.1f} s "
                     f"| {minutes:.0f} min | {'yes' if minutes <= budget else 'no'} "
                     f"| {variant['peak_memory_megabytes'] / 1000:.2f} GB |")
    counted = len(payload["variants"][0]["epoch_seconds"]) - 1
    lines += ["", f"Seconds per epoch: the median of {counted} epochs of the accurate recipe's `digitlab train` "
              f"(the first epoch not counted); the members' times are that x {members} x {epochs}, their test-set "
              f"evaluation not included. Command: `{payload['command']}` ({_machine_line(payload['machine'])})."]
    return lines


def speed_table(payload: dict) -> str:
    seed, target = payload["seed_model_cost"], payload["time_to_99"]
    sections = time_to_99_sections(payload)
    lines = ["| comparison (same run, alternating) | digitlab | reference | ratio |", "|---|---|---|---|",
             f"| lesson `linear` model, 20 epochs batch 32: `digitlab.train` vs a bare Keras script "
             f"| {_median(seed['digitlab_seconds']):.1f} s | {_median(seed['bare_keras_seconds']):.1f} s "
             f"| {seed['median_ratio']:.2f}x the time |"]
    for section, machine in sections:  # with several machines, each row names its own
        lines += _time_to_99_rows(section, f"; {machine_label(machine)}" if len(sections) > 1 else "")
    commands = ", ".join(f"`{command}`" for command in dict.fromkeys([target["command"], seed["command"]]))
    lines += ["", f"Medians of {len(target['rounds'])} rounds (time to 99%) and {len(seed['digitlab_seconds'])} pairs "
              f"(lesson model). Command{'s' if ',' in commands else ''}: {commands} "
              f"({_machine_line(payload['machine'])})."]
    for section, machine in sections[1:]:
        cap = f" (oneDNN capped at {machine['onednn_max_cpu_isa']})" if "onednn_max_cpu_isa" in machine else ""
        lines[-1] += (f" {machine_label(machine)}{cap}: medians of {len(section['rounds'])} rounds, "
                      f"`{section['command']}` ({_machine_line(machine)}).")
    lines += ["", f"Against the targets of the issue \"Fast to 99% on any x86 CPU\" (`cnn-fast` at least "
              f"{SPEEDUP_TARGET:g}x faster than the reference in the same run, and within "
              + ", ".join(f"{seconds:g} s {where}" for where, seconds in SECONDS_TARGETS.items())
              + "): " + "; ".join(_time_to_99_verdict(section, machine) for section, machine in sections) + "."]
    return "\n".join(lines)


def time_to_99_sections(speed: dict) -> list[tuple[dict, dict]]:
    """The time-to-99% measurements in speed.json, each with the machine it was measured on: the main one,
    then those kept beside it (other machines, or AMX turned off)."""
    return [(section["time_to_99"], section["machine"]) for section in machine_sections(speed)]


def machine_label(machine: dict) -> str:
    """The CPU's maker and bfloat16 hardware, e.g. "Intel, AMX turned off, AVX-512 BF16": what tells apart
    the machines whose figures are kept side by side."""
    maker = machine["cpu"].split()[0].removesuffix("(R)") if machine["cpu"] != "unknown" else "unknown CPU"
    return f"{maker}, {cpu_kind(machine)}"


BESIDE_HELP = ("keep these figures beside the main ones, under this CPU's kind, instead of replacing them (for a "
               "second machine)")


def keep_beside(path: Path, measured: dict) -> dict:
    """What to write to ``path``: the figures already there, with ``measured`` (which names its machine) kept
    beside them under the machine's label instead of replacing them; a second machine records its own so."""
    if not path.exists():
        return measured
    main = json.loads(path.read_text())
    main.setdefault("beside", {})[machine_label(measured["machine"])] = measured
    return main


def machine_sections(payload: dict) -> list[dict]:
    """A results file's measurements: the main one, then those of other machines kept beside it."""
    return [payload, *payload.get("beside", {}).values()]


def with_commands(payload: dict, command: str) -> list[tuple[dict, str]]:
    """Each machine's measurements with the command that made them: ``--beside`` for all but the main one."""
    sections = machine_sections(payload)
    return [(section, command + (" --beside" if index else "")) for index, section in enumerate(sections)]


def per_machine(payload: dict, render: Callable[[dict], list[str]]) -> list[str]:
    """Each machine's measurements rendered by ``render``, headed by the machine when there are several."""
    sections, lines = machine_sections(payload), []
    for section in sections:
        heading = [f"On {machine_label(section['machine'])}:", ""] if len(sections) > 1 else []
        lines += heading + render(section) + [""]
    return lines[:-1]


# The issue "Fast to 99% on any x86 CPU": cnn-fast at least 10x faster than the reference in the same run,
# and within 8 s on a CPU with AMX, 10 s on AVX-512 without it; on an AVX2-only CPU (the issue "Green and quick
# on every CPU") the speed-up alone.
SPEEDUP_TARGET = 10.0
SECONDS_TARGETS = {"with AMX": 8.0, "on AVX-512 without AMX": 10.0}


def _time_to_99_verdict(section: dict, machine: dict) -> str:
    from digitlab.cpu import AMX, AVX512, AVX512_BF16

    fast = section["models"]["cnn-fast"]
    kind = cpu_kind(machine)
    if fast["median_seconds"] is None:
        return f"{machine_label(machine)}: 99% not reached"
    met = {"speed-up": fast["speedup"] >= SPEEDUP_TARGET}
    if kind in (AMX, AVX512_BF16, AVX512) or kind.startswith("AMX turned off"):
        seconds = SECONDS_TARGETS["with AMX" if kind == AMX else "on AVX-512 without AMX"]
        met = {"time": fast["median_seconds"] <= seconds, **met}
    outcome = ("met" if len(met) == 1 and all(met.values()) else "not met" if len(met) == 1
               else "both met" if all(met.values()) else "neither met" if not any(met.values())
               else " and ".join(f"{name} {'met' if ok else 'not met'}" for name, ok in met.items()))
    return f"{machine_label(machine)}, {fast['median_seconds']:.1f} s and {fast['speedup']:.1f}x: {outcome}"


def _time_to_99_rows(target: dict, where: str) -> list[str]:
    rows = []
    for name, result in target["models"].items():
        settings = result["settings"]
        recipe = (f"{settings['epochs']} epochs max, batch {settings['batch_size']}, lr {settings['learning_rate']:g} "
                  f"{settings['schedule']}, {settings['precision']}{where}")
        ours = "not reached" if result["median_seconds"] is None else f"{result['median_seconds']:.1f} s"
        speedup = "-" if result["speedup"] is None else f"{result['speedup']:.1f}x faster"
        model, _, variant = name.partition(" ")
        rows.append(f"| time to 99.0% test accuracy: `{model}`{' ' + variant if variant else ''} ({recipe}) "
                    f"vs Keras `mnist_convnet` "
                    f"| {ours} | {target['reference_median_seconds']:.1f} s | {speedup} |")
    return rows


def _median(values: list[float]) -> float:
    import statistics

    return statistics.median(values)


def quickstart_table(payload: dict) -> str:
    """The main job and the test suite per kind of CPU, slowest quickstart last."""
    machines = sorted(payload["machines"].values(), key=lambda section: section["quickstart"]["seconds"])
    names = list(machines[0]["quickstart"]["models"]) if machines else []
    lines = [f"| CPU | `digitlab quickstart` | training: {' / '.join(f'`{name}`' for name in names)} "
             "| CNN test accuracy | `make check` | `make test`, fresh clone | measured |",
             "|---|---|---|---|---|---|---|"]
    for section in machines:
        quick, tests = section["quickstart"], section.get("tests", {})
        models = quick["models"]
        cnn = models[names[-1]]
        suite = f"{tests['suite_seconds'] / 60:.1f} min" if tests else "-"
        check = f"{tests['check_seconds']:.0f} s" if tests else "-"
        suite_when = f"; the suite: {tests['measured']}" if tests.get("measured") else ""
        lines.append(f"| {section['machine']['cpu']} ({machine_label(section['machine'])}), {section['cores']} cores "
                     f"| {quick['seconds']:.0f} s | "
                     + " / ".join(f"{models[name]['train_seconds']:.0f} s" for name in names)
                     + f" | {cnn['test_accuracy']:.2%} ({cnn['epochs']} epochs, {cnn['precision']}) | {check} "
                     f"| {suite} | {section['machine']['date']}, `{section['command']}`{suite_when} |")
    return "\n".join(lines)


ABSTAIN_TARGETS = {"refused": 0.95, "auroc": 0.99, "given": 0.98, "given_right": 0.995, "test_ece": 0.01,
                   "redrawn_ece": 0.03, "cost": 1.10}


def abstain_table(payload: dict) -> str:
    """Per run: re-drawn digits given and right, non-digits refused (all, held-out kinds, each kind), AUROC,
    calibration error, MNIST test accuracy and the cost per reading; and the verdict on the targets."""
    kinds = list(next(iter(payload["runs"].values()))["non_digits"]["by_kind"])
    lines = ["| run (trained with) | re-drawn digits given / right | non-digits refused: all / held-out kinds / "
             "without abstention | " + " / ".join(kinds) + " | AUROC: max. softmax / energy | ECE test / re-drawn "
             "| MNIST test | cost |", "|---|---|---|---|---|---|---|---|"]
    verdicts = []
    for path, r in payload["runs"].items():
        n = r["non_digits"]
        energy = f"{r['auroc_energy']:.3f}" if "auroc_energy" in r else "-"
        lines.append(
            f"| `{path}` (`{r['trained_with']}`) | {r['digits']['given']:.1%} / {r['digits']['given_right']:.2%} | "
            f"{n['refused_all']:.1%} / {n['refused_held_out']:.1%} / {n['refused_without_abstention']:.1%} | "
            + " / ".join(f"{n['by_kind'][kind]['refused']:.0%}" for kind in kinds)
            + f" | {r['auroc']:.3f} / {energy} | {r['mnist_test']['ece']:.2%} / {r['digits']['ece']:.2%} | "
            f"{r['mnist_test']['accuracy']:.2%} | {r['cost']['ratio']:.2f}x |")
        if r.get("targeted", path == next(iter(payload["runs"]))):
            verdicts.append(f"Targets, for `{path}`: {_abstain_verdict(r)}.")
    return "\n".join(lines + ["", *verdicts, "", f"{_machine_line(payload['machine'])}; command: "
                                                 f"`{payload['command']}`."])


def _abstain_verdict(r: dict) -> str:
    checks = {"non-digits refused >= 95%": r["non_digits"]["refused_all"] >= ABSTAIN_TARGETS["refused"],
              "AUROC >= 0.99": r["auroc"] >= ABSTAIN_TARGETS["auroc"],
              "re-drawn digits given >= 98%": r["digits"]["given"] >= ABSTAIN_TARGETS["given"],
              "given right >= 99.5%": r["digits"]["given_right"] >= ABSTAIN_TARGETS["given_right"],
              "ECE test <= 1%": r["mnist_test"]["ece"] <= ABSTAIN_TARGETS["test_ece"],
              "ECE re-drawn <= 3%": r["digits"]["ece"] <= ABSTAIN_TARGETS["redrawn_ece"],
              "cost <= 1.10x": r["cost"]["ratio"] <= ABSTAIN_TARGETS["cost"]}
    return "; ".join(f"{name}: {'met' if met else 'NOT met'}" for name, met in checks.items())


def recipes_table(payload: dict) -> str:
    lines = ["| recipe | multiply-adds / image | time to 99.0% (median) | seeds reaching 99% | final accuracy (mean) "
             "| training time | speed-up vs reference |", "|---|---|---|---|---|---|---|"]
    for r in payload["recipes"]:
        to_99 = f"{r['median_seconds_to_99']:.1f} s" if r["median_seconds_to_99"] is not None else "not reached"
        speedup = f"{r['median_speedup']:.1f}x" if r["median_speedup"] is not None else "-"
        lines.append(f"| {r['name']} | {r['multiply_adds'] / 1e6:.2f} M | {to_99} | {r['seeds_reaching_99']} of "
                     f"{payload['seeds']} | {r['mean_final_accuracy']:.2%} | {r['median_seconds_total']:.1f} s "
                     f"| {speedup} |")
    reference = payload["reference_median_seconds"]
    times = [r["seconds_to_target"] for r in payload["reference"] if r["seconds_to_target"]]
    reference = (f"{reference:.1f} s to 99.0% (median of {payload['seeds']}; {min(times):.0f}-{max(times):.0f} s "
                 "across the seeds)" if reference is not None else "did not reach 99.0%")
    lines += ["", f"Keras `mnist_convnet` reference, timed in the same run: {reference}. Command: "
              f"`{payload['command']}` ({_machine_line(payload['machine'])})."]
    return "\n".join(lines)


TABLES = {
    "speed": ("speed.json", speed_table),
    "recipes": ("recipes.json", recipes_table),
    "accuracy": ("accuracy.json", accuracy_table),
    "epoch_cost": ("epoch_cost.json", epoch_cost_table),
    "inference": ("inference.json", inference_table),
    "tuning": ("tuning.json", tuning_table),
    "backends": ("backends.json", backends_table),
    "realworld": ("realworld.json", realworld_table),
    "loadtest": ("loadtest.json", loadtest_table),
    "imaging": ("imaging.json", imaging_table),
    "numbers": ("numbers.json", numbers_table),
    "explain": ("explain.json", explain_table),
    "writer": ("writer.json", writer_table),
    "app": ("app.json", app_table),
    "quickstart": ("quickstart.json", quickstart_table),
    "abstain": ("abstain.json", abstain_table),
}
PROJECT_README = README.parent.parent / "README.md"
SHIPPED_CONFIG = README.parent.parent / "src" / "digitlab" / "shipped" / "config.json"
# The shipped model's figures come from several benchmarks, each run on it by its own command.
SHIPPED_RESULTS = {"paper": "paper.json", "hands": "hands.json", "abstain": "abstain.json",
                   "numbers": "numbers-shipped.json", "realworld": "realworld-shipped.json"}
SHIPPED_RUNS = ("src/digitlab/shipped", "runs/shipped/default")  # as shipped (ONNX), and the run it came from


def _shipped_entry(runs: dict) -> dict:
    return next(runs[name] for name in SHIPPED_RUNS if name in runs)


def shipped_table(results: dict[str, dict], shipped: dict) -> str:
    """The issue's targets for the model that ships, each against the benchmark that measures it."""
    paper, hands = _shipped_entry(results["paper"]["runs"]), _shipped_entry(results["hands"]["runs"])
    abstain = _shipped_entry(results["abstain"]["runs"])
    numbers = next(r for r in results["numbers"]["results"] if r["mark_model"])
    rows = [
        ("MNIST test", shipped["shipped"]["mnist_test_accuracy"], 0.995, "digitlab train --recipe default"),
        ("re-drawn uploads of MNIST test digits", results["realworld"]["pipeline_accuracy"], 0.985,
         results["realworld"]["command"]),
        ("clean numbers of 2-6 digits (today: 95.8%)", numbers["lengths_2_to_6"]["whole_accuracy"], 0.958,
         results["numbers"]["command"]),
        ("writers MNIST lacks (single digits)", hands["accuracy"], 0.97, results["hands"]["command"]),
        ("numbers on ruled, squared, dotted and boxed paper: whole numbers", paper["all"]["whole_accuracy"], 0.93,
         results["paper"]["command"]),
        ("... characters", paper["all"]["digit_accuracy"], 0.985, results["paper"]["command"]),
        ("numbers with a sign or a decimal point", paper["signed"]["whole_accuracy"], 0.93,
         results["paper"]["command"]),
        ("non-digits refused", abstain["non_digits"]["refused_all"], 0.95, results["abstain"]["command"]),
        ("re-drawn digits given", abstain["digits"]["given"], 0.98, results["abstain"]["command"]),
        ("... of those right", abstain["digits"]["given_right"], 0.995, results["abstain"]["command"]),
    ]
    lines = ["| what | shipped model | target | | command |", "|---|---|---|---|---|"]
    lines += [f"| {what} | {value:.2%} | >= {target:.1%} | {'met' if value >= target else '**NOT met**'} "
              f"| `{command}` |" for what, value, target, command in rows]
    lines.append(f"| one 12 MP photo of a page, read | {paper['photo_12mp_ms']:.0f} ms | <= 300 ms | "
                 f"{'met' if paper['photo_12mp_ms'] <= 300 else '**NOT met**'} | `{results['paper']['command']}` |")
    by_paper = " / ".join(f"{name} {r['whole_accuracy']:.0%}" for name, r in paper["by_paper"].items())
    withheld = numbers.get("lengths_2_to_6_withheld")
    if withheld:  # the readings are judged as read; what the abstention would withhold is said beside
        clean = numbers["lengths_2_to_6"]
        given_right = clean["whole_accuracy"] - withheld["read_right"] / clean["numbers"]
        lines += ["", f"Clean numbers are judged by their best reading, as the paper's are; the shipped model's "
                  f"abstention would withhold {withheld['numbers']} of the {clean['numbers']} as not sure "
                  f"({withheld['read_right']} of them read right), leaving {given_right:.2%} given and right."]
    lines += ["", f"Paper, whole numbers by kind: {by_paper}. The shipped model is "
              f"`{shipped['shipped']['from_run']}` (`{shipped['shipped']['trained_with']}`), shipped "
              f"{shipped['shipped']['date']}; {_machine_line(results['paper']['machine'])}."]
    return "\n".join(lines)


Row = tuple[str, str, str]  # what, result, command: one line of the project README's summary


def _summary_of_quickstart(payload: dict) -> list[Row]:
    rows = []
    for section in payload["machines"].values():
        tests = section.get("tests")
        rows.append((f"the main job, `digitlab quickstart`, {section['cores']} cores"
                     + ("; `make check`; `make test` in a fresh clone" if tests else ""),
                     f"{section['quickstart']['seconds']:.0f} s"
                     + (f"; {tests['check_seconds']:.0f} s; {tests['suite_seconds'] / 60:.1f} min" if tests else "")
                     + f" ({machine_label(section['machine'])})", section["command"]))
    return rows


def _summary_of_backends(payload: dict) -> list[Row]:
    by_name = {r["backend"]: r for r in payload["results"]}
    names = sorted(by_name)
    return [(f"Keras backend, `mnist_convnet` s/epoch ({' / '.join(names)})",
             " / ".join(f"{by_name[n]['convnet_seconds_per_epoch']:.1f}" for n in names)
             + f": {min(names, key=lambda n: by_name[n]['convnet_seconds_per_epoch'])} fastest",
             "python -m benchmarks.backends")]


def _summary_of_tuning(payload: dict) -> list[Row]:
    t = payload
    return [(f"{t['trials']}-trial Optuna study of the mlp",
             f"{t['search_seconds'] / 60:.1f} min; test {t['tuned_test_accuracy']:.2%} tuned vs "
             f"{t['default_test_accuracy']:.2%} defaults", "python -m benchmarks.tuning")]


def _summary_of_realworld(r: dict) -> list[Row]:
    return [("re-drawn \"real-world\" test digits, cnn",
             f"{r['pipeline_accuracy']:.2%} through `digitlab.reading.imaging` vs "
             f"{r['naive_accuracy']:.2%} plain resize", "python -m benchmarks.realworld RUN")]


def _summary_of_imaging(payload: dict) -> list[Row]:
    rows = []
    for section, command in with_commands(payload, "python -m benchmarks.imaging RUN"):
        by_upload = {r["upload"]: r for r in section["sizes"]}
        canvas = next(r for name, r in by_upload.items() if name.startswith("280x280"))
        phone = next(r for name, r in by_upload.items() if name.startswith("12 MP"))
        rows.append(("one upload, decode + prepare + infer (280x280 canvas PNG; 12 MP phone JPEG)",
                     f"{canvas['total_ms']:.2f} ms; {phone['total_ms']:.1f} ms "
                     f"({machine_label(section['machine'])})", command))
    return rows


def _summary_of_numbers(payload: dict) -> list[Row]:
    last = payload["results"][-1]
    n, mean = last["lengths_2_to_6"], payload.get("mean_over_seeds")
    return [("whole numbers of 2-6 MNIST test digits (`digitlab read`, cnn trained with augmentation"
             + (", with its mark model)" if last.get("mark_model") else ")"),
             f"{mean['whole_accuracy_mean']:.1%} of numbers right, {mean['digit_accuracy_mean']:.2%} of "
             f"digits (mean over {len(mean['runs'])} seeds)" if mean else
             f"{n['whole_accuracy']:.1%} of numbers right, {n['digit_accuracy']:.1%} of digits",
             "python -m benchmarks.numbers RUN")]


def _summary_of_writer(w: dict) -> list[Row]:
    most = max(w["results"], key=lambda r: r["corrections"])
    return [(f"a writer MNIST lacks, after {most['corrections']} corrections (`train --from --extra-data`)",
             f"{w['before']['writer_accuracy']:.1%} -> {most['writer_accuracy']:.1%} of their digits "
             f"(error {most['writer_error_ratio']:.2f}x); MNIST test {most['mnist_change_points']:+.2f} points",
             "python -m benchmarks.writer RUN")]


def _summary_of_app(a: dict) -> list[Row]:
    return [("the on-device app in Chromium (`digitlab app`), cnn",
             f"{a['app_megabytes']:.1f} MB, first load {a['first_load_seconds']:.2f} s, "
             f"{a['reading_median_ms']:.1f} ms per reading", "python -m benchmarks.app RUN")]


def _summary_of_explain(payload: dict) -> list[Row]:
    occluded = next(r for r in payload["results"] if r["method"] == "occlusion")
    return [(f"explain one reading (occlusion, cnn on {occluded['engine']})",
             f"{occluded['median_ms']:.1f} ms per image; the 40 most salient pixels cost "
             f"{occluded['drop_salient']:.2f} of the probability, 40 random ink pixels "
             f"{occluded['drop_random_ink']:.2f}", "python -m benchmarks.explain RUN")]


def _summary_of_loadtest(payload: dict) -> list[Row]:
    rows = []
    for section, command in with_commands(payload, "python -m benchmarks.loadtest RUN"):
        for r in section["results"]:
            if not r.get("batching", True):
                continue
            rows.append((f"REST API, {r['workload']}, concurrency {r['concurrency']}, {r['workers']} workers",
                         f"{r['requests_per_second']:,.0f} req/s, p50 {r['p50_ms']:.1f} ms, p99 "
                         f"{r['p99_ms']:.1f} ms, {r['errors']} errors ({machine_label(section['machine'])})",
                         command))
    return rows


def _summary_of_accuracy(payload: dict) -> list[Row]:
    rows = []
    a = payload
    members = a["members"]
    minutes = [m["train_seconds"] / 60 for m in members]
    peaks = [m["peak_memory_megabytes"] for m in members if m.get("peak_memory_megabytes")]
    summary = member_summary(members)
    rows.append((f"accurate CNN, {len(members)} seeds (`{members[0]['command'].removeprefix('digitlab train ')}`)",
                 f"mean {summary['mean']:.2%} ± {summary['sd']:.2%} test accuracy ("
                 + " / ".join(f"{m['test_accuracy']:.2%}" for m in members)
                 + f"), {min(minutes):.1f}-{max(minutes):.1f} min each ({summary['total_minutes']:.0f} min in "
                 "all)" + (f" and up to {max(peaks) / 1000:.2f} GB peak" if peaks else ""),
                 "python -m benchmarks.accuracy"))
    rows.append((f"the same {len(members)} as an ensemble; with test-time augmentation (`--tta`)",
                 f"{a['ensemble']['test_accuracy']:.2%}; {a['ensemble_tta']['test_accuracy']:.2%}",
                 "python -m benchmarks.accuracy"))
    return rows


def _summary_of_speed(payload: dict) -> list[Row]:
    rows = []
    seed, target = payload["seed_model_cost"], payload["time_to_99"]
    rows.append(("lesson model through digitlab vs a bare Keras script", f"{seed['median_ratio']:.2f}x the time",
                 "python -m benchmarks.speed"))
    for section, machine in time_to_99_sections(payload):
        fast = section["models"]["cnn-fast"]
        if fast["median_seconds"] is not None:
            rows.append(("time to 99.0% test accuracy, `cnn-fast` vs Keras `mnist_convnet`",
                         f"{fast['median_seconds']:.1f} s vs {section['reference_median_seconds']:.1f} s (medians "
                         f"of {len(section['rounds'])} alternating rounds): {fast['speedup']:.1f}x faster "
                         f"({machine_label(machine)})",
                         section["command"] if section is not target else "python -m benchmarks.speed"))
    return rows


def _summary_of_recipes(payload: dict) -> list[Row]:
    rows = []
    payload = payload
    reaching = [r for r in payload["recipes"] if r["median_speedup"] is not None]  # every seed reached 99%
    if reaching:
        best = min(reaching, key=lambda r: r["median_seconds_to_99"])
        rows.append(("fastest `cnn-fast` recipe to 99.0% on every seed, vs Keras `mnist_convnet` in the same run",
                     f"{best['name']}: {best['median_seconds_to_99']:.1f} s vs "
                     f"{payload['reference_median_seconds']:.1f} s (medians of {payload['seeds']} seeds): "
                     f"{best['median_speedup']:.1f}x ({machine_label(payload['machine'])})",
                     "python -m benchmarks.recipes"))
    return rows


def _summary_of_inference(payload: dict) -> list[Row]:
    rows = []
    cnn = next((r for r in payload["results"] if r["model"] == "cnn" and "onnx" in r), None)
    if cnn:
        rows.append(("cnn inference, ONNX Runtime",
                     f"{cnn['onnx']['images_per_second']:,} images/s (bound {cnn['bound_images_per_second']:,}), "
                     f"{cnn['onnx']['single_median_ms']:.3f} ms per single image",
                     "python -m benchmarks.inference RUNS"))
    return rows


def _summary_of_abstain(payload: dict) -> list[Row]:
    path, r = next(iter(payload["runs"].items()))
    return [(f"\"not a digit\" and \"not sure\": `{r['trained_with']}` on the project's own sets",
             f"{r['non_digits']['refused_all']:.1%} of non-digits refused ({r['non_digits']['refused_held_out']:.1%} "
             f"of kinds held out of training), AUROC {r['auroc']:.3f}; re-drawn digits {r['digits']['given']:.1%} "
             f"given, {r['digits']['given_right']:.2%} of those right", f"python -m benchmarks.abstain {path}")]


# The project README's summary, one entry per results file, in the order the table lists them.
SUMMARY_ROWS: list[tuple[str, Callable[[dict], list[Row]]]] = [
    ("quickstart", _summary_of_quickstart),
    ("backends", _summary_of_backends),
    ("tuning", _summary_of_tuning),
    ("realworld", _summary_of_realworld),
    ("abstain", _summary_of_abstain),
    ("imaging", _summary_of_imaging),
    ("numbers", _summary_of_numbers),
    ("writer", _summary_of_writer),
    ("app", _summary_of_app),
    ("explain", _summary_of_explain),
    ("loadtest", _summary_of_loadtest),
    ("accuracy", _summary_of_accuracy),
    ("speed", _summary_of_speed),
    ("recipes", _summary_of_recipes),
    ("inference", _summary_of_inference),
]


def summary_table(results: dict[str, dict]) -> str:
    """The project README's one-line-per-benchmark table, from whichever results files exist, so that
    re-running a benchmark cannot leave the front page quoting old numbers."""
    rows = [row for name, rows_of in SUMMARY_ROWS if name in results for row in rows_of(results[name])]
    lines = ["| what | result | command |", "|---|---|---|"]
    lines += [f"| {what} | {result} | `{command}` |" for what, result, command in rows]
    return "\n".join(lines)




def _fill(text: str, name: str, body: str) -> str:
    """``text`` with what lies between the ``name`` marker comments replaced by ``body``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text:
        return text
    before, rest = text.split(start, 1)
    return f"{before}{start}\n{body}\n{end}{rest.split(end, 1)[1]}"


def rendered_readmes() -> dict[Path, str]:
    """benchmarks/README.md and the project README as the results files say they should read."""
    results = {name: json.loads((RESULTS_DIR / file_name).read_text())
               for name, (file_name, _) in TABLES.items() if (RESULTS_DIR / file_name).exists()}
    text = README.read_text()
    for name, payload in results.items():
        text = _fill(text, name, TABLES[name][1](payload))
    if SHIPPED_CONFIG.exists() and all((RESULTS_DIR / file_name).exists() for file_name in SHIPPED_RESULTS.values()):
        text = _fill(text, "shipped", shipped_table(
            {name: json.loads((RESULTS_DIR / file_name).read_text()) for name, file_name in SHIPPED_RESULTS.items()},
            json.loads(SHIPPED_CONFIG.read_text())))
    rendered = {README: text}
    if PROJECT_README.exists():
        rendered[PROJECT_README] = _fill(PROJECT_README.read_text(), "summary", summary_table(results))
    return rendered


def regenerate_readme() -> None:
    """Refresh every table in benchmarks/README.md and the summary in the project README."""
    for path, text in rendered_readmes().items():
        atomic_write_text(path, text)


if __name__ == "__main__":  # python -m benchmarks.report: the READMEs' tables, rendered from results/*.json
    regenerate_readme()
    print("rendered the tables of benchmarks/README.md and README.md from benchmarks/results")
