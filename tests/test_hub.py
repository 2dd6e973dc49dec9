"""Hugging Face datasets, offline: a local mirror of MultiNERD's hub repository read through
``datasets.load_dataset`` itself, and datasets with ``ClassLabel`` names saved with ``save_to_disk``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multinerd.config import load_config
from multinerd.data.audit import audit
from multinerd.data.corpus import DataError, load_configured, load_corpus
from test_real_data import TINY_TRAINING


@pytest.fixture(autouse=True)
def _private_datasets_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test converts into its own cache, so nothing is reused between tests or helpers."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)


def _lines(*records: tuple[list[str], list[int], str]) -> str:
    return "".join(json.dumps({"tokens": t, "ner_tags": i, "lang": lg}) + "\n" for t, i, lg in records)


def mirror(root: Path) -> Path:
    """MultiNERD's repository layout: English files and two other languages whose files are not JSON."""
    english = {
        "train/train_en.jsonl": _lines(
            (["Anna", "visited", "Paris"], [1, 0, 5], "en"), (["He", "had", "malaria"], [0, 0, 13], "en")
        ),
        "val/val_en.jsonl": _lines((["Rome", "."], [5, 0], "en")),
        "test/test_en.jsonl": _lines((["Bob", "Smith"], [1, 2], "en")),
    }
    for name, text in english.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    for lang in ("de", "es"):
        for split, prefix in (("train", "train"), ("val", "val"), ("test", "test")):
            (root / split / f"{prefix}_{lang}.jsonl").write_text("{not json at all\n", encoding="utf-8")
    (root / "README.md").write_text("---\nlicense: cc-by-nc-sa-4.0\n---\n# mirror\n", encoding="utf-8")
    return root


def test_hub_path_reads_only_the_english_files_of_a_multinerd_mirror(tmp_path: Path) -> None:
    root = mirror(tmp_path / "multinerd")
    corpus = load_corpus(f"hub:{root}")
    assert corpus.multinerd_tags
    assert [s.words for s in corpus.splits["train"]] == [
        ("Anna", "visited", "Paris"),
        ("He", "had", "malaria"),
    ]
    assert corpus.splits["train"][0].tags == ("B-PER", "O", "B-LOC")
    assert corpus.splits["train"][1].tags == ("O", "O", "B-DIS")
    assert corpus.splits["test"][0].tags == ("B-PER", "I-PER")
    assert corpus.lang_counts == {"train": {"en": 2}, "validation": {"en": 1}, "test": {"en": 1}}
    assert corpus.tag_schemes["train"] == {"scheme": "iob2", "converted": 0}


def test_the_other_languages_files_would_break_loading_if_they_were_read(tmp_path: Path) -> None:
    """The check that the test above can fail: asking for German reads the broken files."""
    root = mirror(tmp_path / "multinerd")
    with pytest.raises(DataError, match="could not load the dataset"):
        load_corpus(f"hub:{root}", lang="de")


def test_hub_asks_load_dataset_for_the_files_of_one_language(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    asked: dict[str, object] = {}

    def fake(name: str, **options: object) -> object:
        asked.update(options, name=name)
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", fake)
    with pytest.raises(DataError):
        load_corpus("hub", lang="fr")
    assert asked == {
        "name": "Babelscape/multinerd",
        "data_files": {
            "train": "train/train_fr.jsonl",
            "validation": "val/val_fr.jsonl",
            "test": "test/test_fr.jsonl",
        },
    }
    asked.clear()
    with pytest.raises(DataError):
        load_corpus("hub:someone/wnut-like")
    assert asked == {"name": "someone/wnut-like"}  # other datasets load as they are


WNUT_NAMES = [
    "O",
    "B-corporation",
    "I-corporation",
    "B-creative-work",
    "I-creative-work",
    "B-geo-loc",
    "I-geo-loc",
]


def saved_dataset(root: Path, splits: tuple[str, ...] = ("train", "dev", "test")) -> Path:
    """A WNUT-like dataset: ids with ClassLabel names, columns ``words`` and ``labels``."""
    import datasets

    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "words": datasets.Sequence(datasets.Value("string")),
            "labels": datasets.Sequence(datasets.ClassLabel(names=WNUT_NAMES)),
        }
    )
    rows = {
        "id": ["0", "1"],
        "words": [["visit", "new", "york", "today"], ["watching", "star", "wars", "@", "netflix"]],
        "labels": [[0, 5, 6, 0], [0, 3, 4, 0, 1]],
    }
    datasets.DatasetDict(
        {split: datasets.Dataset.from_dict(rows, features=features) for split in splits}
    ).save_to_disk(str(root))
    return root


