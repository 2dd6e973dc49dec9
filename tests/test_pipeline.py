"""The pipeline's own logic, without training: schemes of saved models, examples, several seeds."""

import json

import pytest

from multinerd.apps import pipeline
from multinerd.config import load_config
from multinerd.data.corpus import Sentence
from multinerd.evaluate import scoring
from multinerd.labels import MULTINERD_TYPES, SCHEME_B_TYPES
from multinerd.model.modeldir import saved_system
from multinerd.systems import default_b_types, scoring_scheme, system_schemes


def test_model_scheme_from_id2label_of_any_hf_directory(tmp_path):
    labels = ["O", "B-PER", "I-PER", "B-GEO", "I-GEO"]
    config = {"id2label": {str(i): label for i, label in enumerate(labels)}}
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    scheme = saved_system(tmp_path).scheme
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


# --- evaluate: unknown gold types, --scheme, --restrict-to-model-types ---------------------------

CONLL = """\
Ada B-PER
met O
Bob B-PER
in O
Rome B-LOC
with O
Linux B-MISC
and O
Unix B-MISC
. O

Vim B-MISC
runs O
in O
Oslo B-LOC
"""


def _probabilities_from(fake_predict):
    """A stand-in for ``pipeline.predict_probabilities``: one-hot rows of the tags ``fake_predict`` gives.

    With ``pipeline.load_for_scoring`` faked to return the model directory, the "tagger" it
    receives is that directory.
    """
    import numpy as np

    from multinerd.evaluate.decoding import Probabilities
    from multinerd.model.modeldir import read_labels

    def probabilities(model_dir, sentences, *args, **kwargs):
        labels = read_labels(model_dir)
        ids = [[labels.index(t if t in labels else "O") for t in tags] for tags in fake_predict(model_dir, sentences)]
        rows = [np.eye(len(labels))[row].reshape(len(row), len(labels)) for row in ids]
        return Probabilities(tuple(labels), rows)

    return probabilities


