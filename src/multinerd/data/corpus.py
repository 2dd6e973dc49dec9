"""Data sources: one string names where sentences come from, one :class:`Corpus` comes back.

Sources: ``hub`` / ``hub:OWNER/NAME`` / ``hub:PATH`` (``datasets.load_dataset``; a local
directory laid out like a hub repository works too), ``disk:DIR`` (``save_to_disk``),
``jsonl:DIR`` (MultiNERD's hub file layout on disk), ``tsv:DIR`` (its GitHub layout),
``conll:DIR`` or ``conll:FILE`` and ``sample`` (the bundled synthetic sample). Whatever the
source, the corpus holds IOB2 string tags (other schemes are converted, see
:mod:`multinerd.data.schemes`), split names ``train`` / ``validation`` / ``test``, and only the
language asked for: other languages are counted (so the audit can show them) and never kept.

Every bad record stops loading with a :class:`DataError` naming the file and line, or,
with ``on_error="skip"``, is skipped, counted per file and listed in ``Corpus.problems``.
Anything changed on the way (converted or repaired tags, dropped duplicates) is counted too.

This module reads the sources; what a record must hold is :mod:`multinerd.data.records`', what is
then done to the corpus as a whole (schemes, IOB2 repair, dedup, fingerprint) is
:mod:`multinerd.data.corpus_steps`', and the types are :mod:`multinerd.data.sentences`'. The names
other modules use (:class:`Corpus`, :class:`Sentence`, :func:`corpus_fingerprint`,
:class:`DataError`, :data:`SPLITS` ...) are all importable from here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multinerd.data.corpus_steps import (
    check_iob2,
    corpus_fingerprint,
    drop_train_duplicates,
    normalise_schemes,
)
from multinerd.data.hfdata import DEFAULT_HUB_DATASET, Loaded, load_disk, load_hub, tag_names
from multinerd.data.readers import DataError, RecordError, conll_blocks, decode_json_line, decode_lines
from multinerd.data.records import ID2TAG, ErrorPolicy, conll_line, record_tags, tsv_line
from multinerd.data.schemes import SCHEMES
from multinerd.data.sentences import SPLIT_ALIASES, SPLITS, Corpus, Sentence
from multinerd.systems import uses_multinerd_tags

if TYPE_CHECKING:
    from multinerd.config import DataConfig

__all__ = [
    "CONLL_SUFFIXES",
    "SAMPLE_DIR",
    "SPLITS",
    "SPLIT_ALIASES",
    "UNKNOWN_LANG",
    "Corpus",
    "DataError",
    "HubOptions",
    "Sentence",
    "corpus_fingerprint",
    "load_configured",
    "load_corpus",
]

#: Suffixes of CoNLL split files (``train.txt``, ``dev.conll``, ``test.iob2`` ...).
CONLL_SUFFIXES: tuple[str, ...] = (".txt", ".conll", ".iob", ".iob2", ".bio", ".bioes", ".tsv")
#: Language code for records whose source says nothing about their language (ISO 639-2 "undetermined").
UNKNOWN_LANG = "und"
#: The bundled synthetic sample (written by :mod:`multinerd.data.samplegen`, which takes the path from here).
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"

_SPLIT_FILE = re.compile(r"^(?P<split>[A-Za-z]+)(?:[_.-](?P<lang>[A-Za-z]{2,3}))?$")


@dataclass(frozen=True)
class HubOptions:
    """How a Hugging Face dataset (``hub:``, ``disk:``) maps onto words, tags and splits."""

    tokens_column: str = "tokens"
    tags_column: str = "ner_tags"
    #: The dataset's own split name for each of ours; a split not named here is found by
    #: its usual names (``validation``, ``valid``, ``dev`` ...).
    split_names: dict[str, str] = field(default_factory=dict)

    def role(self, split_name: str) -> str | None:
        """Our split name for one of the dataset's, or None when it is none of train/validation/test."""
        for ours, theirs in self.split_names.items():
            if split_name == theirs:
                return ours
        alias = SPLIT_ALIASES.get(split_name.lower())
        return None if alias in self.split_names else alias


