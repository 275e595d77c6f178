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
    assert table.count("\n") == 3  # header, rule, seed-cost row, time-to-99 row
    assert f"{fast['median_seconds']:.1f} s vs {speed['time_to_99']['reference_median_seconds']:.1f} s" in table
    fast["median_seconds"] = fast["speedup"] = None  # never reached 99%: no row claims a time
    assert "time to 99.0%" not in report.summary_table({"speed": speed})
    assert report.summary_table({}) == "| what | result | command |\n|---|---|---|"


def test_every_figure_names_the_bfloat16_hardware_it_was_measured_with():
    cpu_kind, machine_info = report.cpu_kind, report.machine_info
    assert cpu_kind({"cpu_features": ["amx_bf16", "avx512_bf16", "avx512f"]}) == "AMX"
    assert cpu_kind({"cpu_features": ["avx512_bf16", "avx512f"]}) == "AVX-512 BF16, no AMX"
    assert cpu_kind({"cpu": "old"}) == "features not recorded"
    features = machine_info()["cpu_features"]
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
