from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from multinerd.data import corpus as corpus_module
from multinerd.data.audit import audit
from multinerd.data.corpus import (
    Corpus,
    DataError,
    Sentence,
    corpus_fingerprint,
    load_corpus,
)
from multinerd.labels import MULTINERD_TYPES, entity_spans


def record(tokens: list[str], ids: list[object], lang: str | None = "en") -> str:
    data: dict[str, object] = {"tokens": tokens, "ner_tags": ids}
    if lang is not None:
        data["lang"] = lang
    return json.dumps(data, ensure_ascii=False)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# Three good English records: "Anna Smith visited Paris ." (PER, LOC), a DIS sentence, an ANIM one.
GOOD = [
    record(["Anna", "Smith", "visited", "Paris", "."], [1, 2, 0, 5, 0]),
    record(["He", "had", "malaria", "."], [0, 0, 13, 0]),
    record(["A", "red", "fox", "ran", "."], [0, 7, 8, 0, 0]),
]


def hub_dir(root: Path, train: list[str] | None = None, de_train: str | None = None) -> Path:
    write(root / "train" / "train_en.jsonl", "\n".join(train or GOOD) + "\n")
    write(root / "val" / "val_en.jsonl", GOOD[0] + "\n")
    write(root / "test" / "test_en.jsonl", GOOD[1] + "\n" + GOOD[2] + "\n")
    write(
        root / "train" / "train_de.jsonl",
        de_train if de_train is not None else record(["Anna", "in", "Wien"], [1, 0, 5], "de") + "\n",
    )
    return root


# ---------------------------------------------------------------- readers


def test_jsonl_hub_layout_normalises_splits_and_converts_ids(tmp_path: Path) -> None:
    corpus = load_corpus(f"jsonl:{hub_dir(tmp_path)}")
    assert list(corpus.splits) == ["train", "validation", "test"]
    assert [len(corpus.splits[s]) for s in ("train", "validation", "test")] == [3, 1, 2]
    first = corpus.splits["train"][0]
    assert first.words == ("Anna", "Smith", "visited", "Paris", ".")
    assert first.tags == ("B-PER", "I-PER", "O", "B-LOC", "O")
    assert first.lang == "en"
    assert first.origin == f"{tmp_path / 'train' / 'train_en.jsonl'}:1"
    assert corpus.splits["train"][1].tags[2] == "B-DIS"
    assert corpus.splits["train"][2].tags[1:3] == ("B-ANIM", "I-ANIM")
    assert corpus.multinerd_tags
    assert corpus.problems == []


def test_language_filter_by_file_name_counts_other_languages_without_parsing_them(tmp_path: Path) -> None:
    # The German file is broken: it is never parsed, only its records are counted.
    root = hub_dir(tmp_path, de_train='{"tokens": oops\n' + record(["x"], [0], "de") + "\n\n")
    corpus = load_corpus(f"jsonl:{root}")
    assert all(s.lang == "en" for split in corpus.splits.values() for s in split)
    assert corpus.lang_counts["train"] == {"en": 3, "de": 2}
    assert audit(corpus)["splits"]["train"]["languages"] == {"en": 3, "de": 2}


def test_lang_none_keeps_every_language(tmp_path: Path) -> None:
    corpus = load_corpus(f"jsonl:{hub_dir(tmp_path)}", lang=None)
    assert Counter(s.lang for s in corpus.splits["train"]) == {"en": 3, "de": 1}


def test_record_lang_field_wins_over_file_name_and_filters(tmp_path: Path) -> None:
    lines = [GOOD[0], record(["Anna", "in", "Wien"], [1, 0, 5], "de"), record(["Hola"], [0], "es"), GOOD[1]]
    write(tmp_path / "train" / "train.jsonl", "\n".join(lines) + "\n")
    write(tmp_path / "test" / "test.jsonl", GOOD[2] + "\n")
    corpus = load_corpus(f"jsonl:{tmp_path}")
    assert [s.words[0] for s in corpus.splits["train"]] == ["Anna", "He"]
    assert corpus.lang_counts["train"] == {"en": 2, "de": 1, "es": 1}
    german = load_corpus(f"jsonl:{tmp_path}", lang="de")
    assert [s.words for s in german.splits["train"]] == [("Anna", "in", "Wien")]