def test_disk_dataset_with_classlabel_names_and_renamed_columns(tmp_path: Path) -> None:
    root = saved_dataset(tmp_path / "wnut", ("train", "dev", "test"))
    config = load_config(
        overrides=[f"data.source=disk:{root}", "data.tokens_column=words", "data.tags_column=labels"]
    )
    corpus = load_configured(config.data)
    assert not corpus.multinerd_tags
    assert sorted(corpus.splits) == ["test", "train", "validation"]
    assert corpus.splits["train"][1].tags == ("O", "B-creative-work", "I-creative-work", "O", "B-corporation")
    stats = audit(corpus)
    assert stats["splits"]["train"]["entities"] == {"corporation": 1, "creative-work": 1, "geo-loc": 1}


def test_split_names_setting_and_a_missing_validation_split(tmp_path: Path) -> None:
    root = saved_dataset(tmp_path / "wnut", ("training_set", "test"))
    options = load_config(
        overrides=[
            "data.tokens_column=words",
            "data.tags_column=labels",
            "data.train_split=training_set",
        ]
    ).data.loader_options()
    corpus = load_corpus(f"disk:{root}", **options)
    assert sorted(corpus.splits) == ["test", "train"]
    with pytest.raises(DataError, match="split 'validation' is not in this corpus"):
        corpus.get("validation")


def test_wrong_column_names_say_which_columns_exist(tmp_path: Path) -> None:
    root = saved_dataset(tmp_path / "wnut")
    with pytest.raises(
        DataError, match=r"lacks column\(s\) \['tokens', 'ner_tags'\]; has \['id', 'words', 'labels'\]"
    ):
        load_corpus(f"disk:{root}")


def test_integer_tags_without_names_are_refused_outside_multinerd(tmp_path: Path) -> None:
    import datasets

    root = tmp_path / "plain"
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict({"tokens": [["a"]], "ner_tags": [[1]]})}
    ).save_to_disk(str(root))
    with pytest.raises(DataError, match="without ClassLabel names"):
        load_corpus(f"disk:{root}")


def test_string_tags_in_any_scheme_are_read_and_converted(tmp_path: Path) -> None:
    import datasets

    root = tmp_path / "strings"
    rows = {
        "tokens": [["Bob", "Smith", "in", "Rome"]],
        "ner_tags": [["B-person", "E-person", "O", "S-geo-loc"]],
    }
    datasets.DatasetDict({"test": datasets.Dataset.from_dict(rows)}).save_to_disk(str(root))
    corpus = load_corpus(f"disk:{root}")
    assert corpus.splits["test"][0].tags == ("B-person", "I-person", "O", "B-geo-loc")
    assert corpus.tag_schemes == {"test": {"scheme": "iobes", "converted": 2}}


def test_disk_source_that_is_not_a_saved_dataset(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a dataset saved with save_to_disk"):
        load_corpus(f"disk:{tmp_path}")


@pytest.mark.slow
def test_a_saved_dataset_with_classlabel_names_and_renamed_columns_trains_and_evaluates(
    tmp_path: Path,
) -> None:
    from multinerd.apps.cli import main

    root = saved_dataset(tmp_path / "wnut")
    columns = ["--set", "data.tokens_column=words", "--set", "data.tags_column=labels"]
    tiny = [*TINY_TRAINING, *columns]
    out = tmp_path / "out"
    train = ["train", "--config", "configs/quickstart.yaml", "--system", "A", "--output", str(out)]
    assert main([*train, "--set", f"data.source=disk:{root}", *tiny]) == 0
    labels = json.loads((out / "A" / "config.json").read_text())["id2label"]
    assert sorted(labels.values()) == sorted(WNUT_NAMES)
    evaluation = tmp_path / "eval"
    assert main(["evaluate", "--model", str(out / "A"), "--data", f"disk:{root}", "-o", str(evaluation), *columns]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["n_words_scored"] == metrics["n_words"] == 9  # the test split: 4 + 5 words
