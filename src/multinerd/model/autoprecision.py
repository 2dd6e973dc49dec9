"""``precision=auto`` on a CPU: bf16 only where it measured faster than fp32 on this CPU and encoder shape.

A bf16 flag in ``/proc/cpuinfo`` (AVX-512 BF16, AMX) says the CPU *can* compute in bf16,
not that a given model runs faster in it: small matrices, new shapes (oneDNN builds a
kernel per shape) and dtype casts can eat the gain, and the tool measured bf16 training of
MiniLM at 0.54x fp32 on one such CPU. So ``auto`` decides by measurement:

* a CPU without a bf16 flag would emulate bf16 in software, which is always slower: fp32,
  without measuring (the reason says so);
* otherwise a short timed fp32-vs-bf16 forward and backward pass of an encoder of the
  model's real shape (random weights, at most :data:`MEASURED_LAYERS` layers, the widths in
  :data:`MEASURED_WIDTHS`) gives a speed ratio; bf16 is chosen only when it is at
  least :data:`MIN_SPEEDUP` times fp32's speed, so ``auto`` never picks a slower path.

The verdict is cached per CPU model, bf16 flags, torch version and encoder shape in a small
JSON file (:func:`cache_path`: ``$MULTINERD_CACHE_DIR``, else ``$XDG_CACHE_HOME/multinerd``,
else ``~/.cache/multinerd``), so the measurement costs a few seconds once per machine kind.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from multinerd import hardware

CACHE_FILE = "precision.json"
#: bf16 must be at least this much faster than fp32 to be chosen (a margin for timing noise).
MIN_SPEEDUP = 1.1
#: Widths (sub-tokens) timed: short, typical and long batches of sentences.
MEASURED_WIDTHS = (32, 64, 128)
MEASURED_BATCH = 16
#: The attention training uses on a CPU: PyTorch's fused attention (SDPA) has a slow bf16
#: backward there (``bench/hardware.py``'s profile put attention at a third of a bf16 training
#: step, more seconds than in fp32), while the unfused (eager) attention runs its products as
#: bf16 matmuls like the rest. fp32 runs as fast either way and uses it too, so that a seed's
#: dropout draws are the same in both precisions and their scores compare seed by seed.
#: Forward-only inference is as fast either way, so it keeps the model's default.
CPU_TRAINING_ATTENTION = "eager"
#: Layers of the measured encoder: the ratio is per layer, so a few layers give it for the whole stack.
MEASURED_LAYERS = 2
#: Timed passes per width and format, after one untimed warm-up pass each.
REPEATS = 2


@dataclass(frozen=True)
class EncoderShape:
    """What decides a transformer encoder's speed in each format: its matrices' sizes."""

    hidden: int
    intermediate: int
    heads: int
    layers: int

    @classmethod
    def of(cls, config: Any) -> EncoderShape:
        """The shape of a transformers config (BERT-like names: ``hidden_size``, ``intermediate_size``...)."""
        return cls(
            hidden=int(config.hidden_size),
            intermediate=int(getattr(config, "intermediate_size", 4 * config.hidden_size)),
            heads=int(config.num_attention_heads),
            layers=int(config.num_hidden_layers),
        )

    def key(self) -> str:
        return f"h{self.hidden}-i{self.intermediate}-a{self.heads}-l{self.layers}"


@dataclass(frozen=True)
class Verdict:
    """The precision ``auto`` chose on the CPU, and why."""

    precision: str
    reason: str
    #: bf16's speed as a multiple of fp32's (forward and backward, summed over the widths), when measured.
    bf16_speedup: float | None = None
    cpu: str = ""
    cached: bool = False

    def line(self) -> str:
        """``precision auto -> fp32: bf16 measured 0.42x fp32 on AMD EPYC ...``: the log line."""
        return f"precision auto -> {self.precision}: {self.reason}"


def cache_path() -> Path:
    """The verdict cache file, under :func:`multinerd.hardware.cache_dir`."""
    return hardware.cache_dir() / CACHE_FILE


def cache_key(shape: EncoderShape, feature: str) -> str:
    """One verdict per CPU model, bf16 feature, torch version and encoder shape."""
    import torch

    return f"{hardware.cpu_name()}|{feature}|torch {torch.__version__}|{shape.key()}"


def _timed_passes(model: Any, batches: list[Any], bf16: bool) -> float:
    """Seconds for a forward and backward pass over every batch (after one warm-up pass each)."""
    import torch

    def one(ids: Any) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            output = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        output.float().sum().backward()
        model.zero_grad(set_to_none=True)

    for ids in batches:
        one(ids)
    started = time.perf_counter()
    for _ in range(REPEATS):
        for ids in batches:
            one(ids)
    return time.perf_counter() - started


def training_attention(device: str) -> str | None:
    """The attention implementation training switches to on ``device``; ``None`` keeps the model's."""
    return None if device.startswith("cuda") else CPU_TRAINING_ATTENTION


