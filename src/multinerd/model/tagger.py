"""Inference: pre-split words or raw text -> IOB2 tags and entity spans with exact offsets.

This is the one prediction path: the command line, the HTTP server and evaluation all
call :class:`Tagger`, so a fix here reaches every one of them.

How a prediction is made:

1. raw text is split into words with their character offsets (:func:`split_words`);
2. words go through the same alignment and overlapping windows as training
   (:mod:`multinerd.model.features`), so a 20,000-word document is tagged in full;
3. windows are sorted by length and batched, so little compute goes to padding;
4. the model call is one seam, ``Tagger._forward(input_ids, attention_mask) -> logits``
   (numpy in, numpy ``[batch, sub_tokens, labels]`` out), which calls the ``forward``
   callable the Tagger was built with. :meth:`Tagger.from_pretrained` takes it from
   :func:`multinerd.model.backends.load_backend` (PyTorch fp32/bf16, ONNX fp32/int8); any other
   runtime only needs the same ``logits(input_ids, attention_mask)`` call, passed as
   ``Tagger(tokenizer, labels, runtime.logits, ...)``;
5. each word's scores are read at its first sub-token, windows are merged, and the
   sentence is decoded (:mod:`multinerd.evaluate.decoding`): by default the most probable valid IOB2
   tag sequence (Viterbi), with ``decoding="argmax"`` each word's most likely label; exactly
   one tag per word either way;
6. an entity's ``score`` is the mean probability of its words' tags after temperature
   scaling (:mod:`multinerd.evaluate.calibration`; ``calibration.json`` in the model directory, else
   a temperature of 1.0).

Entities are read from the predicted tags the lenient (conlleval) way: an ``I-X`` that
cannot continue an entity (after ``O`` or another type) starts one, so nothing the model
predicted is thrown away (under Viterbi there is no such tag). :meth:`Tagger.predict_words`
returns the decoded tags, which strict scoring then judges as they are.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from multinerd import hardware, progress
from multinerd.config import DEFAULT_MAX_LENGTH, DEFAULT_STRIDE
from multinerd.evaluate import calibration
from multinerd.evaluate import decoding as decoding_module
from multinerd.labels import DECODING_MODE, entity_spans, split_tag
from multinerd.model.backends import Forward, detect_backend, load_backend
from multinerd.model.features import Window, encode_dataset, merge_window_logits, prepare_tokenizer
from multinerd.model.modeldir import (
    TOKENIZER_FILE,
    default_max_length,
    read_labels,
    read_window_settings,
    require_dir,
)
from multinerd.model.tokenizer_file import load_tokenizer_file

#: Show a progress bar by default from this many sentences on.
PROGRESS_MIN_SENTENCES = 1000


class TaggerError(ValueError):
    """Input the Tagger cannot tag, or a model whose output does not fit its labels."""


# ---------------------------------------------------------------------------- raw text -> words


def _category_classes() -> tuple[str, str]:
    """Regex character-class bodies of every combining mark (M*) and every control or format
    character (Cc, Cf), cached per Unicode version: the scan over Unicode took 0.38 s of every
    ``predict`` process's start (AMD EPYC); reading the cached file is not worth counting."""
    path = hardware.cache_dir() / f"unicode-classes-{unicodedata.unidata_version}.json"
    cached = hardware.read_cache_file(path)
    if isinstance(cached.get("mark"), str) and isinstance(cached.get("invisible"), str):
        return cached["mark"], cached["invisible"]
    mark, invisible = _scan_category_classes()
    hardware.write_cache_file(path, {"mark": mark, "invisible": invisible})
    return mark, invisible


def _scan_category_classes() -> tuple[str, str]:
    """:func:`_category_classes` found in one pass over Unicode."""
    ranges: dict[str, list[str]] = {"mark": [], "invisible": []}
    run: tuple[str, int] | None = None  # the kind of the current run and where it started
    for code in range(sys.maxunicode + 2):
        category = unicodedata.category(chr(code)) if code <= sys.maxunicode else ""
        kind = "mark" if category[:1] == "M" else "invisible" if category in ("Cc", "Cf") else None
        if run is not None and kind != run[0]:
            ranges[run[0]].append(f"{re.escape(chr(run[1]))}-{re.escape(chr(code - 1))}")
            run = None
        if kind is not None and run is None:
            run = (kind, code)
    return "".join(ranges["mark"]), "".join(ranges["invisible"])


