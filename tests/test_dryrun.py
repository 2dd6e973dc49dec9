"""``--dry-run``: sizes, padding and a time estimate that a real run confirms; nothing saved."""

from __future__ import annotations

import math

import pytest

from conftest import save_tiny_model
from multinerd.apps.cli import main
from multinerd.apps.dryrun import batch_lengths, dry_run, padded_tokens
from multinerd.config import load_config
from multinerd.data.corpus import load_corpus
from multinerd.model.modeldir import read_train_log
from multinerd.model.training import train_system


def test_padding_counts_each_batch_up_to_its_longest_window():
    assert padded_tokens([[3, 5], [2]], None) == 12
    assert padded_tokens([[3, 5], [2]], 8) == 24


def test_length_grouped_batching_pads_less_than_random_batching():
    lengths = [4, 60, 5, 58, 6, 61, 7, 59] * 40
    grouped = batch_lengths(lengths, 8, grouped=True, seed=0)
    shuffled = batch_lengths(lengths, 8, grouped=False, seed=0)
    assert (
        sorted(x for batch in grouped for x in batch)
        == sorted(lengths)
        == sorted(x for b in shuffled for x in b)
    )
    assert padded_tokens(grouped, None) < 0.7 * padded_tokens(shuffled, None)


def _settings(encoder, output) -> list[str]:
    return [
        "data.max_sentences=80", f"model.name={encoder}", "model.max_length=64", "train.batch_size=8",
        "train.epochs=2", "train.patience=0", "train.eval_batch_size=32", f"output={output}",
    ]  # fmt: skip


@pytest.mark.slow
def test_estimate_is_within_an_order_of_magnitude_of_a_real_run_and_saves_nothing(tmp_path):
    encoder = save_tiny_model(tmp_path / "tiny")
    output = tmp_path / "run"
    config = load_config(None, _settings(encoder, output))
    (estimate,) = dry_run(config, ["B"]).systems
    assert not output.exists()
    assert estimate.sentences == {"train": 80, "validation": 80}
    assert estimate.windows["train"] > 80  # some sentences need two windows of 64 sub-tokens
    assert estimate.steps_per_epoch == math.ceil(estimate.windows["train"] / 8)
    assert estimate.total_steps == 2 * estimate.steps_per_epoch and estimate.evaluations == 2
    assert 0 <= estimate.padding_share < 0.5

    real = load_config(None, [*_settings(encoder, output), "train.eval_on_start=true"])
    result = train_system(real, "B", load_corpus("sample", max_sentences=80), output)
    log = read_train_log(result.model_dir)
    # From the evaluation before the first step to the last one: the training that the dry run estimates
    # (the extra evaluation at the start is subtracted).
    measured = log[-1]["time"] - log[0]["time"] - estimate.seconds_per_evaluation
    print(f"estimate {estimate.seconds_total:.1f} s, measured {measured:.1f} s")
    assert measured / 10 < estimate.seconds_total < measured * 10, (estimate, measured)


@pytest.mark.slow
def test_train_dry_run_prints_the_figures(tmp_path, capsys):
    encoder = save_tiny_model(tmp_path / "tiny")
    settings = [part for setting in _settings(encoder, tmp_path / "run") for part in ("--set", setting)]
    assert main(["train", "--system", "A", "--dry-run", *settings]) == 0
    out = capsys.readouterr().out
    for figure in (
        "dry run on CPU",
        "sentences  train 80",
        "windows",
        "sub-tokens",
        "padding",
        "16 per epoch",
    ):
        assert figure in out
    assert "for the whole training" in out and "system B" not in out
    assert not (tmp_path / "run").exists()
