"""Per-word tag probabilities -> IOB2 tags: argmax, or Viterbi with the IOB2 transitions enforced.

Taking each word's most likely tag on its own lets a model emit ``O I-LOC`` or
``B-PER I-ORG``: strict scoring throws such an ``I-X`` away, lenient reading cuts the
entity in two. :func:`viterbi` instead finds the most probable tag sequence among those
that are valid IOB2 (``I-X`` only right after ``B-X`` or ``I-X``, never first), from the
same probabilities, in log space. It is the default everywhere tags are read from a model
(the Tagger with any backend, ``predict``, ``serve``, ``evaluate``, ``run``, the export's
parity check and the Trainer's validation scorer), so the figure that selects a
checkpoint is the figure users get. ``decoding: argmax`` keeps the old reading.

The decoder is numpy only and vectorised over a batch of sentences: sentences are sorted
by length and decoded in chunks, one ``[chunk, labels, labels]`` step per word position.

>>> probs = np.array([[0.1, 0.2, 0.7], [0.2, 0.3, 0.5]])  # O, B-PER, I-PER
>>> decode([probs], ["O", "B-PER", "I-PER"], "argmax")[0].tolist()
[2, 2]
>>> decode([probs], ["O", "B-PER", "I-PER"], "viterbi")[0].tolist()
[1, 2]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from multinerd.evaluate import scoring
from multinerd.labels import TagScheme, split_tag

ARGMAX, VITERBI = "argmax", "viterbi"
#: The decodings a config (``eval.decoding``) or ``--decoding`` may name.
DECODINGS: tuple[str, ...] = (ARGMAX, VITERBI)
#: What every command uses unless told otherwise.
DEFAULT_DECODING = VITERBI
#: Sentences decoded together; bounds the step array at chunk x labels x labels float64.
CHUNK = 256
#: Probabilities are clipped here before the log, so a probability that underflowed to 0
#: stays a (very unlikely) finite choice and a valid path always has a finite score.
_TINY = 1e-45


class DecodingError(ValueError):
    """An unknown decoding name, or a label set with no valid IOB2 sequence at all."""


def check_decoding(name: str) -> str:
    """``name`` if it is a decoding this module knows, else a :class:`DecodingError` listing them."""
    if name not in DECODINGS:
        raise DecodingError(f"unknown decoding {name!r}; expected one of {', '.join(DECODINGS)}")
    return name


def transition_masks(labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(start, allowed)``: which labels may open a sentence, and ``allowed[i, j]``: label j after i.

    ``I-X`` may follow only ``B-X`` or ``I-X`` and never opens a sentence; every other
    label may go anywhere. Types are compared whole, so ``I-geo-loc`` continues ``B-geo-loc``
    and nothing else, whatever order the labels come in.
    """
    parsed = [split_tag(label) for label in labels]
    n = len(parsed)
    start = np.array([prefix != "I" for prefix, _ in parsed], dtype=bool)
    allowed = np.ones((n, n), dtype=bool)
    for j, (prefix, entity_type) in enumerate(parsed):
        if prefix == "I":
            allowed[:, j] = [t == entity_type and p in ("B", "I") for p, t in parsed]
    if not start.any():
        raise DecodingError(f"no label can start a valid IOB2 sequence: {list(labels)}")
    return start, allowed