#: Pictographs and symbols that start an emoji (dingbats, arrows, the emoji planes).
_PICTOGRAPH = (
    "[\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u21ff\u2300-\u23ff\u24c2\u25a0-\u27bf"
    "\u2900-\u297f\u2b00-\u2bff\u3030\u303d\u3297\u3299\U0001F000-\U0001FAFF]"
)
#: What may follow a pictograph inside one emoji: variation selectors, the keycap, skin tones, tag letters.
_EMOJI_MODIFIER = "[\ufe0e\ufe0f\u20e3\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F]"
#: Invisible characters that join the letters around them (ZWNJ, ZWJ, soft hyphen, word joiner).
_JOINERS = "[\u200c\u200d\u00ad\u2060]"


@functools.lru_cache(maxsize=1)
def _word_pattern() -> re.Pattern[str]:
    """The word splitter, built once: emoji sequences, letters, digits and their combining marks.

    Python's ``\\w`` does not match combining marks (category M), which would split
    decomposed accents and most Indic scripts into pieces, so they are added explicitly.
    Joiners (ZWNJ, ZWJ, soft hyphen) belong to a word only between its letters; control and
    format characters (zero-width space, direction marks) are never a word by themselves, so
    the model never tags an invisible character. An emoji with its modifiers, a flag (two
    regional indicators), a keycap and a ZWJ sequence (a family) are each one word.
    """
    marks, invisible = _category_classes()
    base = f"[\\w{marks}]"
    word = f"{base}(?:{base}|{_JOINERS}+(?={base}))*"
    element = f"{_PICTOGRAPH}{_EMOJI_MODIFIER}*"
    emoji = f"[\U0001F1E6-\U0001F1FF]{{2}}|[0-9#*]\ufe0f?\u20e3|{element}(?:\u200d{element})*"
    apostrophe = "['\u2019]"
    alternatives = [
        emoji,
        r"(?:[^\W\d_]\.){2,}",  # abbreviations with inner dots stay whole: U.S., e.g.
        rf"{base}(?:{base}|{_JOINERS}+(?={base}))*?(?=n{apostrophe}t\b)",  # "don't" -> "do", "n't"
        rf"n{apostrophe}t\b",
        r"\d+(?:[.,:]\d+)+",  # 3.5, 1,000, 12:30
        rf"{word}(?:-{word})*",  # words, hyphenated compounds kept whole as in CoNLL
        rf"{apostrophe}(?:[sSdDmM]|re|RE|ve|VE|ll|LL)\b",  # clitics: Merkel's -> Merkel, 's
        rf"[^\s{invisible}]",  # any other visible character is a word of its own (punctuation)
    ]
    return re.compile("|".join(alternatives))


def split_words(text: str) -> list[tuple[str, int, int]]:
    """Split raw text into words with character offsets, CoNLL/MultiNERD style.

    Punctuation is split from words, clitics are split off (``"Merkel's"`` -> ``"Merkel"``,
    ``"'s"``), abbreviations with inner dots (``"U.S."``) and hyphenated compounds stay
    whole; an emoji sequence is one word. Every visible character lies in exactly one word,
    whitespace and lone control or format characters in none, and ``text[start:end] == word``.

    >>> split_words("Merkel's U.S. trip.")
    [('Merkel', 0, 6), ("'s", 6, 8), ('U.S.', 9, 13), ('trip', 14, 18), ('.', 18, 19)]
    """
    return [(m.group(), m.start(), m.end()) for m in _word_pattern().finditer(text)]


# ---------------------------------------------------------------------------- the tagger


