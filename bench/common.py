"""What every benchmark script shares: paths, offline settings, the machine's description, the
load average, and the Markdown table helpers the generated sections are written with.

Importing it sets the offline variables (no hub is reachable here) before transformers loads.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
#: The inference targets against ``transformers.pipeline`` (words/s ratios); one definition for every section.
TAGGER_TARGET = 5.0
INT8_TARGET = 8.0
#: Issue 21's speed targets by the CPU's native bf16 feature (``None``: a CPU the issue did not
#: name, judged against the lower, AVX-512 BF16 row).
KIND_TARGETS: dict[str | None, dict[str, float]] = {
    "avx512_bf16": {"bf16_minilm": 1.3, "bf16_bert": 1.8, "predict": 5.0, "int8_predict": 6.0},
    "amx_bf16": {"bf16_minilm": 2.0, "bf16_bert": 3.0, "predict": 8.0, "int8_predict": 8.0},
}


def kind_targets(bf16_feature: str | None) -> dict[str, float]:
    """The speed targets for a CPU with this native bf16 feature (see :data:`KIND_TARGETS`)."""
    return KIND_TARGETS.get(bf16_feature, KIND_TARGETS["avx512_bf16"])
for name, value in (
    ("HF_HUB_OFFLINE", "1"),
    ("TRANSFORMERS_OFFLINE", "1"),
    ("HF_DATASETS_OFFLINE", "1"),
    ("TOKENIZERS_PARALLELISM", "false"),
):
    os.environ.setdefault(name, value)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import onnxruntime
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    memory = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total = next(line for line in meminfo.read_text().splitlines() if line.startswith("MemTotal"))
        memory = round(int(total.split()[1]) / 1024**2, 1)
    return {
        "cpu": cpu,
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": memory,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "transformers": transformers.__version__,
        "onnxruntime": onnxruntime.__version__,
        "platform": platform.platform(),
    }


def loads() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines + [""]
