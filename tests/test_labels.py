import random

import pytest

from multinerd.labels import (
    DECODING_MODE,
    MULTINERD_TAGS,
    MULTINERD_TYPES,
    SCHEME_B_TYPES,
    TagError,
    TagScheme,
    check_type_name,
    entity_spans,
    iob2_violations,
    repair_iob2,
    spans_to_tags,
    split_tag,
)

# The dataset's own table (docs/MULTINERD.md), written out rather than derived, as an oracle.
EXPECTED_IDS = {
    0: "O", 1: "B-PER", 2: "I-PER", 3: "B-ORG", 4: "I-ORG", 5: "B-LOC", 6: "I-LOC", 7: "B-ANIM",
    8: "I-ANIM", 9: "B-BIO", 10: "I-BIO", 11: "B-CEL", 12: "I-CEL", 13: "B-DIS", 14: "I-DIS",
    15: "B-EVE", 16: "I-EVE", 17: "B-FOOD", 18: "I-FOOD", 19: "B-INST", 20: "I-INST", 21: "B-MEDIA",
    22: "I-MEDIA", 23: "B-MYTH", 24: "I-MYTH", 25: "B-PLANT", 26: "I-PLANT", 27: "B-TIME",
    28: "I-TIME", 29: "B-VEHI", 30: "I-VEHI",
}  # fmt: skip


def test_multinerd_ids_match_the_dataset_table():
    assert dict(enumerate(MULTINERD_TAGS)) == EXPECTED_IDS
    assert TagScheme.multinerd().id2label == EXPECTED_IDS


@pytest.mark.parametrize(
    "name",
    ["geo-loc", "creative-work", "person-athlete", "WORK_OF_ART", "per", "loc.city", "type2", "B-X"],
)
def test_any_name_without_whitespace_is_a_type(name):
    check_type_name(name)
    scheme = TagScheme("A", (name, "PER"))
    assert scheme.labels == ("O", f"B-{name}", f"I-{name}", "B-PER", "I-PER")
    assert split_tag(f"I-{name}") == ("I", name)
    assert scheme.encode(scheme.decode([1, 2, 0])) == [1, 2, 0]


@pytest.mark.parametrize("name", ["", "geo loc", "geo\tloc", " PER", "PER\u00a0"])
def test_type_names_with_whitespace_or_empty_are_errors(name):
    with pytest.raises(TagError, match="bad entity type name"):
        TagScheme("A", (name,))


def test_hyphenated_types_from_tags_split_at_the_first_hyphen():
    scheme = TagScheme.from_tags(["B-geo-loc", "I-geo-loc", "O", "B-person-athlete", "B-PER"])
    assert scheme.types == ("PER", "geo-loc", "person-athlete")
    assert scheme.convert(["B-geo-loc", "I-person-athlete"]) == ["B-geo-loc", "I-person-athlete"]
    assert scheme.subset(["geo-loc"]).convert(["B-geo-loc", "B-person-athlete"]) == ["B-geo-loc", "O"]


def test_scheme_b_is_compact_with_its_own_names():
    scheme = TagScheme.multinerd(SCHEME_B_TYPES)
    assert scheme.name == "B"
    assert len(scheme.labels) == 11
    assert scheme.labels == (
        "O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-ANIM", "I-ANIM", "B-DIS", "I-DIS",
    )  # fmt: skip
    assert scheme.label2id["B-DIS"] == 9


def test_scheme_a_has_31_labels():
    assert len(TagScheme.multinerd().labels) == 31
    assert TagScheme.multinerd().types == MULTINERD_TYPES


@pytest.mark.parametrize("tag", [t for t in MULTINERD_TAGS if t != "O"])
def test_b_keeps_exactly_its_five_types(tag):
    scheme = TagScheme.multinerd(SCHEME_B_TYPES)
    expected = tag if split_tag(tag)[1] in SCHEME_B_TYPES else "O"
    assert scheme.convert([tag]) == [expected]


def test_dropped_type_becomes_o_for_both_prefixes():
    scheme = TagScheme.multinerd(["PER", "LOC"])
    assert scheme.convert(["B-FOOD", "I-FOOD", "B-PER", "I-PER", "O", "I-LOC"]) == [
        "O", "O", "B-PER", "I-PER", "O", "I-LOC",
    ]  # fmt: skip
    assert scheme.name == "subset"
    assert scheme.labels == ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")


def test_subset_keeps_multinerd_order_whatever_the_order_asked():
    assert TagScheme.multinerd(["LOC", "PER"]).types == ("PER", "LOC")


