"""Word-level scoring: strict and lenient entity F1, per type, bootstrap intervals, a fair A-vs-B test.

Every word of every sentence is scored: the gold and predicted tag lists of a sentence
must have the same length, or :class:`ScoringError` stops the run (public attempts lost
words to truncation and never noticed).

Two readings of the same tags are reported:

* **strict** is seqeval's ``mode="strict", scheme=IOB2``: an entity starts at ``B-X`` and
  continues over ``I-X`` of the same type; an ``I-X`` that cannot continue an entity
  (after ``O`` or another type) belongs to no entity at all.
* **lenient** is conlleval's reading (seqeval's default mode): such an ``I-X`` starts a
  new entity.

Both readings come from the project's one decoder, :func:`multinerd.labels.entity_spans`
(not from seqeval) because the bootstrap needs per-sentence, per-type counts; the tests
check these counts against seqeval's own functions and a conlleval-style counter on
hundreds of random tag sequences.

Macro averages are taken over the types with gold support > 0: a type absent from the
gold tags has no defined recall, and averaging in a 0 for it (as seqeval's macro does
for types that are only predicted) would make the macro figure depend on the model's
mistakes in a way a reader cannot see. Such types are still listed in ``per_type`` with
support 0, so nothing is hidden.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from multinerd.labels import (
    MULTINERD_TYPES,
    OUTSIDE,
    SPAN_MODES,
    TagError,
    TagScheme,
    entity_spans,
    split_tag,
)

Span = tuple[str, int, int]
Tags = Sequence[Sequence[str]]

MODES: tuple[str, ...] = SPAN_MODES
WRONG_BOUNDARY = "wrong boundary"
MISSED = "missed"
#: Fewest bootstrap resamples a 95% percentile interval, a p-value or a verdict is given for:
#: with fewer, a 2.5% tail holds no resample at all and the p-value cannot go below 0.05.
MIN_RESAMPLES = 40
#: Resamples per matrix product: bounds the weight matrix at chunk x n_sentences integers.
_CHUNK = 64
BOOTSTRAP_METHOD = "percentile interval over sentences resampled with replacement (seeded numpy)"
P_VALUE_METHOD = (
    "paired bootstrap: share of resampled differences on the other side of zero (zero included), "
    "doubled, capped at 1, floored at 1/(n_resamples + 1); 1.0 when the observed difference is 0"
)


class ScoringError(ValueError):
    """Gold and predicted tags that cannot be scored together (length mismatch, bad tag, unknown type)."""


def to_scheme(tags: Tags, scheme: TagScheme) -> list[list[str]]:
    """Map every sentence's tags into ``scheme`` (types it lacks become O): how A is put in B's space."""
    return [scheme.convert(sentence) for sentence in tags]


def interval_note(n_resamples: int) -> str | None:
    """Why no interval, p-value or verdict is given for ``n_resamples`` (None when they are).

    >>> interval_note(1000) is None
    True
    """
    if n_resamples >= MIN_RESAMPLES:
        return None
    return (
        f"no 95% interval, p-value or verdict: {n_resamples} bootstrap resamples (eval.bootstrap) are fewer "
        f"than the {MIN_RESAMPLES} a 95% percentile interval needs"
    )


def _check_tags(sentences: Tags, role: str, allowed: set[str] | None) -> set[str]:
    """Types used in ``sentences``; a malformed tag or a type outside ``allowed`` is a ScoringError."""
    type_of: dict[str, str | None] = {}
    for s, sentence in enumerate(sentences):
        for w, tag in enumerate(sentence):
            if tag in type_of:
                continue
            try:
                entity_type = split_tag(tag)[1]
            except TagError as err:
                raise ScoringError(f"{role} sentence {s}, word {w}: {err}") from None
            if entity_type is not None and allowed is not None and entity_type not in allowed:
                raise ScoringError(
                    f"{role} sentence {s}, word {w}: tag {tag!r} has a type outside the scheme "
                    f"({', '.join(sorted(allowed))}); map the tags first with to_scheme()"
                )
            type_of[tag] = entity_type
    return {t for t in type_of.values() if t is not None}


def _check_lengths(gold: Tags, **others: Tags) -> None:
    for role, pred in others.items():
        if len(gold) != len(pred):
            raise ScoringError(f"gold has {len(gold)} sentences but {role} has {len(pred)}")
        for s, (g, p) in enumerate(zip(gold, pred)):
            if len(g) != len(p):
                raise ScoringError(
                    f"sentence {s}: gold has {len(g)} tags but {role} has {len(p)}; "
                    "every word must be scored (n_words_scored == n_words)"
                )


def _types(scheme: TagScheme | None, gold_types: set[str], pred_types: set[str]) -> tuple[str, ...]:
    """The scheme's types in its order, else every type seen (MultiNERD's order first, then sorted)."""
    if scheme is not None:
        return scheme.types
    seen = gold_types | pred_types
    return tuple([t for t in MULTINERD_TYPES if t in seen] + sorted(seen - set(MULTINERD_TYPES)))


def _validate(gold: Tags, scheme: TagScheme | None, **preds: Tags) -> tuple[str, ...]:
    """Check lengths and tags of gold against each prediction; return the types to report."""
    _check_lengths(gold, **preds)
    allowed = set(scheme.types) if scheme is not None else None
    gold_types = _check_tags(gold, "gold", allowed)
    pred_types: set[str] = set()
    for role, pred in preds.items():
        pred_types |= _check_tags(pred, role, allowed)
    return _types(scheme, gold_types, pred_types)


@dataclass(frozen=True)
class _Counts:
    """Per-sentence, per-type entity counts (rows: sentences, columns: types) for one mode."""

    tp: np.ndarray
    n_pred: np.ndarray
    n_gold: np.ndarray

    def stacked(self) -> np.ndarray:
        """tp, predicted and gold columns side by side, the layout ``_bootstrap_f1`` slices."""
        return np.hstack([self.tp, self.n_pred, self.n_gold])


def _all_spans(sentences: Tags, mode: str) -> list[set[Span]]:
    return [set(entity_spans(sentence, mode)) for sentence in sentences]


def _count(gold_spans: list[set[Span]], pred_spans: list[set[Span]], types: Sequence[str]) -> _Counts:
    index = {t: i for i, t in enumerate(types)}
    shape = (len(gold_spans), len(types))
    tp, n_pred, n_gold = (np.zeros(shape, dtype=np.int64) for _ in range(3))
    for s, (gold, pred) in enumerate(zip(gold_spans, pred_spans)):
        for span in gold:
            n_gold[s, index[span[0]]] += 1
        for span in pred:
            n_pred[s, index[span[0]]] += 1
        for span in gold & pred:
            tp[s, index[span[0]]] += 1
    return _Counts(tp, n_pred, n_gold)


def _f1(tp: np.ndarray, n_pred: np.ndarray, n_gold: np.ndarray) -> np.ndarray:
    """F1 = 2 tp / (pred + gold), which equals 2PR/(P+R); 0 where there is nothing on either side."""
    denominator = n_pred + n_gold
    return np.divide(2.0 * tp, denominator, out=np.zeros(np.shape(tp), dtype=float), where=denominator > 0)


def _prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = float(_f1(np.array(tp), np.array(n_pred), np.array(n_gold)))
    return {"precision": precision, "recall": recall, "f1": f1}


def _block(counts: _Counts, types: Sequence[str]) -> dict[str, Any]:
    """The micro / macro / per_type block of one mode from its per-sentence counts."""
    tp, n_pred, n_gold = (counts.tp.sum(axis=0), counts.n_pred.sum(axis=0), counts.n_gold.sum(axis=0))
    per_type = {
        t: {**_prf(int(tp[i]), int(n_pred[i]), int(n_gold[i])), "support": int(n_gold[i])}
        for i, t in enumerate(types)
    }
    supported = [row for row in per_type.values() if row["support"] > 0]
    macro = {
        key: (sum(row[key] for row in supported) / len(supported) if supported else 0.0)
        for key in ("precision", "recall", "f1")
    }
    return {
        "micro": _prf(int(tp.sum()), int(n_pred.sum()), int(n_gold.sum())),
        "macro": macro,
        "per_type": per_type,
    }


def _resampled_totals(matrix: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """Column totals of ``matrix`` (sentences x counts) over bootstrap resamples of its rows.

    Each resample draws n sentence indices with replacement; instead of gathering rows,
    the draw becomes a vector of how often each sentence was drawn, so a chunk of
    resamples is one matrix product (in float64, which holds these integer counts
    exactly and runs on BLAS). The same seed gives the same draws for any matrix with
    the same number of rows: that is what makes paired comparisons paired.
    """
    n = matrix.shape[0]
    rng = np.random.default_rng(seed)
    columns = matrix.astype(np.float64)
    totals = np.empty((n_resamples, matrix.shape[1]), dtype=np.float64)
    for start in range(0, n_resamples, _CHUNK):
        size = min(_CHUNK, n_resamples - start)
        draws = rng.integers(0, n, size=(size, n))
        flat = (draws + n * np.arange(size)[:, None]).ravel()
        weights = np.bincount(flat, minlength=size * n).reshape(size, n).astype(np.float64)
        totals[start : start + size] = weights @ columns
    return totals


def _interval(values: np.ndarray) -> list[float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return [float(low), float(high)]


def _bootstrap_f1(
    counts: Sequence[_Counts], n_resamples: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each counts table, resampled micro F1 (n_resamples,) and per-type F1 (n_resamples, n_types).

    All tables are resampled with the same draws in one pass.
    """
    n_types = counts[0].tp.shape[1]
    totals = _resampled_totals(np.hstack([c.stacked() for c in counts]), n_resamples, seed)
    results = []
    for k in range(len(counts)):
        block = totals[:, 3 * n_types * k : 3 * n_types * (k + 1)]
        tp, n_pred, n_gold = block[:, :n_types], block[:, n_types : 2 * n_types], block[:, 2 * n_types :]
        micro = _f1(tp.sum(axis=1), n_pred.sum(axis=1), n_gold.sum(axis=1))
        results.append((micro, _f1(tp, n_pred, n_gold)))
    return results


