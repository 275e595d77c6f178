"""What this CPU is, from /proc/cpuinfo: its model name, maker, feature flags and kind. Training reads them to
choose a precision (bfloat16 where it is fast); the benchmarks record them beside every figure, since
the same code runs at different speeds on an Intel Xeon with AMX, one without, an AMD EPYC with AVX-512
BF16 (Zen 4) and an AMD EPYC with AVX2 only (Zen 1)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

UNKNOWN = "unknown"

# The kinds of CPU this project's machines come with, named by the bfloat16 and vector hardware that decides
# how fast training runs on them (benchmarks/README.md has the figures per kind).
AMX = "AMX"
AVX512_BF16 = "AVX-512 BF16, no AMX"
AVX512 = "AVX-512, no BF16"
AVX2 = "AVX2, no AVX-512"
OLDER = "no AVX2"
KINDS = (AMX, AVX512_BF16, AVX512, AVX2, OLDER)


@dataclass(frozen=True)
class CPU:
    model: str = UNKNOWN  # "Intel(R) Xeon(R) Processor"
    vendor: str = UNKNOWN  # "GenuineIntel", "AuthenticAMD"
    flags: frozenset[str] = frozenset()  # "avx512_bf16", "amx_bf16", ...

    @property
    def kind(self) -> str:
        return kind_of(self.flags)

    @property
    def has_avx512(self) -> bool:
        """AVX-512 Foundation: where oneDNN, and so TensorFlow, has bfloat16 convolution kernels at all (on an
        AVX2-only CPU TensorFlow runs a bfloat16 convolution in its own kernels, and it is emulated there)."""
        return "avx512f" in self.flags

    def tensorflow_uses_onednn(self, setting: str | None = None) -> bool:
        """Whether TensorFlow runs its CPU kernels through oneDNN here. ``setting`` is TF_ENABLE_ONEDNN_OPTS
        ("1"/"0"; None or "" leaves TensorFlow to decide): by default TensorFlow turns oneDNN on only for a CPU
        with neural-network instructions (AVX-512 VNNI or BF16, AVX-VNNI, AMX), so an AVX2-only CPU such as
        an AMD EPYC Zen 1 runs every op in TensorFlow's own kernels and oneDNN reports none."""
        if setting and setting.lower() in ("0", "1", "true", "false"):
            return setting.lower() in ("1", "true")
        return bool(self.flags & ONEDNN_DEFAULT_FLAGS)


# The CPU features for which TensorFlow (2.9 and later, x86 Linux) enables oneDNN by default.
ONEDNN_DEFAULT_FLAGS = frozenset({"avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16"})


def kind_of(flags: frozenset[str] | set[str] | list[str] | tuple[str, ...]) -> str:
    """One of KINDS for a set of /proc/cpuinfo flags: the best of AMX tiles, AVX-512 BF16, AVX-512, AVX2."""
    features = set(flags)
    if "amx_bf16" in features:
        return AMX
    if "avx512_bf16" in features:
        return AVX512_BF16
    if "avx512f" in features:
        return AVX512
    return AVX2 if "avx2" in features else OLDER


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