def test_unknown_types_are_errors_that_name_them():
    with pytest.raises(TagError, match="FOO"):
        TagScheme.multinerd(["PER", "FOO"])
    with pytest.raises(TagError, match="XYZ"):
        TagScheme("A", ("PER",)).subset(["XYZ"])


def test_encode_refuses_tags_outside_the_scheme():
    scheme = TagScheme.multinerd(SCHEME_B_TYPES)
    assert scheme.encode(["O", "B-ANIM"]) == [0, 7]
    with pytest.raises(TagError, match="B-FOOD"):
        scheme.encode(["B-FOOD"])
    assert scheme.decode([0, 9, 10]) == ["O", "B-DIS", "I-DIS"]


def test_scheme_from_string_tags_keeps_multinerd_order_then_sorts_others():
    scheme = TagScheme.from_tags(["B-ZED", "O", "I-LOC", "B-PER", "B-ALPHA"])
    assert scheme.types == ("PER", "LOC", "ALPHA", "ZED")


@pytest.mark.parametrize("bad", ["X-PER", "B-", "PER", "b-PER", "", "B_PER", "B-geo loc"])
def test_split_tag_rejects_non_iob2(bad):
    with pytest.raises(TagError):
        split_tag(bad)


@pytest.mark.parametrize(
    ("tags", "violations", "repaired"),
    [
        (["I-PER", "I-PER"], [0], ["B-PER", "I-PER"]),
        (["O", "I-LOC"], [1], ["O", "B-LOC"]),
        (["B-PER", "I-LOC"], [1], ["B-PER", "B-LOC"]),
        (["B-PER", "I-PER", "O"], [], ["B-PER", "I-PER", "O"]),
        (["B-PER", "B-PER", "I-PER"], [], ["B-PER", "B-PER", "I-PER"]),
        (["I-PER", "O", "I-PER"], [0, 2], ["B-PER", "O", "B-PER"]),
    ],
)
def test_iob2_violations_and_repair(tags, violations, repaired):
    assert iob2_violations(tags) == violations
    assert repair_iob2(tags) == (repaired, len(violations))
    assert iob2_violations(repair_iob2(tags)[0]) == []


@pytest.mark.parametrize(
    ("tags", "spans"),
    [
        (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
        (["B-PER", "B-PER"], [("PER", 0, 1), ("PER", 1, 2)]),
        (["B-PER", "I-LOC"], [("PER", 0, 1)]),
        (["O", "I-PER", "I-PER"], []),
        ([], []),
    ],
)
def test_strict_entity_spans(tags, spans):
    assert entity_spans(tags) == spans


# --- the one decoder: strict and lenient readings, and writing spans back as IOB2 -------------------


def test_lenient_spans_read_like_conlleval():
    tags = ["I-PER", "I-PER", "B-PER", "I-ORG", "O", "I-ORG"]
    assert entity_spans(tags, "lenient") == [("PER", 0, 2), ("PER", 2, 3), ("ORG", 3, 4), ("ORG", 5, 6)]
    assert entity_spans(tags, "strict") == [("PER", 2, 3)]


def test_unknown_span_mode_is_an_error():
    with pytest.raises(TagError, match="unknown span mode 'loose'"):
        entity_spans(["O"], "loose")


def test_decoded_entities_written_back_are_valid_iob2_with_the_same_entities():
    """The São Paulo case: B-LOC I-ORG decodes to two entities, and the tags written back say so."""
    rng = random.Random(3)
    labels = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    cases = [["B-LOC", "I-ORG"], ["O", "I-VEHI"]] + [
        [rng.choice(labels) for _ in range(rng.randint(0, 9))] for _ in range(300)
    ]
    for tags in cases:
        spans = entity_spans(tags, DECODING_MODE)
        written = spans_to_tags(spans, len(tags))
        assert iob2_violations(written) == []
        assert entity_spans(written, "strict") == spans == entity_spans(repair_iob2(tags)[0], "strict")
    assert spans_to_tags(entity_spans(["B-LOC", "I-ORG"], DECODING_MODE), 2) == ["B-LOC", "B-ORG"]
    assert spans_to_tags(entity_spans(["O", "I-VEHI"], DECODING_MODE), 2) == ["O", "B-VEHI"]


def test_spans_to_tags_refuses_overlaps():
    with pytest.raises(TagError, match="overlaps"):
        spans_to_tags([("PER", 0, 2), ("LOC", 1, 3)], 3)
