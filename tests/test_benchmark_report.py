"""The benchmark tables in both READMEs are rendered from benchmarks/results/*.json, never typed."""

from __future__ import annotations

import json

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
