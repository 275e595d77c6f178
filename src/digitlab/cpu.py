"""What this CPU is, from /proc/cpuinfo: its model name, maker and feature flags. Training reads them to
choose a precision (bfloat16 where it is fast); the benchmarks record them beside every figure, since
the same code runs at different speeds on an Intel Xeon with AMX, one without, and an AMD EPYC."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

UNKNOWN = "unknown"


@dataclass(frozen=True)
class CPU:
    model: str = UNKNOWN  # "Intel(R) Xeon(R) Processor"
    vendor: str = UNKNOWN  # "GenuineIntel", "AuthenticAMD"
    flags: frozenset[str] = frozenset()  # "avx512_bf16", "amx_bf16", ...


def parse_cpuinfo(text: str) -> CPU:
    """The first processor's model name, vendor and flags in /proc/cpuinfo's ``text`` (every core's are alike)."""
    entries: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():  # processors are blank-line separated
        key, colon, value = line.partition(":")
        if colon:
            entries.setdefault(key.strip(), value.strip())
    return CPU(entries.get("model name", UNKNOWN), entries.get("vendor_id", UNKNOWN),
               frozenset(entries.get("flags", "").split()))


def this_cpu() -> CPU:
    """This machine's CPU; unknown, with no flags, where there is no /proc/cpuinfo."""
    try:
        return parse_cpuinfo(Path("/proc/cpuinfo").read_text())
    except OSError:
        return CPU()
