"""Tag schemes in: exact conversion to IOB2, checked against seqeval's strict reading of each scheme."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from seqeval.scheme import BILOU, IOB1, IOB2, IOBES, Entities

from multinerd.data.schemes import SchemeError, detect, parse_tag, to_iob2
from multinerd.labels import TagError, entity_spans

# WNUT-, Few-NERD- and OntoNotes-style names, written here.
TYPES = ["geo-loc", "person-athlete", "WORK_OF_ART", "PER"]
ORACLE = {"iob1": IOB1, "iob2": IOB2, "iobes": IOBES, "bilou": BILOU}


def write(spans: list[tuple[str, int, int]], length: int, scheme: str) -> list[str]:
    """The test's own writer: entity spans (sorted, disjoint) as tags of ``scheme``."""
    tags = ["O"] * length
    last, single = {"iobes": ("E", "S"), "bilou": ("L", "U")}.get(scheme, ("I", "B"))
    previous_end, previous_type = -1, None
    for entity_type, start, end in spans:
        for i in range(start, end):
            tags[i] = f"I-{entity_type}"
        if scheme == "iob1":
            touching = previous_end == start and previous_type == entity_type
            tags[start] = f"{'B' if touching else 'I'}-{entity_type}"
        else:
            tags[start] = f"B-{entity_type}"
            if scheme in ("iobes", "bilou"):
                tags[end - 1] = f"{last}-{entity_type}" if end - start > 1 else f"{single}-{entity_type}"
        previous_end, previous_type = end, entity_type
    return tags


@st.composite
def sentences(draw: st.DrawFn) -> tuple[list[tuple[str, int, int]], int]:
    """Random disjoint spans over a sentence, adjacent same-type entities included."""
    spans, position = [], 0
    for _ in range(draw(st.integers(0, 6))):
        position += draw(st.integers(0, 2))
        length = draw(st.integers(1, 4))
        spans.append((draw(st.sampled_from(TYPES)), position, position + length))
        position += length
    return spans, position + draw(st.integers(0, 2))


@pytest.mark.parametrize("scheme", ["iob1", "iob2", "iobes", "bilou"])
@given(sentence=sentences())
def test_conversion_keeps_the_spans_a_reader_of_the_original_scheme_sees(scheme, sentence):
    spans, length = sentence
    tags = write(spans, length, scheme)
    original = [(e.tag, e.start, e.end) for e in Entities([tags], ORACLE[scheme], suffix=False).entities[0]]
    assert original == spans
    assert entity_spans(to_iob2(tags, scheme)) == spans


@pytest.mark.parametrize("scheme", ["iob1", "iob2", "iobes", "bilou"])
@given(sentence=sentences())
def test_iob2_written_in_any_scheme_comes_back_identical(scheme, sentence):
    spans, length = sentence
    iob2 = write(spans, length, "iob2")
    assert to_iob2(write(entity_spans(iob2), length, scheme), scheme) == iob2


@pytest.mark.parametrize("scheme", ["iob1", "iobes", "bilou"])
def test_detect_names_the_scheme_a_split_is_written_in(scheme):
    spans = [("geo-loc", 0, 2), ("geo-loc", 2, 3), ("PER", 4, 5)]
    split = [write(spans, 6, scheme), ["O", "O"]]
    assert detect(split) == scheme
    assert detect([write(spans, 6, "iob2")]) == "iob2"


def test_iob2_with_a_fault_is_still_iob2_and_no_entities_is_iob2():
    assert detect([["B-PER", "O"], ["O", "I-PER"]]) == "iob2"
    assert detect([["O"], ["O", "O"]]) == "iob2"


def test_iobes_and_bilou_marks_in_one_split_are_an_error():
    with pytest.raises(SchemeError, match="both IOBES") as err:
        detect([["S-PER"], ["O"], ["U-LOC"]])
    assert err.value.position == 2


@pytest.mark.parametrize(
    ("tags", "scheme", "position"),
    [
        (["B-PER", "O"], "iobes", 1),  # an IOB2 entity inside IOBES data: B- never closed
        (["O", "I-PER", "E-PER"], "iobes", 1),
        (["B-PER", "E-LOC"], "iobes", 1),
        (["B-PER", "B-PER", "E-PER"], "iobes", 1),
        (["O", "L-PER"], "bilou", 1),
        (["B-PER", "I-PER"], "bilou", 1),
        (["S-PER"], "bilou", 0),
        (["U-PER"], "iob2", 0),
    ],
)
def test_tags_no_reading_explains_are_errors_with_their_position(tags, scheme, position):
    with pytest.raises(SchemeError) as err:
        to_iob2(tags, scheme)
    assert err.value.position == position


@pytest.mark.parametrize("tag", ["X-PER", "B-", "BB-PER", "PER", "b-PER", "B-geo loc"])
def test_parse_tag_refuses_what_no_scheme_writes(tag):
    with pytest.raises(TagError):
        parse_tag(tag)


def test_parse_tag_splits_at_the_first_hyphen():
    assert parse_tag("L-person-athlete") == ("L", "person-athlete")
    assert parse_tag("O") == ("O", None)