def test_records_without_any_language_are_kept_and_reported(tmp_path: Path) -> None:
    write(tmp_path / "dev.jsonl", record(["Paris"], [5], lang=None) + "\n")
    write(tmp_path / "train.jsonl", GOOD[0] + "\n")
    corpus = load_corpus(f"jsonl:{tmp_path}")
    assert corpus.splits["validation"][0].lang == "und"
    assert any("validation: 1 sentence(s) carry no language" in p for p in corpus.problems)


def test_tsv_github_layout_with_extra_columns(tmp_path: Path) -> None:
    write(tmp_path / "en" / "train_en.tsv", "0\tAnna\tB-PER\textra\n1\tSmith\tI-PER\n\n0\tParis\tB-LOC\n")
    write(tmp_path / "en" / "dev_en.tsv", "0\tmalaria\tB-DIS\n1\tkills\tO\n")
    write(tmp_path / "en" / "test_en.tsv", "0\tred\tB-ANIM\n1\tfox\tI-ANIM\n\n\n")
    write(tmp_path / "de" / "train_de.tsv", "0\tWien\tB-LOC\n\n0\tBerlin\tB-LOC\n")
    corpus = load_corpus(f"tsv:{tmp_path}")
    assert [s.words for s in corpus.splits["train"]] == [("Anna", "Smith"), ("Paris",)]
    assert corpus.splits["train"][0].tags == ("B-PER", "I-PER")
    assert corpus.splits["train"][1].origin == f"{tmp_path / 'en' / 'train_en.tsv'}:4"
    assert corpus.splits["validation"][0].tags == ("B-DIS", "O")
    assert corpus.splits["test"][0].tags == ("B-ANIM", "I-ANIM")
    assert corpus.lang_counts["train"] == {"en": 2, "de": 2}
    assert corpus.multinerd_tags
    german = load_corpus(f"tsv:{tmp_path}", lang="de")
    assert [s.words for s in german.splits["train"]] == [("Wien",), ("Berlin",)]
    assert set(german.splits) == {"train"}


def test_conll_reader_tabs_spaces_docstart_and_own_types(tmp_path: Path) -> None:
    write(tmp_path / "train.txt", "-DOCSTART- -X- O O\n\nEU NNP B-ORG\nrejects VBZ O\n\nPeter NNP B-PER\n")
    write(tmp_path / "dev.txt", "Berlin\tB-GPE\n")
    write(tmp_path / "test.txt", "-DOCSTART-\tO\n\nThe\tO\nRhine\tB-LOC\n")
    write(tmp_path / "README.txt", "not a split")
    corpus = load_corpus(f"conll:{tmp_path}")
    assert [s.words for s in corpus.splits["train"]] == [("EU", "rejects"), ("Peter",)]
    assert corpus.splits["train"][0].tags == ("B-ORG", "O")
    assert corpus.splits["validation"][0].tags == ("B-GPE",)
    assert corpus.splits["test"][0].words == ("The", "Rhine")
    assert not corpus.multinerd_tags
    assert corpus.splits["train"][0].lang == "und"
    assert any("carries no language" in p for p in corpus.problems)


def test_conll_two_files_for_one_split_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "dev.txt", "a O\n")
    write(tmp_path / "valid.txt", "b O\n")
    with pytest.raises(DataError, match="two files for the validation split"):
        load_corpus(f"conll:{tmp_path}")


def test_sample_source_has_all_types_and_only_english() -> None:
    corpus = load_corpus("sample")
    assert set(corpus.splits) == {"train", "validation", "test"}
    for name, sentences in corpus.splits.items():
        types = {t for s in sentences for t, _, _ in entity_spans(s.tags)}
        assert types == set(MULTINERD_TYPES), name
        assert {s.lang for s in sentences} == {"en"}
        assert set(corpus.lang_counts[name]) == {"en", "de", "es"}


def test_max_sentences_keeps_the_first_n_of_each_split(tmp_path: Path) -> None:
    corpus = load_corpus(f"jsonl:{hub_dir(tmp_path)}", max_sentences=2)
    assert [s.words[0] for s in corpus.splits["train"]] == ["Anna", "He"]
    assert len(corpus.splits["validation"]) == 1
    with pytest.raises(DataError, match="max_sentences"):
        load_corpus(f"jsonl:{tmp_path}", max_sentences=0)


def test_corpus_get_accepts_aliases_and_names_missing_splits(tmp_path: Path) -> None:
    write(tmp_path / "train.txt", "a O\n")
    corpus = load_corpus(f"conll:{tmp_path}")
    assert corpus.get("train")[0].words == ("a",)
    with pytest.raises(DataError, match=r"split 'dev' is not in this corpus \(splits: train\)"):
        corpus.get("dev")