@dataclass
class _Reading:
    """What the readers collect before the corpus-wide steps (schemes, limits, IOB2, dedup) run."""

    lang: str | None
    errors: ErrorPolicy
    hub: HubOptions = field(default_factory=HubOptions)
    splits: dict[str, list[Sentence]] = field(default_factory=dict)
    lang_counts: dict[str, Counter[str]] = field(default_factory=dict)
    unlabelled: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    #: Whether the tags read are MultiNERD's fixed tag table (:func:`multinerd.systems.uses_multinerd_tags`).
    multinerd: bool = False
    #: One string object per distinct word: a 300k-sentence corpus repeats most words many times.
    words: dict[str, str] = field(default_factory=dict)

    def keeps(self, split: str, lang: str | None) -> bool:
        """Count a record's language and say whether the filter keeps it (unknown languages are kept)."""
        self.lang_counts.setdefault(split, Counter())[lang or UNKNOWN_LANG] += 1
        if lang is None:
            self.unlabelled[split] += 1
            return True
        return self.lang is None or lang == self.lang

    def add(
        self, split: str, words: Sequence[str], tags: tuple[str, ...], lang: str | None, origin: str
    ) -> None:
        """Keep one sentence; its words share the string objects of words seen before."""
        cache = self.words
        self.splits.setdefault(split, []).append(
            Sentence(tuple(map(cache.setdefault, words, words)), tags, lang or UNKNOWN_LANG, origin)
        )


def load_corpus(
    source: str,
    *,
    lang: str | None = "en",
    on_error: str = "raise",
    repair_iob2: bool = True,
    max_sentences: int | None = None,
    dedup_train: bool = False,
    tag_scheme: str = "auto",
    tokens_column: str = "tokens",
    tags_column: str = "ner_tags",
    split_names: dict[str, str] | None = None,
) -> Corpus:
    """Read ``source`` into a :class:`Corpus` of IOB2 string tags, one language, normalised split names.

    >>> corpus = load_corpus("sample")
    >>> sorted(corpus.splits)
    ['test', 'train', 'validation']

    ``max_sentences`` keeps the first N sentences of each split (after the language filter);
    ``dedup_train`` drops exact duplicate training sentences and training sentences whose
    words also occur in the test split. ``tag_scheme`` is ``auto`` (detected per split) or
    one of :data:`multinerd.data.schemes.SCHEMES`. ``tokens_column``, ``tags_column`` and
    ``split_names`` (ours -> the dataset's) say how a Hugging Face dataset names its columns
    and splits.
    """
    if max_sentences is not None and max_sentences < 1:
        raise DataError(f"max_sentences must be at least 1 or None, got {max_sentences}")
    if tag_scheme != "auto" and tag_scheme not in SCHEMES:
        raise DataError(f"tag_scheme must be auto or one of {', '.join(SCHEMES)}, got {tag_scheme!r}")
    hub = HubOptions(tokens_column, tags_column, dict(split_names or {}))
    unknown = sorted(set(hub.split_names) - set(SPLITS))
    if unknown:
        raise DataError(f"split_names names {unknown}; expected some of {', '.join(SPLITS)}")
    reading = _Reading(
        lang=lang, errors=ErrorPolicy(on_error), hub=hub, multinerd=uses_multinerd_tags(source)
    )
    _read_source(source, reading)
    schemes = normalise_schemes(reading.splits, tag_scheme, reading.multinerd, reading.errors, reading.notes)
    corpus = _corpus_of(source, reading, schemes)
    if max_sentences is not None:
        corpus.splits = {name: sentences[:max_sentences] for name, sentences in corpus.splits.items()}
    check_iob2(corpus, repair_iob2)
    if dedup_train:
        drop_train_duplicates(corpus)
    return corpus


def load_configured(data: DataConfig) -> Corpus:
    """The corpus a config's ``data`` section names, read with its options (every command reads data so)."""
    return load_corpus(data.source, **data.loader_options())


def _read_source(source: str, reading: _Reading) -> None:
    """Hand ``source`` to the reader of its kind (``hub:``, ``disk:``, ``jsonl:`` ... or ``sample``)."""
    kind, sep, argument = source.partition(":")
    if kind == "hub":
        _read_dataset(load_hub(argument if sep else DEFAULT_HUB_DATASET, reading.lang), reading)
    elif kind == "disk" and sep and argument:
        _read_dataset(load_disk(Path(argument).expanduser()), reading)
    elif kind == "conll" and sep and argument and Path(argument).expanduser().is_file():
        _read_columns(Path(argument).expanduser(), "test", None, reading, conll_line)
    elif kind in _DIRECTORY_READERS and sep and argument:
        directory = Path(argument).expanduser()
        if not directory.is_dir():
            raise DataError(f"directory not found: {directory}", source)
        _DIRECTORY_READERS[kind](directory, reading)
    elif source == "sample":
        _read_jsonl_dir(SAMPLE_DIR, reading)
    else:
        raise DataError(
            f"unknown data source {source!r}; expected hub, hub:OWNER/NAME, hub:DIR, disk:DIR, jsonl:DIR, "
            "tsv:DIR, conll:DIR, conll:FILE or sample"
        )


