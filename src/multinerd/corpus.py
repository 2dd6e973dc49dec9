"""Data sources: one string names where sentences come from, one :class:`Corpus` comes back.

Sources: ``hub`` / ``hub:OWNER/NAME`` (``datasets.load_dataset``), ``jsonl:DIR`` (the hub's
file layout on disk), ``tsv:DIR`` (the GitHub layout), ``conll:DIR`` (``train.txt`` ...)
and ``sample`` (the bundled synthetic sample). Whatever the source, the corpus holds
IOB2 string tags, split names ``train`` / ``validation`` / ``test``, and only the language
asked for: other languages are counted (so the audit can show them) and never kept.

Every bad record stops loading with a :class:`DataError` naming the file and line, or,
with ``on_error="skip"``, is skipped, counted per file and listed in ``Corpus.problems``.
Anything changed on the way (repaired IOB2 tags, dropped duplicates) is counted there too.
"""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from multinerd.labels import MULTINERD_TAGS, MULTINERD_TYPES, TagError, repair_iob2, split_tag

SPLITS: tuple[str, ...] = ("train", "validation", "test")
#: Split names found in the wild and the name the corpus uses for each.
SPLIT_ALIASES: dict[str, str] = {
    "train": "train", "training": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "test": "test",
}  # fmt: skip
DEFAULT_HUB_DATASET = "Babelscape/multinerd"
#: Language code for records whose source says nothing about their language (ISO 639-2 "undetermined").
UNKNOWN_LANG = "und"
SAMPLE_DIR = Path(__file__).parent / "data" / "sample"

_ID2TAG: dict[int, str] = dict(enumerate(MULTINERD_TAGS))
_MULTINERD_TAG_SET = frozenset(MULTINERD_TAGS)
#: Unicode categories with nothing to see: a token made only of these (a zero-width space, a
#: right-to-left mark, a NUL, a no-break space) is as empty as whitespace, and tokenizers drop it.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
_SPLIT_FILE = re.compile(r"^(?P<split>[A-Za-z]+)(?:[_.-](?P<lang>[A-Za-z]{2,3}))?$")
_LOCAL_HELP = (
    "without network access, download the files and use a local source: jsonl:DIR for the hub's layout "
    "(DIR/train/train_en.jsonl, DIR/val/val_en.jsonl, DIR/test/test_en.jsonl) or tsv:DIR for the GitHub "
    "layout (DIR/en/train_en.tsv, dev_en.tsv, test_en.tsv)"
)