# ---------------------------------------------------------------- bad input


BAD_JSONL = [
    ('{"tokens": ["a"], "ner_tags": [0]', "malformed JSON"),
    (record(["a", "b"], [0]), "2 tokens but 1 tags"),
    (record(["a"], [31]), "tag 1 is 31; expected an integer id 0-30"),
    (record(["a", "b"], [0, -1]), "tag 2 is -1"),
    (record(["a"], ["B-PER"]), "tag 1 is 'B-PER'"),
    (record(["a"], [True]), "tag 1 is True"),
    (record(["a"], [1.0]), "tag 1 is 1.0"),
    (record([], []), "empty sentence"),
    (record(["a", ""], [0, 0]), "token 2 is empty or whitespace"),
    (record(["a", " \t"], [0, 0]), "token 2 is empty or whitespace"),
    (record(["a", 5], [0, 0]), "token 2 is 5, not a string"),
    ('{"tokens": "abc", "ner_tags": [0]}', "expected lists under 'tokens' and 'ner_tags'"),
    ("[1, 2]", "expected a JSON object"),
]


@pytest.mark.parametrize(("line", "message"), BAD_JSONL)
def test_bad_jsonl_record_names_file_line_and_problem(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path / "train" / "train_en.jsonl", f"{GOOD[0]}\n{GOOD[1]}\n{line}\n{GOOD[2]}\n")
    with pytest.raises(DataError) as caught:
        load_corpus(f"jsonl:{tmp_path}")
    text = str(caught.value)
    assert text.startswith(f"{path}:3: ")
    assert message in text
    assert "\n" not in text
    assert caught.value.path == str(path) and caught.value.line == 3


def test_bytes_that_are_not_utf8_name_the_line(tmp_path: Path) -> None:
    latin1_line = b'{"tokens": ["caf\xe9"], "ner_tags": [0]}\n'
    body = f"{GOOD[0]}\n{GOOD[1]}\n".encode() + latin1_line + GOOD[2].encode()
    path = write(tmp_path / "train" / "train_en.jsonl", body)
    with pytest.raises(DataError, match=r"train_en\.jsonl:3: bytes that are not UTF-8 \(0xe9"):
        load_corpus(f"jsonl:{tmp_path}")
    corpus = load_corpus(f"jsonl:{tmp_path}", on_error="skip")
    assert len(corpus.splits["train"]) == 3
    assert corpus.skipped == {str(path): 1}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("0\tAnna\tB-PER\n\n0\tParis\tB-XYZ\n", 3, "unknown tag 'B-XYZ'"),
        ("0\tAnna\tB-PER\n1\tSmith\tPER\n", 2, "unknown tag 'PER'"),
        ("0\tAnna\tB-PER\n1\tSmith\n", 2, "expected index<TAB>token<TAB>tag, found 2 column(s)"),
        ("0\tAnna\tB-PER\n1\t \tO\n", 2, "token is empty or whitespace"),
    ],
)
def test_bad_tsv_line_names_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path / "en" / "train_en.tsv", text)
    with pytest.raises(DataError) as caught:
        load_corpus(f"tsv:{tmp_path}")
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("EU B-ORG\n\nPeter X-PER\n", 3, "unknown tag 'X-PER'; expected O or P-TYPE"),
        ("EU S-ORG\n\nPeter E-PER\n", 3, "word 1: IOBES tag 'E-PER' where O, B-, S- must come"),
        ("EU B-ORG\nlonely\n", 2, "expected a token and a tag"),
        ("EU\tB-ORG\n\tO\n", 2, "token is empty or whitespace"),
    ],
)
def test_bad_conll_line_names_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path / "train.txt", text)
    with pytest.raises(DataError) as caught:
        load_corpus(f"conll:{tmp_path}")
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert message in str(caught.value)