def _load_tokenizer(directory: Path) -> Any:
    """The directory's fast tokenizer, read without transformers where its files allow.

    The ONNX path must not pay for importing transformers (about a second) or torch
    (``AutoTokenizer`` reads the model config through modules that import it); a fast
    tokenizer is fully described by ``tokenizer.json`` (:mod:`multinerd.model.tokenizer_file`).
    The PyTorch path reads it the same way: transformers' ``PreTrainedTokenizerFast`` took
    0.64 s of a one-sentence ``predict``'s 3.8 s (AMD EPYC) to build the same Rust tokenizer.
    ``tests/test_backends.py`` checks that both cut the same windows.
    """
    if (light := load_tokenizer_file(directory)) is not None:
        return light
    if (directory / TOKENIZER_FILE).is_file():
        from transformers import PreTrainedTokenizerFast

        return PreTrainedTokenizerFast.from_pretrained(directory)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(directory)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class Tagger:
    """Tags words with a token-classification model; see the module docstring for the steps.

    ``labels[i]`` is the IOB2 label of output ``i``; ``forward`` maps int64 arrays
    ``input_ids, attention_mask`` of shape ``[batch, length]`` to logits ``[batch, length, labels]``.
    """

    def __init__(
        self,
        tokenizer: Any,
        labels: Sequence[str],
        forward: Forward,
        *,
        max_length: int = DEFAULT_MAX_LENGTH,
        stride: int = DEFAULT_STRIDE,
        batch_size: int = 32,
        progress: bool | None = None,
        name: str = "model",
        decoding: str = decoding_module.DEFAULT_DECODING,
        temperature: float = 1.0,
    ) -> None:
        for label in labels:
            split_tag(label)
        if batch_size < 1:
            raise TaggerError(f"batch_size must be at least 1, got {batch_size}")
        self.tokenizer = prepare_tokenizer(tokenizer)
        self.labels = list(labels)
        self.forward = forward
        self.max_length = max_length
        self.stride = stride
        self.batch_size = batch_size
        self.progress = progress
        self.name = name
        #: How tags are read from probabilities: ``viterbi`` (valid IOB2) or ``argmax``.
        self.decoding = decoding_module.check_decoding(decoding)
        #: Divides the logits before entity scores are read; only scores change, never tags.
        self.temperature = temperature
        #: Where the temperature came from (``from_pretrained`` says whether one was stored).
        self.temperature_note = "given" if temperature != 1.0 else calibration.NO_CALIBRATION_NOTE
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        #: The number format the model computes in (``fp32``, ``bf16``, ``int8``), when known.
        self.precision = "fp32"
        #: What encoding did during the last prediction (windows, empty words...).
        self.last_stats: dict[str, int] = {}

    @property
    def types(self) -> list[str]:
        """Entity types the model predicts, in label order."""
        seen: dict[str, None] = {}
        for label in self.labels:
            entity_type = split_tag(label)[1]
            if entity_type is not None:
                seen[entity_type] = None
        return list(seen)

    @classmethod
    def from_pretrained(
        cls,
        directory: str | Path,
        *,
        device: str | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
        stride: int | None = None,
        backend: str | None = None,
        precision: str = "fp32",
        progress: bool | None = None,
        decoding: str | None = None,
    ) -> Tagger:
        """Load a model directory written by this tool, an export directory, or any HF token-classification directory.

        ``backend=None`` takes the directory's own (PyTorch weights, else ``model.onnx``);
        ``precision`` is ``fp32``, ``bf16`` or ``auto`` (see :mod:`multinerd.model.backends`).
        Window settings come from the arguments, else ``multinerd.yaml`` in the directory,
        else :func:`~multinerd.model.modeldir.default_max_length` (at most 512) and a stride of 32.
        Every backend gets the tokenizer from ``tokenizer.json`` the same way, so they all
        tag the same words the same way. ``decoding=None`` is Viterbi; the entity-score
        temperature comes from the directory's ``calibration.json``, else 1.0.
        """
        path = require_dir(directory)
        backend = backend or detect_backend(path)
        labels = read_labels(path)
        saved_length, saved_stride = read_window_settings(path)
        tokenizer = _load_tokenizer(path)
        limit = default_max_length(path, tokenizer)
        if stride is None:
            stride = saved_stride if saved_stride is not None else DEFAULT_STRIDE
        runner = load_backend(path, backend, device=device, precision=precision)
        temperature, note = calibration.read_temperature(path)
        tagger = cls(
            tokenizer,
            labels,
            runner.logits,
            max_length=max_length or saved_length or limit,
            stride=stride,
            batch_size=batch_size,
            progress=progress,
            name=path.name,
            decoding=decoding or decoding_module.DEFAULT_DECODING,
            temperature=temperature,
        )
        tagger.temperature_note = note
        tagger.precision = runner.precision
        return tagger

    def _forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """The model call, the one place a backend plugs in: logits ``[batch, length, labels]``."""
        return np.asarray(self.forward(input_ids, attention_mask))

    def _batch_arrays(self, windows: Sequence[Window]) -> tuple[np.ndarray, np.ndarray]:
        # Not padded to shared widths in bf16: on an AVX-512 BF16 EPYC the padding cost more than
        # oneDNN building each new width's kernels once (training measured the same).
        width = max(len(w.input_ids) for w in windows)
        input_ids = np.full((len(windows), width), self.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(windows), width), dtype=np.int64)
        for row, window in enumerate(windows):
            input_ids[row, : len(window.input_ids)] = window.input_ids
            attention_mask[row, : len(window.input_ids)] = 1
        return input_ids, attention_mask

    def _show_progress(self, n_sentences: int) -> bool:
        return self.progress if self.progress is not None else n_sentences >= PROGRESS_MIN_SENTENCES

    def predict_proba(self, sentences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Per-sentence label probabilities ``[n_words, n_labels]``, one row per word."""
        windows, stats = encode_dataset(sentences, None, self.tokenizer, self.max_length, self.stride)
        self.last_stats = stats.as_dict()
        scores: list[np.ndarray] = [np.zeros((0, len(self.labels)), dtype=np.float32)] * len(windows)
        # Windows of similar length share a batch, so little compute goes to padding.
        filled = [i for i, window in enumerate(windows) if window.n_words]
        order = sorted(filled, key=lambda i: len(windows[i].input_ids))
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        show = self._show_progress(len(sentences))
        for batch in progress.bar(f"{self.name} tagging", batches, show=show):
            input_ids, attention_mask = self._batch_arrays([windows[i] for i in batch])
            logits = self._forward(input_ids, attention_mask)
            if logits.shape[:2] != input_ids.shape or logits.shape[2] != len(self.labels):
                raise TaggerError(
                    f"model returned logits of shape {logits.shape}; expected "
                    f"({input_ids.shape[0]}, {input_ids.shape[1]}, {len(self.labels)})"
                )
            for row, window_index in enumerate(batch):
                scores[window_index] = logits[row, windows[window_index].first_positions]
        merged = merge_window_logits(windows, scores, [len(words) for words in sentences])
        return [_softmax(sentence) if len(sentence) else sentence for sentence in merged]

    def predict_words(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """IOB2 tags, exactly one per word, decoded from the words' first sub-tokens by :attr:`decoding`."""
        return self.tags_of(self.predict_proba(sentences))

    def predict_words_with_scores(
        self, sentences: Sequence[Sequence[str]]
    ) -> list[tuple[list[str], list[float]]]:
        """Tags and, per word, the probability of its decoded tag at the Tagger's temperature."""
        probs = self.predict_proba(sentences)
        return [
            ([self.labels[i] for i in ids], calibration.tag_probabilities(p, ids, self.temperature).tolist())
            for p, ids in zip(probs, decoding_module.decode(probs, self.labels, self.decoding))
        ]

    def tags_of(self, probs: Sequence[np.ndarray]) -> list[list[str]]:
        """Tags of ``[n_words, n_labels]`` probability arrays, by the Tagger's :attr:`decoding`."""
        return decoding_module.decode_tags(probs, self.labels, self.decoding)

    def predict_tokens(
        self, sentences: Sequence[Sequence[str]], min_score: float | None = None
    ) -> list[list[dict[str, Any]]]:
        """Entities of pre-split sentences, ``start``/``end`` as word indices (``end`` exclusive).

        With ``min_score``, entities scoring below it are left out.
        """
        output = []
        for words, (tags, scores) in zip(sentences, self.predict_words_with_scores(sentences)):
            output.append(
                [
                    {"text": " ".join(words[start:end]), "type": entity_type, "start": start, "end": end,
                     "score": score}
                    for entity_type, start, end, score in decode_entities(tags, scores)
                    if min_score is None or score >= min_score
                ]
            )
        return output

    def predict_text(self, texts: Sequence[str], min_score: float | None = None) -> list[list[dict[str, Any]]]:
        """Entities of raw texts with character offsets; ``text == input[start:end]`` always.

        With ``min_score``, entities scoring below it are left out.
        """
        split = [split_words(text) for text in texts]
        tagged = self.predict_words_with_scores([[word for word, _, _ in words] for words in split])
        output = []
        for text, words, (tags, scores) in zip(texts, split, tagged):
            entities = []
            for entity_type, first, last, score in decode_entities(tags, scores):
                if min_score is not None and score < min_score:
                    continue
                start, end = words[first][1], words[last - 1][2]
                entities.append({"text": text[start:end], "type": entity_type, "start": start, "end": end,
                                 "score": score})
            output.append(entities)
        return output

    def __call__(self, text: str | Sequence[str]) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
        """``tagger("Ada Lovelace lived in London.")``: the entities of one raw text (a list of
        texts gives one list per text), as :meth:`predict_text` finds them."""
        if isinstance(text, str):
            return self.predict_text([text])[0]
        return self.predict_text(list(text))


def decode_entities(tags: Sequence[str], scores: Sequence[float]) -> list[tuple[str, int, int, float]]:
    """``(type, start, end, score)`` per entity, read leniently: an I-X that cannot continue starts one.

    The score is the mean probability of the entity's words' decoded tags.
    """
    return [
        (entity_type, start, end, float(np.mean(scores[start:end])))
        for entity_type, start, end in entity_spans(tags, DECODING_MODE)
    ]
