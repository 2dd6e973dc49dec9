"""The decoder: Viterbi never emits invalid IOB2, finds the best valid sequence, and batches exactly.

The property tests draw label sets of every shape the tool reads (MultiNERD's upper-case
types, lower-case hyphenated ones like ``geo-loc`` and ``person-athlete``, OntoNotes-style
``WORK_OF_ART``), in any label order, and random probability arrays, then decode them as a
batch of sentences of mixed lengths. The Tagger test runs the same through the one seam every
backend plugs into (``forward``), so no backend can emit an invalid sequence by default.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import MINILM
from multinerd.evaluate import decoding
from multinerd.evaluate.decoding import DecodingError, decode, decode_tags, transition_masks, viterbi
from multinerd.labels import OUTSIDE, iob2_violations, tags_for_types
from multinerd.model.modelhub import load_tokenizer
from multinerd.model.tagger import Tagger

TYPE_NAMES = st.sampled_from(
    ["PER", "LOC", "ORG", "geo-loc", "person-athlete", "person", "creative-work", "WORK_OF_ART", "b-i", "I"]
)


@st.composite
def label_sets(draw: st.DrawFn) -> list[str]:
    """IOB2 label sets as a model directory may list them: any types, any order, O optional."""
    types = draw(st.lists(TYPE_NAMES, min_size=1, max_size=5, unique=True))
    labels = tags_for_types(types)
    if draw(st.booleans()):
        labels = labels[1:]  # a label set without O still has B- tags to start with
    return draw(st.permutations(labels))


@st.composite
def probability_batches(draw: st.DrawFn) -> tuple[list[str], list[np.ndarray]]:
    labels = draw(label_sets())
    lengths = draw(st.lists(st.integers(0, 12), min_size=1, max_size=8))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    sharpness = draw(st.sampled_from([0.1, 1.0, 10.0, 60.0]))  # 60: probabilities underflow to 0
    batch = []
    for n in lengths:
        logits = rng.normal(size=(n, len(labels))) * sharpness
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        batch.append((probs / probs.sum(axis=1, keepdims=True)).astype(np.float32))
    return labels, batch


@settings(max_examples=300, deadline=None)
@given(probability_batches())
def test_viterbi_never_emits_invalid_iob2(drawn: tuple[list[str], list[np.ndarray]]) -> None:
    labels, batch = drawn
    tags = decode_tags(batch, labels)  # the default decoding
    assert [len(t) for t in tags] == [len(p) for p in batch]
    for sentence in tags:
        assert iob2_violations(sentence) == [], sentence


def _valid(tags: tuple[str, ...]) -> bool:
    return not iob2_violations(list(tags))


@settings(max_examples=150, deadline=None)
@given(probability_batches())
def test_viterbi_finds_the_most_probable_valid_sequence(drawn: tuple[list[str], list[np.ndarray]]) -> None:
    labels, batch = drawn
    for probs, ids in zip(batch, viterbi(batch, labels)):
        if len(probs) > 4 or len(labels) > 7:
            continue  # brute force stays small
        log_p = np.log(np.maximum(probs.astype(np.float64), 1e-45))
        best = max(
            log_p[np.arange(len(probs)), list(seq)].sum()
            for seq in itertools.product(range(len(labels)), repeat=len(probs))
            if _valid(tuple(labels[i] for i in seq))
        )
        assert log_p[np.arange(len(probs)), ids].sum() == pytest.approx(best, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(probability_batches())
def test_batches_decode_as_single_sentences_do(drawn: tuple[list[str], list[np.ndarray]]) -> None:
    labels, batch = drawn
    together = viterbi(batch, labels)
    alone = [viterbi([probs], labels)[0] for probs in batch]
    assert [a.tolist() for a in together] == [a.tolist() for a in alone]


def test_valid_argmax_sequences_are_kept_and_invalid_ones_repaired_by_probability() -> None:
    labels = ["O", "B-geo-loc", "I-geo-loc", "B-person", "I-person"]
    valid = np.array([[0.1, 0.8, 0.05, 0.03, 0.02], [0.1, 0.1, 0.7, 0.05, 0.05], [0.9, 0.02, 0.04, 0.02, 0.02]])
    assert decode([valid], labels)[0].tolist() == decode([valid], labels, "argmax")[0].tolist() == [1, 2, 0]
    # O then I-person: argmax emits the broken pair; Viterbi picks the likelier valid reading.
    broken = np.array([[0.5, 0.05, 0.05, 0.35, 0.05], [0.25, 0.05, 0.05, 0.05, 0.6]])
    assert decode_tags([broken], labels, "argmax")[0] == ["O", "I-person"]
    # B-person I-person (0.35 x 0.6) beats O O (0.5 x 0.25) and every other valid pair.
    assert decode_tags([broken], labels)[0] == ["B-person", "I-person"]
    # With less weight on B-person, O O (0.6 x 0.3) beats B-person I-person (0.25 x 0.55).
    weak = np.array([[0.6, 0.05, 0.05, 0.25, 0.05], [0.3, 0.05, 0.05, 0.05, 0.55]])
    assert decode_tags([weak], labels)[0] == ["O", "O"]


def test_more_sentences_than_one_chunk(monkeypatch) -> None:
    monkeypatch.setattr(decoding, "CHUNK", 3)
    rng = np.random.default_rng(0)
    labels = tags_for_types(["PER", "LOC"])
    batch = [rng.dirichlet(np.ones(len(labels)), size=n) for n in [5, 0, 2, 7, 1, 3, 3, 9]]
    ids = viterbi(batch, labels)
    assert [len(i) for i in ids] == [5, 0, 2, 7, 1, 3, 3, 9]
    monkeypatch.setattr(decoding, "CHUNK", 256)
    assert [a.tolist() for a in ids] == [a.tolist() for a in viterbi(batch, labels)]


def test_transition_masks_compare_whole_type_names() -> None:
    labels = ["I-geo", "B-geo-loc", "I-geo-loc", "O", "B-geo"]
    start, allowed = transition_masks(labels)
    assert start.tolist() == [False, True, False, True, True]
    assert allowed[:, 2].tolist() == [False, True, True, False, False]  # I-geo-loc after B-/I-geo-loc only
    assert allowed[:, 0].tolist() == [True, False, False, False, True]  # I-geo after B-/I-geo only
    assert allowed[:, 3].all()


def test_bad_decodings_and_label_sets_are_refused() -> None:
    with pytest.raises(DecodingError, match="unknown decoding 'greedy'; expected one of argmax, viterbi"):
        decode([np.ones((1, 3)) / 3], ["O", "B-X", "I-X"], "greedy")
    with pytest.raises(DecodingError, match="no label can start"):
        transition_masks(["I-PER"])
    with pytest.raises(DecodingError, match="over 2 labels for a label set of 3"):
        decode([np.ones((1, 2)) / 2], ["O", "B-X", "I-X"])


@settings(max_examples=25, deadline=None)
@given(label_sets(), st.integers(0, 2**32 - 1))
def test_tagger_default_decoding_emits_valid_iob2_for_any_label_set(labels: list[str], seed: int) -> None:
    """Through the Tagger's model seam, which the PyTorch and ONNX backends both plug into."""
    rng = np.random.default_rng(seed)

    def forward(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return rng.normal(size=(*input_ids.shape, len(labels))).astype(np.float32) * 3

    tagger = Tagger(_TOKENIZER, labels, forward, max_length=16, stride=4)
    assert tagger.decoding == "viterbi"
    sentences = [["Ada", "Lovelace", "met", "Charles", "Babbage", "in", "London"] * 3, ["Paris"], []]
    for tags in tagger.predict_words(sentences):
        assert iob2_violations(tags) == []
    for entities in tagger.predict_tokens(sentences):
        assert all(0 <= e["score"] <= 1 for e in entities)
    assert all(t == OUTSIDE or t[:2] in ("B-", "I-") for tags in tagger.predict_words(sentences) for t in tags)


_TOKENIZER = load_tokenizer(MINILM)
