"""Where the time of ``predict`` and of a training step goes: the torch profiler's operators, grouped.

Groups (by operator name, self CPU time, so nothing is counted twice): matrix multiplies,
attention (fused scaled-dot-product kernels and the batched products of unfused attention),
softmax/LayerNorm/GELU, dtype casts and copies, everything else torch runs. Tokenisation and
window bookkeeping are timed apart (the Tagger's encoding step), and what remains of the wall
time is Python and framework overhead outside any operator.

    .venv/bin/python -c "import profile_split; ..."   # called by bench/hardware.py
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Operator name -> group. Checked in order; the first substring that matches wins.
GROUPS = (
    ("attention", ("scaled_dot_product", "_flash_attention", "_efficient_attention", "aten::bmm", "baddbmm")),
    ("matmul", ("aten::addmm", "aten::mm", "aten::matmul", "aten::linear", "mkldnn_linear", "_mkl_linear")),
    ("softmax / LayerNorm / GELU", ("softmax", "layer_norm", "gelu")),
    ("dtype casts and copies", ("aten::to", "aten::_to_copy", "aten::copy_", "aten::clone", "contiguous")),
)


def group_of(name: str) -> str:
    """The group of one profiler operator (see :data:`GROUPS`); ``other operators`` when none matches."""
    for group, needles in GROUPS:
        if any(needle in name for needle in needles):
            return group
    return "other operators"


def split(profile: Any, wall_seconds: float, tokenisation_seconds: float = 0.0) -> dict[str, float]:
    """Seconds per group from a finished ``torch.profiler.profile``, plus tokenisation and the rest."""
    seconds: dict[str, float] = {}
    for event in profile.key_averages():
        group = group_of(event.key)
        seconds[group] = seconds.get(group, 0.0) + event.self_cpu_time_total / 1e6
    operators = sum(seconds.values())
    seconds["tokenisation and windows"] = tokenisation_seconds
    seconds["Python and framework overhead"] = max(0.0, wall_seconds - operators - tokenisation_seconds)
    return seconds


def shares(seconds: dict[str, float]) -> dict[str, float]:
    total = sum(seconds.values()) or 1.0
    return {group: value / total for group, value in seconds.items()}


def profile_predict(model_dir: Path, texts: Sequence[str], precision: str = "fp32") -> dict[str, Any]:
    """The split of one ``Tagger.predict_text`` call over ``texts`` (PyTorch backend, after a warm-up call)."""
    import torch

    from multinerd.model.features import encode_dataset
    from multinerd.model.tagger import Tagger, split_words

    tagger = Tagger.from_pretrained(model_dir, backend="torch", device="cpu", precision=precision)
    tagger.predict_text(list(texts[:8]))
    words = [[w for w, _, _ in split_words(text)] for text in texts]
    started = time.perf_counter()
    encode_dataset(words, None, tagger.tokenizer, tagger.max_length, tagger.stride)
    tokenisation = time.perf_counter() - started
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        started = time.perf_counter()
        tagger.predict_text(list(texts))
        wall = time.perf_counter() - started
    seconds = split(profile, wall, tokenisation)
    return {"what": f"Tagger.predict_text, {len(texts)} texts, torch {tagger.precision}", "wall_seconds": wall,
            "seconds": seconds, "shares": shares(seconds)}


def profile_training_step(model_dir: Path, batch: dict[str, Any], bf16: bool = False, steps: int = 3) -> dict[str, Any]:
    """The split of ``steps`` forward/backward/optimizer steps of the model on one padded batch (after a warm-up)."""
    import torch
    from transformers import AutoModelForTokenClassification

    from multinerd.model.autoprecision import use_training_attention

    model = AutoModelForTokenClassification.from_pretrained(model_dir).train()
    use_training_attention(model)  # as training runs it
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        started = time.perf_counter()
        for _ in range(steps):
            step()
        wall = time.perf_counter() - started
    seconds = split(profile, wall)
    shape = tuple(batch["input_ids"].shape)
    return {"what": f"training step x{steps}, batch {shape[0]}x{shape[1]}, {'bf16' if bf16 else 'fp32'}",
            "wall_seconds": wall, "seconds": seconds, "shares": shares(seconds)}
