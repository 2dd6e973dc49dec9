"""Label sets: MultiNERD's fixed tag ids, systems A and B, any subset of types, IOB2 checks.

Tags travel through the pipeline as IOB2 strings (``"B-PER"``); a :class:`TagScheme`
turns them into the compact integer ids a model head is trained on. Keeping strings
until the last moment is what makes the A/B mapping and the ANIM/DIS-style id mix-ups
of public attempts impossible to get silently wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

OUTSIDE = "O"

#: MultiNERD's 15 types in the order that fixes their tag ids (B- at 2k+1, I- at 2k+2).
MULTINERD_TYPES: tuple[str, ...] = (
    "PER", "ORG", "LOC", "ANIM", "BIO", "CEL", "DIS", "EVE",
    "FOOD", "INST", "MEDIA", "MYTH", "PLANT", "TIME", "VEHI",
)  # fmt: skip

#: The five types system B keeps; every other entity becomes O.
SCHEME_B_TYPES: tuple[str, ...] = ("PER", "ORG", "LOC", "DIS", "ANIM")


class TagError(ValueError):
    """A tag that is not valid IOB2 or not known to the scheme in use."""


def tags_for_types(types: Sequence[str]) -> list[str]:
    """``O`` followed by ``B-T, I-T`` for each type, in the given order."""
    tags = [OUTSIDE]
    for entity_type in types:
        tags += [f"B-{entity_type}", f"I-{entity_type}"]
    return tags


#: MultiNERD tag names indexed by the integer ids stored in its files.
MULTINERD_TAGS: tuple[str, ...] = tuple(tags_for_types(MULTINERD_TYPES))


def split_tag(tag: str) -> tuple[str, str | None]:
    """Split an IOB2 tag at its first ``-``: ``"B-geo-loc" -> ("B", "geo-loc")``, ``"O" -> ("O", None)``."""
    if tag == OUTSIDE:
        return OUTSIDE, None
    prefix, sep, entity_type = tag.partition("-")
    if not sep or prefix not in ("B", "I") or not entity_type or any(c.isspace() for c in entity_type):
        raise TagError(f"not an IOB2 tag: {tag!r} (expected 'O', 'B-TYPE' or 'I-TYPE')")
    return prefix, entity_type


def check_type_name(entity_type: str) -> None:
    """Refuse a type name no tag can carry: empty, or holding whitespace (columns split on it).

    Anything else is a type: ``PER``, ``geo-loc`` (WNUT), ``person-athlete`` (Few-NERD),
    ``WORK_OF_ART`` (OntoNotes). A tag is split at its first ``-`` only, so hyphens are safe.
    """
    if not entity_type or any(char.isspace() for char in entity_type):
        raise TagError(f"bad entity type name {entity_type!r}: expected a non-empty name without whitespace")


@dataclass(frozen=True)
class TagScheme:
    """An ordered set of entity types and the label ids a model head uses for them.

    >>> scheme = TagScheme.multinerd(SCHEME_B_TYPES)
    >>> scheme.labels[:3]
    ('O', 'B-PER', 'I-PER')
    >>> scheme.convert(["B-PER", "B-FOOD", "I-FOOD"])
    ['B-PER', 'O', 'O']
    """

    name: str
    types: tuple[str, ...]
    labels: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not self.types:
            raise TagError(f"scheme {self.name!r} has no entity types")
        if len(set(self.types)) != len(self.types):
            raise TagError(f"scheme {self.name!r} lists a type twice: {list(self.types)}")
        for entity_type in self.types:
            try:
                check_type_name(entity_type)
            except TagError as err:
                raise TagError(f"{err} (scheme {self.name!r})") from None
        object.__setattr__(self, "labels", tuple(tags_for_types(self.types)))

    @classmethod
    def multinerd(cls, types: Iterable[str] | None = None, name: str | None = None) -> TagScheme:
        """MultiNERD's scheme A (all 15 types) or any subset, kept in MultiNERD's order.

        Keeping the dataset's order means scheme A's ids equal the ids in the files,
        and a subset's ids are compact (B has 11 labels, not 31 with unused rows).
        """
        if types is None:
            return cls(name or "A", MULTINERD_TYPES)
        wanted = list(types)
        unknown = [t for t in wanted if t not in MULTINERD_TYPES]
        if unknown:
            raise TagError(f"unknown MultiNERD type(s) {unknown}; known: {', '.join(MULTINERD_TYPES)}")
        ordered = tuple(t for t in MULTINERD_TYPES if t in wanted)
        default_name = "A" if ordered == MULTINERD_TYPES else "B" if set(ordered) == set(SCHEME_B_TYPES) else "subset"
        return cls(name or default_name, ordered)

    @classmethod
    def from_tags(cls, tags: Iterable[str], name: str = "A") -> TagScheme:
        """A scheme holding every type seen in ``tags`` (for CoNLL data with its own tag set).

        MultiNERD types keep MultiNERD's order so that MultiNERD data read from string
        files gets the same ids as from the hub; other types follow, sorted.
        """
        seen = {entity_type for tag in tags if (entity_type := split_tag(tag)[1]) is not None}
        known = [t for t in MULTINERD_TYPES if t in seen]
        return cls(name, tuple(known + sorted(seen - set(known))))

    def subset(self, types: Iterable[str], name: str = "B") -> TagScheme:
        """A scheme with only ``types``, in this scheme's order; unknown types are an error."""
        wanted = list(types)
        unknown = [t for t in wanted if t not in self.types]
        if unknown:
            raise TagError(f"type(s) {unknown} not in scheme {self.name!r} ({', '.join(self.types)})")
        return TagScheme(name, tuple(t for t in self.types if t in wanted))

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    def convert(self, tags: Sequence[str]) -> list[str]:
        """Map tags into this scheme: entities of types it lacks become O (both B- and I-)."""
        kept = set(self.types)
        return [tag if split_tag(tag)[1] in kept else OUTSIDE for tag in tags]

    def encode(self, tags: Sequence[str]) -> list[int]:
        """Label ids of tags already in this scheme; a tag outside it is an error, never a silent O."""
        label2id = self.label2id
        try:
            return [label2id[tag] for tag in tags]
        except KeyError as err:
            raise TagError(f"tag {err.args[0]!r} is not in scheme {self.name!r}") from None

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.labels[i] for i in ids]

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "types": list(self.types), "labels": list(self.labels)}


