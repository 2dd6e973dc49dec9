"""Words and tags -> sub-token ids and aligned labels, in windows so that no word is ever lost.

Alignment: the first sub-token of each word carries the word's label id; every other
sub-token and every special token carries ``-100``, which the loss and the metrics skip.
On prediction the model's scores at those first sub-tokens are the word's scores, so
there is exactly one prediction per word by construction.

Windows: a sentence longer than ``max_length`` sub-tokens (special tokens included) is cut
into overlapping windows of whole words instead of being truncated. Consecutive windows
share ``stride`` words (fewer when that many do not fit beside a new word). At prediction
time :func:`merge_window_logits` gives each word the scores of the window in which it has
the most context, so windowing costs a long sentence little accuracy and never a word.

Two things a tokenizer can do to a word are counted, never silent (see :class:`EncodingStats`):
a word that tokenizes to nothing (a lone combining mark, a zero-width space, whitespace)
gets the unknown token so it still has a position; a single word longer than a whole
window keeps only its first sub-tokens (its label sits on the first one, so it keeps it).

Encoding is one batched call of a fast tokenizer over all words of all sentences, without
special tokens or truncation; windows and special tokens are then assembled in Python from
``word_ids()``, and only the sentences that are too long are cut.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from tokenizers import Tokenizer

if TYPE_CHECKING:  # annotations only: the ONNX path tags without importing transformers
    from transformers import PreTrainedTokenizerBase

#: The label id that the loss, the collator and the metrics ignore.
IGNORE_INDEX = -100

#: Sentences tokenized per call to the fast tokenizer (bounds memory on very large corpora).
_TOKENIZE_CHUNK = 4096


class AlignmentError(ValueError):
    """Inputs that cannot be aligned: mismatched words and labels, or a window too small for any word."""


@dataclass(frozen=True)
class Window:
    """One model input: whole words ``word_offset .. word_offset + n_words`` of one sentence.

    ``first_positions[k]`` is the index in ``input_ids`` of the first sub-token of word
    ``word_offset + k``; those are the positions that carry labels and whose scores are read.
    """

    input_ids: list[int]
    attention_mask: list[int]
    labels: list[int] | None
    first_positions: list[int]
    sentence_index: int
    word_offset: int
    n_words: int
    #: Number of words in the whole sentence, so that a window knows whether its edges cut context.
    sentence_length: int

    @property
    def word_ids(self) -> list[int]:
        """Sentence-level word index of each first sub-token, in order."""
        return list(range(self.word_offset, self.word_offset + self.n_words))

    def as_features(self) -> dict[str, list[int]]:
        """The row a ``DataCollatorForTokenClassification`` pads: input ids, mask, and labels when known."""
        row = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        if self.labels is not None:
            row["labels"] = self.labels
        return row


@dataclass
class EncodingStats:
    """What encoding did to a set of sentences, for logs and reports."""

    sentences: int = 0
    words: int = 0
    windowed_sentences: int = 0
    windows: int = 0
    sub_tokens: int = 0
    #: Words whose tokenizer output was empty and that were given the unknown token.
    empty_words: int = 0
    #: Words with more sub-tokens than fit in one window; their first sub-tokens are kept.
    clipped_words: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _pre_tokenizer_nodes(node: Any) -> list[dict[str, Any]]:
    """Every pre-tokenizer description inside a (possibly nested) serialised pre-tokenizer."""
    if not isinstance(node, dict):
        return []
    found = [node]
    for child in node.get("pretokenizers", []) or []:
        found += _pre_tokenizer_nodes(child)
    return found


def _backend_json(tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise AlignmentError(
            f"{type(tokenizer).__name__} is not a fast tokenizer; word alignment needs word_ids() "
            "(load it with AutoTokenizer.from_pretrained(..., use_fast=True))"
        )
    return json.loads(backend.to_str())


def needs_prefix_space(tokenizer: PreTrainedTokenizerBase) -> bool:
    """True for a byte-level BPE tokenizer (RoBERTa, GPT-2 style) that would glue pre-split words.

    Such tokenizers mark a word start by a preceding space. Fed pre-split words without
    ``add_prefix_space``, every word is encoded as if it continued the previous one
    (``"Merkel"`` -> ``"Me", "rkel"`` instead of ``"ĠMerkel"``), which the model never saw
    in pretraining.
    """
    nodes = _pre_tokenizer_nodes(_backend_json(tokenizer).get("pre_tokenizer"))
    return any(node.get("type") == "ByteLevel" and not node.get("add_prefix_space") for node in nodes)


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Make a fast tokenizer fit for pre-split words, in place, and return it.

    Byte-level BPE pre-tokenizers get ``add_prefix_space=True`` (see :func:`needs_prefix_space`).
    Changing the backend rather than reloading with ``add_prefix_space=True`` also works for
    tokenizers whose class ignores that argument (a plain ``PreTrainedTokenizerFast``), and the
    change is saved with the tokenizer, so a saved model directory keeps behaving the same.
    """
    if not needs_prefix_space(tokenizer):
        return tokenizer
    state = _backend_json(tokenizer)
    for node in _pre_tokenizer_nodes(state["pre_tokenizer"]):
        if node.get("type") == "ByteLevel":
            node["add_prefix_space"] = True
    tokenizer.backend_tokenizer.pre_tokenizer = Tokenizer.from_str(json.dumps(state)).pre_tokenizer
    tokenizer.add_prefix_space = True
    return tokenizer


