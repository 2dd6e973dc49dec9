"""ONNX export, int8 quantisation, the ONNX-backed Tagger and the parity verdict, on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import save_tiny_model
from multinerd.model import export, quantise
from multinerd.model.backends import INT8_FILE, ONNX_FILE, OnnxBackend, RefusedExportWarning
from multinerd.model.export import ExportError, export_onnx, judge
from multinerd.model.modelhub import ModelNotFoundError
from multinerd.model.tagger import Tagger


def load_tagger(directory, **options) -> Tagger:
    return Tagger.from_pretrained(directory, **options)

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
    # force keeps int8 whatever its verdict, so the report's figures can be checked against it.
    result = export_onnx(model, root / "onnx", int8=True, force=True, parity_data=conll_source(root / "data"),
                         parity_split="validation")
    return model, root / "onnx", result


def test_export_directory_is_self_contained(exported) -> None:
    _, output, result = exported
    names = {p.name for p in output.iterdir()}
    assert {ONNX_FILE, INT8_FILE, "config.json", "multinerd.yaml", "tokenizer.json", "parity.json",
            "parity.md"} <= names
    assert "model.safetensors" not in names
    assert set(result.files) <= names

def test_attention_is_exported_in_its_eager_form(exported) -> None:
    """No scaled-dot-product NaN guard (IsNaN, then Where over every attention matrix) in either graph."""
    import onnx

    _, output, _ = exported
    for name in (ONNX_FILE, INT8_FILE):
        ops = {node.op_type for node in onnx.load(str(output / name), load_external_data=False).graph.node}
        assert "Softmax" in ops and "IsNaN" not in ops, name


def test_int8_file_is_what_the_quantisation_report_says(exported) -> None:
    import onnx

    _, output, result = exported
    report = json.loads((output / "parity.json").read_text())["quantisation"]
    nodes = onnx.load(str(output / INT8_FILE)).graph.node
    integer = {n.name for n in nodes if n.op_type == quantise.INT8_OP}
    float_mm = {n.name for n in nodes if n.op_type == "MatMul"}
    # Every product was measured; each is int8 or float with its reason, as the file has it.
    assert set(report["sensitivity"]) == set(report["int8_nodes"]) | set(report["float_nodes"])
    assert set(report["float_nodes"]) <= float_mm
    assert all(any(i.startswith(name) for i in integer) for name in report["int8_nodes"])
    assert all("moved the labels most" in why for why in report["float_nodes"].values())
    assert result.quantisation is not None and result.quantisation.int8_nodes == report["int8_nodes"]


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


def _entity_set(tagged: list[list[str]]) -> set[tuple[int, str, int, int]]:
    """Entities as (sentence, type, start, end), read by hand: B-X or an I-X that cannot continue opens one."""
    found = set()
    for index, tags in enumerate(tagged):
        start, kind = None, None
        for i, tag in enumerate([*tags, "O"]):
            prefix, _, name = tag.partition("-")
            if start is not None and not (prefix == "I" and name == kind):
                found.add((index, kind, start, i))
                start, kind = None, None
            if prefix == "B" or (prefix == "I" and start is None):
                start, kind = i, name
    return found


def test_parity_report_is_written_and_computed(exported) -> None:
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2

    model, output, result = exported
    report = json.loads((output / "parity.json").read_text(encoding="utf-8"))
    assert report["n_sentences"] == result.n_sentences == 20
    assert set(report["variants"]) == {"fp32", "int8"}
    from multinerd.labels import TagScheme

    torch_tagger = load_tagger(model, backend="torch", device="cpu")
    words = SENTENCES * 5
    gold = [TagScheme.from_tags(torch_tagger.labels).convert(tags) for tags in TAGS * 5]  # ORG is not a label
    reference = torch_tagger.predict_words(words)
    assert report["torch"]["strict_f1"] == pytest.approx(f1_score(gold, reference, mode="strict", scheme=IOB2))
    ref_entities = _entity_set(reference)
    for variant, backend in (("fp32", "onnx"), ("int8", "onnx-int8")):
        tags = load_tagger(output, backend=backend).predict_words(words)
        entities = _entity_set(tags)
        figures = report["variants"][variant]
        expected_agreement = 2 * len(entities & ref_entities) / (len(entities) + len(ref_entities))
        assert figures["entity_agreement"] == pytest.approx(expected_agreement)
        same = [_entity_set([a]) == _entity_set([b]) for a, b in zip(tags, reference)]
        assert figures["sentence_agreement"] == pytest.approx(sum(same) / len(same))
        f1 = f1_score(gold, tags, mode="strict", scheme=IOB2)
        assert figures["strict_f1"] == pytest.approx(f1)
        assert figures["f1_drop"] == pytest.approx(report["torch"]["strict_f1"] - f1)
    fp32 = report["variants"]["fp32"]
    assert fp32["entity_agreement"] == 1.0 and fp32["passed"] is True and fp32["status"] == "accepted"
    assert fp32["max_abs_prob_diff"] < 1e-4
    markdown = (output / "parity.md").read_text(encoding="utf-8")
    assert "- fp32: **accepted**" in markdown
    assert "| fp32 | model.onnx |" in markdown and "| int8 | model_int8.onnx |" in markdown


def test_each_file_gets_its_own_verdict_and_a_refused_one_is_removed_or_marked(tmp_path, monkeypatch):
    model = save_tiny_model(tmp_path / "A")
    data = conll_source(tmp_path / "data", repeat=1)
    # An impossible threshold for int8 stands in for a bad quantisation: the verdict path is tested.
    monkeypatch.setitem(export.MIN_ENTITY_AGREEMENT, "int8", 1.01)
    removed = export_onnx(model, tmp_path / "x", int8=True, parity_data=data)
    assert removed.variants["fp32"].passed and removed.variants["fp32"].status == "accepted"
    assert removed.variants["int8"].failures[0].startswith("entity agreement ")
    assert removed.variants["int8"].failures[0].endswith(" is below 1.01")
    assert removed.variants["int8"].status == "removed" and not removed.passed
    assert (tmp_path / "x" / ONNX_FILE).exists() and not (tmp_path / "x" / INT8_FILE).exists()
    assert INT8_FILE not in removed.files
    assert "- int8: **refused** (removed): entity agreement" in (tmp_path / "x" / "parity.md").read_text()

    kept = export_onnx(model, tmp_path / "y", int8=True, force=True, parity_data=data)
    assert kept.variants["int8"].status == "kept-refused"
    marker = tmp_path / "y" / (INT8_FILE + ".REFUSED")
    assert "is below 1.01" in marker.read_text() and marker.name in kept.files
    with pytest.warns(RefusedExportWarning, match="failed its parity check"):
        load_tagger(tmp_path / "y", backend="onnx-int8")
    # A later export that passes removes the stale marker.
    monkeypatch.setitem(export.MIN_ENTITY_AGREEMENT, "int8", 0.0)
    monkeypatch.setitem(export.MAX_F1_DROP, "int8", 1.0)
    again = export_onnx(model, tmp_path / "y", int8=True, parity_data=data)
    assert again.passed and not marker.exists()


@pytest.mark.parametrize(
    ("reference", "other", "expected"),
    [
        ([["B-PER", "I-PER", "O"], ["B-LOC"]], [["B-PER", "I-PER", "O"], ["B-LOC"]], 1.0),
        # one of two entities cut short: 1 true positive, 2 + 2 entities -> F1 2 * 1 / 4
        ([["B-PER", "I-PER", "O"], ["B-LOC"]], [["B-PER", "O", "O"], ["B-LOC"]], 0.5),
        # read leniently, as users see them: an I-PER after O starts the same entity
        ([["B-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]], 1.0),
        # an extra entity: 1 true positive, 1 + 2 entities -> 2 / 3
        ([["B-PER", "O", "O"]], [["B-PER", "O", "B-ORG"]], 2 / 3),
        ([["O", "O"]], [["O", "O"]], 1.0),
        ([["O"]], [["B-LOC"]], 0.0),
    ],
)
def test_entity_agreement_is_micro_f1_against_the_reference_entities(reference, other, expected) -> None:
    assert export.entity_agreement(reference, other) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("agreement", "drop", "minimum", "failures"),
    [
        (1.0, 0.0, 0.999, []),
        (0.999, 0.005, 0.999, []),
        (0.998, 0.0, 0.999, ["entity agreement 0.9980 is below 0.999"]),
        (0.99, 0.006, 0.98, ["strict F1 drops by 0.60 points, more than 0.50"]),
        (0.5, 0.1, 0.98,
         ["entity agreement 0.5000 is below 0.98", "strict F1 drops by 10.00 points, more than 0.50"]),
        (1.0, -0.02, 0.98, []),
    ],
)
def test_judge_thresholds(agreement: float, drop: float, minimum: float, failures: list[str]) -> None:
    assert judge(agreement, drop, minimum, 0.005) == failures


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="model directory not found"):
        export_onnx(tmp_path / "missing", tmp_path / "out")
    with pytest.raises(ModelNotFoundError, match="not found"):
        OnnxBackend(tmp_path / "none.onnx")


def test_export_refuses_to_overwrite_the_model_directory(exported) -> None:
    model, _, _ = exported
    with pytest.raises(ExportError, match="is the model directory"):
        export_onnx(model, model)
