"""``--dry-run``: what a run will process and how long it will take here, before it starts.

The data is loaded, audited and encoded exactly as training does; the Trainer is built
by :func:`training.build_trainer` and runs a few real optimiser steps (after a warm-up)
with evaluation and saving switched off, in a temporary directory that is removed.
Measured seconds per padded token, times the padded tokens that the chosen batching
gives per epoch, estimate an epoch; evaluation is timed the same way. Early stopping
can end a run sooner, so the estimate is for the full number of epochs.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback
from transformers.trainer_pt_utils import get_length_grouped_indices

from multinerd.config import Config
from multinerd.data.corpus import load_configured
from multinerd.evaluate.markdown import duration
from multinerd.hardware import probe_hardware
from multinerd.model.modelhub import load_tokenizer
from multinerd.model.train_progress import TrainProgress
from multinerd.model.training import (
    EncodedSplit,
    WindowDataset,
    build_trainer,
    encode_split,
    training_arguments,
)
from multinerd.systems import system_schemes

#: Optimiser steps run before timing starts (allocations, kernel selection) and steps timed.
WARMUP_STEPS = 2
TIMED_STEPS = 6


def batch_lengths(lengths: Sequence[int], batch_size: int, *, grouped: bool, seed: int) -> list[list[int]]:
    """The window lengths of each training batch in one epoch, batched as the Trainer's sampler does."""
    generator = torch.Generator().manual_seed(seed)
    if grouped:
        order = get_length_grouped_indices(list(lengths), batch_size, generator=generator)
    else:
        order = torch.randperm(len(lengths), generator=generator).tolist()
    return [
        [lengths[i] for i in order[start : start + batch_size]] for start in range(0, len(order), batch_size)
    ]


def padded_tokens(batches: Sequence[Sequence[int]], multiple_of: int | None) -> int:
    """Tokens the model processes when each batch is padded to its longest window."""
    total = 0
    for batch in batches:
        longest = max(batch)
        if multiple_of:
            longest = math.ceil(longest / multiple_of) * multiple_of
        total += longest * len(batch)
    return total


class StepTimer(TrainerCallback):
    """Seconds of each optimiser step after the warm-up; stops training once enough are timed."""

    def __init__(self, warmup: int, timed: int):
        self.warmup, self.timed = warmup, timed
        self.seconds: list[float] = []
        self._start = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step > self.warmup:
            self.seconds.append(time.perf_counter() - self._start)
        if len(self.seconds) >= self.timed:
            control.should_training_stop = True


class ShapeRecorder:
    """A data collator wrapper that records the padded size of every batch it builds, in order."""

    def __init__(self, collator: Any):
        self.collator = collator
        self.tokens: list[int] = []

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.collator(rows)
        self.tokens.append(int(batch["input_ids"].numel()))
        return batch


@dataclass
class SystemEstimate:
    system: str
    sentences: dict[str, int]
    windows: dict[str, int]
    sub_tokens: dict[str, int]
    #: Share of processed training tokens that are padding, under the configured batching.
    padding_share: float
    steps_per_epoch: int
    epochs: float
    total_steps: int
    evaluations: int
    seconds_per_step: float
    seconds_per_evaluation: float
    seconds_per_epoch: float
    seconds_total: float


@dataclass
class DryRun:
    source: str
    hardware: str
    systems: list[SystemEstimate]
    #: Seconds spent here loading, encoding and timing (setup that a real run pays too).
    setup_seconds: float


def _timing_args(config: Config, work_dir: Path, steps: int) -> Any:
    """The run's Trainer settings with evaluation, saving and logging off, stopped after ``steps``."""
    args = training_arguments(config, work_dir)
    return dataclasses.replace(
        args,
        max_steps=steps,
        eval_strategy="no",
        save_strategy="no",
        load_best_model_at_end=False,
        eval_on_start=False,
        logging_strategy="no",
        dataloader_num_workers=0,
        disable_tqdm=True,
    )


@dataclass
class Costs:
    """Measured seconds per padded token of a training step and of evaluation."""

    train: float
    evaluation: float


def measure_costs(config: Config, scheme: Any, corpus: Any, work_dir: Path) -> tuple[Costs, Any]:
    """Time real training steps (after a warm-up) and a few evaluation batches; returns the costs
    and the built trainer's encoded splits."""
    timer = StepTimer(WARMUP_STEPS, TIMED_STEPS)
    no_early_stop = dataclasses.replace(config, train=dataclasses.replace(config.train, patience=0))
    built = build_trainer(
        no_early_stop, scheme, corpus, work_dir, callbacks=[timer],
        args=_timing_args(config, work_dir, WARMUP_STEPS + TIMED_STEPS),
    )  # fmt: skip
    trainer = built.trainer
    trainer.remove_callback(TrainProgress)  # its evaluation lines would read as a real run's
    recorder = ShapeRecorder(trainer.data_collator)
    trainer.data_collator = recorder
    trainer.train()
    timed_tokens = recorder.tokens[WARMUP_STEPS : WARMUP_STEPS + len(timer.seconds)]
    train_cost = sum(timer.seconds) / max(1, sum(timed_tokens))
    return Costs(train_cost, _evaluation_cost(trainer, built.validation_split.windows, config)), built