def special_tokens_around(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """The special token ids the tokenizer puts before and after a single sequence (``[CLS]``, ``[SEP]``)."""
    probe = tokenizer([["a"]], is_split_into_words=True, add_special_tokens=True)
    ids = probe["input_ids"][0]
    word_ids = probe.word_ids(0)
    content = [i for i, w in enumerate(word_ids) if w is not None]
    if not content:
        raise AlignmentError(f"{type(tokenizer).__name__} produced no sub-token for the probe word 'a'")
    return ids[: content[0]], ids[content[-1] + 1 :]


def word_pieces(
    sentences_words: Sequence[Sequence[str]], tokenizer: PreTrainedTokenizerBase, stats: EncodingStats
) -> list[list[list[int]]]:
    """Sub-token ids of every word of every sentence, tokenized in large batches.

    A word with no sub-token gets ``[unk_token_id]`` (counted in ``stats.empty_words``).
    """
    unk = tokenizer.unk_token_id
    if unk is None:
        raise AlignmentError(f"{type(tokenizer).__name__} has no unknown token to stand in for empty words")
    pieces: list[list[list[int]]] = [[] for _ in sentences_words]
    non_empty = [i for i, words in enumerate(sentences_words) if len(words) > 0]
    for start in range(0, len(non_empty), _TOKENIZE_CHUNK):
        chunk = non_empty[start : start + _TOKENIZE_CHUNK]
        try:
            encoded = tokenizer(
                [list(sentences_words[i]) for i in chunk],
                is_split_into_words=True,
                add_special_tokens=False,
                truncation=False,
                return_attention_mask=False,
                return_token_type_ids=False,
                # Long sentences are windowed below, so the "longer than the maximum" warning is noise.
                verbose=False,
            )
        except TypeError:
            # The Rust tokenizer refuses strings that are not valid Unicode with a TypeError
            # that names no word; say which one, and keep any other TypeError as it was.
            _raise_for_surrogates(sentences_words, chunk)
            raise
        for row, sentence_index in enumerate(chunk):
            words: list[list[int]] = [[] for _ in sentences_words[sentence_index]]
            for token_id, word_id in zip(encoded["input_ids"][row], encoded.word_ids(row)):
                if word_id is not None:
                    words[word_id].append(token_id)
            for word in words:
                if not word:
                    word.append(unk)
                    stats.empty_words += 1
            pieces[sentence_index] = words
    return pieces


def _raise_for_surrogates(sentences_words: Sequence[Sequence[str]], indices: Sequence[int]) -> None:
    """Raise an :class:`AlignmentError` naming the first word that holds a lone surrogate, if any."""
    for sentence_index in indices:
        for word_index, word in enumerate(sentences_words[sentence_index]):
            surrogate = next((char for char in word if "\ud800" <= char <= "\udfff"), None)
            if surrogate is not None:
                raise AlignmentError(
                    f"sentence {sentence_index}, word {word_index} ({word!r}) holds a lone surrogate "
                    f"U+{ord(surrogate):04X}: expected valid Unicode text, which a tokenizer can encode"
                ) from None


def window_bounds(lengths: Sequence[int], budget: int, stride: int) -> list[tuple[int, int]]:
    """Word ranges ``[start, end)`` of the windows for words with these sub-token counts.

    Each window holds as many whole words as fit in ``budget`` sub-tokens; the next one
    starts ``stride`` words before the previous end, or later when those words and the next
    new word do not fit together. Every word lies in at least one window and every window
    adds at least one new word. Lengths must already be clipped to ``budget``.
    """
    n = len(lengths)
    if n == 0:
        return [(0, 0)]
    bounds = []
    start = 0
    while True:
        end, total = start, 0
        while end < n and total + lengths[end] <= budget:
            total += lengths[end]
            end += 1
        bounds.append((start, end))
        if end == n:
            return bounds
        next_start = max(start + 1, end - stride)
        total = sum(lengths[next_start:end])
        while total + lengths[end] > budget:
            total -= lengths[next_start]
            next_start += 1
        start = next_start


def _build_window(
    pieces: list[list[int]],
    label_ids: Sequence[int] | None,
    bounds: tuple[int, int],
    special: tuple[list[int], list[int]],
    sentence_index: int,
) -> Window:
    prefix, suffix = special
    input_ids = list(prefix)
    labels = [IGNORE_INDEX] * len(prefix)
    first_positions = []
    start, end = bounds
    for word_index in range(start, end):
        first_positions.append(len(input_ids))
        input_ids += pieces[word_index]
        if label_ids is not None:
            labels += [label_ids[word_index]] + [IGNORE_INDEX] * (len(pieces[word_index]) - 1)
    input_ids += suffix
    labels += [IGNORE_INDEX] * len(suffix)
    return Window(
        input_ids=input_ids,
        attention_mask=[1] * len(input_ids),
        labels=labels if label_ids is not None else None,
        first_positions=first_positions,
        sentence_index=sentence_index,
        word_offset=start,
        n_words=end - start,
        sentence_length=len(pieces),
    )


def encode_dataset(
    sentences_words: Sequence[Sequence[str]],
    sentences_label_ids: Sequence[Sequence[int]] | None,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    stride: int,
) -> tuple[list[Window], EncodingStats]:
    """Encode sentences into windows of at most ``max_length`` sub-tokens; labels are optional.

    Each window's ``labels`` hold the word's label id at its first sub-token and ``-100``
    elsewhere: ``[CLS] angela mer ##kel [SEP]`` with labels ``[1, 2]`` gives
    ``[-100, 1, 2, -100, -100]``.

    An empty sentence gives one window of special tokens only (``n_words == 0``), so that
    sentence indices stay aligned with the input. ``tokenizer`` should have been through
    :func:`prepare_tokenizer`.
    """
    if sentences_label_ids is not None and len(sentences_label_ids) != len(sentences_words):
        raise AlignmentError(
            f"{len(sentences_words)} sentences of words but {len(sentences_label_ids)} sentences of labels"
        )
    if stride < 0:
        raise AlignmentError(f"stride must be 0 or more, got {stride}")
    special = special_tokens_around(tokenizer)
    budget = max_length - len(special[0]) - len(special[1])
    if budget < 1:
        raise AlignmentError(
            f"max_length {max_length} leaves no room for words beside {len(special[0]) + len(special[1])} "
            "special tokens"
        )
    stats = EncodingStats(sentences=len(sentences_words))
    all_pieces = word_pieces(sentences_words, tokenizer, stats)
    windows: list[Window] = []
    for sentence_index, pieces in enumerate(all_pieces):
        labels = None
        if sentences_label_ids is not None:
            labels = sentences_label_ids[sentence_index]
            if len(labels) != len(pieces):
                raise AlignmentError(
                    f"sentence {sentence_index}: {len(pieces)} words but {len(labels)} labels"
                )
        for k, word in enumerate(pieces):
            if len(word) > budget:
                pieces[k] = word[:budget]
                stats.clipped_words += 1
        stats.words += len(pieces)
        bounds = window_bounds([len(word) for word in pieces], budget, stride)
        if len(bounds) > 1:
            stats.windowed_sentences += 1
        for bound in bounds:
            window = _build_window(pieces, labels, bound, special, sentence_index)
            stats.windows += 1
            stats.sub_tokens += len(window.input_ids)
            windows.append(window)
    return windows, stats


def _edge_distances(window: Window) -> np.ndarray:
    """How far each word of a window is from a window edge that cuts its context.

    A window edge that coincides with the sentence's start or end cuts nothing, so it
    does not count; a word in a window that is the whole sentence is infinitely far.
    """
    local = np.arange(window.n_words, dtype=float)
    left = local if window.word_offset > 0 else np.full(window.n_words, np.inf)
    cuts_right = window.word_offset + window.n_words < window.sentence_length
    right = (window.n_words - 1 - local) if cuts_right else np.full(window.n_words, np.inf)
    return np.minimum(left, right)


def merge_window_logits(
    windows: Sequence[Window],
    per_window_logits: Sequence[np.ndarray],
    n_words_per_sentence: Sequence[int],
) -> list[np.ndarray]:
    """Per-sentence ``[n_words, n_labels]`` scores from per-window scores at first sub-tokens.

    ``per_window_logits[i]`` has one row per word of ``windows[i]`` (``[n_words, n_labels]``).
    Each word takes its row from the window where it sits furthest from an edge that cuts its
    context; ties go to the earlier window. A sentence that fits in one window gets exactly
    that window's rows.
    """
    if len(windows) != len(per_window_logits):
        raise AlignmentError(f"{len(windows)} windows but {len(per_window_logits)} arrays of scores")
    n_labels = next((np.shape(s)[-1] for s in per_window_logits if np.ndim(s) == 2), 0)
    merged = [np.zeros((n, n_labels), dtype=np.float32) for n in n_words_per_sentence]
    best = [np.full(n, -1.0) for n in n_words_per_sentence]
    for window, scores in zip(windows, per_window_logits):
        scores = np.asarray(scores)
        if window.n_words == 0:
            continue
        if scores.shape != (window.n_words, n_labels):
            raise AlignmentError(
                f"window of sentence {window.sentence_index} at word {window.word_offset} has "
                f"{window.n_words} words but scores of shape {scores.shape}"
            )
        span = slice(window.word_offset, window.word_offset + window.n_words)
        distance = _edge_distances(window)
        better = distance > best[window.sentence_index][span]
        merged[window.sentence_index][span][better] = scores[better]
        best[window.sentence_index][span][better] = distance[better]
    for sentence_index, distances in enumerate(best):
        missing = np.flatnonzero(distances < 0)
        if missing.size:
            raise AlignmentError(
                f"sentence {sentence_index}: words {missing.tolist()[:10]} are in no window"
            )
    return merged
