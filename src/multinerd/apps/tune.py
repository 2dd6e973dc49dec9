"""``multinerd tune``: search the training recipe on validation F1 with Optuna, on one machine or many.

Each trial trains one system through :func:`training.build_trainer` with settings drawn
from the config's ``tune`` section and reports every evaluation's validation F1 to
Optuna, whose pruner stops trials that trail. The objective is the validation F1 of the
checkpoint the Trainer selects; the test split is removed from the data before anything
else happens, so a search cannot read it. The study lives in a database (SQLite in the
output directory unless ``--storage`` names another), so a killed search resumes with the
same command and several workers can share one study.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import os
import shutil
import socket
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy.exc
import torch
from transformers import TrainerCallback

from multinerd import progress
from multinerd.config import Config, ConfigError
from multinerd.data.corpus import Corpus, load_configured
from multinerd.model.training import build_trainer, system_scheme

logger = logging.getLogger(__name__)

#: The only splits a search may read.
SEARCH_SPLITS = ("train", "validation")
STUDY_FILE = "study.db"
TRIALS_FILE = "trials.jsonl"
BEST_FILE = "best.yaml"
REPORT_FILE = "tune.md"
PLOT_FILE = "tune.png"
IMPORTANCES_FILE = "importances.json"
STORAGE_ATTEMPTS = 3
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def search_corpus(corpus: Corpus) -> Corpus:
    """The corpus with only its train and validation splits: the test split never reaches a trial."""
    return replace(
        corpus, splits={name: corpus.splits[name] for name in SEARCH_SPLITS if name in corpus.splits}
    )


def suggest(trial: optuna.Trial, config: Config) -> dict[str, Any]:
    """One draw from the ``tune`` search space; settings set to ``null`` are not searched."""
    space = config.tune
    params: dict[str, Any] = {}
    if space.learning_rate:
        params["learning_rate"] = trial.suggest_float("learning_rate", *space.learning_rate, log=True)
    if space.batch_size:
        params["batch_size"] = trial.suggest_categorical("batch_size", space.batch_size)
    if space.epochs:
        params["epochs"] = trial.suggest_int("epochs", *space.epochs)
    if space.warmup_ratio:
        params["warmup_ratio"] = trial.suggest_float("warmup_ratio", *space.warmup_ratio)
    if space.weight_decay:
        params["weight_decay"] = trial.suggest_float("weight_decay", *space.weight_decay)
    if space.attention_dropout:
        params["attention_dropout"] = trial.suggest_categorical("attention_dropout", space.attention_dropout)
    return params


def apply_params(config: Config, params: dict[str, Any]) -> Config:
    """``config`` with a trial's parameters in their ``train`` and ``model`` places."""
    train_fields = {f.name for f in dataclasses.fields(config.train)}
    train = replace(config.train, **{k: v for k, v in params.items() if k in train_fields})
    model = config.model
    if "attention_dropout" in params:
        model = replace(model, attention_dropout=params["attention_dropout"])
    if "epochs" in params:
        train = replace(train, epochs=float(params["epochs"]), max_steps=-1)
    return replace(config, train=train, model=model)


class OptunaReport(TrainerCallback):
    """Reports each evaluation's validation F1 to the trial; prunes it, or ends it at the deadline.

    Steps are evaluation numbers, so trials with different batch sizes compare at the same epoch.
    """

    def __init__(self, trial: optuna.Trial, deadline: float | None):
        self.trial = trial
        self.deadline = deadline
        self.scores: list[float] = []

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not metrics or metrics.get("eval_f1") is None:
            return
        self.scores.append(float(metrics["eval_f1"]))
        self.trial.set_user_attr("dev_f1", self.scores)
        self.trial.report(self.scores[-1], step=len(self.scores))
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"validation F1 {self.scores[-1]:.4f} at evaluation {len(self.scores)}")
        if self.deadline is not None and time.time() > self.deadline:
            self.trial.set_user_attr("stopped_at_deadline", True)
            control.should_training_stop = True


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def default_storage(output: Path) -> str:
    return f"sqlite:///{(output / STUDY_FILE).resolve()}"


def open_study(config: Config, output: Path, storage: str | None, study_name: str) -> optuna.Study:
    """Create the study or join it. A worker of a shared study samples with its own seed;
    a resumed local search offsets the configured seed by the trials already run, so it
    draws new settings rather than repeating the first ones."""
    url = storage or default_storage(output)
    existing = 0
    if storage is None:
        try:
            existing = len(optuna.load_study(study_name=study_name, storage=url).trials)
        except KeyError:
            existing = 0
    seed = None if storage else config.tune.seed + existing
    # Workers that start at the same moment may both try to create the database's tables
    # (IntegrityError, or OperationalError "table ... already exists" on SQLite, which also
    # says "database is locked" under contention); the loser finds them in place next time.
    create = functools.partial(
        optuna.create_study,
        study_name=study_name,
        storage=url,
        direction="maximize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=make_pruner(config.tune.pruner),
    )
    for attempt in range(STORAGE_ATTEMPTS - 1):
        try:
            return create()
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError):
            time.sleep(1.0 + attempt)
    return create()


