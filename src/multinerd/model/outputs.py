"""Output directories: what counts as finished, and never replacing a finished one silently.

A model directory appears only by rename once complete, a run's ``report.md`` is written
last, and an export's ``parity.json`` is written after its files; so each of these marks a
finished output. An export whose every file was refused (and removed) holds only its
parity report: it is not finished, so the same command can run again, e.g. with ``--force``. Partial outputs of a killed run (``.work/``, checkpoints) are not
finished: they are what ``--resume`` continues. A second ``train``, ``run`` or ``export``
into a finished output stops with a message naming it, unless ``--overwrite`` (replace
it, once the new output is complete) or ``--resume`` (keep what is finished, continue
the rest) says what to do.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml

from multinerd.config import Config
from multinerd.model.backends import INT8_FILE, ONNX_FILE
from multinerd.model.modeldir import CONFIG_FILE, HF_CONFIG, PARITY_JSON, TRAIN_LOG
from multinerd.systems import System

#: Written into a model directory before it is renamed into place (see :func:`publish`).
MODEL_MARKERS = (HF_CONFIG, CONFIG_FILE)
#: Written last by ``multinerd run``.
RUN_MARKER = "report.md"


class OutputExistsError(ValueError):
    """The output directory already holds a finished model, run or export."""


def is_finished_model(path: Path) -> bool:
    return all((path / name).is_file() for name in MODEL_MARKERS)


def finished_outputs(path: Path, kind: str) -> list[Path]:
    """The finished outputs of ``kind`` (``model``, ``run`` or ``export``) at ``path``, if any."""
    if kind == "model":
        return [path] if is_finished_model(path) else []
    if kind == "run":
        found = [path / RUN_MARKER] if (path / RUN_MARKER).is_file() else []
        return found + [child for child in (path / "A", path / "B") if is_finished_model(child)]
    if kind == "export":
        kept = any((path / name).is_file() for name in (ONNX_FILE, INT8_FILE))
        return [path] if (path / PARITY_JSON).is_file() and kept else []
    raise ValueError(f"output kind must be model, run or export, got {kind!r}")


def check_output(path: Path, kind: str, *, overwrite: bool = False, resume: bool = False) -> None:
    """Refuse to write into a finished output unless ``overwrite`` or ``resume`` says how.

    ``resume`` is accepted only for models and runs (an export has nothing to continue).
    """
    if overwrite and resume:
        raise OutputExistsError("--overwrite and --resume exclude each other: choose one")
    if overwrite or resume:
        return
    found = finished_outputs(path, kind)
    if found:
        ways = (
            "--overwrite to replace it"
            if kind == "export"
            else ("--resume to continue that run or --overwrite to replace it")
        )
        raise OutputExistsError(f"{found[0]} is a finished {kind} already; pass {ways}")


def apply_umask(directory: Path) -> None:
    """Give the files under ``directory`` the permissions the user's umask asks for.

    Some writers (the weights file among them) create files readable by their owner only,
    which locks other users out of a shared model folder; ``cp`` or ``open()`` would not.
    """
    umask = os.umask(0)
    os.umask(umask)
    for path in [directory, *directory.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def save_run_config(model_dir: Path, config: Config, system: System, fingerprint: str) -> None:
    """``multinerd.yaml``: the resolved settings, the scheme, the system (with its source's full
    inventory and the types set to O, which ``evaluate`` maps gold by) and the data fingerprint."""
    payload = config.to_dict() | {
        "scheme": system.scheme.to_dict(),
        "system": system.to_dict(),
        "data_fingerprint": fingerprint,
    }
    (model_dir / CONFIG_FILE).write_text(yaml.safe_dump(payload, sort_keys=False), encoding="utf-8")


def move_into_place(staging: Path, final_dir: Path, config: Config, system: System, fingerprint: str,
                    log_path: Path) -> None:
    """Give a saved model its settings and log, and move it to ``final_dir`` in one rename.

    A model already there is replaced only now that the new one is complete; the work
    directory the model was staged in (``OUT/.work/SYSTEM``) goes with it.
    """
    save_run_config(staging, config, system, fingerprint)
    shutil.copyfile(log_path, staging / TRAIN_LOG)
    apply_umask(staging)
    if final_dir.exists():
        shutil.rmtree(final_dir)
    os.replace(staging, final_dir)
    work_dir = log_path.parent
    shutil.rmtree(work_dir)
    if not any(work_dir.parent.iterdir()):
        work_dir.parent.rmdir()