def _corpus_of(source: str, reading: _Reading, schemes: dict[str, dict[str, Any]]) -> Corpus:
    """The corpus of what was read, its splits in the usual order; no sentence at all is an error."""
    lang = reading.lang
    if not any(reading.splits.values()):
        found = {lg for counts in reading.lang_counts.values() for lg in counts}
        detail = f"; languages found: {', '.join(sorted(found))}" if found else ""
        skipped = sum(reading.errors.counts.values())
        if skipped:
            detail += f"; {skipped} bad record(s) skipped: {'; '.join(reading.errors.problems())}"
        raise DataError(f"no sentences{f' in language {lang!r}' if lang else ''}{detail}", source)
    corpus = Corpus(
        source=source,
        splits={name: reading.splits[name] for name in SPLITS if name in reading.splits},
        multinerd_tags=reading.multinerd,
        problems=reading.errors.problems() + reading.notes,
        lang=lang,
        lang_counts={split: dict(counts.most_common()) for split, counts in reading.lang_counts.items()},
        skipped=dict(reading.errors.counts),
        tag_schemes=schemes,
    )
    if lang is not None and reading.multinerd:
        for split, n in reading.unlabelled.items():
            corpus.problems.append(f"{split}: {n} sentence(s) carry no language in record or file name; kept")
    elif lang is not None and reading.unlabelled:
        corpus.problems.append(f"{source} carries no language, so lang={lang!r} filters nothing")
    return corpus


# ---------------------------------------------------------------- file reading


def _read_lines(path: Path) -> tuple[list[str], dict[int, str]]:
    """The file's lines and, per line that is not UTF-8, why (see :func:`readers.decode_lines`)."""
    return decode_lines(path.read_bytes())


def _split_and_lang(path: Path, parent_is_split: bool) -> tuple[str | None, str | None]:
    """Split and language told by a file name like ``train_en.jsonl`` (or by its folder, ``val/``)."""
    match = _SPLIT_FILE.match(path.stem)
    split = SPLIT_ALIASES.get(match["split"].lower()) if match else None
    file_lang = match["lang"].lower() if match and match["lang"] else None
    if split is None and parent_is_split:
        split = SPLIT_ALIASES.get(path.parent.name.lower())
    return split, file_lang


def _files(directory: Path, pattern: str) -> list[Path]:
    """Files matching ``pattern`` in ``directory`` or one folder down (the hub's ``train/`` ...)."""
    return sorted({*directory.glob(pattern), *directory.glob(f"*/{pattern}")})


def _count_lines(path: Path) -> int:
    """Records in a JSON-lines file left unparsed because its name says it is another language."""
    return sum(1 for line in path.read_bytes().split(b"\n") if line.strip())


def _count_blocks(path: Path) -> int:
    """Sentences in a one-token-a-line file left unparsed because its name says it is another language."""
    return sum(1 for block in re.split(rb"\n[ \t\r]*\n", path.read_bytes()) if block.strip())


def _skip_other_language(
    path: Path, split: str, file_lang: str | None, reading: _Reading, count: Callable[[Path], int]
) -> bool:
    """True when the file name names a language the filter drops: the file is counted, never parsed."""
    if file_lang is None or reading.lang is None or file_lang == reading.lang:
        return False
    reading.lang_counts.setdefault(split, Counter())[file_lang] += count(path)
    return True


def _read_jsonl_dir(directory: Path, reading: _Reading) -> None:
    """Read MultiNERD's hub layout: ``train/train_en.jsonl``, ``val/val_en.jsonl`` ..."""
    files = _files(directory, "*.jsonl")
    if not files:
        raise DataError(
            "no .jsonl files; expected the hub layout "
            "train/train_en.jsonl, val/val_en.jsonl, test/test_en.jsonl",
            directory,
        )
    for path in files:
        split, file_lang = _split_and_lang(path, parent_is_split=True)
        if split is None:
            reading.notes.append(f"{path}: ignored, no split in its name (train, val, dev, validation, test)")
        elif not _skip_other_language(path, split, file_lang, reading, _count_lines):
            _read_jsonl_file(path, split, file_lang, reading)


def _read_jsonl_file(path: Path, split: str, file_lang: str | None, reading: _Reading) -> None:
    """Read one JSON record a line (``tokens``, ``ner_tags`` ids, ``lang``); a bad line is a bad record."""
    lines, bad = _read_lines(path)
    for number, line in enumerate(lines, 1):
        undecodable = bad.get(number) if bad else None
        if undecodable is None and (not line or line.isspace()):
            continue
        try:
            if undecodable is not None:
                raise RecordError(undecodable)
            record = decode_json_line(line)
            record_lang = record.get("lang", file_lang)
            if record_lang is not None and type(record_lang) is not str:
                raise RecordError(f"'lang' is {record_lang!r}, not a language code")
            if not reading.keeps(split, record_lang):
                continue
            tags = record_tags(record.get("tokens"), record.get("ner_tags"), ID2TAG)
        except RecordError as err:
            reading.errors.bad(path, number, str(err))
        else:
            reading.add(split, record["tokens"], tags, record_lang, f"{path}:{number}")