def _token_accuracy(gold: Tags, pred: Tags) -> tuple[int, float, float | None]:
    """Words compared, share with the exact gold tag, and that share over words whose gold is not O."""
    pairs = [(g, p) for gs, ps in zip(gold, pred) for g, p in zip(gs, ps)]
    entity_pairs = [(g, p) for g, p in pairs if g != OUTSIDE]
    overall = sum(g == p for g, p in pairs) / len(pairs)
    entities = sum(g == p for g, p in entity_pairs) / len(entity_pairs) if entity_pairs else None
    return len(pairs), overall, entities


def score(
    gold: Tags,
    pred: Tags,
    *,
    scheme: TagScheme | None = None,
    words: Sequence[Sequence[str]] | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Score predicted IOB2 tags against gold at the word level (the ``metrics.json`` body).

    ``scheme`` fixes the types listed per type (all of them, support 0 included) and
    rejects tags of other types; without it the types are those seen in gold or
    predictions. ``words``, when given, is only checked to have one word per
    tag, so a caller cannot pair tags with the wrong sentences. With fewer than
    :data:`MIN_RESAMPLES` resamples (``bootstrap=0`` included) the intervals are ``None``
    and ``bootstrap["note"]`` says why. The caller adds ``split`` and ``scheme``.

    >>> m = score([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]], bootstrap=0)
    >>> m["strict"]["micro"]["f1"], m["n_words_scored"]
    (1.0, 3)
    """
    types = _validate(gold, scheme, pred=pred)
    if words is not None:
        _check_lengths(gold, words=words)
    n_words = sum(len(sentence) for sentence in gold)
    if n_words == 0:
        raise ScoringError(f"nothing to score: {len(gold)} sentences with 0 words")
    spans = {mode: (_all_spans(gold, mode), _all_spans(pred, mode)) for mode in MODES}
    counts = {mode: _count(*spans[mode], types) for mode in MODES}
    n_words_scored, accuracy, accuracy_entities = _token_accuracy(gold, pred)
    result: dict[str, Any] = {
        "n_sentences": len(gold),
        "n_words": n_words,
        "n_words_scored": n_words_scored,
        "token_accuracy": accuracy,
        "token_accuracy_entities": accuracy_entities,
        **{mode: _block(counts[mode], types) for mode in MODES},
    }
    result["ci95"], result["ci95_per_type"] = _intervals(counts, types, bootstrap, seed)
    result["bootstrap"] = {
        "n_resamples": bootstrap,
        "seed": seed,
        "method": BOOTSTRAP_METHOD,
        "note": interval_note(bootstrap),
    }
    result["confusion"] = _confusion(*spans["strict"], types)
    return result


def micro_f1(gold: Tags, pred: Tags, *, scheme: TagScheme | None = None, mode: str = "strict") -> float:
    """Micro entity F1 alone, in ``mode``: the model-selection figure, without the rest of :func:`score`.

    >>> micro_f1([["B-PER", "I-PER"]], [["B-PER", "O"]])
    0.0
    """
    types = _validate(gold, scheme, pred=pred)
    counts = _count(_all_spans(gold, mode), _all_spans(pred, mode), types)
    return _prf(int(counts.tp.sum()), int(counts.n_pred.sum()), int(counts.n_gold.sum()))["f1"]


def _intervals(
    counts: dict[str, _Counts], types: Sequence[str], n_resamples: int, seed: int
) -> tuple[dict[str, list[float] | None], dict[str, dict[str, list[float] | None]]]:
    """95% intervals of micro F1 and of each type's F1, in both modes, all from the same draws."""
    if interval_note(n_resamples) is not None:
        return (
            {f"{mode}_micro_f1": None for mode in MODES},
            {mode: dict.fromkeys(types) for mode in MODES},
        )
    resampled = dict(zip(MODES, _bootstrap_f1([counts[mode] for mode in MODES], n_resamples, seed)))
    micro = {f"{mode}_micro_f1": _interval(resampled[mode][0]) for mode in MODES}
    per_type = {mode: {t: _interval(resampled[mode][1][:, i]) for i, t in enumerate(types)} for mode in MODES}
    return micro, per_type