def _model_dir(path, labels):
    path.mkdir(parents=True)
    config = {"id2label": {str(i): label for i, label in enumerate(labels)}}
    (path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return path


@pytest.fixture
def misc_data(tmp_path, monkeypatch):
    """CoNLL data where 3 of 7 gold entities are MISC, and a model that knows PER and LOC only and
    finds every PER and LOC (predictions stand in for the network)."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("train.txt", "dev.txt", "test.txt"):
        (data / name).write_text(CONLL, encoding="utf-8")
    model = _model_dir(tmp_path / "model", ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])

    def perfect_on_known(model_dir, sentences, *args, **kwargs):
        return [[tag if "MISC" not in tag else "O" for tag in s.tags] for s in sentences]

    monkeypatch.setattr(pipeline, "predict", perfect_on_known)
    return load_config(overrides=[f"data.source=conll:{data}", "eval.bootstrap=0"]), model


def test_gold_types_the_model_does_not_know_count_as_missed(misc_data, tmp_path):
    """The old evaluate dropped the MISC entities and printed recall 1.0."""
    config, model = misc_data
    metrics = pipeline.evaluate_model(model, config, output=tmp_path / "out")
    assert metrics["strict"]["micro"]["recall"] == pytest.approx(4 / 7)
    assert metrics["strict"]["micro"]["precision"] == 1.0
    assert metrics["unknown_gold_types"] == {"MISC": 3}
    assert metrics["restricted_to_model_types"] is False
    assert metrics["strict"]["per_type"]["MISC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 3}
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["unknown_gold_types"] == {"MISC": 3}
    report = (tmp_path / "out" / "report.md").read_text()
    assert "3 gold entities of types the model does not know are counted as missed (MISC 3)" in report


def test_restricting_to_model_types_says_so(misc_data, tmp_path):
    config, model = misc_data
    metrics = pipeline.evaluate_model(model, config, restrict_to_model_types=True, output=tmp_path / "out")
    assert metrics["strict"]["micro"]["recall"] == 1.0
    assert metrics["restricted_to_model_types"] is True and metrics["unknown_gold_types"] == {"MISC": 3}
    assert "MISC" not in metrics["strict"]["per_type"]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "scored on the model's own types only (--restrict-to-model-types)" in report


def test_evaluate_prints_the_unknown_types(misc_data, tmp_path, capsys):
    from multinerd.apps.cli import main

    _, model = misc_data
    data = tmp_path / "data"
    args = ["evaluate", "--model", str(model), "--data", f"conll:{data}", "--set", "eval.bootstrap=0",
            "--output", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "R 0.5714" in out and "note: 3 gold entities of types the model does not know" in out
    assert main([*args, "--restrict-to-model-types"]) == 0
    assert "R 1.0000" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("labels", "scheme", "types"),
    [
        (
            MULTINERD_LABELS := ["O", *[f"{p}-{t}" for t in MULTINERD_TYPES for p in "BI"]],
            "B",
            SCHEME_B_TYPES,
        ),
        (MULTINERD_LABELS, None, MULTINERD_TYPES),
        (["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], "LOC", ("LOC",)),
        (["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], "LOC,PER", ("PER", "LOC")),
    ],
)
def test_scoring_scheme_accepts_the_model_own_and_subsets(tmp_path, labels, scheme, types):
    model = saved_system(_model_dir(tmp_path / "m", labels)).scheme
    assert set(scoring_scheme(model, scheme, SCHEME_B_TYPES).types) == set(types)


@pytest.mark.parametrize(
    ("labels", "scheme", "possible"),
    [
        (
            ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],
            "A",
            "possible: m (its own), or a comma-separated subset",
        ),
        (["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], "B", "possible: m (its own), or"),
        (["O", "B-PER", "I-PER"], "PER,MISC", "predicts scheme m (PER)"),
    ],
)
def test_scheme_the_model_cannot_be_scored_in_is_a_one_line_error(tmp_path, capsys, labels, scheme, possible):
    """The old evaluate printed a B model's scores as if in scheme A."""
    from multinerd.apps.cli import EXIT_USAGE, main

    model = _model_dir(tmp_path / "m", labels)
    assert main(["evaluate", "--model", str(model), "--scheme", scheme]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert f"--scheme {scheme}: the model predicts scheme" in err and possible in err


def test_b_default_types_live_in_one_place():
    config = load_config()
    assert default_b_types(config, multinerd_tags=True) == list(SCHEME_B_TYPES)
    assert default_b_types(config, multinerd_tags=False) is None
    chosen = load_config(overrides=["data.b_types=[PER,LOC]"])
    assert default_b_types(chosen, multinerd_tags=True) == ["PER", "LOC"]


# --- run: no interval, p-value or verdict without enough resamples --------------------------------


def test_run_with_bootstrap_zero_gives_no_verdict(tmp_path, monkeypatch):
    """The old run forced one resample and wrote 'the 95% interval excludes zero (p = 0.5)'."""
    from multinerd.model.features import EncodingStats
    from multinerd.model.training import TrainResult

    def fake_train(config, system, corpus, output, *, resume=False, **kwargs):
        scheme = system_schemes(corpus, config)[system]
        model_dir = _model_dir(output / system, list(scheme.labels))
        return TrainResult(model_dir, scheme, EncodingStats(), EncodingStats(), 0.5, 1.0)

    def fake_predict(model_dir, sentences, *args, **kwargs):
        if model_dir.name == "A":  # A misses every PER, B finds everything
            return [[tag if "PER" not in tag else "O" for tag in s.tags] for s in sentences]
        return [list(s.tags) for s in sentences]

    monkeypatch.setattr(pipeline, "train_system", fake_train)
    monkeypatch.setattr(pipeline, "load_for_scoring", lambda model_dir, *args, **kwargs: model_dir)
    monkeypatch.setattr(pipeline, "predict_probabilities", _probabilities_from(fake_predict))
    config = load_config(overrides=["data.source=sample", "eval.bootstrap=0", "data.max_sentences=20"])
    results = pipeline.run(config, tmp_path)
    comparison = results["comparison"]
    assert comparison["difference"] > 0
    assert comparison["ci95"] is None and comparison["p_value"] is None and comparison["ci95_a"] is None
    report = (tmp_path / "report.md").read_text()
    assert "real difference" not in report and "cannot tell" not in report
    assert "no 95% interval, p-value or verdict: 0 bootstrap resamples" in report
    assert json.loads((tmp_path / "report.json").read_text())["comparison"]["note"].startswith(
        "no 95% interval"
    )
    # train's files: validation scores of the selected checkpoint and a card next to the model
    assert json.loads((tmp_path / "A" / "validation_metrics.json").read_text())["split"] == "validation"
    # both decodings of the same probabilities, and the calibration fitted on validation
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["decoding"] == "viterbi" and set(saved["decodings"]) == {"A", "B"}
    assert saved["decodings"]["A"]["f1_b"] == results["A"]["metrics"]["strict"]["micro"]["f1"]
    assert (tmp_path / "A" / "calibration.json").exists() and "## Decoding: Viterbi against argmax" in report
    assert "## Confidence: calibrated entity scores" in report
    assert (tmp_path / "A" / "README.md").exists()


def test_train_writes_the_model_card_and_validation_metrics(tmp_path, monkeypatch):
    """The old ``multinerd train`` wrote neither; the card must not claim MultiNERD for CoNLL data."""
    from multinerd.apps.cli import main
    from multinerd.model import training
    from multinerd.model.features import EncodingStats

    data = tmp_path / "data"
    data.mkdir()
    for name in ("train.txt", "dev.txt", "test.txt"):
        (data / name).write_text(CONLL, encoding="utf-8")

    def fake_train(config, system, corpus, output, *, resume=False, **kwargs):
        scheme = system_schemes(corpus, config)[system]
        model_dir = _model_dir(output / system, list(scheme.labels))
        return training.TrainResult(model_dir, scheme, EncodingStats(), EncodingStats(), 0.5, 1.0)

    monkeypatch.setattr(training, "train_system", fake_train)
    monkeypatch.setattr(pipeline, "load_for_scoring", lambda model_dir, *args, **kwargs: model_dir)
    monkeypatch.setattr(
        pipeline,
        "predict_probabilities",
        _probabilities_from(lambda model_dir, sentences, *args, **kwargs: [list(s.tags) for s in sentences]),
    )
    args = ["train", "--system", "A", "--output", str(tmp_path / "out"), "--set", f"data.source=conll:{data}"]
    assert main(args) == 0
    metrics = json.loads((tmp_path / "out" / "A" / "validation_metrics.json").read_text())
    assert metrics["split"] == "validation" and metrics["strict"]["micro"]["f1"] == 1.0
    card = (tmp_path / "out" / "A" / "README.md").read_text()
    assert f"conll:{data}" in card and "licence: see the data's own terms" in card and "MultiNERD" not in card
