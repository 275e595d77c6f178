"""The four kinds of CPU this project's machines come with, each told from its /proc/cpuinfo text: what kind it
is named, whether TensorFlow runs oneDNN kernels there, and which precision training picks. The CPU at hand
is checked as it is; the others through their cpuinfo text, so that every kind's logic runs on every machine."""

from __future__ import annotations

import pytest

from digitlab.cpu import AMX, AVX2, AVX512_BF16, KINDS, kind_of, parse_cpuinfo, this_cpu
from digitlab.training.settings import bfloat16_is_fast, settings_for


def cpuinfo(vendor: str, model: str, flags: str) -> str:
    return (f"processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: 0\nmodel name\t: {model}\n"
            f"flags\t\t: fpu sse sse2 avx fma {flags}\nbugs\t\t: spectre_v1\n")


COMMON_AVX512 = "avx2 avx512f avx512dq avx512bw avx512vl avx512_vnni"
# (cpuinfo, kind, TensorFlow turns oneDNN on by default, bfloat16 chosen by precision auto)
MACHINES = {
    "Intel Xeon with AMX": (cpuinfo("GenuineIntel", "Intel(R) Xeon(R) Processor",
                                    f"{COMMON_AVX512} avx512_bf16 amx_bf16 amx_tile amx_int8"), AMX, True, True),
    "Intel Xeon without AMX": (cpuinfo("GenuineIntel", "Intel(R) Xeon(R) Processor", f"{COMMON_AVX512} avx512_bf16"),
                               AVX512_BF16, True, False),
    "AMD EPYC Zen 4": (cpuinfo("AuthenticAMD", "AMD EPYC 9R14 96-Core Processor", f"{COMMON_AVX512} avx512_bf16"),
                       AVX512_BF16, True, True),
    "AMD EPYC Zen 1": (cpuinfo("AuthenticAMD", "AMD EPYC 7571", "avx2 bmi2 sha_ni"), AVX2, False, False),
}


@pytest.mark.parametrize("machine", MACHINES)
def test_each_kind_of_cpu_is_named_and_gets_its_precision_and_kernels(machine, monkeypatch):
    text, kind, onednn, bfloat16 = MACHINES[machine]
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    cpu = parse_cpuinfo(text)
    assert cpu.kind == kind and kind in KINDS
    assert cpu.tensorflow_uses_onednn() is onednn and cpu.tensorflow_uses_onednn("") is onednn
    assert cpu.tensorflow_uses_onednn("1") and not cpu.tensorflow_uses_onednn("0")
    assert cpu.tensorflow_uses_onednn("TRUE") and not cpu.tensorflow_uses_onednn("false")
    assert bfloat16_is_fast(text, "") is bfloat16
    assert cpu.has_avx512 is (kind != AVX2)


def test_without_onednn_bfloat16_is_emulated_and_float32_is_chosen(monkeypatch):
    text = MACHINES["AMD EPYC Zen 4"][0]
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert not bfloat16_is_fast(text, "")
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    assert bfloat16_is_fast(text, "") and not bfloat16_is_fast(MACHINES["AMD EPYC Zen 1"][0], "")


def test_kinds_without_avx512_or_avx2_are_named_too():
    assert kind_of({"avx2", "fma"}) == AVX2 == "AVX2, no AVX-512"
    assert kind_of({"avx512f"}) == "AVX-512, no BF16"
    assert kind_of({"sse2"}) == "no AVX2" and kind_of(set()) == "no AVX2"


def test_this_cpu_gets_the_precision_and_kernels_its_kind_calls_for():
    """On the CPU at hand: precision auto follows bfloat16_is_fast, and a CPU without bfloat16 hardware (Zen 1's
    AVX2) trains in float32. (Whether oneDNN really runs is checked from its own log, in test_benchmark_report.)"""
    cpu = this_cpu()
    precision = settings_for({"precision": "auto"}, {}).precision
    expected = "bfloat16" if bfloat16_is_fast() else "float32"
    assert precision == expected
    if "avx512_bf16" not in cpu.flags and "amx_bf16" not in cpu.flags:
        assert precision == "float32"
