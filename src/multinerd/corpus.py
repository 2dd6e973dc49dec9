"""Data sources: one string names where sentences come from, one :class:`Corpus` comes back.

Sources: ``hub`` / ``hub:OWNER/NAME`` / ``hub:PATH`` (``datasets.load_dataset``; a local
directory laid out like a hub repository works too), ``disk:DIR`` (``save_to_disk``),
``jsonl:DIR`` (MultiNERD's hub file layout on disk), ``tsv:DIR`` (its GitHub layout),
``conll:DIR`` or ``conll:FILE`` and ``sample`` (the bundled synthetic sample). Whatever the
source, the corpus holds IOB2 string tags (other schemes are converted, see
:mod:`multinerd.schemes`), split names ``train`` / ``validation`` / ``test``, and only the
language asked for: other languages are counted (so the audit can show them) and never kept.

Every bad record stops loading with a :class:`DataError` naming the file and line, or,
with ``on_error="skip"``, is skipped, counted per file and listed in ``Corpus.problems``.
Anything changed on the way (converted or repaired tags, dropped duplicates) is counted too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multinerd.hfdata import DEFAULT_HUB_DATASET, Loaded, load_disk, load_hub, tag_names
from multinerd.labels import MULTINERD_TAGS, MULTINERD_TYPES, TagError, repair_iob2
from multinerd.readers import (
    DataError,
    RecordError,
    conll_blocks,
    conll_columns,
    decode_json_line,
    decode_lines,
)
from multinerd.schemes import SCHEMES, SchemeError, detect, parse_tag, to_iob2
from multinerd.systems import uses_multinerd_tags

if TYPE_CHECKING:
    from multinerd.config import DataConfig

SPLITS: tuple[str, ...] = ("train", "validation", "test")
#: Split names found in the wild and the name the corpus uses for each.
SPLIT_ALIASES: dict[str, str] = {
    "train": "train", "training": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "test": "test",
}  # fmt: skip
#: Suffixes of CoNLL split files (``train.txt``, ``dev.conll``, ``test.iob2`` ...).
CONLL_SUFFIXES: tuple[str, ...] = (".txt", ".conll", ".iob", ".iob2", ".bio", ".bioes", ".tsv")
#: Language code for records whose source says nothing about their language (ISO 639-2 "undetermined").
UNKNOWN_LANG = "und"
SAMPLE_DIR = Path(__file__).parent / "data" / "sample"

_ID2TAG: dict[int, str] = dict(enumerate(MULTINERD_TAGS))
_MULTINERD_TAG_SET = frozenset(MULTINERD_TAGS)
#: Unicode categories with nothing to see: a token made only of these (a zero-width space, a
#: right-to-left mark, a NUL, a no-break space) is as empty as whitespace, and tokenizers drop it.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
_SPLIT_FILE = re.compile(r"^(?P<split>[A-Za-z]+)(?:[_.-](?P<lang>[A-Za-z]{2,3}))?$")
@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence: its words, their IOB2 tags, its language and where it was read (``path:line``)."""

    words: tuple[str, ...]
    tags: tuple[str, ...]
    lang: str
    origin: str


@dataclass
class Corpus:
    """Sentences by split, with everything that was counted, skipped or changed while loading."""

    source: str
    splits: dict[str, list[Sentence]]
    #: Tags use MultiNERD's tag table (:func:`multinerd.systems.uses_multinerd_tags`), so schemes A and B apply.
    multinerd_tags: bool
    #: Human-readable lines: skipped records, repaired tags, dropped duplicates, unlabelled languages.
    problems: list[str] = field(default_factory=list)
    #: The language kept (``None``: all).
    lang: str | None = "en"
    #: Records per language in each split as found in the source, before the language filter.
    lang_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Bad records skipped under ``on_error="skip"``, per file.
    skipped: dict[str, int] = field(default_factory=dict)
    #: Per split, the tag scheme the source was written in and how many tags became other IOB2
    #: tags on reading: ``{"train": {"scheme": "iobes", "converted": 1204}}``.
    tag_schemes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: I-X tags rewritten to B-X per split (``repair_iob2=True``) ...
    repaired: dict[str, int] = field(default_factory=dict)
    #: ... or left as they were (``repair_iob2=False``).
    iob2_violations: dict[str, int] = field(default_factory=dict)
    #: Training sentences removed by ``dedup_train``: ``{"duplicates": n, "in_test": n}``.
    dropped: dict[str, int] = field(default_factory=dict)

    def get(self, split: str) -> list[Sentence]:
        """The sentences of ``split`` (aliases such as ``dev`` accepted); a missing split is an error."""
        name = SPLIT_ALIASES.get(split.lower(), split)
        if name not in self.splits:
            have = ", ".join(self.splits) or "none"
            raise DataError(f"split {split!r} is not in this corpus (splits: {have})", self.source)
        return self.splits[name]


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


