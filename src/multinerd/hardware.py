"""The machine the figures come from: CPU model and flags, native bf16 support, usable cores.

Every figure this tool publishes (run reports, benchmarks, the dry run) names its machine
through :func:`probe_hardware`, and every precision choice reads :func:`cpu_bf16_feature`,
so that the CPU is read in one place (``/proc/cpuinfo``, once per process).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import platform
from pathlib import Path
from typing import Any

#: Environment variable that moves the per-machine cache (tests point it at a temporary directory).
CACHE_ENV = "MULTINERD_CACHE_DIR"
#: CPU flags (``/proc/cpuinfo``) that mean native bf16 arithmetic: AVX-512 BF16 and AMX.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
#: CPU flags that mean int8 dot products accumulate straight into int32 (no int16 pair sums to saturate).
INT8_DOT_CPU_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def cache_dir() -> Path:
    """Where what is measured or derived once per machine is kept (bf16 verdicts, Unicode tables):
    ``$MULTINERD_CACHE_DIR``, else ``$XDG_CACHE_HOME/multinerd``, else ``~/.cache/multinerd``."""
    base = os.environ.get(CACHE_ENV)
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "multinerd"


def read_cache_file(path: Path) -> dict[str, Any]:
    """A JSON object kept under :func:`cache_dir`; unreadable, corrupt or not an object counts as empty (it is only a cache)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_cache_file(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to a temporary name and rename it, so a reader never sees half a file.

    A read-only home keeps no cache: the next process measures or derives it again.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        pass


def usable_cpus() -> int:
    """CPUs this process may run on: a container or taskset may grant fewer than the machine has."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields in ``/proc/cpuinfo`` (``flags``, ``model name``...); empty where it is absent."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as the kernel reports them; empty where ``/proc/cpuinfo`` is absent."""
    return frozenset(_cpuinfo().get("flags", "").split())


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what the platform module knows."""
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


@dataclasses.dataclass(frozen=True)
class Hardware:
    """What this machine is, probed once by :func:`probe_hardware` and shown two ways.

    Scores and speeds move between CPUs of one machine kind, so every report and every dry
    run names the hardware; one probe keeps the two descriptions from drifting apart.
    """

    platform: str
    python: str
    cpu: str
    cpu_count: int | None
    bf16_flags: str
    torch: str | None = None
    gpus: tuple[str, ...] = ()
    torch_threads: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The report's rows: platform, Python, CPU, the bf16 flags and, with torch, its version and device."""
        info: dict[str, Any] = {
            "platform": self.platform,
            "python": self.python,
            "cpu": self.cpu,
            "cpu_count": self.cpu_count,
            "bf16_flags": self.bf16_flags,
        }
        if self.torch is not None:
            info["torch"] = self.torch
            info["device"] = self.gpus[0] if self.gpus else "cpu"
        return info

    def line(self) -> str:
        """The device training would use, in words (the dry run's first line)."""
        if self.gpus:
            return f"{len(self.gpus)} x GPU {', '.join(sorted(set(self.gpus)))}"
        return f"CPU {self.cpu}, {self.cpu_count} cores, {self.torch_threads} torch threads"


def probe_hardware() -> Hardware:
    """Platform, Python, the CPU by name, the CPU flags that decide ``precision=auto`` (bf16 where one
    of them is present, else fp32) and, when torch is installed, its version, threads and GPUs.
    """
    flags = cpu_flags()
    found = Hardware(
        platform=platform.platform(),
        python=platform.python_version(),
        cpu=cpu_name(),
        cpu_count=os.cpu_count(),
        bf16_flags=", ".join(f"{flag} {'yes' if flag in flags else 'no'}" for flag in BF16_CPU_FLAGS),
    )
    try:
        import torch
    except ImportError:
        return found
    gpus: tuple[str, ...] = ()
    if torch.cuda.is_available():
        gpus = tuple(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    return dataclasses.replace(
        found, torch=torch.__version__, gpus=gpus, torch_threads=torch.get_num_threads()
    )


def describe_hardware() -> dict[str, Any]:
    """:func:`probe_hardware` as the report shows it (``run.hardware`` in ``report.json``)."""
    return probe_hardware().as_dict()


def cpu_bf16_feature() -> str | None:
    """The CPU feature that gives native bf16 (``avx512_bf16`` or ``amx_bf16``), or ``None``.

    Read from the kernel's flags on Linux; elsewhere oneDNN's own check decides (it answers
    whether bf16 kernels run natively, which is the question).
    """
    flags = cpu_flags()
    if flags:
        return next((flag for flag in BF16_CPU_FLAGS if flag in flags), None)
    if platform.system() != "Linux":
        import torch

        return "onednn_bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else None
    return None


def cpu_int8_dot_feature() -> str | None:
    """The CPU feature that makes ONNX Runtime's uint8 x int8 products exact (VNNI or AMX), or ``None``.

    ``None`` also where the flags cannot be read: the int8 backend then takes the kernel that is
    exact everywhere (:func:`multinerd.model.quantise.unsigned_weights`), at some speed.
    """
    flags = cpu_flags()
    return next((flag for flag in INT8_DOT_CPU_FLAGS if flag in flags), None)
