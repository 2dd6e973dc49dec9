"""Progress on standard error: labelled bars with loss and validation F1 on a terminal, whole
lines in a log file, nothing when quiet; the training callback that drives them."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from multinerd import progress
from multinerd.model.train_progress import TrainProgress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _state(step: int, best: float | None = None, losses: tuple[float, ...] = ()) -> SimpleNamespace:
    return SimpleNamespace(is_world_process_zero=True, max_steps=4, global_step=step, epoch=step / 2,
                           best_metric=best, log_history=[{"loss": loss} for loss in losses])  # fmt: skip


def _drive(callback: TrainProgress) -> None:
    """Two steps, a log, an evaluation of two batches, the end: as the Trainer calls them."""
    callback.on_train_begin(None, _state(0), None)
    for step in (1, 2):
        callback.on_step_end(None, _state(step), None)
    callback.on_log(None, _state(2), None, logs={"loss": 0.5, "grad_norm": 1.0})
    for _ in range(2):
        callback.on_prediction_step(None, _state(2), None, eval_dataloader=[1, 2])
    callback.on_evaluate(None, _state(2, losses=(0.5,)), None, metrics={"eval_loss": 0.25, "eval_f1": 0.75})
    callback.on_train_end(None, _state(2), None)


@pytest.fixture(autouse=True)
def not_quiet():
    progress.set_quiet(False)
    yield
    progress.set_quiet(False)


def test_on_a_terminal_bars_are_labelled_with_loss_and_validation_f1(monkeypatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    _drive(TrainProgress("A"))
    text = terminal.getvalue()
    assert "A train" in text and "A validation" in text
    assert "loss=0.5000" in text and "dev F1=0.7500" in text
    assert "A step 2/4 (epoch 1.00): train loss 0.5000, validation loss 0.2500, F1 0.7500 (best 0.7500)" in text
    assert "{'loss'" not in text


def test_in_a_log_file_only_whole_lines(monkeypatch) -> None:
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    _drive(TrainProgress("B"))
    assert log.getvalue() == (
        "B step 2/4 (epoch 1.00): train loss 0.5000, validation loss 0.2500, F1 0.7500 (best 0.7500)\n"
    )


def test_quiet_writes_nothing(monkeypatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    progress.set_quiet(True)
    _drive(TrainProgress("A"))
    progress.say("[2/5] training A")
    assert terminal.getvalue() == ""
