"""ONNX export, int8 quantisation, the ONNX-backed Tagger and the parity verdict, on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import save_tiny_model
from multinerd.export import (
    INT8_FILE,
    MAX_F1_DROP,
    MIN_AGREEMENT,
    ONNX_FILE,
    ExportError,
    OnnxBackend,
    export_onnx,
    judge,
    load_tagger,
)
from multinerd.modelhub import ModelNotFoundError
from multinerd.tagger import TaggerError

SENTENCES = [
    ["Angela", "Merkel", "met", "the", "Pope", "in", "Rome", "."],
    ["Paris", "is", "in", "France"],
    ["Nothing", "here"],
    ["A", "longer", "sentence", "about", "Berlin", "and", "Barack", "Obama", "visiting", "Google", "."],
]
TAGS = [
    ["B-PER", "I-PER", "O", "O", "B-PER", "O", "B-LOC", "O"],
    ["B-LOC", "O", "O", "B-LOC"],
    ["O", "O"],
    ["O", "O", "O", "O", "B-LOC", "O", "B-PER", "I-PER", "O", "B-ORG", "O"],
]


def conll_source(directory: Path, repeat: int = 5) -> str:
    """A CoNLL data source with the sentences above in every split."""
    directory.mkdir(parents=True, exist_ok=True)
    sentences = ["\n".join(f"{w} {t}" for w, t in zip(words, tags)) for words, tags in zip(SENTENCES, TAGS)]
    block = "\n\n".join(sentences)
    for name in ("train.txt", "dev.txt", "test.txt"):
        (directory / name).write_text("\n\n".join([block] * repeat) + "\n", encoding="utf-8")
    return f"conll:{directory}"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    model = save_tiny_model(root / "A")
    (model / "multinerd.yaml").write_text("model:\n  max_length: 16\n  stride: 4\n", encoding="utf-8")
    result = export_onnx(model, root / "onnx", int8=True, parity_data=conll_source(root / "data"),
                         parity_split="validation")
    return model, root / "onnx", result


def test_export_directory_is_self_contained(exported) -> None:
    _, output, result = exported
    names = {p.name for p in output.iterdir()}
    assert {ONNX_FILE, INT8_FILE, "config.json", "multinerd.yaml", "tokenizer.json", "parity.json",
            "parity.md"} <= names
    assert "model.safetensors" not in names
    assert set(result.files) <= names
    assert (output / INT8_FILE).stat().st_size < (output / ONNX_FILE).stat().st_size / 2


def test_onnx_tagger_gives_the_same_tags_as_torch(exported) -> None:
    model, output, _ = exported
    torch_tagger = load_tagger(model, backend="torch", device="cpu")
    onnx_tagger = load_tagger(output, backend="onnx")
    assert onnx_tagger.max_length == torch_tagger.max_length == 16  # windows from multinerd.yaml
    assert onnx_tagger.stride == torch_tagger.stride == 4
    assert onnx_tagger.name == "onnx" and onnx_tagger.labels == torch_tagger.labels
    # The long sentence needs several windows of 16 sub-tokens, so merging is exercised too.
    expected = torch_tagger.predict_proba(SENTENCES)
    got = onnx_tagger.predict_proba(SENTENCES)
    for a, b in zip(expected, got):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert onnx_tagger.predict_words(SENTENCES) == torch_tagger.predict_words(SENTENCES)
    assert any(tag != "O" for tags in torch_tagger.predict_words(SENTENCES) for tag in tags)
    text = "Angela Merkel met the Pope in Rome."
    (by_onnx,), (by_torch,) = onnx_tagger.predict_text([text]), torch_tagger.predict_text([text])
    assert [{**e, "score": 0} for e in by_onnx] == [{**e, "score": 0} for e in by_torch]
    assert [e["score"] for e in by_onnx] == pytest.approx([e["score"] for e in by_torch], abs=1e-5)


def test_int8_tagger_runs_and_mostly_agrees(exported) -> None:
    model, output, _ = exported
    int8 = load_tagger(output, backend="onnx-int8").predict_words(SENTENCES)
    reference = load_tagger(model, backend="torch", device="cpu").predict_words(SENTENCES)
    assert [len(t) for t in int8] == [len(s) for s in SENTENCES]
    same = sum(a == b for x, y in zip(int8, reference) for a, b in zip(x, y))
    assert same >= 0.9 * sum(map(len, SENTENCES))


def test_parity_report_is_written_and_computed(exported) -> None:
    _, output, result = exported
    report = json.loads((output / "parity.json").read_text(encoding="utf-8"))
    assert report["n_sentences"] == result.n_sentences == 20
    assert set(report["variants"]) == {"fp32", "int8"}
    fp32 = report["variants"]["fp32"]
    assert fp32["sentence_agreement"] == 1.0 and fp32["passed"] is True and fp32["failures"] == []
    assert fp32["strict_f1"] == pytest.approx(report["torch"]["strict_f1"])
    assert fp32["max_abs_prob_diff"] < 1e-4
    int8 = report["variants"]["int8"]
    assert 0.0 <= int8["sentence_agreement"] <= 1.0
    expected = int8["sentence_agreement"] >= MIN_AGREEMENT["int8"] and int8["f1_drop"] <= MAX_F1_DROP
    assert int8["passed"] == expected
    assert report["passed"] == (fp32["passed"] and int8["passed"])
    markdown = (output / "parity.md").read_text(encoding="utf-8")
    assert "| fp32 | model.onnx |" in markdown and "| int8 | model_int8.onnx |" in markdown
    assert ("PASSED" in markdown) == result.passed


@pytest.mark.parametrize(
    ("agreement", "drop", "minimum", "failures"),
    [
        (1.0, 0.0, 0.999, []),
        (0.999, 0.005, 0.999, []),
        (0.998, 0.0, 0.999, ["sentence agreement 0.9980 is below 0.999"]),
        (0.99, 0.006, 0.98, ["strict F1 drops by 0.60 points, more than 0.50"]),
        (0.5, 0.1, 0.98,
         ["sentence agreement 0.5000 is below 0.98", "strict F1 drops by 10.00 points, more than 0.50"]),
        (1.0, -0.02, 0.98, []),
    ],
)
def test_judge_thresholds(agreement: float, drop: float, minimum: float, failures: list[str]) -> None:
    assert judge(agreement, drop, minimum) == failures


def test_unknown_backend_and_missing_files(tmp_path: Path, exported) -> None:
    model, output, _ = exported
    with pytest.raises(TaggerError, match="unknown backend 'tensorflow'"):
        load_tagger(model, backend="tensorflow")
    with pytest.raises(ModelNotFoundError, match="ONNX model not found"):
        load_tagger(model, backend="onnx")
    with pytest.raises(ModelNotFoundError, match="model directory not found"):
        load_tagger(tmp_path / "missing")
    with pytest.raises(ModelNotFoundError, match="not found"):
        OnnxBackend(tmp_path / "none.onnx")


def test_export_refuses_to_overwrite_the_model_directory(exported) -> None:
    model, _, _ = exported
    with pytest.raises(ExportError, match="is the model directory"):
        export_onnx(model, model)