def use_training_attention(model: Any, device: str | None = None) -> None:
    """Switch ``model`` to :func:`training_attention` for ``device`` (default: a GPU where torch
    sees one, else the CPU), as training, this module's measurement and the benchmarks run it.
    A saved model keeps the default."""
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    attention = training_attention(device)
    if attention and model.config._attn_implementation != attention:
        model.set_attn_implementation(attention)


def measure_bf16_speedup(shape: EncoderShape, widths: tuple[int, ...] = MEASURED_WIDTHS) -> float:
    """bf16's speed as a multiple of fp32's: a training step's forward and backward at ``widths``.

    A random-weight BERT encoder of ``shape`` (at most :data:`MEASURED_LAYERS` layers) runs
    the same batches in fp32 and under bf16 autocast, each with the attention training uses
    (:func:`training_attention`).
    """
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=1000,
        hidden_size=shape.hidden,
        intermediate_size=shape.intermediate,
        num_attention_heads=shape.heads,
        num_hidden_layers=min(shape.layers, MEASURED_LAYERS),
        max_position_embeddings=max(512, max(widths)),
    )
    generator = torch.Generator().manual_seed(0)
    model = BertModel(config).train()
    batches = [torch.randint(1, 1000, (MEASURED_BATCH, width), generator=generator) for width in widths]
    use_training_attention(model, "cpu")
    fp32 = _timed_passes(model, batches, bf16=False)
    bf16 = _timed_passes(model, batches, bf16=True)
    return fp32 / bf16


def cpu_verdict(shape: EncoderShape, *, measure_without_flag: bool = False) -> Verdict:
    """What ``auto`` computes in on this CPU for an encoder of ``shape`` (measured once, then cached)."""
    cpu = hardware.cpu_name()
    feature = hardware.cpu_bf16_feature()
    if feature is None and not measure_without_flag:
        return Verdict(
            "fp32",
            f"{cpu} has no {' or '.join(hardware.BF16_CPU_FLAGS)} flag, so bf16 would be emulated "
            "in software (always slower); not measured",
            cpu=cpu,
        )
    where = f"on {cpu} ({feature or 'no ' + '/'.join(hardware.BF16_CPU_FLAGS)}), encoder {shape.key()}"
    path = cache_path()
    key = cache_key(shape, feature or "none")
    record = hardware.read_cache_file(path).get(key)
    cached = isinstance(record, dict) and isinstance(record.get("bf16_speedup"), (int, float))
    if not cached:
        record = {
            "bf16_speedup": round(measure_bf16_speedup(shape), 4),
            "widths": list(MEASURED_WIDTHS),
            "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        hardware.write_cache_file(path, hardware.read_cache_file(path) | {key: record})
    speedup = float(record["bf16_speedup"])
    precision = "bf16" if speedup >= MIN_SPEEDUP else "fp32"
    rule = f">= {MIN_SPEEDUP}x needed" if precision == "fp32" else f"at least {MIN_SPEEDUP}x"
    source = f"cached in {path}" if cached else f"measured now, cached in {path}"
    reason = f"bf16 measured {speedup:.2f}x fp32 {where} ({rule}; {source})"
    return Verdict(precision, reason, speedup, cpu, cached)


def verdict_record(verdict: Verdict) -> dict[str, Any]:
    """The verdict as the benchmark's results file keeps it."""
    return asdict(verdict)