class _Errors:
    """The on_error policy: raise at the first bad record, or count it per file and go on."""

    def __init__(self, policy: str) -> None:
        if policy not in ("raise", "skip"):
            raise DataError(f"on_error must be 'raise' or 'skip', got {policy!r}")
        self.skip = policy == "skip"
        self.counts: dict[str, int] = {}
        self.first: dict[str, str] = {}

    def bad(self, path: str | Path, line: int, message: str) -> None:
        if not self.skip:
            raise DataError(message, path, line)
        key = str(path)
        self.counts[key] = self.counts.get(key, 0) + 1
        self.first.setdefault(key, f"line {line}: {message}")

    def problems(self) -> list[str]:
        return [
            f"{path}: skipped {n} bad record(s); the first at {self.first[path]}"
            for path, n in self.counts.items()
        ]


@dataclass
class _Reading:
    """What the readers collect before the corpus-wide steps (schemes, limits, IOB2, dedup) run."""

    lang: str | None
    errors: _Errors
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
    one of :data:`multinerd.schemes.SCHEMES`. ``tokens_column``, ``tags_column`` and
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
    reading = _Reading(lang=lang, errors=_Errors(on_error), hub=hub, multinerd=uses_multinerd_tags(source))
    kind, sep, argument = source.partition(":")
    if kind == "hub":
        _read_dataset(load_hub(argument if sep else DEFAULT_HUB_DATASET, lang), reading)
    elif kind == "disk" and sep and argument:
        _read_dataset(load_disk(Path(argument).expanduser()), reading)
    elif kind == "conll" and sep and argument and Path(argument).expanduser().is_file():
        _read_columns(Path(argument).expanduser(), "test", None, reading, _conll_line)
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
    schemes = _normalise_schemes(reading, tag_scheme)
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
    if max_sentences is not None:
        corpus.splits = {name: sentences[:max_sentences] for name, sentences in corpus.splits.items()}
    _check_iob2(corpus, repair_iob2)
    if dedup_train:
        _dedup_train(corpus)
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
            tags = _record_tags(record.get("tokens"), record.get("ner_tags"), _ID2TAG)
        except RecordError as err:
            reading.errors.bad(path, number, str(err))
        else:
            reading.add(split, record["tokens"], tags, record_lang, f"{path}:{number}")


def _record_tags(
    tokens: Any, ids: Any, id2tag: dict[int, str] | None, columns: tuple[str, str] = ("tokens", "ner_tags")
) -> tuple[str, ...]:
    """The tags of one record of words and tag ids (or tag strings, with ``id2tag`` None), checked.

    Raises :class:`RecordError` saying what is wrong: not lists, no words, lengths that
    differ, a word that is no word, an id outside the table, a tag no scheme writes.
    """
    if type(tokens) is not list or type(ids) is not list:
        raise RecordError(
            f"expected lists under {columns[0]!r} and {columns[1]!r}, "
            f"found {type(tokens).__name__} and {type(ids).__name__}"
        )
    if not tokens:
        raise RecordError("empty sentence (no tokens)")
    if len(tokens) != len(ids):
        raise RecordError(f"{len(tokens)} tokens but {len(ids)} tags")
    if {*map(type, tokens)} != {str}:
        position, token = next((i, t) for i, t in enumerate(tokens, 1) if type(t) is not str)
        raise RecordError(f"token {position} is {token!r}, not a string")
    # Nearly every token is printable and not blank: only the others need a closer look.
    if "" in tokens or not all(map(str.isprintable, tokens)) or any(map(str.isspace, tokens)):
        for position, token in enumerate(tokens, 1):
            problem = _token_problem(token)
            if problem:
                raise RecordError(f"token {position} is {problem}")
    if id2tag is None:
        return _string_tags(ids)
    if {*map(type, ids)} == {int}:
        try:
            return tuple(map(id2tag.__getitem__, ids))
        except KeyError:
            pass
    position, tag_id = next((i, t) for i, t in enumerate(ids, 1) if type(t) is not int or t not in id2tag)
    raise RecordError(f"tag {position} is {tag_id!r}; expected an integer id 0-{len(id2tag) - 1}")


def _string_tags(tags: list[Any]) -> tuple[str, ...]:
    for position, tag in enumerate(tags, 1):
        if type(tag) is not str:
            raise RecordError(f"tag {position} is {tag!r}; expected a tag name such as B-PER")
        _scheme_tag(tag)
    return tuple(tags)