class DataError(ValueError):
    """Input that cannot be read as sentences; ``str(err)`` is one line, ``path:line: what is wrong``."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None) -> None:
        self.message = " ".join(message.split())
        self.path = None if path is None else str(path)
        self.line = line
        where = "" if path is None else f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + self.message)


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
    #: Tags use MultiNERD's tag set (hub, jsonl, tsv and sample sources), so schemes A and B apply.
    is_multinerd: bool
    #: Human-readable lines: skipped records, repaired tags, dropped duplicates, unlabelled languages.
    problems: list[str] = field(default_factory=list)
    #: The language kept (``None``: all).
    lang: str | None = "en"
    #: Records per language in each split as found in the source, before the language filter.
    lang_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Bad records skipped under ``on_error="skip"``, per file.
    skipped: dict[str, int] = field(default_factory=dict)
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
    """What the readers collect before the corpus-wide steps (limits, IOB2, dedup) run."""

    lang: str | None
    errors: _Errors
    splits: dict[str, list[Sentence]] = field(default_factory=dict)
    lang_counts: dict[str, Counter[str]] = field(default_factory=dict)
    unlabelled: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
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
) -> Corpus:
    """Read ``source`` into a :class:`Corpus` of IOB2 string tags, one language, normalised split names.

    >>> corpus = load_corpus("sample")
    >>> sorted(corpus.splits)
    ['test', 'train', 'validation']

    ``max_sentences`` keeps the first N sentences of each split (after the language filter);
    ``dedup_train`` drops exact duplicate training sentences and training sentences whose
    words also occur in the test split.
    """
    if max_sentences is not None and max_sentences < 1:
        raise DataError(f"max_sentences must be at least 1 or None, got {max_sentences}")
    reading = _Reading(lang=lang, errors=_Errors(on_error))
    kind, sep, argument = source.partition(":")
    if kind == "hub":
        _read_hub(argument if sep else DEFAULT_HUB_DATASET, reading)
    elif kind in _DIRECTORY_READERS and sep and argument:
        directory = Path(argument).expanduser()
        if not directory.is_dir():
            raise DataError(f"directory not found: {directory}", source)
        _DIRECTORY_READERS[kind](directory, reading)
    elif source == "sample":
        _read_jsonl_dir(SAMPLE_DIR, reading)
    else:
        raise DataError(
            f"unknown data source {source!r}; "
            "expected hub, hub:OWNER/NAME, jsonl:DIR, tsv:DIR, conll:DIR or sample"
        )
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
        is_multinerd=kind != "conll",
        problems=reading.errors.problems() + reading.notes,
        lang=lang,
        lang_counts={split: dict(counts.most_common()) for split, counts in reading.lang_counts.items()},
        skipped=dict(reading.errors.counts),
    )
    if lang is not None and kind != "conll":
        for split, n in reading.unlabelled.items():
            corpus.problems.append(f"{split}: {n} sentence(s) carry no language in record or file name; kept")
    if max_sentences is not None:
        corpus.splits = {name: sentences[:max_sentences] for name, sentences in corpus.splits.items()}
    _check_iob2(corpus, repair_iob2)
    if dedup_train:
        _dedup_train(corpus)
    return corpus


# ---------------------------------------------------------------- file reading


def _read_lines(path: Path) -> tuple[list[str], dict[int, str]]:
    """The file's lines without line ends (BOM and CRLF accepted) and, per line that is not UTF-8, why.

    The readers report an undecodable line as the record that holds it, in file order, so a
    sentence of several such lines is one skipped record, not several.
    """
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _decode_by_line(data)
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    return text.split("\n"), {}


def _decode_by_line(data: bytes) -> tuple[list[str], dict[int, str]]:
    lines: list[str] = []
    bad: dict[int, str] = {}
    for number, raw in enumerate(data.split(b"\n"), 1):
        try:
            lines.append(raw.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as err:
            bad[number] = f"bytes that are not UTF-8 (0x{raw[err.start]:02x} at column {err.start + 1})"
            lines.append(raw.decode("utf-8", errors="replace"))
    return lines, bad


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
    loads = json.loads
    for number, line in enumerate(lines, 1):
        if bad and number in bad:
            reading.errors.bad(path, number, bad[number])
            continue
        if not line or line.isspace():
            continue
        try:
            record = loads(line)
        except ValueError as err:
            reading.errors.bad(path, number, f"malformed JSON: {err}")
            continue
        if type(record) is not dict:
            reading.errors.bad(path, number, f"expected a JSON object, found {type(record).__name__}")
            continue
        record_lang = record.get("lang", file_lang)
        if record_lang is not None and type(record_lang) is not str:
            reading.errors.bad(path, number, f"'lang' is {record_lang!r}, not a language code")
            continue
        if not reading.keeps(split, record_lang):
            continue
        checked = _check_record(record.get("tokens"), record.get("ner_tags"))
        if type(checked) is str:
            reading.errors.bad(path, number, checked)
        else:
            reading.add(split, record["tokens"], checked, record_lang, f"{path}:{number}")


def _check_record(tokens: Any, ids: Any) -> tuple[str, ...] | str:
    """The IOB2 tags of a MultiNERD record, or a message saying what is wrong with it."""
    if type(tokens) is not list or type(ids) is not list:
        return (
            "expected lists under 'tokens' and 'ner_tags', "
            f"found {type(tokens).__name__} and {type(ids).__name__}"
        )
    if not tokens:
        return "empty sentence (no tokens)"
    if len(tokens) != len(ids):
        return f"{len(tokens)} tokens but {len(ids)} tags"
    if {*map(type, tokens)} != {str}:
        position, token = next((i, t) for i, t in enumerate(tokens, 1) if type(t) is not str)
        return f"token {position} is {token!r}, not a string"
    # Nearly every token is printable and not blank: only the others need a closer look.
    if "" in tokens or not all(map(str.isprintable, tokens)) or any(map(str.isspace, tokens)):
        for position, token in enumerate(tokens, 1):
            problem = _token_problem(token)
            if problem:
                return f"token {position} is {problem}"
    if {*map(type, ids)} == {int}:
        try:
            return tuple(map(_ID2TAG.__getitem__, ids))
        except KeyError:
            pass
    position, tag_id = next((i, t) for i, t in enumerate(ids, 1) if type(t) is not int or t not in _ID2TAG)
    return f"tag {position} is {tag_id!r}; expected an integer id 0-{len(MULTINERD_TAGS) - 1}"


def _blocks(lines: list[str]) -> Iterator[tuple[int, list[tuple[int, str]]]]:
    """Sentences of a one-token-a-line file: (first line, [(line number, text)])."""
    block: list[tuple[int, str]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("-DOCSTART-"):
            if block:
                yield block[0][0], block
            block = []
            continue
        block.append((number, line))
    if block:
        yield block[0][0], block


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


def _check_token(token: str) -> str | None:
    problem = _token_problem(token)
    return None if problem is None else f"token is {problem}"


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


def _tsv_line(line: str) -> tuple[str, str] | str:
    parts = line.split("\t")
    if len(parts) < 3:
        return f"expected index<TAB>token<TAB>tag, found {len(parts)} column(s): {line!r}"
    token, tag = parts[1], parts[2].strip()
    if tag not in _MULTINERD_TAG_SET:
        return f"unknown tag {tag!r}; expected O, B-TYPE or I-TYPE, TYPE one of {', '.join(MULTINERD_TYPES)}"
    return _check_token(token) or (token, tag)


def _conll_line(line: str) -> tuple[str, str] | str:
    parts = [part.strip() for part in line.split("\t")] if "\t" in line else line.split()
    if len(parts) < 2:
        return f"expected a token and a tag separated by tabs or spaces, found {line!r}"
    token, tag = parts[0], parts[-1]
    try:
        split_tag(tag)
    except TagError:
        return f"unknown tag {tag!r}; expected IOB2: O, B-TYPE or I-TYPE"
    return _check_token(token) or (token, tag)


def _read_columns(
    path: Path,
    split: str,
    file_lang: str | None,
    reading: _Reading,
    parse: Callable[[str], tuple[str, str] | str],
) -> None:
    """Read a file of one token a line, a blank line between sentences; a bad line rejects its sentence."""
    lines, bad = _read_lines(path)
    for start, block in _blocks(lines):
        if not reading.keeps(split, file_lang):
            continue
        words, tags = [], []
        for number, line in block:
            parsed = bad[number] if bad and number in bad else parse(line)
            if type(parsed) is str:
                reading.errors.bad(path, number, parsed)
                break
            words.append(parsed[0])
            tags.append(parsed[1])
        else:
            reading.add(split, words, tuple(tags), file_lang, f"{path}:{start}")


def _read_conll_dir(directory: Path, reading: _Reading) -> None:
    seen: dict[str, Path] = {}
    for path in sorted([*directory.glob("*.txt"), *directory.glob("*.conll")]):
        split = SPLIT_ALIASES.get(path.stem.lower())
        if split is None:
            continue
        if split in seen:
            raise DataError(f"two files for the {split} split: {seen[split].name} and {path.name}", directory)
        seen[split] = path
    if not seen:
        raise DataError("no split files; expected train.txt, dev.txt and test.txt", directory)
    for split, path in seen.items():
        _read_columns(path, split, None, reading, _conll_line)
    if reading.lang is not None:
        reading.notes.append(f"conll files carry no language, so lang={reading.lang!r} filters nothing")


_DIRECTORY_READERS: dict[str, Callable[[Path, _Reading], None]] = {
    "jsonl": _read_jsonl_dir,
    "tsv": _read_tsv_dir,
    "conll": _read_conll_dir,
}


def _read_hub(name: str, reading: _Reading) -> None:
    """Load ``name`` with ``datasets.load_dataset`` and check every kept row like a jsonl record."""
    where = f"hub:{name}"
    try:
        import datasets
    except ImportError:
        raise DataError(f"the 'datasets' package is needed for hub sources; {_LOCAL_HELP}", where) from None
    try:
        dataset = datasets.load_dataset(name)
    # Network, authentication and offline-mode failures arrive as many unrelated exception classes.
    except Exception as err:  # noqa: BLE001
        detail = " ".join(str(err).split())[:200]
        raise DataError(
            f"could not load the dataset from the Hugging Face hub ({type(err).__name__}: {detail}); "
            + _LOCAL_HELP,
            where,
        ) from err
    for split_name, rows in dataset.items():
        split = SPLIT_ALIASES.get(split_name.lower())
        if split is None:
            reading.notes.append(f"{where}: ignored split {split_name!r} (not train, validation or test)")
            continue
        missing = {"tokens", "ner_tags"} - set(rows.column_names)
        if missing:
            message = f"split {split_name!r} lacks column(s) {sorted(missing)}; has {rows.column_names}"
            raise DataError(message, where)
        langs = rows["lang"] if "lang" in rows.column_names else [None] * len(rows)
        kept = [i for i, lang in enumerate(langs) if reading.keeps(split, lang)]
        chosen = rows.select(kept)
        for i, tokens, ids in zip(kept, chosen["tokens"], chosen["ner_tags"]):
            checked = _check_record(tokens, ids)
            if type(checked) is str:
                reading.errors.bad(f"{where}/{split_name}", i + 1, checked)
            else:
                reading.add(split, tokens, checked, langs[i], f"{where}/{split_name}:{i + 1}")


# ---------------------------------------------------------------- corpus-wide steps


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


# ---------------------------------------------------------------- fingerprint and audit


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


def _entity_counts(sentences: list[Sentence], is_multinerd: bool) -> dict[str, int]:
    """Strict IOB2 entities per type: every B-X starts exactly one entity and an I-X starts none
    (labels.entity_spans), so counting B- tags counts the spans without walking them."""
    tags: Counter[str] = Counter()
    for sentence in sentences:
        tags.update(sentence.tags)
    found = {tag[2:]: n for tag, n in tags.items() if tag.startswith("B-")}
    order = list(MULTINERD_TYPES) if is_multinerd else [t for t in MULTINERD_TYPES if t in found]
    order += sorted(set(found) - set(order))
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
            "entities": _entity_counts(sentences, corpus.is_multinerd),
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