def confusion_table(gold: Tags, pred: Tags, *, scheme: TagScheme | None = None) -> dict[str, Any]:
    """Where each gold entity went, and the predicted entities that match no gold entity.

    Both sides are read as strict IOB2 spans. A gold entity counts under the type of the
    predicted span with exactly its boundaries (its own type when correct); else under
    ``"wrong boundary"`` when some predicted span overlaps it; else ``"missed"``. A
    predicted span that overlaps no gold entity is ``spurious``. Every row lists every
    column (types, then the two error columns), zeros included, so the table is dense.

    >>> table = confusion_table([["B-PER", "I-PER", "O"]], [["B-ORG", "I-ORG", "B-LOC"]])
    >>> table["rows"]["PER"], table["spurious"]
    ({'PER': 0, 'ORG': 1, 'LOC': 0, 'wrong boundary': 0, 'missed': 0}, {'PER': 0, 'ORG': 0, 'LOC': 1})
    """
    types = _validate(gold, scheme, pred=pred)
    return _confusion(_all_spans(gold, "strict"), _all_spans(pred, "strict"), types)


def _confusion(
    gold_spans: list[set[Span]], pred_spans: list[set[Span]], types: Sequence[str]
) -> dict[str, Any]:
    columns = [*types, WRONG_BOUNDARY, MISSED]
    rows = {t: dict.fromkeys(columns, 0) for t in types}
    spurious = dict.fromkeys(types, 0)
    for gold, pred in zip(gold_spans, pred_spans):
        by_boundary = {(start, end): t for t, start, end in pred}
        for gold_type, start, end in gold:
            if (start, end) in by_boundary:
                column = by_boundary[(start, end)]
            elif any(ps < end and start < pe for _, ps, pe in pred):
                column = WRONG_BOUNDARY
            else:
                column = MISSED
            rows[gold_type][column] += 1
        for pred_type, ps, pe in pred:
            if not any(ps < end and start < pe for _, start, end in gold):
                spurious[pred_type] += 1
    return {"columns": columns, "rows": rows, "spurious": spurious}


