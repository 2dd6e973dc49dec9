"""The data audit behind ``multinerd data stats``: what a corpus holds, as plain data and as a table.

Sizes, entity types, the tag scheme each split was written in (and how many tags were
converted to IOB2), languages as found in the source, length distributions, duplicates,
sentences shared between splits and every problem met while loading. Kept apart from
:mod:`multinerd.data.corpus` so that reading data and describing it change independently.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from multinerd.data.corpus import Corpus, Sentence
from multinerd.systems import data_inventory


def _length_stats(lengths: list[int]) -> dict[str, float]:
    if not lengths:
        return {"min": 0, "mean": 0.0, "median": 0.0, "p95": 0, "max": 0}
    ordered = sorted(lengths)
    n = len(ordered)
    middle = n // 2
    median = ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return {
        "min": ordered[0],
        "mean": round(sum(ordered) / n, 2),
        "median": median,
        "p95": ordered[max(0, math.ceil(0.95 * n) - 1)],
        "max": ordered[-1],
    }


def _subtoken_lengths(tokenizer: Any, sentences: list[Sentence], batch: int = 1000) -> list[int]:
    """Sub-tokens per sentence, special tokens not included."""
    lengths: list[int] = []
    for start in range(0, len(sentences), batch):
        words = [list(s.words) for s in sentences[start : start + batch]]
        encoded = tokenizer(words, is_split_into_words=True, add_special_tokens=False)
        lengths.extend(len(ids) for ids in encoded["input_ids"])
    return lengths


def _entity_counts(sentences: list[Sentence], multinerd_tags: bool) -> dict[str, int]:
    """Strict IOB2 entities per type, in the order of the data's inventory (all of MultiNERD's
    fifteen, zeros included, for MultiNERD's tag table). Every B-X starts exactly one entity and
    an I-X starts none (labels.entity_spans), so counting B- tags counts the spans without walking them."""
    tags: Counter[str] = Counter()
    for sentence in sentences:
        tags.update(sentence.tags)
    found = {tag[2:]: n for tag, n in tags.items() if tag.startswith("B-")}
    if not found and not multinerd_tags:
        return {}
    order = data_inventory([[f"B-{entity_type}" for entity_type in found]], multinerd_tags).types
    return {entity_type: found.get(entity_type, 0) for entity_type in order}


def audit(corpus: Corpus, tokenizer: Any = None) -> dict[str, Any]:
    """Sizes, entity types, languages, length distribution, duplicates and split overlap, as plain data.

    ``languages`` counts each language as found in the source, before the language filter.
    ``duplicates`` counts sentences beyond the first copy with identical words and tags;
    ``overlap`` counts distinct sentences (by words) present in both splits.
    """
    splits: dict[str, Any] = {}
    for name, sentences in corpus.splits.items():
        lengths = [len(s.words) for s in sentences]
        entry: dict[str, Any] = {
            "sentences": len(sentences),
            "words": sum(lengths),
            "entities": _entity_counts(sentences, corpus.multinerd_tags),
            "tag_scheme": corpus.tag_schemes.get(name, {"scheme": "iob2", "converted": 0}),
            "duplicates": len(sentences) - len({(s.words, s.tags) for s in sentences}),
            "languages": dict(corpus.lang_counts.get(name) or Counter(s.lang for s in sentences)),
            "length": _length_stats(lengths),
        }
        if tokenizer is not None:
            entry["subtokens"] = _length_stats(_subtoken_lengths(tokenizer, sentences))
        splits[name] = entry
    words = {name: {s.words for s in sentences} for name, sentences in corpus.splits.items()}
    overlap = {
        f"{a}-{b}": len(words[a] & words[b]) if a in words and b in words else 0
        for a, b in (("train", "test"), ("train", "validation"), ("validation", "test"))
    }
    return {"source": corpus.source, "splits": splits, "overlap": overlap, "problems": list(corpus.problems)}


def _table(rows: list[tuple[str, list[Any]]], header: list[str]) -> list[str]:
    cells = [["", *header], *[[label, *(str(v) for v in values)] for label, values in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    return [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        for row in cells
    ]


def format_audit(report: dict[str, Any]) -> str:
    """The audit as a plain-text table for the terminal: one column per split."""
    names = list(report["splits"])
    stats = [report["splits"][n] for n in names]
    rows: list[tuple[str, list[Any]]] = [
        ("sentences", [s["sentences"] for s in stats]),
        ("words", [s["words"] for s in stats]),
        ("duplicates", [s["duplicates"] for s in stats]),
        ("tag scheme read", [s["tag_scheme"]["scheme"].upper() for s in stats]),
        ("tags converted to IOB2", [s["tag_scheme"]["converted"] for s in stats]),
    ]
    for measure in ("length", "subtokens"):
        if all(measure in s for s in stats):
            label = "words/sentence" if measure == "length" else "sub-tokens/sentence"
            for key in ("min", "mean", "median", "p95", "max"):
                rows.append((f"{label} {key}", [s[measure][key] for s in stats]))
    types = list(dict.fromkeys(t for s in stats for t in s["entities"]))
    rows += [(f"entities {t}", [s["entities"].get(t, 0) for s in stats]) for t in types]
    languages = list(dict.fromkeys(lg for s in stats for lg in s["languages"]))
    rows += [(f"in source: {lg}", [s["languages"].get(lg, 0) for s in stats]) for lg in languages]
    lines = [f"source: {report['source']}", *_table(rows, names), ""]
    shared = ", ".join(f"{pair} {n}" for pair, n in report["overlap"].items())
    lines.append(f"sentences shared between splits (by words): {shared}")
    problems = report["problems"]
    lines.append(f"problems: {len(problems) or 'none'}")
    lines += [f"  - {problem}" for problem in problems]
    return "\n".join(lines)
