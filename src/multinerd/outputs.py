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

from pathlib import Path

from multinerd.backends import INT8_FILE, ONNX_FILE
from multinerd.modeldir import CONFIG_FILE, HF_CONFIG, PARITY_JSON

#: Written into a model directory before it is renamed into place (see ``training.publish``).
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
