"""The pipeline's own logic, without training: schemes of saved models, examples, several seeds."""

import json

import pytest

from multinerd import pipeline, scoring
from multinerd.config import load_config
from multinerd.corpus import Sentence


def test_model_scheme_from_id2label_of_any_hf_directory(tmp_path):
    labels = ["O", "B-PER", "I-PER", "B-GEO", "I-GEO"]
    config = {"id2label": {str(i): label for i, label in enumerate(labels)}}
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    scheme = pipeline.model_scheme(tmp_path)
    assert scheme.types == ("PER", "GEO")
    assert scheme.labels == tuple(labels)


def test_error_examples_keep_only_sentences_with_errors():
    sentences = [
        Sentence(("Ada", "ran"), ("B-PER", "O"), "en", "t:1"),
        Sentence(("Rome",), ("B-LOC",), "en", "t:2"),
    ]
    gold = [["B-PER", "O"], ["B-LOC"]]
    pred = [["B-PER", "O"], ["O"]]
    assert pipeline.error_examples(sentences, gold, pred) == [
        {"words": ["Rome"], "gold": ["B-LOC"], "pred": ["O"]}
    ]


def _fake_run(seed_f1: dict[int, list[str]]):
    """A stand-in for one training run whose A predictions depend on the seed."""
    gold = [["B-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "O"]] * 5

    def run_once(config, output, *, resume=False):
        pred = [seed_f1[config.train.seed], ["B-ORG", "I-ORG", "O"]] * 5
        metrics = scoring.score(gold, pred, bootstrap=20) | {
            "split": "test",
            "scheme": "A",
            "types": ["PER", "ORG", "LOC"],
        }
        system = {"metrics": metrics, "train_log": [], "examples": []}
        return {
            "A": system,
            "B": system,
            "A_in_B_space": metrics,
            "run": {"model": "fake", "seed": config.train.seed},
        }

    return run_once


def test_several_seeds_report_mean_and_spread(tmp_path, monkeypatch):
    predictions = {1: ["B-PER", "O", "B-LOC"], 2: ["B-PER", "O", "O"]}
    monkeypatch.setattr(pipeline, "run_once", _fake_run(predictions))
    results = pipeline.run(load_config(), tmp_path, seeds=[1, 2])
    figures = results["seeds"]["aggregate"]["A"]["figures"]["strict.micro.f1"]
    assert figures["values"] == pytest.approx([1.0, 0.8])
    assert figures["mean"] == pytest.approx(0.9)
    assert figures["std"] == pytest.approx(0.1414, abs=1e-3)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["seeds"]["values"] == [1, 2]
    assert "seeds" in (tmp_path / "report.md").read_text().lower()
