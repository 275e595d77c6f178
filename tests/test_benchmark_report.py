"""The benchmark tables in both READMEs are rendered from benchmarks/results/*.json, never typed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from benchmarks import report


def test_readmes_say_what_the_results_say():
    for path, text in report.rendered_readmes().items():
        assert path.read_text() == text, f"{path.name} is out of date: run python -m benchmarks.report"


def test_summary_has_a_row_per_result_present():
    speed = json.loads((report.RESULTS_DIR / "speed.json").read_text())
    table = report.summary_table({"speed": speed})
    fast = speed["time_to_99"]["models"]["cnn-fast"]
    sections = [speed["time_to_99"], *(other["time_to_99"] for other in speed.get("beside", {}).values())]
    assert table.count("\n") == 2 + len(sections)  # header, rule, seed-cost row, a time-to-99 row per section
    assert f"{fast['median_seconds']:.1f} s vs {speed['time_to_99']['reference_median_seconds']:.1f} s" in table
    for section in sections:  # never reached 99%: no row claims a time
        section["models"]["cnn-fast"]["median_seconds"] = section["models"]["cnn-fast"]["speedup"] = None
    assert "time to 99.0%" not in report.summary_table({"speed": speed})
    assert report.summary_table({}) == "| what | result | command |\n|---|---|---|"


def test_every_figure_names_the_bfloat16_hardware_it_was_measured_with():
    cpu_kind, machine_info = report.cpu_kind, report.machine_info
    assert cpu_kind({"cpu_features": ["amx_bf16", "avx512_bf16", "avx512f"]}) == "AMX"
    assert cpu_kind({"cpu_features": ["avx512_bf16", "avx512f"]}) == "AVX-512 BF16, no AMX"
    assert cpu_kind({"cpu": "old"}) == "features not recorded"
    capped = {"cpu_features": ["amx_bf16", "avx512_bf16"], "onednn_max_cpu_isa": report.WITHOUT_AMX_ISA}
    assert cpu_kind(capped) == "AMX turned off, AVX-512 BF16"
    assert cpu_kind({**capped, "cpu_features": ["avx512_bf16"]}) == "AVX-512 BF16, no AMX"
    assert cpu_kind({"cpu_features": ["avx2"]}) == "AVX2, no AVX-512"
    labelled = report.machine_label
    assert labelled({**capped, "cpu": "Intel(R) Xeon(R) Processor"}) == "Intel, AMX turned off, AVX-512 BF16"
    assert labelled({"cpu": "AMD EPYC 9R14 96-Core Processor", "cpu_features": ["avx512_bf16"]}) == (
        "AMD, AVX-512 BF16, no AMX")
    assert labelled({"cpu": "AMD EPYC 7571", "cpu_features": ["avx2"]}) == "AMD, AVX2, no AVX-512"
    machine = machine_info()
    features = machine["cpu_features"]
    assert machine["cpu_kind"] == cpu_kind(machine)
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    assert ("amx_bf16" in features) == ("amx_bf16" in flags)


def test_load_test_floor_reads_the_whole_body_and_ceiling_counts_cpu():
    """The floor server answers any request, however its body arrives, with its fixed reply; the CPU
    counter that the ceiling is computed from grows with work done."""
    from benchmarks.loadtest import _cpu_seconds, fixed_answer
    from starlette.testclient import TestClient

    with TestClient(fixed_answer) as client:
        chunks = (b"x" * 70_000 for _ in range(3))  # streamed in several messages
        answer = client.post("/v1/predict", content=chunks)
    assert answer.status_code == 200 and answer.json() == {"digit": 7}
    before = _cpu_seconds([os.getpid()])
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    assert _cpu_seconds([os.getpid()]) - before >= 0.2


TRAIN_A_FEW_STEPS = """
import json, sys
from benchmarks import report
report.turn_off_amx()
import numpy as np
from digitlab.models import get_spec
from digitlab.training.fit import build_compiled_model
from digitlab.training.settings import settings_for
spec = get_spec("cnn-fast")
settings = settings_for(spec.training_defaults, {"val_split": 0.0, "epochs": 1, "precision": "bfloat16"})
model = build_compiled_model(spec, spec.hyper_defaults, settings, 256)
model.fit(np.zeros((256, 28, 28), "float32"), np.zeros(256, "int64"), batch_size=128, epochs=1, verbose=0)
print("MACHINE", json.dumps(report.machine_info()))
"""


def test_turning_amx_off_keeps_oneDNN_to_avx512_bf16_kernels():
    """What `benchmarks.speed --without-amx` relies on: with the cap, training runs bfloat16 convolutions
    and matrix products on no AMX kernel, and the machine record says it was capped. Where oneDNN has
    bfloat16 convolutions (AVX-512), they run in it; where TensorFlow does not use oneDNN at all (an AVX2-only
    CPU such as an AMD EPYC Zen 1, by TensorFlow's default policy), oneDNN reports no kernel."""
    import subprocess
    import sys

    from digitlab.cpu import this_cpu

    environment = {**os.environ, "ONEDNN_VERBOSE": "1", "PYTHONPATH": str(Path(report.__file__).parents[1])}
    environment.pop("ONEDNN_MAX_CPU_ISA", None)
    done = subprocess.run([sys.executable, "-c", TRAIN_A_FEW_STEPS], env=environment, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    kernels = [line.split(",")[5:7] for line in done.stdout.splitlines() if ",primitive,exec,cpu," in line]
    cpu = this_cpu()
    if not cpu.tensorflow_uses_onednn(environment.get("TF_ENABLE_ONEDNN_OPTS")):
        assert kernels == []
    elif cpu.has_avx512:
        assert any(kind == "convolution" for kind, _ in kernels)
    assert not [kernel for kernel in kernels if "amx" in kernel[1]]
    machine = json.loads(done.stdout.split("MACHINE ", 1)[1])
    assert machine["onednn_max_cpu_isa"] == report.WITHOUT_AMX_ISA
    assert machine["cpu_kind"] == ("AMX turned off, AVX-512 BF16" if cpu.kind == "AMX" else cpu.kind)


def test_a_second_machine_keeps_its_figures_beside_the_first(tmp_path):
    """--beside: the main figures stay, each other machine's are kept under its own label (a repeat run on
    the same kind of machine replaces its own), and the tables head each machine's rows with its label."""
    path = tmp_path / "imaging.json"
    imaging = json.loads((report.RESULTS_DIR / "imaging.json").read_text())
    main = {key: value for key, value in imaging.items() if key != "beside"}
    amx = {"cpu": "Intel(R) Xeon(R) Processor", "cpu_features": ["amx_bf16", "avx512_bf16"]}
    epyc = {"cpu": "AMD EPYC 9R14 96-Core Processor", "cpu_features": ["avx512_bf16", "avx512f"]}
    main["machine"] = {**main["machine"], **amx}
    assert report.keep_beside(path, main) == main  # nothing recorded yet: these become the main figures
    report.write_results(path, main)
    for seconds in (9.0, 7.0):  # the second run on the same kind of machine replaces the first
        other = {**main, "machine": {**main["machine"], **epyc}, "command": f"second machine {seconds}"}
        report.write_results(path, report.keep_beside(path, other))
    recorded = json.loads(path.read_text())
    assert recorded["machine"]["cpu"] == amx["cpu"] and list(recorded["beside"]) == ["AMD, AVX-512 BF16, no AMX"]
    assert [section["command"] for section in report.machine_sections(recorded)] == [main["command"],
                                                                                      "second machine 7.0"]
    table = report.imaging_table(recorded)
    assert table.index("On Intel, AMX:") < table.index("On AMD, AVX-512 BF16, no AMX:")
    assert table.count("| upload |") == 2 and "On " not in report.imaging_table(main)
    summary = report.summary_table({"imaging": recorded})
    assert "(Intel, AMX)" in summary and "(AMD, AVX-512 BF16, no AMX)" in summary
    assert summary.count("`python -m benchmarks.imaging RUN`") == summary.count("RUN --beside`") == 1