def test_skip_policy_counts_per_file_and_keeps_the_rest_intact(tmp_path: Path) -> None:
    lines = [GOOD[0], "{broken", GOOD[1], record(["a"], [99]), GOOD[2]]
    path = write(tmp_path / "train" / "train_en.jsonl", "\n".join(lines) + "\n")
    write(tmp_path / "test" / "test_en.jsonl", GOOD[1] + "\n")
    corpus = load_corpus(f"jsonl:{tmp_path}", on_error="skip")
    clean = load_corpus(f"jsonl:{hub_dir(tmp_path / 'clean')}")
    assert [(s.words, s.tags) for s in corpus.splits["train"]] == [
        (s.words, s.tags) for s in clean.splits["train"]
    ]
    assert [s.origin.rsplit(":", 1)[1] for s in corpus.splits["train"]] == ["1", "3", "5"]
    assert corpus.skipped == {str(path): 2}
    assert len(corpus.problems) == 1
    assert corpus.problems[0].startswith(f"{path}: skipped 2 bad record(s); the first at line 2: malformed")
    assert audit(corpus)["problems"] == corpus.problems


def test_skip_policy_drops_whole_tsv_sentence(tmp_path: Path) -> None:
    path = write(tmp_path / "en" / "train_en.tsv", "0\tAnna\tB-PER\n1\tx\tB-BAD\n\n0\tParis\tB-LOC\n")
    corpus = load_corpus(f"tsv:{tmp_path}", on_error="skip")
    assert [s.words for s in corpus.splits["train"]] == [("Paris",)]
    assert corpus.skipped == {str(path): 1}


def test_unknown_on_error_policy_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="on_error must be 'raise' or 'skip', got 'ignore'"):
        load_corpus(f"jsonl:{hub_dir(tmp_path)}", on_error="ignore")


def test_bom_crlf_and_trailing_blank_lines_are_accepted_silently(tmp_path: Path) -> None:
    clean = load_corpus(f"jsonl:{hub_dir(tmp_path / 'clean')}")
    messy_root = hub_dir(tmp_path / "messy")
    body = "\ufeff" + "\r\n".join(GOOD) + "\r\n\r\n\n  \n"
    write(messy_root / "train" / "train_en.jsonl", body.encode("utf-8"))
    messy = load_corpus(f"jsonl:{messy_root}")
    pairs = [(s.words, s.tags) for s in messy.splits["train"]]
    assert pairs == [(s.words, s.tags) for s in clean.splits["train"]]
    assert messy.problems == []
    write(tmp_path / "tsv" / "en" / "train_en.tsv", "\ufeff0\tAnna\tB-PER\r\n1\tSmith\tI-PER\r\n\r\n\r\n")
    tsv = load_corpus(f"tsv:{tmp_path / 'tsv'}")
    assert tsv.splits["train"][0].words == ("Anna", "Smith")
    assert tsv.splits["train"][0].tags == ("B-PER", "I-PER")


def test_unknown_source_and_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown data source 'csv:x'; expected hub"):
        load_corpus("csv:x")
    with pytest.raises(DataError, match="directory not found"):
        load_corpus(f"jsonl:{tmp_path / 'nowhere'}")
    with pytest.raises(DataError, match="no .jsonl files"):
        load_corpus(f"jsonl:{tmp_path}")