class Progress:
    """One line per trial on stderr: its number, parameters, score, the best so far and the time left."""

    def __init__(self, trials: int, timeout: float | None, started: float):
        self.trials = trials
        self.timeout = timeout
        self.started = started
        self.seconds: list[float] = []

    def time_left(self, done: int) -> str:
        elapsed = time.time() - self.started
        if self.timeout is not None:
            return f"{max(0.0, self.timeout - elapsed) / 60:.1f} min of budget left"
        if not self.seconds:
            return "time left unknown"
        left = (self.trials - done) * sum(self.seconds) / len(self.seconds)
        return f"about {max(0.0, left) / 60:.1f} min left"

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.datetime_complete and trial.datetime_start:
            self.seconds.append((trial.datetime_complete - trial.datetime_start).total_seconds())
        done = sum(t.state in FINISHED for t in study.trials)
        params = ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
        reported = trial.intermediate_values
        value = trial.value if trial.value is not None else (reported[max(reported)] if reported else None)
        best = _best(study)
        best_text = f"best {best.value:.4f} (trial {best.number})" if best else "no best yet"
        score = f"{value:.4f}" if value is not None else "-"
        progress.say(
            f"trial {trial.number} [{done}/{self.trials}] {trial.state.name.lower()}: dev F1 {score} "
            f"({params}); {best_text}; {self.time_left(done)}"
        )


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _best(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    complete = [
        t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None
    ]
    return max(complete, key=lambda t: t.value) if complete else None


@dataclass
class TuneResult:
    output: Path
    best_value: float | None
    best_params: dict[str, Any]
    trials: int
    best_config: Path | None


def objective_for(config: Config, system: str, corpus: Corpus, output: Path, deadline: float | None) -> Any:
    """The function Optuna calls per trial: train with the drawn settings, return the selected F1."""
    scheme = system_scheme(corpus, config, system)

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, config)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        progress.say(
            f"trial {trial.number}: " + ", ".join(f"{k}={_short(v)}" for k, v in params.items())
        )
        work_dir = output / "trials" / f"{trial.number:04d}"
        work_dir.mkdir(parents=True, exist_ok=True)
        report = OptunaReport(trial, deadline)
        try:
            built = build_trainer(apply_params(config, params), scheme, corpus, work_dir, callbacks=[report])
            built.trainer.train()
            best = built.trainer.state.best_metric
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        if best is None:
            raise optuna.TrialPruned("no evaluation finished before the deadline")
        return float(best)

    return objective


def tune(
    config: Config,
    system: str,
    output: Path,
    *,
    storage: str | None = None,
    study_name: str | None = None,
    corpus: Corpus | None = None,
) -> TuneResult:
    """Run (or continue, or join) the search until the study holds ``tune.trials`` finished trials
    or ``tune.timeout`` seconds pass, then write the study's files to ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    corpus = search_corpus(corpus or load_configured(config.data))
    study = open_study(config, output, storage, study_name or f"multinerd-{system}")
    started = time.time()
    timeout = config.tune.timeout
    deadline = started + timeout if timeout is not None else None
    done = sum(t.state in FINISHED for t in study.trials)
    if done < config.tune.trials:
        study.optimize(
            objective_for(config, system, corpus, output, deadline),
            timeout=timeout,
            callbacks=[
                optuna.study.MaxTrialsCallback(config.tune.trials, states=FINISHED),
                Progress(config.tune.trials, timeout, started),
            ],
            gc_after_trial=True,
            # A batch size too large for the GPU fails that trial only; the search goes on.
            catch=(torch.cuda.OutOfMemoryError,),
        )
    return write_outputs(study, config, output)


def trial_record(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    seconds = (
        (trial.datetime_complete - trial.datetime_start).total_seconds()
        if trial.datetime_complete and trial.datetime_start
        else None
    )
    return {
        "number": trial.number,
        "state": trial.state.name.lower(),
        "params": trial.params,
        "dev_f1": trial.user_attrs.get("dev_f1", []),
        "value": trial.value,
        "seconds": seconds,
        "worker": trial.user_attrs.get("worker"),
    }


def importances(study: optuna.Study) -> dict[str, float]:
    """Optuna's parameter importances (fANOVA) over complete trials; empty with too few of them."""
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2 or not any(t.params for t in complete):
        return {}
    try:
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (RuntimeError, ValueError) as err:  # e.g. every complete trial has the same parameters
        logger.warning("parameter importances not computed: %s", err)
        return {}


