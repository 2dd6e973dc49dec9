"""DDP step time on the CPU (2 processes, gloo) with and without ``find_unused_parameters``.

The Trainer's default for a model without gradient checkpointing is ``True``: DDP then walks
the autograd graph after every backward pass looking for parameters that got no gradient.
A token classifier has none (:func:`multinerd.model.training.unused_parameters` checks), so
training now passes ``False``; this measures what that saves, alternating the two settings
in one run so load drifts hit both.

    .venv/bin/python bench/ddp_step.py --steps 20
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results" / "ddp_step.json"


def _worker(rank: int, port: int, steps: int, rounds: int, queue: Any) -> None:
    import torch
    import torch.distributed as dist
    from transformers import BertConfig, BertForTokenClassification

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    config = BertConfig(vocab_size=30522, hidden_size=384, intermediate_size=1536, num_hidden_layers=6,
                        num_attention_heads=12, num_labels=31)
    torch.manual_seed(0)
    base = BertForTokenClassification(config)
    ids = torch.randint(1000, 20000, (4, 32), generator=torch.Generator().manual_seed(rank))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.zeros_like(ids)}
    times: dict[str, list[float]] = {"find_unused=True": [], "find_unused=False": []}
    for round_index in range(rounds):
        # The order flips every round, so neither setting always runs first (warmer caches, fresher memory).
        for find_unused in (True, False) if round_index % 2 == 0 else (False, True):
            model = torch.nn.parallel.DistributedDataParallel(copy.deepcopy(base), find_unused_parameters=find_unused)
            optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
            model(**batch).loss.backward()  # warm-up step, not timed
            dist.barrier()
            started = time.perf_counter()
            for _ in range(steps):
                model(**batch).loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            dist.barrier()
            times[f"find_unused={find_unused}"].append((time.perf_counter() - started) / steps)
    if rank == 0:
        queue.put(times)
    dist.destroy_process_group()


def measure(steps: int, rounds: int) -> dict[str, Any]:
    import torch.multiprocessing as mp

    context = mp.get_context("spawn")
    queue = context.SimpleQueue()
    port = 29500 + os.getpid() % 1000
    mp.start_processes(_worker, args=(port, steps, rounds, queue), nprocs=2, start_method="spawn")
    times = queue.get()
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {"seconds_per_step": times, "median_seconds_per_step": medians,
            "speedup_without_search": medians["find_unused=True"] / medians["find_unused=False"]}


def main(argv: Sequence[str] | None = None) -> None:
    from multinerd.hardware import cpu_name

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    load = [round(x, 2) for x in os.getloadavg()]
    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": f".venv/bin/python bench/ddp_step.py --steps {args.steps} --rounds {args.rounds}",
              "cpu": cpu_name(), "load_before": load,
              "model": "MiniLM-L6-shaped BERT token classifier (random weights), batch 4x32 per process, 1 thread each"}
    result |= measure(args.steps, args.rounds)
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result["median_seconds_per_step"]), f"x{result['speedup_without_search']:.3f}")


def markdown(result: dict[str, Any]) -> list[str]:
    """BENCHMARKS.md's DDP section."""
    medians = result["median_seconds_per_step"]
    return ["## DDP on the CPU: the unused-parameter search", "",
            (f"Command: `{result['command']}` ({result['date']}, CPU {result['cpu']}, load {result['load_before']} "
             f"-> {result['load_after']}; {result['model']}). Median seconds per step: "
             + ", ".join(f"{name} {value:.4f}" for name, value in medians.items())
             + f"; without the search: **{result['speedup_without_search']:.3f}x** the step rate. "
             + _reading(result)), ""]


def _reading(result: dict[str, Any]) -> str:
    """What the figures can tell: nothing under heavy load; otherwise whether the rounds overlap."""
    if result["load_before"][0] > 4:
        return ("At a load of several times the core count a step's time is set by the scheduler, not by the "
                "search; this run cannot tell the two apart and needs repeating on a quiet machine.")
    rounds = result["seconds_per_step"]
    with_search, without = rounds["find_unused=True"], rounds["find_unused=False"]
    if max(without) < min(with_search):
        return "Every round without the search was faster than every round with it."
    if max(with_search) < min(without):
        return "Every round with the search was faster than every round without it."
    return (f"The rounds overlap ({min(with_search):.4f}-{max(with_search):.4f} s with the search, "
            f"{min(without):.4f}-{max(without):.4f} s without): the difference is within the rounds' spread.")


if __name__ == "__main__":
    main()
