"""``multinerd tune``: pruning, the deadline, the test split kept out, shared and resumed studies."""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.synchronize
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import sqlalchemy
import yaml

from conftest import save_tiny_model
from multinerd import progress
from multinerd.apps import tune as tune_module
from multinerd.apps.cli import main
from multinerd.apps.tune import FINISHED, OptunaReport, apply_params, make_pruner, open_study, tune
from multinerd.config import ConfigError, load_config
from multinerd.data.corpus import load_corpus

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study_with_good_trials(pruner: str = "median") -> optuna.Study:
    study = optuna.create_study(direction="maximize", pruner=make_pruner(pruner))
    for _ in range(3):
        trial = study.ask()
        trial.report(0.8, step=1)
        study.tell(trial, 0.8)
    return study


def _evaluate(report: OptunaReport, f1: float) -> SimpleNamespace:
    control = SimpleNamespace(should_training_stop=False)
    report.on_evaluate(None, None, control, metrics={"eval_f1": f1, "eval_loss": 1.0})
    return control


def test_pruning_stops_a_trial_that_reports_a_bad_f1():
    study = _study_with_good_trials()
    bad = OptunaReport(study.ask(), deadline=None)
    with pytest.raises(optuna.TrialPruned, match="0.1000 at evaluation 1"):
        _evaluate(bad, 0.1)
    assert bad.trial.user_attrs["dev_f1"] == [0.1]
    good = OptunaReport(study.ask(), deadline=None)
    assert _evaluate(good, 0.9).should_training_stop is False


def test_a_trial_past_the_deadline_stops_training_but_keeps_its_score():
    study = _study_with_good_trials(pruner="none")
    report = OptunaReport(study.ask(), deadline=time.time() - 1)
    assert _evaluate(report, 0.5).should_training_stop is True
    assert report.trial.user_attrs["stopped_at_deadline"] is True


def test_search_space_comes_from_the_config_and_set_overrides_it():
    config = load_config(None, ["tune.learning_rate=1e-4,1e-2", "tune.batch_size=null", "tune.epochs=2,3"])
    assert config.tune.learning_rate == [1e-4, 1e-2] and config.tune.batch_size is None
    tuned = apply_params(config, {"learning_rate": 2e-4, "epochs": 3, "attention_dropout": 0.0})
    assert (tuned.train.learning_rate, tuned.train.epochs, tuned.model.attention_dropout) == (2e-4, 3.0, 0.0)
    with pytest.raises(ConfigError, match=r"tune.warmup_ratio must be a range \[low, high\]"):
        load_config(None, ["tune.warmup_ratio=0.2,0.1"])


class NoTestSplits(dict):
    """Splits that fail the test at any access to the test split."""

    def __getitem__(self, key):
        assert key != "test", "the search read the test split"
        return super().__getitem__(key)

    def get(self, key, default=None):
        assert key != "test", "the search read the test split"
        return super().get(key, default)

    def values(self):
        raise AssertionError("the search iterated over every split, the test split included")

    def items(self):
        raise AssertionError("the search iterated over every split, the test split included")


def _tiny_settings(encoder: Path) -> list[str]:
    return [
        "data.max_sentences=24", f"model.name={encoder}", "model.max_length=48", "train.patience=0",
        "train.eval_batch_size=32", "eval.bootstrap=0", "tune.batch_size=[8]", "tune.epochs=1,2",
        "tune.learning_rate=1e-4,3e-3",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "encoder")


@pytest.mark.slow
def test_search_never_reads_test_and_writes_a_best_config_that_run_accepts(tmp_path, encoder, capsys):
    config = load_config(None, [*_tiny_settings(encoder), "tune.trials=3", f"output={tmp_path / 'runs'}"])
    corpus = load_corpus("sample", max_sentences=24)
    guarded = replace(corpus, splits=NoTestSplits(corpus.splits))
    result = tune(config, "B", tmp_path / "tune", corpus=guarded)

    records = [json.loads(line) for line in (tmp_path / "tune" / "trials.jsonl").read_text().splitlines()]
    assert len(records) == 3 and result.trials == 3
    assert all(r["state"] in ("complete", "pruned") and r["dev_f1"] and r["seconds"] > 0 for r in records)
    best = max((r for r in records if r["state"] == "complete"), key=lambda r: r["value"])
    assert result.best_value == best["value"] == max(best["dev_f1"])
    for name in ("tune.md", "tune.png", "importances.json", "study.db"):
        assert (tmp_path / "tune" / name).stat().st_size > 0
    assert f"| {best['number']} | {best['value']:.4f} |" in (tmp_path / "tune" / "tune.md").read_text()
    progress = capsys.readouterr().err
    assert "trial 2 [3/3]" in progress and "best 0." in progress and "left" in progress

    tuned = load_config(result.best_config)
    assert tuned.train.learning_rate == best["params"]["learning_rate"]
    assert tuned.train.epochs == best["params"]["epochs"]
    assert main(["run", "--config", str(result.best_config)]) == 0
    assert (Path(tuned.output) / "report.md").exists()


