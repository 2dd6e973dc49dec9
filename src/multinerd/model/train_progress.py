"""What training says while it runs: ``train_log.jsonl`` lines and the labelled bars and evaluation lines.

The Trainer's own bars are unlabelled and print every log as a raw dictionary; these
callbacks replace them (see :mod:`multinerd.progress` for bars against plain lines).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from multinerd import progress


class TrainLogCallback(TrainerCallback):
    """Appends one line per evaluation to ``train_log.jsonl`` (main process only), with the precision used."""

    def __init__(self, path: Path, precision: str = "fp32"):
        self.path = path
        self.precision = precision

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not state.is_world_process_zero or metrics is None:
            return
        line = evaluation_record(state, metrics) | {"precision": self.precision}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")


def evaluation_record(state: Any, metrics: dict[str, float]) -> dict[str, Any]:
    """One evaluation as ``train_log.jsonl`` keeps it: epoch, step, last training loss, validation scores."""
    train_losses = [entry["loss"] for entry in state.log_history if "loss" in entry]
    return {
        "epoch": round(state.epoch or 0.0, 4),
        "step": state.global_step,
        "train_loss": train_losses[-1] if train_losses else None,
        "eval_loss": metrics.get("eval_loss"),
        "eval_f1": metrics.get("eval_f1"),
        "time": round(time.time(), 3),
    }


def evaluation_line(system: str, record: dict[str, Any], max_steps: int, best: float | None) -> str:
    """``A step 12/24 (epoch 1.00): train loss 0.4123, validation loss 0.3810, F1 0.5123 (best 0.5123)``."""
    def figure(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    best_text = f" (best {best:.4f})" if best is not None else ""
    return (
        f"{system} step {record['step']}/{max_steps} (epoch {record['epoch']:.2f}): "
        f"train loss {figure(record['train_loss'])}, validation loss {figure(record['eval_loss'])}, "
        f"F1 {figure(record['eval_f1'])}{best_text}"
    )


class TrainProgress(TrainerCallback):
    """Labelled bars (``A train``, ``A validation``) with loss and validation F1, one line per evaluation.

    It replaces the Trainer's own bars, which are unlabelled and print every log as a raw
    dictionary. Off a terminal no bar is drawn (see :mod:`multinerd.progress`): only the
    evaluation lines, so a log file reads in one screen. Main process only.
    """

    def __init__(self, system: str):
        self.system = system
        self.train_bar: Any = None
        self.eval_bar: Any = None
        self.postfix: dict[str, str] = {}

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.train_bar = progress.bar(f"{self.system} train", total=state.max_steps)
            self.train_bar.update(state.global_step)  # a resumed run starts part-way

    def on_step_end(self, args, state, control, **kwargs):
        if self.train_bar is not None:
            self.train_bar.update(state.global_step - self.train_bar.n)

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
        if not state.is_world_process_zero:
            return
        if self.eval_bar is None:
            total = len(eval_dataloader) if eval_dataloader is not None else None
            self.eval_bar = progress.bar(f"{self.system} validation", total=total)
        self.eval_bar.update(1)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.train_bar is not None and logs and "loss" in logs:
            self.postfix["loss"] = f"{float(logs['loss']):.4f}"
            self.train_bar.set_postfix(self.postfix, refresh=False)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.eval_bar is not None:
            self.eval_bar.close()
            self.eval_bar = None
        if not state.is_world_process_zero or metrics is None:
            return
        record = evaluation_record(state, metrics)
        if record["eval_f1"] is not None and self.train_bar is not None:
            self.postfix["dev F1"] = f"{record['eval_f1']:.4f}"
            self.train_bar.set_postfix(self.postfix)
        scores = [score for score in (state.best_metric, record["eval_f1"]) if score is not None]
        best = max(scores) if scores else None
        progress.say(evaluation_line(self.system, record, state.max_steps, best))

    def on_train_end(self, args, state, control, **kwargs):
        if self.train_bar is not None:
            self.train_bar.close()
            self.train_bar = None