def _p_value(observed: float, resampled: np.ndarray) -> float:
    """Two-sided paired-bootstrap p-value; see :data:`P_VALUE_METHOD`."""
    if observed == 0:
        return 1.0
    other_side = resampled <= 0 if observed > 0 else resampled >= 0
    share = float(np.mean(other_side))
    return float(min(1.0, max(2 * share, 1 / (len(resampled) + 1))))


def compare(
    gold_b: Tags,
    pred_a_in_b: Tags,
    pred_b: Tags,
    *,
    scheme: TagScheme | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The fair A-versus-B test: both systems' strict micro F1 on the same sentences, in B's label space.

    ``pred_a_in_b`` is A's prediction mapped into B's scheme (``to_scheme``) and
    ``gold_b`` the gold tags in that scheme, so both F1 figures count the same entities.
    The difference is ``f1_b - f1_a``. Its 95% interval is a percentile interval over
    paired bootstrap resamples: each resample draws one set of sentence indices and
    scores both systems on it, so sentence difficulty cancels out. The two-sided p-value
    is the share of resampled differences on the other side of zero (zero counted as the
    other side), doubled, capped at 1, and floored at 1/(n_resamples + 1) because a
    bootstrap of that size cannot show anything rarer; it is 1.0 when the observed
    difference is 0. The same is reported per type (types of ``scheme``, else of gold).
    With fewer than :data:`MIN_RESAMPLES` resamples the F1 figures and the difference are
    given, but every interval and p-value is ``None`` and ``note`` says why.
    """
    types = _validate(gold_b, scheme, pred_a_in_b=pred_a_in_b, pred_b=pred_b)
    gold_spans = _all_spans(gold_b, "strict")
    counts_a = _count(gold_spans, _all_spans(pred_a_in_b, "strict"), types)
    counts_b = _count(gold_spans, _all_spans(pred_b, "strict"), types)
    note = interval_note(bootstrap)
    # (micro F1, per-type F1) resampled for A, then for B; none without enough resamples.
    drawn = _bootstrap_f1([counts_a, counts_b], bootstrap, seed) if note is None else None
    block_a, block_b = _block(counts_a, types), _block(counts_b, types)

    def summary(f1_a: float, f1_b: float, resampled: np.ndarray | None) -> dict[str, Any]:
        difference = f1_b - f1_a
        return {
            "f1_a": f1_a,
            "f1_b": f1_b,
            "difference": difference,
            "ci95": None if resampled is None else _interval(resampled),
            "p_value": None if resampled is None else _p_value(difference, resampled),
        }

    per_type = {
        t: {
            **summary(
                block_a["per_type"][t]["f1"],
                block_b["per_type"][t]["f1"],
                None if drawn is None else drawn[1][1][:, i] - drawn[0][1][:, i],
            ),
            "support": block_a["per_type"][t]["support"],
        }
        for i, t in enumerate(types)
    }
    return {
        "metric": "strict micro F1 in B's label space",
        "n_sentences": len(gold_b),
        "n_resamples": bootstrap,
        "seed": seed,
        "method": P_VALUE_METHOD,
        "note": note,
        **summary(
            block_a["micro"]["f1"],
            block_b["micro"]["f1"],
            None if drawn is None else drawn[1][0] - drawn[0][0],
        ),
        "ci95_a": None if drawn is None else _interval(drawn[0][0]),
        "ci95_b": None if drawn is None else _interval(drawn[1][0]),
        "per_type": per_type,
    }


def headline_figures(metrics: dict[str, Any]) -> dict[str, float | None]:
    """The figures a report leads with, flattened to dotted keys (``"strict.micro.f1"``, ...)."""
    figures: dict[str, float | None] = {
        "token_accuracy": metrics["token_accuracy"],
        "token_accuracy_entities": metrics.get("token_accuracy_entities"),
    }
    for mode in MODES:
        for key in ("precision", "recall", "f1"):
            figures[f"{mode}.micro.{key}"] = metrics[mode]["micro"][key]
            figures[f"{mode}.macro.{key}"] = metrics[mode]["macro"][key]
    for entity_type, row in metrics["strict"]["per_type"].items():
        figures[f"strict.per_type.{entity_type}.f1"] = row["f1"]
    return figures


def _iter_figures(runs: Sequence[dict[str, Any]]) -> Iterator[tuple[str, list[float]]]:
    flat = [headline_figures(run) for run in runs]
    keys = list(dict.fromkeys(key for figures in flat for key in figures))
    for key in keys:
        yield key, [v for figures in flat if (v := figures.get(key)) is not None]


def aggregate_seeds(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sample standard deviation (ddof=1; 0.0 for one run) of each headline figure across seeds.

    Returns ``{"n_runs": k, "figures": {"strict.micro.f1": {"mean", "std", "n", "values"}, ...}}``;
    a figure missing or ``None`` in some runs (a type absent from one run's output,
    token accuracy over entities with no entity words) is averaged over the runs that
    have it, and ``n`` says how many.
    """
    if not runs:
        raise ScoringError("aggregate_seeds needs at least one metrics dict, got none")
    figures: dict[str, dict[str, Any]] = {}
    for key, values in _iter_figures(runs):
        array = np.array(values, dtype=float)
        figures[key] = {
            "mean": float(array.mean()) if len(array) else None,
            "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
            "n": len(values),
            "values": values,
        }
    return {"n_runs": len(runs), "figures": figures}