def _tune_command(encoder: Path, output: Path, *extra: str) -> list[str]:
    settings = [part for setting in _tiny_settings(encoder) for part in ("--set", setting)]
    command = [sys.executable, "-m", "multinerd.apps.cli", "tune", "--system", "B", "--output", str(output)]
    return [*command, *settings, *extra]


ENV = os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _finished(storage: str, name: str = "multinerd-B") -> list[optuna.trial.FrozenTrial]:
    if not Path(storage.removeprefix("sqlite:///")).exists():
        return []
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return []
    return [t for t in study.trials if t.state in FINISHED]


def _trials_finished_so_far(database: Path) -> int:
    """Counts finished trials read-only: optuna.load_study while the search is still creating
    its tables races it for the schema (UNIQUE constraint failed: alembic_version)."""
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            states = [state.name for state in FINISHED]
            marks = ",".join("?" * len(states))
            return connection.execute(f"SELECT COUNT(*) FROM trials WHERE state IN ({marks})", states).fetchone()[0]
    except sqlite3.OperationalError:  # the tables are not there yet, or the search holds the lock
        return 0


@pytest.mark.e2e
@pytest.mark.slow
def test_two_processes_share_one_study(tmp_path, encoder):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    workers = [
        subprocess.Popen(
            _tune_command(encoder, tmp_path / f"worker{i}", "--storage", storage, "--trials", "4"),
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-2000:]
    trials = optuna.load_study(study_name="multinerd-B", storage=storage).trials
    finished = [t for t in trials if t.state in FINISHED]
    assert 4 <= len(finished) <= 5  # each worker stops after its trial that reaches 4
    assert len({t.number for t in trials}) == len(trials)
    assert len({t.user_attrs["worker"] for t in finished}) == 2  # both workers ran trials
    assert len({tuple(sorted(t.params.items())) for t in finished}) == len(finished)  # no repeated draw
    # The worker that finished last wrote the whole study, the other worker's trials included.
    seen = max(len((tmp_path / f"worker{i}" / "trials.jsonl").read_text().splitlines()) for i in range(2))
    assert seen == len(trials)


@pytest.mark.e2e
@pytest.mark.slow
def test_a_killed_search_continues_with_the_same_command(tmp_path, encoder):
    output = tmp_path / "tune"
    command = _tune_command(encoder, output, "--trials", "3")
    storage = f"sqlite:///{(output / 'study.db').resolve()}"
    search = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not _trials_finished_so_far(output / "study.db") and time.time() < deadline:
        time.sleep(0.5)
    search.send_signal(signal.SIGKILL)
    search.wait()
    before = _finished(storage)
    assert 1 <= len(before) < 3
    subprocess.run(command, env=ENV, check=True, capture_output=True)
    after = _finished(storage)
    assert len(after) == 3
    assert [(t.number, t.params, t.value) for t in before] == [(t.number, t.params, t.value) for t in after][
        : len(before)
    ]
    best = yaml.safe_load((output / "best.yaml").read_text())
    assert best["train"]["learning_rate"] in {t.params["learning_rate"] for t in after}


def _join_study_at_once(url: str, barrier: multiprocessing.synchronize.Barrier, results) -> None:
    barrier.wait()  # every worker reaches the empty database at the same moment
    try:
        open_study(load_config(None), Path("."), url, "race")
        results.put("ok")
    except sqlalchemy.exc.SQLAlchemyError as err:  # what the race raises is the point of the test
        results.put(f"{type(err).__name__}: {err}")


@pytest.mark.slow
def test_workers_starting_together_on_a_new_database_all_join_the_study(tmp_path):
    """Plain optuna.create_study loses about half of such starts to "table already exists";
    six rounds of four workers make a lucky pass of a broken retry unlikely."""
    context = multiprocessing.get_context("fork")
    for round_ in range(6):
        url = f"sqlite:///{tmp_path / f'new-{round_}.db'}"
        barrier, results = context.Barrier(4), context.Queue()
        workers = [context.Process(target=_join_study_at_once, args=(url, barrier, results)) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert [results.get(timeout=5) for _ in workers] == ["ok"] * 4


def test_trial_lines_go_through_progress_so_quiet_silences_them(capsys):
    study = optuna.create_study(direction="maximize")
    study.optimize(lambda trial: trial.suggest_float("learning_rate", 1e-5, 1e-4) * 0 + 0.5, n_trials=1)
    report = tune_module.Progress(trials=1, timeout=None, started=0.0)
    try:
        progress.set_quiet(True)
        report(study, study.trials[0])
        assert capsys.readouterr().err == ""
    finally:
        progress.set_quiet(False)
    report(study, study.trials[0])
    assert "trial 0 [1/1] complete: dev F1 0.5000" in capsys.readouterr().err
