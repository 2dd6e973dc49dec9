"""What is done to a corpus as a whole once its records are read.

In order: every split rewritten in IOB2 (its scheme detected or given), I-X tags that start
an entity repaired or counted, training sentences that repeat or also occur in test
dropped (``dedup_train``), and a fingerprint of the result for reports and run records.
Each step counts what it changed, so the report can say so.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from multinerd.data.readers import DataError
from multinerd.data.records import ErrorPolicy
from multinerd.data.schemes import SchemeError, detect, to_iob2
from multinerd.data.sentences import Corpus, Sentence
from multinerd.labels import repair_iob2


def normalise_schemes(
    splits: dict[str, list[Sentence]], forced: str, multinerd: bool, errors: ErrorPolicy, notes: list[str]
) -> dict[str, dict[str, Any]]:
    """Rewrite every split in IOB2, detecting its scheme unless ``forced``; count the tags changed.

    A sentence that no reading of its split's scheme explains is a bad record (file and line
    of the sentence, the word named), stopping the load or skipped under ``on_error="skip"``.
    ``splits`` is changed in place; a line per converted split goes to ``notes``.
    """
    found: dict[str, dict[str, Any]] = {}
    for split, sentences in splits.items():
        try:
            scheme = _scheme_of(sentences, forced, multinerd)
        except SchemeError as err:
            path, line = _where(sentences[err.position].origin)
            raise DataError(f"{split}: {err}", path, line) from None
        found[split] = {"scheme": scheme, "converted": 0}
        if scheme == "iob2":
            continue  # already IOB2: its faults are check_iob2's
        converted, kept = 0, []
        for sentence in sentences:
            try:
                tags = tuple(to_iob2(sentence.tags, scheme))
            except SchemeError as err:
                path, line = _where(sentence.origin)
                message = f"word {err.position + 1}: {err} (split read as {scheme.upper()})"
                errors.bad(path, line, message)
                continue
            if tags != sentence.tags:
                converted += sum(a != b for a, b in zip(tags, sentence.tags))
                sentence = dataclasses.replace(sentence, tags=tags)
            kept.append(sentence)
        splits[split] = kept
        found[split]["converted"] = converted
        if converted:
            notes.append(f"{split}: tags written in {scheme.upper()}, {converted} converted to IOB2")
    return found


def _scheme_of(sentences: list[Sentence], forced: str, multinerd: bool) -> str:
    """The split's scheme: forced, IOB2 for MultiNERD's fixed tag table, else detected.

    Forced IOB2 is checked here, cheaply, for tags only other schemes write (``S-``, ``L-`` ...).
    """
    if forced == "auto":
        return "iob2" if multinerd else detect(s.tags for s in sentences)
    if forced == "iob2":
        prefixes = {tag[0] for sentence in sentences for tag in set(sentence.tags)}
        if prefixes - {"O", "B", "I"}:
            position = next(i for i, s in enumerate(sentences) if {t[0] for t in s.tags} - {"O", "B", "I"})
            raise SchemeError("tags other than O, B- and I- in data read as IOB2", position)
    return forced


def _where(origin: str) -> tuple[str, int | None]:
    """``path:line`` of a sentence's origin split in two."""
    path, _, line = origin.rpartition(":")
    return (path, int(line)) if line.isdigit() else (origin, None)


def _first_violation(tags: tuple[str, ...]) -> bool:
    """Whether some I-X does not continue an X; a fast pre-check before labels.repair_iob2."""
    previous = ""
    for tag in tags:
        if tag[0] == "I" and tag[2:] != previous:
            return True
        previous = tag[2:]
    return False


def check_iob2(corpus: Corpus, repair: bool) -> None:
    """Find I-X tags that start an entity; rewrite them to B-X (``repair``) or count them as they are."""
    for split, sentences in corpus.splits.items():
        changed = sentences_touched = 0
        first = ""
        for i, sentence in enumerate(sentences):
            if not _first_violation(sentence.tags):
                continue
            tags, n = repair_iob2(sentence.tags)
            changed += n
            sentences_touched += 1
            first = first or sentence.origin
            if repair:
                sentences[i] = dataclasses.replace(sentence, tags=tuple(tags))
        if not changed:
            continue
        if repair:
            corpus.repaired[split] = changed
            corpus.problems.append(
                f"{split}: repaired {changed} tag(s) in {sentences_touched} sentence(s), "
                f"an I-X starting an entity became B-X (first at {first})"
            )
        else:
            corpus.iob2_violations[split] = changed
            corpus.problems.append(
                f"{split}: {changed} tag(s) in {sentences_touched} sentence(s) are an I-X starting an "
                f"entity, kept as they are; strict scoring starts no entity there (first at {first})"
            )


def drop_train_duplicates(corpus: Corpus) -> None:
    """Drop repeated training sentences (same words and tags) and those whose words test also holds."""
    train = corpus.splits.get("train")
    if not train:
        return
    test_words = {s.words for s in corpus.splits.get("test", [])}
    seen: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
    kept: list[Sentence] = []
    duplicates = in_test = 0
    for sentence in train:
        key = (sentence.words, sentence.tags)
        if key in seen:
            duplicates += 1
        elif sentence.words in test_words:
            in_test += 1
        else:
            kept.append(sentence)
        seen.add(key)
    corpus.splits["train"] = kept
    corpus.dropped = {"duplicates": duplicates, "in_test": in_test}
    corpus.problems.append(
        f"train: dedup dropped {duplicates} duplicate sentence(s) and {in_test} sentence(s) also in test; "
        f"{len(kept)} kept"
    )


def corpus_fingerprint(corpus: Corpus) -> str:
    """A short sha256 of every split's words and tags: equal data, equal fingerprint, across runs."""
    digest = hashlib.sha256()
    for split in sorted(corpus.splits):
        digest.update(f"\x1d{split}\x1d".encode())
        for sentence in corpus.splits[split]:
            digest.update("\x1f".join(sentence.words).encode())
            digest.update(b"\x1e")
            digest.update(" ".join(sentence.tags).encode())
            digest.update(b"\x1e")
    return digest.hexdigest()[:16]