def iob2_violations(tags: Sequence[str]) -> list[int]:
    """Positions of I-X tags that follow O, the sentence start, or a tag of another type."""
    bad = []
    previous_type: str | None = None
    for i, tag in enumerate(tags):
        prefix, entity_type = split_tag(tag)
        if prefix == "I" and entity_type != previous_type:
            bad.append(i)
        previous_type = entity_type
    return bad


def repair_iob2(tags: Sequence[str]) -> tuple[list[str], int]:
    """Turn each I-X that starts an entity into B-X; returns the tags and how many changed.

    This is the conlleval reading of such tags (an I- that cannot continue a span
    begins one), so repaired data means the same thing under strict and lenient scoring.
    """
    repaired = list(tags)
    bad = iob2_violations(tags)
    for i in bad:
        repaired[i] = "B-" + tags[i][2:]
    return repaired, len(bad)


#: The two readings of IOB2 tags as entities; see :func:`entity_spans`.
STRICT, LENIENT = "strict", "lenient"
SPAN_MODES: tuple[str, ...] = (STRICT, LENIENT)
#: The reading ``predict``, ``serve`` and the export parity check turn tags into entities with.
DECODING_MODE = LENIENT


def entity_spans(tags: Sequence[str], mode: str = STRICT) -> list[tuple[str, int, int]]:
    """The one decoder from IOB2 tags to entities ``(type, start, end)``, ``end`` exclusive.

    An entity starts at ``B-X`` and continues over ``I-X`` of the same type. The two
    modes differ only on an ``I-X`` that cannot continue (after ``O`` or another type):

    * ``"strict"`` (seqeval ``mode="strict", scheme=IOB2``): it belongs to no entity;
    * ``"lenient"`` (conlleval): it starts a new entity. This is :data:`DECODING_MODE`,
      the rule every prediction path uses, so nothing the model predicted is dropped.

    On valid IOB2 the two readings agree, and :func:`spans_to_tags` writes any list of
    spans back as valid IOB2, so a lenient prediction re-read strictly loses nothing.

    >>> entity_spans(["O", "I-PER", "I-LOC", "B-LOC", "I-LOC"])
    [('LOC', 3, 5)]
    >>> entity_spans(["O", "I-PER", "I-LOC", "B-LOC", "I-LOC"], "lenient")
    [('PER', 1, 2), ('LOC', 2, 3), ('LOC', 3, 5)]
    """
    if mode not in SPAN_MODES:
        raise TagError(f"unknown span mode {mode!r}; expected one of {', '.join(SPAN_MODES)}")
    spans: list[tuple[str, int, int]] = []
    current: tuple[str, int] | None = None
    for i, tag in enumerate(tags):
        prefix, entity_type = split_tag(tag)
        continues = current is not None and prefix == "I" and entity_type == current[0]
        if current is not None and not continues:
            spans.append((current[0], current[1], i))
            current = None
        starts = prefix == "B" or (prefix == "I" and mode == LENIENT)
        if entity_type is not None and not continues and starts:
            current = (entity_type, i)
    if current is not None:
        spans.append((current[0], current[1], len(tags)))
    return spans


def spans_to_tags(spans: Iterable[tuple[str, int, int]], length: int) -> list[str]:
    """Valid IOB2 tags for ``length`` words holding ``spans`` (the inverse of :func:`entity_spans`).

    >>> spans_to_tags([("LOC", 0, 1), ("ORG", 1, 2)], 3)
    ['B-LOC', 'B-ORG', 'O']
    """
    tags = [OUTSIDE] * length
    for entity_type, start, end in spans:
        if not 0 <= start < end <= length or any(tag != OUTSIDE for tag in tags[start:end]):
            raise TagError(f"span ({entity_type!r}, {start}, {end}) overlaps another or lies outside 0-{length}")
        tags[start:end] = [f"B-{entity_type}"] + [f"I-{entity_type}"] * (end - start - 1)
    return tags