@dataclass(frozen=True)
class _Transitions:
    """The allowed transitions in the form one Viterbi step reads fast.

    Most labels (O, every B-X) may follow any label, so their best predecessor is the same for
    all of them: one argmax over the labels. Only the restricted ones (I-X: after B-X or I-X)
    need their own, over the few predecessors listed in ``predecessors`` (padded with
    ``n_labels``, a column of -inf). A step then costs about ``labels x 2`` instead of ``labels**2``.
    """

    start: np.ndarray
    free: np.ndarray
    restricted: np.ndarray
    predecessors: np.ndarray

    @classmethod
    def of(cls, labels: Sequence[str]) -> _Transitions:
        start_ok, allowed = transition_masks(labels)
        free = allowed.all(axis=0)
        restricted = np.flatnonzero(~free)
        lists = [np.flatnonzero(allowed[:, j]) for j in restricted]
        width = max((len(ids) for ids in lists), default=0) or 1
        predecessors = np.full((len(restricted), width), len(labels), dtype=np.int64)
        for row, ids in enumerate(lists):
            predecessors[row, : len(ids)] = ids
        return cls(np.where(start_ok, 0.0, -np.inf), np.flatnonzero(free), restricted, predecessors)

    def step(self, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(best score, best previous label)`` for every label, from the previous ``score`` [batch, labels]."""
        batch, n_labels = score.shape
        best_score = np.empty((batch, n_labels))
        best_previous = np.empty((batch, n_labels), dtype=np.int64)
        overall = score.argmax(axis=1)
        best_previous[:, self.free] = overall[:, None]
        best_score[:, self.free] = score[np.arange(batch), overall][:, None]
        if len(self.restricted):
            padded = np.concatenate([score, np.full((batch, 1), -np.inf)], axis=1)
            candidates = padded[:, self.predecessors]  # [batch, restricted, predecessors]
            pick = candidates.argmax(axis=2)
            best_previous[:, self.restricted] = np.take_along_axis(self.predecessors[None], pick[..., None], 2)[..., 0]
            best_score[:, self.restricted] = np.take_along_axis(candidates, pick[..., None], 2)[..., 0]
        return best_score, best_previous


def _viterbi_chunk(log_probs: np.ndarray, lengths: np.ndarray, transitions: _Transitions) -> np.ndarray:
    """Best valid paths of a padded chunk ``[batch, width, labels]``; positions past a length are ignored."""
    batch, width, n_labels = log_probs.shape
    score = transitions.start[None, :] + log_probs[:, 0]
    back = np.empty((batch, width, n_labels), dtype=np.int64)
    identity = np.arange(n_labels)
    rows = np.arange(batch)
    for t in range(1, width):
        best_score, best_previous = transitions.step(score)
        active = (t < lengths)[:, None]
        # A finished sentence carries its score unchanged and points back at itself.
        score = np.where(active, best_score + log_probs[:, t], score)
        back[:, t] = np.where(active, best_previous, identity[None, :])
    path = np.empty((batch, width), dtype=np.int64)
    current = score.argmax(axis=1)
    for t in range(width - 1, 0, -1):
        path[:, t] = current
        current = back[rows, t, current]
    path[:, 0] = current
    return path


def viterbi(probs: Sequence[np.ndarray], labels: Sequence[str]) -> list[np.ndarray]:
    """For each ``[n_words, n_labels]`` array, the label ids of its most probable valid IOB2 sequence."""
    transitions = _Transitions.of(labels)
    result: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(probs)
    order = sorted((i for i, p in enumerate(probs) if len(p)), key=lambda i: len(probs[i]))
    for first in range(0, len(order), CHUNK):
        chunk = order[first : first + CHUNK]
        lengths = np.array([len(probs[i]) for i in chunk])
        padded = np.zeros((len(chunk), int(lengths.max()), len(labels)), dtype=np.float64)
        for row, i in enumerate(chunk):
            padded[row, : lengths[row]] = np.log(np.maximum(np.asarray(probs[i], dtype=np.float64), _TINY))
        paths = _viterbi_chunk(padded, lengths, transitions)
        for row, i in enumerate(chunk):
            result[i] = paths[row, : lengths[row]]
    return result


def decode(probs: Sequence[np.ndarray], labels: Sequence[str], decoding: str = DEFAULT_DECODING) -> list[np.ndarray]:
    """Label ids per word of each ``[n_words, n_labels]`` probability array, by ``decoding``."""
    check_decoding(decoding)
    for p in probs:
        if len(p) and np.shape(p)[-1] != len(labels):
            raise DecodingError(f"probabilities over {np.shape(p)[-1]} labels for a label set of {len(labels)}")
    if decoding == ARGMAX:
        return [np.asarray(p).argmax(axis=-1) if len(p) else np.zeros(0, dtype=np.int64) for p in probs]
    return viterbi(probs, labels)


def decode_tags(probs: Sequence[np.ndarray], labels: Sequence[str], decoding: str = DEFAULT_DECODING) -> list[list[str]]:
    """Like :func:`decode`, as tag strings."""
    return [[labels[i] for i in ids] for ids in decode(probs, labels, decoding)]


def other_decoding(decoding: str) -> str:
    """The decoding a run reports beside ``decoding``, so the difference between the two is shown."""
    return ARGMAX if check_decoding(decoding) == VITERBI else VITERBI



@dataclass(frozen=True)
class Probabilities:
    """Per-word label probabilities of a split, decoded on demand: one model call, any decoding."""

    labels: tuple[str, ...]
    probs: list[np.ndarray]

    def ids(self, decoding: str) -> list[np.ndarray]:
        return decode(self.probs, self.labels, decoding)

    def tags(self, decoding: str) -> list[list[str]]:
        return decode_tags(self.probs, self.labels, decoding)


def compare_decodings(
    gold: Sequence[Sequence[str]],
    probabilities: Probabilities,
    scheme: TagScheme,
    used: str,
    *,
    bootstrap: int,
    seed: int,
) -> dict[str, Any]:
    """Strict micro F1 of the same probabilities under argmax and Viterbi, with the paired bootstrap.

    ``gold`` is in ``scheme``; the predictions are mapped into it. The difference is
    Viterbi minus argmax, from :func:`multinerd.evaluate.scoring.compare` (same resampled sentences for
    both decodings). ``used`` names the decoding the run's other figures come from.
    """
    argmax_tags = scoring.to_scheme(probabilities.tags(ARGMAX), scheme)
    viterbi_tags = scoring.to_scheme(probabilities.tags(VITERBI), scheme)
    compared = scoring.compare(gold, argmax_tags, viterbi_tags, scheme=scheme, bootstrap=bootstrap, seed=seed)
    return compared | {
        "metric": "strict micro F1; a = argmax, b = viterbi, difference = viterbi - argmax",
        "used": check_decoding(used),
    }