def write_outputs(study: optuna.Study, config: Config, output: Path) -> TuneResult:
    """``trials.jsonl``, ``best.yaml``, ``importances.json``, ``tune.md`` and ``tune.png``."""
    records = [trial_record(trial) for trial in study.trials]
    with (output / TRIALS_FILE).open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    weights = importances(study)
    (output / IMPORTANCES_FILE).write_text(json.dumps(weights, indent=2), encoding="utf-8")
    best = _best(study)
    best_path = None
    if best is not None:
        best_config = replace(apply_params(config, best.params), output=str(output / "best-run"))
        best_path = output / BEST_FILE
        best_path.write_text(
            f"# multinerd tune: trial {best.number}, validation F1 {best.value:.4f}\n"
            + best_config.to_yaml(),
            encoding="utf-8",
        )
    plot(records, weights, output / PLOT_FILE)
    (output / REPORT_FILE).write_text(format_report(records, weights, study.study_name), encoding="utf-8")
    finished = sum(record["state"] in ("complete", "pruned") for record in records)
    return TuneResult(
        output, best.value if best else None, dict(best.params) if best else {}, finished, best_path
    )


def format_report(records: list[dict[str, Any]], weights: dict[str, float], study_name: str) -> str:
    complete = sorted((r for r in records if r["state"] == "complete"), key=lambda r: -r["value"])
    counts = {
        state: sum(r["state"] == state for r in records)
        for state in ("complete", "pruned", "fail", "running")
    }
    lines = [
        f"# Hyperparameter search: {study_name}",
        "",
        f"{len(records)} trials: " + ", ".join(f"{n} {state}" for state, n in counts.items() if n) + ".",
        (
            "Objective: strict word-level validation F1 of the checkpoint each trial selects "
            "(the test split is not read)."
        ),
        "",
        "## Best trials",
        "",
        "| trial | validation F1 | seconds | parameters |",
        "|---|---|---|---|",
    ]
    for record in complete[:5]:
        params = ", ".join(f"{k}={_short(v)}" for k, v in record["params"].items())
        seconds = f"{record['seconds']:.0f}" if record["seconds"] is not None else "-"
        lines.append(f"| {record['number']} | {record['value']:.4f} | {seconds} | {params} |")
    lines += ["", "## Parameter importances (fANOVA)", ""]
    lines += [f"- {name}: {weight:.3f}" for name, weight in weights.items()] or ["- too few complete trials"]
    lines += ["", f"![validation F1 by trial and by the most important parameters]({PLOT_FILE})", ""]
    lines += [f"`{BEST_FILE}` is the best trial's full config: `multinerd run --config {BEST_FILE}`.", ""]
    return "\n".join(lines)


def plot(records: list[dict[str, Any]], weights: dict[str, float], path: Path) -> None:
    """Validation F1 against trial number and against the two most important parameters."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [(r, r["value"] if r["value"] is not None else (r["dev_f1"] or [math.nan])[-1]) for r in records]
    scored = [(r, f1) for r, f1 in scored if r["state"] in ("complete", "pruned") and not math.isnan(f1)]
    params = list(weights)[:2] or sorted({k for r, _ in scored for k in r["params"]})[:2]
    fig, axes = plt.subplots(1, 1 + len(params), figsize=(4.5 * (1 + len(params)), 3.6), squeeze=False)
    for ax, name in zip(axes[0], ["trial", *params]):
        for state, colour in (("complete", "tab:blue"), ("pruned", "tab:gray")):
            points = [
                (_x(r, name), f1) for r, f1 in scored if r["state"] == state and _x(r, name) is not None
            ]
            if points:
                ax.scatter(*zip(*points), c=colour, label=state, s=22)
        if name == "learning_rate":
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel("validation F1 (strict)")
    axes[0][0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _x(record: dict[str, Any], name: str) -> Any:
    return record["number"] if name == "trial" else record["params"].get(name)


def retrain(result: TuneResult) -> dict[str, Any]:
    """Train the best config and score it on test once, through the same path as ``multinerd run``."""
    from multinerd.apps.pipeline import run
    from multinerd.config import load_config

    if result.best_config is None:
        raise ConfigError(f"{result.output}: no complete trial yet, so there is no best config to retrain")
    best = load_config(result.best_config)
    return run(best, Path(best.output))
