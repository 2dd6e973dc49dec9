"""What a read corpus holds: :class:`Sentence`, :class:`Corpus` and the split names.

Kept apart from the readers (:mod:`multinerd.data.corpus`) and the corpus-wide steps
(:mod:`multinerd.data.corpus_steps`) so that both can name these types without importing each
other; :mod:`multinerd.data.corpus` re-exports everything here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from multinerd.data.readers import DataError

SPLITS: tuple[str, ...] = ("train", "validation", "test")
#: Split names found in the wild and the name the corpus uses for each.
SPLIT_ALIASES: dict[str, str] = {
    "train": "train", "training": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "test": "test",
}  # fmt: skip


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