def _scheme_tag(tag: str) -> None:
    try:
        parse_tag(tag)
    except TagError as err:
        raise RecordError(str(err)) from None


def _token_problem(token: str) -> str | None:
    """Why a token cannot be a word, or None: empty or whitespace, invisible, or not valid Unicode.

    A word needs one character that is not a control, format or space character; combining
    marks, emoji and right-to-left letters are words. A lone surrogate (only JSON escapes can
    make one) cannot be encoded as UTF-8, so no tokenizer or report could handle it.
    """
    if token and token.isprintable() and not token.isspace():
        return None
    if not token.strip():
        return f"empty or whitespace ({token!r})"
    surrogate = next((char for char in token if "\ud800" <= char <= "\udfff"), None)
    if surrogate is not None:
        return f"not valid Unicode: a lone surrogate U+{ord(surrogate):04X} ({token!r})"
    if all(unicodedata.category(char) in _INVISIBLE_CATEGORIES for char in token):
        return f"invisible ({token!r}): only control, format or space characters, as empty as whitespace"
    return None


def _check_token(token: str) -> None:
    problem = _token_problem(token)
    if problem is not None:
        raise RecordError(f"token is {problem}")


def _read_tsv_dir(directory: Path, reading: _Reading) -> None:
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
            _read_columns(path, split, file_lang, reading, _tsv_line)


def _tsv_line(line: str) -> tuple[str, str]:
    parts = line.split("\t")
    if len(parts) < 3:
        raise RecordError(f"expected index<TAB>token<TAB>tag, found {len(parts)} column(s): {line!r}")
    token, tag = parts[1], parts[2].strip()
    if tag not in _MULTINERD_TAG_SET:
        raise RecordError(
            f"unknown tag {tag!r}; expected O, B-TYPE or I-TYPE, TYPE one of {', '.join(MULTINERD_TYPES)}"
        )
    _check_token(token)
    return token, tag


def _conll_line(line: str) -> tuple[str, str]:
    parts = conll_columns(line)
    if len(parts) < 2:
        raise RecordError(f"expected a token and a tag separated by tabs or spaces, found {line!r}")
    token, tag = parts[0], parts[-1]
    _scheme_tag(tag)
    _check_token(token)
    return token, tag


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
            _read_columns(seen[split], split, None, reading, _conll_line)


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
                tags = _record_tags(tokens, ids, id2tag, (words_column, tags_column))
            except RecordError as err:
                reading.errors.bad(f"{where}/{split_name}", i + 1, str(err))
            else:
                reading.add(split, tokens, tags, langs[i], f"{where}/{split_name}:{i + 1}")


# ---------------------------------------------------------------- corpus-wide steps


def _normalise_schemes(reading: _Reading, forced: str) -> dict[str, dict[str, Any]]:
    """Rewrite every split in IOB2, detecting its scheme unless ``forced``; count the tags changed.

    A sentence that no reading of its split's scheme explains is a bad record (file and line
    of the sentence, the word named), stopping the load or skipped under ``on_error="skip"``.
    """
    found: dict[str, dict[str, Any]] = {}
    for split, sentences in reading.splits.items():
        try:
            scheme = _scheme_of(sentences, forced, reading.multinerd)
        except SchemeError as err:
            path, line = _where(sentences[err.position].origin)
            raise DataError(f"{split}: {err}", path, line) from None
        found[split] = {"scheme": scheme, "converted": 0}
        if scheme == "iob2":
            continue  # already IOB2: its faults are _check_iob2's
        converted, kept = 0, []
        for sentence in sentences:
            try:
                tags = tuple(to_iob2(sentence.tags, scheme))
            except SchemeError as err:
                path, line = _where(sentence.origin)
                message = f"word {err.position + 1}: {err} (split read as {scheme.upper()})"
                reading.errors.bad(path, line, message)
                continue
            if tags != sentence.tags:
                converted += sum(a != b for a, b in zip(tags, sentence.tags))
                sentence = dataclasses.replace(sentence, tags=tags)
            kept.append(sentence)
        reading.splits[split] = kept
        found[split]["converted"] = converted
        if converted:
            reading.notes.append(f"{split}: tags written in {scheme.upper()}, {converted} converted to IOB2")
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


def _check_iob2(corpus: Corpus, repair: bool) -> None:
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


def _dedup_train(corpus: Corpus) -> None:
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


# ---------------------------------------------------------------- fingerprint


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


def load_configured(data: DataConfig) -> Corpus:
    """The corpus a config's ``data`` section names, read with its options (every command reads data so)."""
    return load_corpus(data.source, **data.loader_options())