def test_language_with_no_sentences_is_an_error_listing_languages(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no sentences in language 'fr'; languages found: de, en"):
        load_corpus(f"jsonl:{hub_dir(tmp_path)}", lang="fr")


# ---------------------------------------------------------------- IOB2, dedup


def broken_iob2_dir(root: Path) -> Path:
    train = [
        record(["Anna", "Smith", "left"], [2, 2, 0]),  # I-PER I-PER O
        record(["in", "Paris", "Rome"], [0, 6, 5]),  # O I-LOC B-LOC
        GOOD[0],
    ]
    return hub_dir(root, train=train)


def test_repair_iob2_counts_per_split(tmp_path: Path) -> None:
    corpus = load_corpus(f"jsonl:{broken_iob2_dir(tmp_path)}")
    assert corpus.splits["train"][0].tags == ("B-PER", "I-PER", "O")
    assert corpus.splits["train"][1].tags == ("O", "B-LOC", "B-LOC")
    assert corpus.repaired == {"train": 2}
    assert corpus.iob2_violations == {}
    assert any(p.startswith("train: repaired 2 tag(s) in 2 sentence(s)") for p in corpus.problems)


def test_without_repair_violations_are_counted_and_kept(tmp_path: Path) -> None:
    corpus = load_corpus(f"jsonl:{broken_iob2_dir(tmp_path)}", repair_iob2=False)
    assert corpus.splits["train"][0].tags == ("I-PER", "I-PER", "O")
    assert corpus.iob2_violations == {"train": 2}
    assert corpus.repaired == {}
    assert any("kept as they are" in p for p in corpus.problems)
    # Strict IOB2: an I- that starts an entity starts none; left are Rome's B-LOC and GOOD[0]'s PER and LOC.
    entities = audit(corpus)["splits"]["train"]["entities"]
    assert entities["PER"] == 1 and entities["LOC"] == 2


def test_dedup_train_drops_duplicates_and_test_sentences(tmp_path: Path) -> None:
    train = [GOOD[0], GOOD[0], GOOD[1], GOOD[0], record(["Solo"], [0])]
    root = hub_dir(tmp_path, train=train)  # test holds GOOD[1] and GOOD[2]
    corpus = load_corpus(f"jsonl:{root}", dedup_train=True)
    assert [s.words[0] for s in corpus.splits["train"]] == ["Anna", "Solo"]
    assert corpus.dropped == {"duplicates": 2, "in_test": 1}
    message = "dedup dropped 2 duplicate sentence(s) and 1 sentence(s) also in test"
    assert any(message in p for p in corpus.problems)
    assert len(load_corpus(f"jsonl:{root}").splits["train"]) == 5


# ---------------------------------------------------------------- fingerprint


def test_fingerprint_is_stable_and_sensitive(tmp_path: Path) -> None:
    root = hub_dir(tmp_path)
    first = corpus_fingerprint(load_corpus(f"jsonl:{root}"))
    assert first == corpus_fingerprint(load_corpus(f"jsonl:{root}"))
    assert len(first) == 16 and int(first, 16) >= 0
    changed = Corpus(
        source="x",
        splits={"train": [Sentence(("Anna",), ("B-LOC",), "en", "x:1")]},
        multinerd_tags=True,
    )
    same_words = Corpus(
        source="y",
        splits={"train": [Sentence(("Anna",), ("B-PER",), "en", "y:9")]},
        multinerd_tags=True,
    )
    assert corpus_fingerprint(changed) != corpus_fingerprint(same_words)
    assert first != corpus_fingerprint(load_corpus(f"jsonl:{root}", max_sentences=1))


# ---------------------------------------------------------------- hub


def test_hub_failure_says_how_to_use_local_files(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    def unreachable(name: str, **options: object) -> None:
        raise ConnectionError(f"Couldn't reach '{name}' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(DataError) as caught:
        load_corpus("hub:someone/ner-data")
    text = str(caught.value)
    assert text.startswith("hub:someone/ner-data: could not load the dataset")
    assert "ConnectionError" in text and "jsonl:DIR" in text and "tsv:DIR" in text
    assert "\n" not in text


def test_hub_offline_for_real_in_a_fresh_process(tmp_path: Path) -> None:
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    code = (
        "from multinerd.data.corpus import load_corpus, DataError\n"
        "try:\n    load_corpus('hub')\nexcept DataError as err:\n    print(err)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("hub:Babelscape/multinerd: could not load the dataset")
    assert "jsonl:DIR" in result.stdout


def test_hub_rows_are_checked_filtered_and_converted(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    rows = {
        "tokens": [["Anna", "visited", "Paris"], ["Anna", "in", "Wien"], ["bad"]],
        "ner_tags": [[1, 0, 5], [1, 0, 5], [40]],
        "lang": ["en", "de", "en"],
    }
    fake = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(rows),
            "validation": datasets.Dataset.from_dict({k: v[:1] for k, v in rows.items()}),
            "extra": datasets.Dataset.from_dict({k: v[:1] for k, v in rows.items()}),
        }
    )
    monkeypatch.setattr(datasets, "load_dataset", lambda name, **options: fake)
    corpus = load_corpus("hub", on_error="skip")
    assert [s.words for s in corpus.splits["train"]] == [("Anna", "visited", "Paris")]
    assert corpus.splits["train"][0].tags == ("B-PER", "O", "B-LOC")
    assert corpus.splits["train"][0].origin == "hub:Babelscape/multinerd/train:1"
    assert corpus.lang_counts["train"] == {"en": 2, "de": 1}
    assert corpus.skipped == {"hub:Babelscape/multinerd/train": 1}
    assert any("ignored split 'extra'" in p for p in corpus.problems)
    with pytest.raises(DataError, match=r"^hub:Babelscape/multinerd/train:3: tag 1 is 40"):
        load_corpus("hub")


def test_sample_dir_is_inside_the_package() -> None:
    assert corpus_module.SAMPLE_DIR.is_dir()
    assert (corpus_module.SAMPLE_DIR / "train" / "train_en.jsonl").is_file()
