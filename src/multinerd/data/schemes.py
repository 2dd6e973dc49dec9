"""Tag schemes in: IOB1, IOB2, IOBES (BIOES) and BILOU, detected per split and rewritten as IOB2.

The rest of the pipeline speaks IOB2 only. Readers hand over tags as written; this module
decides which scheme a split is in (or takes the one ``data.tag_scheme`` forces) and rewrites
every sentence so that the entities an IOB2 reader sees are exactly the entities a reader of
the original scheme sees. A tag is split at its first ``-`` only (``B-geo-loc`` is type
``geo-loc``), as everywhere else.

>>> to_iob2(["S-PER", "O", "B-geo-loc", "E-geo-loc"], "iobes")
['B-PER', 'O', 'B-geo-loc', 'I-geo-loc']
>>> detect([("I-PER", "I-PER", "B-PER")])
'iob1'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from multinerd.labels import OUTSIDE, TagError, check_type_name, repair_iob2

#: The schemes read; ``auto`` in the settings means "detect per split".
SCHEMES: tuple[str, ...] = ("iob1", "iob2", "iobes", "bilou")
_PREFIXES: dict[str, str] = {"iob1": "BI", "iob2": "BI", "iobes": "BIES", "bilou": "BILU"}
#: IOBES and BILOU name the same two ideas differently: the last tag of an entity, a one-tag entity.
_LAST_AND_SINGLE: dict[str, tuple[str, str]] = {"iobes": ("E", "S"), "bilou": ("L", "U")}


class SchemeError(ValueError):
    """Tags that no reading of the scheme explains; ``position`` is the word (from 0) where it shows."""

    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(message)
        self.position = position


def parse_tag(tag: str) -> tuple[str, str | None]:
    """Prefix and type of a tag in any scheme read here: ``"L-geo-loc" -> ("L", "geo-loc")``."""
    if tag == OUTSIDE:
        return OUTSIDE, None
    prefix, sep, entity_type = tag.partition("-")
    if not sep or len(prefix) != 1 or prefix not in "BIESLU":
        raise TagError(
            f"unknown tag {tag!r}; expected O or P-TYPE with P one of B, I, E, S (IOBES), L, U (BILOU)"
        )
    check_type_name(entity_type)
    return prefix, entity_type


def detect(sentences: Iterable[Sequence[str]]) -> str:
    """The scheme a split's tags are written in.

    ``E-``/``S-`` mean IOBES and ``L-``/``U-`` BILOU (both at once is an error). With only
    ``B-`` and ``I-``: IOB1 when entities start with ``I-`` and ``B-`` appears only where it
    must (right after an entity of its own type), IOB2 otherwise. Data with no entity
    starting with ``I-`` reads the same in both, and is called IOB2.
    """
    sentences = list(sentences)
    prefixes = {tag[0] for sentence in sentences for tag in set(sentence)}
    marks = {scheme for scheme, pair in _LAST_AND_SINGLE.items() if prefixes & set(pair)}
    if len(marks) == 2:
        position = next(i for i, s in enumerate(sentences) if {t[0] for t in s} & {"L", "U"})
        raise SchemeError(
            f"tags of both IOBES (E-, S-) and BILOU (L-, U-); sentence {position + 1} is the first with L-/U-",
            position,
        )
    if marks:
        return marks.pop()
    starts_with_i = starts_with_b = False
    for sentence in sentences:
        previous: str | None = None
        for tag in sentence:
            prefix, entity_type = tag[0], tag[2:]
            if entity_type != previous and prefix in "BI" and tag != OUTSIDE:
                starts_with_i |= prefix == "I"
                starts_with_b |= prefix == "B"
            previous = None if tag == OUTSIDE else entity_type
    return "iob1" if starts_with_i and not starts_with_b else "iob2"


def to_iob2(tags: Sequence[str], scheme: str) -> list[str]:
    """``tags`` written in ``scheme`` rewritten as IOB2, with the same entities.

    IOB2 comes back as it is (its faults are :func:`multinerd.labels.repair_iob2`'s job);
    IOB1's entity-starting ``I-X`` becomes ``B-X``; IOBES/BILOU's last and one-tag prefixes
    become ``I-`` and ``B-``, after checking that every entity is well formed.
    """
    if scheme not in SCHEMES:
        raise SchemeError(f"unknown tag scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    allowed = _PREFIXES[scheme]
    for position, tag in enumerate(tags):
        prefix = parse_tag(tag)[0]
        if prefix != OUTSIDE and prefix not in allowed:
            raise SchemeError(
                f"tag {tag!r} is not {scheme.upper()} (prefixes {', '.join(allowed)})", position
            )
    if scheme == "iob2":
        return list(tags)
    if scheme == "iob1":
        return repair_iob2(tags)[0]
    return _from_last_and_single(tags, *_LAST_AND_SINGLE[scheme], scheme)


def _from_last_and_single(tags: Sequence[str], last: str, single: str, scheme: str) -> list[str]:
    """IOBES-style tags as IOB2: B/I stay, the last tag becomes I, a one-tag entity B; shape checked."""
    iob2: list[str] = []
    open_type: str | None = None  # the type of an entity begun and not yet ended
    for position, tag in enumerate(tags):
        prefix, entity_type = parse_tag(tag)
        continues = prefix in ("I", last)
        if continues != (open_type is not None) or (continues and entity_type != open_type):
            expected = f"I-{open_type} or {last}-{open_type}" if open_type else f"O, B-, {single}-"
            raise SchemeError(f"{scheme.upper()} tag {tag!r} where {expected} must come", position)
        open_type = entity_type if prefix in ("B", "I") else None
        iob2.append(
            OUTSIDE if prefix == OUTSIDE else f"{'B' if prefix in ('B', single) else 'I'}-{entity_type}"
        )
    if open_type is not None:
        raise SchemeError(
            f"{scheme.upper()} entity of type {open_type!r} not closed by {last}-{open_type} at the sentence end",
            len(tags) - 1,
        )
    return iob2