def _evaluation_cost(trainer: Any, windows: Sequence[Any], config: Config) -> float:
    """Seconds per padded token of evaluation, from two batches of validation (after a warm-up batch)."""
    size = config.train.eval_batch_size
    trainer.compute_metrics = None
    recorder = trainer.data_collator
    trainer.evaluate(WindowDataset(windows[:size]))
    before = len(recorder.tokens)
    started = time.perf_counter()
    trainer.evaluate(WindowDataset(windows[: 2 * size]))
    return (time.perf_counter() - started) / max(1, sum(recorder.tokens[before:]))


def estimate_system(config: Config, system: str, splits: Any, costs: Costs) -> SystemEstimate:
    """Sizes of one system's encoded data and its training time at the measured costs."""
    train = config.train
    per_step = train.batch_size * train.gradient_accumulation_steps * int(os.environ.get("WORLD_SIZE", "1"))
    lengths = [len(window.input_ids) for window in splits.train_split.windows]
    multiple = 8 if torch.cuda.is_available() else None
    batches = batch_lengths(lengths, per_step, grouped=train.group_by_length, seed=train.seed)
    epoch_tokens = padded_tokens(batches, multiple)
    eval_lengths = [len(window.input_ids) for window in splits.validation_split.windows]
    size = train.eval_batch_size
    eval_tokens = padded_tokens(
        [eval_lengths[i : i + size] for i in range(0, len(eval_lengths), size)], multiple
    )
    steps_per_epoch = len(batches)
    epochs = train.max_steps / steps_per_epoch if train.max_steps > 0 else train.epochs
    total_steps = train.max_steps if train.max_steps > 0 else math.ceil(epochs * steps_per_epoch)
    evaluations = (total_steps // train.eval_steps if train.eval_steps else math.ceil(epochs)) + int(
        train.eval_on_start
    )
    seconds_per_epoch = costs.train * epoch_tokens
    seconds_per_evaluation = costs.evaluation * eval_tokens
    return SystemEstimate(
        system=system,
        sentences={name: len(getattr(splits, f"{name}_split").sentences) for name in ("train", "validation")},
        windows={"train": len(lengths), "validation": len(eval_lengths)},
        sub_tokens={"train": sum(lengths), "validation": sum(eval_lengths)},
        padding_share=1 - sum(lengths) / epoch_tokens,
        steps_per_epoch=steps_per_epoch,
        epochs=epochs,
        total_steps=total_steps,
        evaluations=evaluations,
        seconds_per_step=seconds_per_epoch / steps_per_epoch,
        seconds_per_evaluation=seconds_per_evaluation,
        seconds_per_epoch=seconds_per_epoch,
        seconds_total=seconds_per_epoch * epochs + seconds_per_evaluation * evaluations,
    )


@dataclass
class _Splits:
    train_split: EncodedSplit
    validation_split: EncodedSplit


def dry_run(config: Config, systems: Sequence[str] = ("A", "B")) -> DryRun:
    """Load, audit and encode the data per system and time a few training steps; save nothing.

    Steps are timed once, with the first system: the systems share the encoder and the
    data, and differ only in the size of the output layer.
    """
    started = time.perf_counter()
    corpus = load_configured(config.data)
    schemes = system_schemes(corpus, config)
    estimates = []
    costs = None
    tokenizer = load_tokenizer(config.model.name)
    with tempfile.TemporaryDirectory(prefix="multinerd-dry-run-") as tmp:
        for system in (name for name in systems if name in schemes):
            scheme = schemes[system]
            if costs is None:
                costs, splits = measure_costs(config, scheme, corpus, Path(tmp))
            else:
                splits = _Splits(
                    *(
                        encode_split(corpus.splits[name], scheme, tokenizer, config)
                        for name in ("train", "validation")
                    )
                )
            estimates.append(estimate_system(config, system, splits, costs))
    return DryRun(corpus.source, probe_hardware().line(), estimates, time.perf_counter() - started)


def _rough(seconds: float) -> str:
    """An estimate in one unit: its digits should not claim more than a few timed steps can tell."""
    return duration(seconds, rough=True)


def format_dry_run(result: DryRun) -> str:
    lines = [f"dry run on {result.hardware}; data {result.source}; nothing is saved"]
    for s in result.systems:
        lines += [
            f"system {s.system}:",
            f"  sentences  train {s.sentences['train']}, validation {s.sentences['validation']}",
            f"  windows    train {s.windows['train']}, validation {s.windows['validation']}",
            f"  sub-tokens train {s.sub_tokens['train']}, validation {s.sub_tokens['validation']}",
            f"  padding    {100 * s.padding_share:.1f}% of training tokens under the configured batching",
            (
                f"  steps      {s.steps_per_epoch} per epoch, {s.total_steps} in total "
                f"({s.epochs:g} epochs), {s.evaluations} evaluations"
            ),
            (
                f"  time       {s.seconds_per_step:.2f} s per step; {_rough(s.seconds_per_epoch)} per epoch "
                f"+ {_rough(s.seconds_per_evaluation)} per evaluation; "
                f"{_rough(s.seconds_total)} for the whole training"
            ),
        ]
    total = sum(s.seconds_total for s in result.systems)
    lines.append(
        f"estimated training time, all systems: {_rough(total)} (at most: early stopping can end sooner; "
        f"loading, checkpoints and test scoring come on top); this dry run took {_rough(result.setup_seconds)}"
    )
    return "\n".join(lines)
