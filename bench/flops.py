"""How close to the machine's limit: matmul rate, model FLOPs from the encoder's shape, and profiles.

FLOPs are counted from the shape (a multiply-add is 2 FLOPs). Per token and layer the linear
layers cost ``2 * (4 h^2 + 2 h i)`` (query, key, value, output; the two feed-forward
matrices) and attention ``4 * n * h`` for a row of ``n`` positions (scores ``Q K^T`` and the
weighted sum of values); the classifier adds ``2 h labels`` per token. Embedding look-ups,
layer norms, softmax and GELU are left out: they are memory-bound and small. Training costs
3 times the forward pass (the backward pass computes gradients for inputs and weights).

*Useful* FLOPs count each row at its real length; *executed* FLOPs count every position of
the padded batch, so the gap is the compute padding costs. Rates are divided by the
sustained rate of large matmuls *in the number format the path computes in*, measured with
torch on the same threads in one run (:func:`matmul_peaks`): fp32 ``a @ b``, bf16 ``a @ b``
(native on CPUs with AVX-512 BF16 or AMX), and int8 ``torch._int_mm`` (int8 x int8 -> int32,
VNNI), which is what dense encoder layers could reach at best in that format. An int8 ONNX
graph that keeps some layers in fp32 is measured against the int8 peak, which flatters none.

    .venv/bin/python bench/flops.py --matmul-seconds 3
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import json
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

Batches = Sequence[tuple[Sequence[int], int]]
#: torch operator names that are matrix multiplies (their self time is the useful dense compute).
MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_scaled_dot_product")


def matmul_gflops(*, size: int = 2048, threads: int | None = None, seconds: float = 4.0) -> dict[str, Any]:
    """Sustained fp32 GFLOP/s of ``size x size`` matmuls on ``threads`` torch threads (default: torch's)."""
    return matmul_peaks(size=size, threads=threads, seconds=seconds, formats=("fp32",))["fp32"]


#: The number formats whose peak :func:`matmul_peaks` measures, and how each multiplies.
FORMATS = ("fp32", "bf16", "int8")


def _matmul_call(fmt: str, size: int) -> Callable[[], Any]:
    if fmt == "int8":
        a = torch.randint(-128, 127, (size, size), dtype=torch.int8)
        b = torch.randint(-128, 127, (size, size), dtype=torch.int8)
        return lambda: torch._int_mm(a, b)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[fmt]
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    return lambda: a @ b


#: Matrix size for a format whose full-size matmul would outlast the measurement (see :func:`matmul_peaks`).
SLOW_FORMAT_SIZE = 512


def _size_for(fmt: str, size: int, seconds: float) -> int:
    """``size``, or :data:`SLOW_FORMAT_SIZE` when one ``size`` matmul in ``fmt`` would take over ``seconds``."""
    if size <= SLOW_FORMAT_SIZE:
        return size
    small = _matmul_call(fmt, SLOW_FORMAT_SIZE)
    small()
    started = time.perf_counter()
    small()
    estimate = (time.perf_counter() - started) * (size / SLOW_FORMAT_SIZE) ** 3
    return SLOW_FORMAT_SIZE if estimate > seconds else size


def matmul_peaks(
    *, size: int = 2048, threads: int | None = None, seconds: float = 3.0, formats: Sequence[str] = FORMATS
) -> dict[str, dict[str, Any]]:
    """Sustained ``size x size`` matmul rate per number format (G(FL)OP/s), side by side in one run.

    A format the CPU cannot run (``torch._int_mm`` missing) is reported with ``gflops: None``
    and the error, never guessed. A format so slow here that one ``size`` matmul would take
    longer than ``seconds`` (int8 without VNNI, bf16 without native support: reference loops
    at under 1 GOP/s) is measured at :data:`SLOW_FORMAT_SIZE` instead, and its ``size`` says so:
    at 2048 those took minutes of a benchmark and measured nothing more.
    """
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    peaks: dict[str, dict[str, Any]] = {}
    try:
        for fmt in formats:
            try:
                used = _size_for(fmt, size, seconds)
                call = _matmul_call(fmt, used)
                for _ in range(2):
                    call()
            except (RuntimeError, AttributeError) as err:
                peaks[fmt] = {"size": size, "threads": torch.get_num_threads(), "gflops": None, "error": str(err)}
                continue
            count, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds:
                call()
                count += 1
            elapsed = time.perf_counter() - started
            peaks[fmt] = {
                "size": used,
                "threads": torch.get_num_threads(),
                "gflops": 2 * used**3 * count / elapsed / 1e9,
                "seconds": elapsed,
            }
    finally:
        torch.set_num_threads(previous)
    return peaks


def encoder_shape(config: Any) -> dict[str, int]:
    """Layers, hidden size, feed-forward size and labels of a BERT-like ``PretrainedConfig``."""
    return {
        "layers": int(config.num_hidden_layers),
        "hidden": int(config.hidden_size),
        "intermediate": int(config.intermediate_size),
        "labels": int(getattr(config, "num_labels", 0) or 0),
    }


def forward_flops_per_token(shape: dict[str, int], positions: int) -> float:
    """Forward FLOPs for one token of a row that has ``positions`` positions."""
    h, i, layers = shape["hidden"], shape["intermediate"], shape["layers"]
    linear = 2 * (4 * h * h + 2 * h * i)
    attention = 4 * positions * h
    return layers * (linear + attention) + 2 * h * shape["labels"]


def batch_flops(shape: dict[str, int], batches: Batches, *, training: bool) -> dict[str, float]:
    """Useful (real lengths) and executed (padded width) FLOPs of these batches."""
    factor = 3 if training else 1
    useful = sum(n * forward_flops_per_token(shape, n) for lengths, _ in batches for n in lengths)
    executed = sum(len(lengths) * width * forward_flops_per_token(shape, width) for lengths, width in batches)
    return {"useful": factor * useful, "executed": factor * executed}


def utilisation(
    shape: dict[str, int],
    batches: Batches,
    seconds: float,
    peak_gflops: float,
    *,
    training: bool,
    fmt: str = "fp32",
) -> dict[str, Any]:
    """GFLOP/s useful and executed, as fractions of the ``fmt`` matmul peak, and the FLOP share of padding."""
    flops = batch_flops(shape, batches, training=training)
    useful, executed = flops["useful"] / seconds / 1e9, flops["executed"] / seconds / 1e9
    return {
        "format": fmt,
        "peak_gflops": peak_gflops,
        "useful_gflops": useful,
        "executed_gflops": executed,
        "useful_fraction_of_matmul": useful / peak_gflops,
        "executed_fraction_of_matmul": executed / peak_gflops,
        "padding_flop_share": 1 - flops["useful"] / flops["executed"] if flops["executed"] else 0.0,
    }


# ---------------------------------------------------------------------------- profiles


def _code_key(function: Callable[..., Any]) -> tuple[str, int, str]:
    code = inspect.unwrap(function).__code__
    return code.co_filename, code.co_firstlineno, code.co_name


def phase_shares(
    profile: cProfile.Profile, phases: dict[str, Callable[..., Any]], total: float
) -> dict[str, float]:
    """Share of ``total`` seconds spent inside each named function (cumulative), and the rest."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    shares = {}
    for name, function in phases.items():
        entry = stats.get(_code_key(function))
        shares[name] = (entry[3] if entry else 0.0) / total
    shares["other"] = max(0.0, 1 - sum(shares.values()))
    return shares


def profile_training(trainer: Any, collator: Any) -> dict[str, Any]:
    """Where a training run's time goes: collation, forward, backward, optimizer, the rest (Trainer, Python)."""
    model = trainer.model
    phases = {
        "collate": type(collator.collator).__call__,
        "forward": type(model).forward,
        "backward": torch.autograd.backward,
        "optimizer": torch.optim.AdamW.step,
    }
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    trainer.train()
    profile.disable()
    total = time.perf_counter() - started
    return {"seconds": total, "shares": phase_shares(profile, phases, total)}


def op_shares(run: Callable[[], Any], top: int = 8) -> dict[str, Any]:
    """torch.profiler over ``run``: the share of operator self time in matmuls, and the top operators."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    matmul = sum(e.self_cpu_time_total for e in events if e.key.startswith(MATMUL_OPS))
    ranked = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return {
        "matmul_share": matmul / total if total else 0.0,
        "top_ops": [[e.key, e.self_cpu_time_total / total] for e in ranked],
    }


def profile_inference(tagger: Any, texts: list[str]) -> dict[str, Any]:
    """Where the Tagger's time goes on raw texts: splitting, tokenisation, batching, model, merging."""
    from multinerd.model import backends, features
    from multinerd.model import tagger as tagger_module

    phases = {
        "split_words": tagger_module.split_words,
        "tokenise_and_window": features.encode_dataset,
        "batch_arrays": tagger_module.Tagger._batch_arrays,
        "model": backends.TorchBackend.logits,
        "merge_windows": features.merge_window_logits,
        "decode_entities": tagger_module.decode_entities,
    }
    tagger.progress = False
    tagger.predict_text(texts[:8])
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    tagger.predict_text(texts)
    profile.disable()
    total = time.perf_counter() - started
    return {"seconds": total, "shares": phase_shares(profile, phases, total)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--matmul-seconds", type=float, default=3.0, help="seconds per format (%(default)s)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--size", type=int, default=2048, help="square matrix size (%(default)s)")
    args = parser.parse_args(argv)
    peaks = matmul_peaks(size=args.size, threads=args.threads, seconds=args.matmul_seconds)
    print(json.dumps(peaks, indent=1))
    fp32 = peaks["fp32"]["gflops"]
    for fmt, figures in peaks.items():
        if figures["gflops"]:
            print(f"{fmt:5s} {figures['gflops']:8.1f} G(FL)OP/s  {figures['gflops'] / fp32:.2f}x fp32")


if __name__ == "__main__":
    main()