def _read_tsv_dir(directory: Path, reading: _Reading) -> None:
    """Read MultiNERD's GitHub layout: ``en/train_en.tsv``, ``en/dev_en.tsv`` ..."""
    files = _files(directory, "*.tsv")
    if not files:
        raise DataError(
            "no .tsv files; expected the GitHub layout en/train_en.tsv, en/dev_en.tsv, en/test_en.tsv",
            directory,
        )
    for path in files:
        split, file_lang = _split_and_lang(path, parent_is_split=False)
        if split is None:
            reading.notes.append(f"{path}: ignored, its name says no split (train, dev, test)")
            continue
        file_lang = file_lang or (path.parent.name.lower() if path.parent != directory else None)
        if not _skip_other_language(path, split, file_lang, reading, _count_blocks):
            _read_columns(path, split, file_lang, reading, tsv_line)


def _read_columns(
    path: Path,
    split: str,
    file_lang: str | None,
    reading: _Reading,
    parse: Callable[[str], tuple[str, str]],
) -> None:
    """Read a file of one token a line, a blank line between sentences; a bad line rejects its sentence."""
    lines, bad = _read_lines(path)
    for start, block in conll_blocks(lines):
        if not reading.keeps(split, file_lang):
            continue
        words, tags = [], []
        try:
            for number, line in block:
                if bad and number in bad:
                    raise RecordError(bad[number])
                word, tag = parse(line)
                words.append(word)
                tags.append(tag)
        except RecordError as err:
            reading.errors.bad(path, number, str(err))
        else:
            reading.add(split, words, tuple(tags), file_lang, f"{path}:{start}")


def _conll_split(path: Path) -> str | None:
    """The split a CoNLL file's name gives: ``train.txt``, ``dev.conll``, ``emerging.test.iob2``."""
    if path.suffix.lower() not in CONLL_SUFFIXES:
        return None
    found = {SPLIT_ALIASES[part] for part in re.split(r"[._-]", path.stem.lower()) if part in SPLIT_ALIASES}
    return found.pop() if len(found) == 1 else None


def _read_conll_dir(directory: Path, reading: _Reading) -> None:
    """Read a folder of CoNLL files, one per split; two files for one split is an error."""
    seen: dict[str, Path] = {}
    for path in sorted(p for p in directory.iterdir() if p.is_file()):
        split = _conll_split(path)
        if split is None:
            continue
        if split in seen:
            raise DataError(f"two files for the {split} split: {seen[split].name} and {path.name}", directory)
        seen[split] = path
    if not seen:
        names = "train, dev, valid, validation, test (a name or a part of it, as in eng.train.txt)"
        present = ", ".join(sorted(p.name for p in directory.iterdir())[:10]) or "none"
        raise DataError(
            f"no split files; looked for {names} with suffix {', '.join(CONLL_SUFFIXES)}; found: {present}",
            directory,
        )
    for split in SPLITS:
        if split in seen:
            _read_columns(seen[split], split, None, reading, conll_line)


_DIRECTORY_READERS: dict[str, Callable[[Path, _Reading], None]] = {
    "jsonl": _read_jsonl_dir,
    "tsv": _read_tsv_dir,
    "conll": _read_conll_dir,
}


# ---------------------------------------------------------------- Hugging Face datasets


def _read_dataset(loaded: Loaded, reading: _Reading) -> None:
    """Check every kept row of every split like a file record; tag names from the dataset's features."""
    dataset, where = loaded.dataset, loaded.where
    words_column, tags_column = reading.hub.tokens_column, reading.hub.tags_column
    for split_name, rows in dataset.items():
        split = reading.hub.role(split_name)
        if split is None:
            reading.notes.append(f"{where}: ignored split {split_name!r} (not train, validation or test)")
            continue
        missing = [c for c in (words_column, tags_column) if c not in rows.column_names]
        if missing:
            raise DataError(
                f"split {split_name!r} lacks column(s) {missing}; has {rows.column_names} "
                "(set data.tokens_column and data.tags_column)",
                where,
            )
        id2tag = tag_names(rows, tags_column, loaded.fixed_tags, where)
        langs = rows["lang"] if "lang" in rows.column_names else [None] * len(rows)
        kept = [i for i, lang in enumerate(langs) if reading.keeps(split, lang)]
        chosen = rows.select(kept)
        for i, tokens, ids in zip(kept, chosen[words_column], chosen[tags_column]):
            try:
                tags = record_tags(tokens, ids, id2tag, (words_column, tags_column))
            except RecordError as err:
                reading.errors.bad(f"{where}/{split_name}", i + 1, str(err))
            else:
                reading.add(split, tokens, tags, langs[i], f"{where}/{split_name}:{i + 1}")
