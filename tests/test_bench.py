"""Smoke tests of the benchmark scripts on a tiny random encoder, so that they cannot rot.

The figures themselves are not asserted (no timed assertions); the tests check that each
script's core function runs end to end and that its counts add up.
"""

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import baseline_recipe
import flops
import infer_throughput
import run_all
import train_throughput

from multinerd.corpus import Sentence, load_corpus
from multinerd.features import IGNORE_INDEX
from multinerd.labels import TagScheme
from multinerd.modelhub import load_tokenizer

pytestmark = pytest.mark.slow
SCHEME = TagScheme.multinerd(None, name="A")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    """A 2-layer, 32-wide BERT token classifier with the bundled tokenizer: fast everywhere."""
    import torch
    from transformers import BertConfig, BertForTokenClassification

    directory = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=len(SCHEME.labels),
        id2label=SCHEME.id2label,
        label2id=SCHEME.label2id,
    )
    BertForTokenClassification(config).save_pretrained(directory)
    load_tokenizer(train_throughput.MINILM).save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="module")
def speed(tiny_model, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("speed")
    corpus = train_throughput.bench_corpus(workdir / "data", 100)
    return train_throughput.compare_speed(tiny_model, corpus, 3, workdir)


@pytest.fixture(scope="module")
def quality(tiny_model, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("f1")
    corpus = load_corpus("sample", max_sentences=40)
    return train_throughput.compare_f1(
        corpus, 1.0, workdir, model_name=tiny_model, save_ours=workdir / "model"
    ), workdir


@pytest.fixture(scope="module")
def inference(quality):
    _, workdir = quality
    texts = run_all.inference_texts(workdir / "texts", 12, 60)
    return infer_throughput.compare_inference(workdir / "model", texts, workdir / "infer"), texts


def test_baseline_truncates_and_labels_first_sub_tokens():
    tokenizer = load_tokenizer(train_throughput.MINILM)
    words = ("Angela", "Merkelsberger", "visited", "Paris")
    sentence = Sentence(words, ("B-PER", "I-PER", "O", "B-LOC"), "en", "t:1")
    rows, lost = baseline_recipe.encode_baseline([sentence], SCHEME, tokenizer, max_length=5)
    assert len(rows[0]["input_ids"]) == 5
    labelled = [label for label in rows[0]["labels"] if label != IGNORE_INDEX]
    assert labelled == SCHEME.encode(["B-PER", "I-PER"])[: len(labelled)]
    assert lost == 4 - len(labelled)


def test_training_speed_counts_the_timed_steps(speed):
    for path in ("baseline", "ours"):
        figures = speed[path]
        assert figures["steps"] == 2  # three steps, the first one untimed
        assert figures["rows"] == 64
        assert 0 <= figures["padding_share"] < 1
        assert all(max(lengths) <= width for lengths, width in figures["batches"])
    assert speed["baseline"]["encoding"]["rows"] == 100
    assert speed["speedup"] > 0


def test_fixed_batches_of_ours_come_from_the_length_grouped_order(speed):
    widths = [width for _, width in speed["ours"]["batches"]]
    lengths = [sorted(batch, reverse=True) for batch, _ in speed["ours"]["batches"]]
    assert widths == [batch[0] for batch in lengths]


def test_f1_comparison_scores_both_paths(quality):
    result, workdir = quality
    for path in ("baseline", "ours"):
        assert 0.0 <= result[path]["validation_f1"] <= 1.0
    assert result["n_validation"] == 40
    assert (workdir / "model" / "config.json").exists()


def test_inference_compares_every_system_on_the_same_words(inference):
    result, texts = inference
    assert result["n_texts"] == len(texts) == 12
    assert set(result["systems"]) == {
        "tagger_torch",
        "tagger_onnx",
        "tagger_onnx_int8",
        "pipeline_batch1",
        "pipeline_batch32",
    }
    assert result["systems"]["pipeline_batch1"]["speedup_vs_pipeline"] == pytest.approx(1.0)
    assert result["systems"]["tagger_onnx"]["entity_f1"] > 0.95
    assert sum(len(rows) for rows, _ in result["systems"]["tagger_torch"]["batches"]) >= len(texts)


def test_agreement_counts_spans():
    reference = [{(0, 5, "PER"), (10, 15, "LOC")}, set()]
    other = [{(0, 5, "PER")}, set()]
    assert infer_throughput.agreement(reference, other) == {
        "entity_f1": pytest.approx(2 / 3),
        "text_agreement": 0.5,
    }


def test_flop_count_matches_a_hand_computed_case():
    shape = {"layers": 2, "hidden": 4, "intermediate": 8, "labels": 3}
    # per layer: 2 * (4*16 + 2*4*8) = 256 linear, 4*n*h = 4*10*4 = 160 attention; head 2*4*3 = 24
    assert flops.forward_flops_per_token(shape, 10) == 2 * (256 + 160) + 24
    counted = flops.batch_flops(shape, [([10, 5], 10)], training=True)
    assert counted["executed"] == 3 * 2 * 10 * flops.forward_flops_per_token(shape, 10)
    assert counted["useful"] == 3 * (
        10 * flops.forward_flops_per_token(shape, 10) + 5 * flops.forward_flops_per_token(shape, 5)
    )


def test_profiles_split_the_time(tiny_model, tmp_path):
    corpus = train_throughput.bench_corpus(tmp_path / "data", 70)
    config = train_throughput.bench_config(tiny_model, tmp_path)
    trainer, collator, _, _ = train_throughput.our_trainer(
        config, SCHEME, corpus.splits["train"], tmp_path, n_steps=2
    )
    profile = flops.profile_training(trainer, collator)
    assert profile["shares"]["forward"] > 0 and profile["shares"]["backward"] > 0
    assert sum(profile["shares"].values()) == pytest.approx(1.0, abs=0.02)
    assert flops.matmul_gflops(size=64, seconds=0.05)["gflops"] > 0


def test_markdown_is_written_from_results(speed, quality, inference, tmp_path):
    shape = {"layers": 2, "hidden": 32, "intermediate": 64, "labels": len(SCHEME.labels)}
    speed = speed | {"label": "tiny", "shape": shape}
    for path in ("baseline", "ours"):
        speed[path] = speed[path] | flops.utilisation(
            shape, speed[path]["batches"], speed[path]["seconds"], 10.0, training=True
        )
    profile = {
        "seconds": 1.0,
        "shares": {"forward": 0.5, "other": 0.5},
        "ops": {"matmul_share": 0.4, "top_ops": [["aten::mm", 0.4]]},
    }
    results = {
        "meta": {
            "date": "2024-01-01T00:00:00+00:00",
            "command": run_all.COMMAND,
            "machine": run_all.machine(),
            "load_before": [1.0, 1.0, 1.0],
            "load_after": [3.5, 2.0, 1.0],
            "seconds": 60.0,
            "matmul": {"gflops": 10.0, "size": 64, "threads": 1},
            "matmul_after": {"gflops": 9.0},
        },
        "training": {"speed": [speed], "f1": quality[0]},
        "inference": inference[0],
        "profiles": {"training": profile, "inference": profile},
        "data_scale": None,
    }
    text = run_all.write_markdown(results, tmp_path / "BENCHMARKS.md")
    assert (tmp_path / "BENCHMARKS.md").read_text() == text
    assert f"tiny: {speed['speedup']:.2f}x" in text
    assert "No GPU figures were measured" in text
    assert "Tagger, ONNX int8" in text
