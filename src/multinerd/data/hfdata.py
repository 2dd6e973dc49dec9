"""Hugging Face datasets as a source: what to ask ``datasets`` for, from where, and the tag names.

MultiNERD on the hub holds ten languages in separate files; :func:`load_hub` asks
``load_dataset`` for the files of one language only (``data_files``), against the hub and
against a local copy of its repository alike, so the tests run offline the very call that
runs against the hub. Any other token-classification dataset loads as it is, and its tag
names come from its ``ClassLabel`` feature. The rows are checked by :mod:`multinerd.data.corpus`
like any file record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multinerd.data.readers import DataError
from multinerd.labels import MULTINERD_TAGS
from multinerd.systems import DEFAULT_HUB_DATASET, uses_multinerd_tags

__all__ = ["DEFAULT_HUB_DATASET", "Loaded", "load_disk", "load_hub", "tag_names"]
#: MultiNERD's files on the hub, per split, for one language (``*`` for all of them).
MULTINERD_FILES: dict[str, str] = {
    "train": "train/train_{lang}.jsonl",
    "validation": "val/val_{lang}.jsonl",
    "test": "test/test_{lang}.jsonl",
}
LOCAL_HELP = (
    "without network access, download the files and use a local source: hub:DIR or jsonl:DIR for the "
    "hub's layout (DIR/train/train_en.jsonl, DIR/val/val_en.jsonl, DIR/test/test_en.jsonl), disk:DIR for "
    "a dataset saved with save_to_disk, or tsv:DIR for the GitHub layout (DIR/en/train_en.tsv ...)"
)


@dataclass(frozen=True)
class Loaded:
    """A loaded ``DatasetDict``, the source string it came from, and MultiNERD's id table if it is MultiNERD."""

    dataset: Any
    where: str
    #: MultiNERD's files store bare tag ids; its fixed table names them. ``None`` for other datasets.
    fixed_tags: tuple[str, ...] | None = None


def load_hub(name: str, lang: str | None) -> Loaded:
    """``datasets.load_dataset(name)``; for MultiNERD only the files of ``lang`` (all for None)."""
    where = f"hub:{name}"
    datasets = _datasets(where)
    multinerd = uses_multinerd_tags(where)
    options: dict[str, Any] = {}
    if multinerd:
        options["data_files"] = {
            split: files.format(lang=lang or "*") for split, files in MULTINERD_FILES.items()
        }
    location = str(Path(name).expanduser()) if Path(name).expanduser().is_dir() else name
    try:
        dataset = datasets.load_dataset(location, **options)
    # Network, authentication and offline-mode failures arrive as many unrelated exception classes.
    except Exception as err:
        detail = " ".join(str(err).split())[:200]
        raise DataError(
            f"could not load the dataset ({type(err).__name__}: {detail}); {LOCAL_HELP}", where
        ) from err
    return Loaded(dataset, where, MULTINERD_TAGS if multinerd else None)


def load_disk(directory: Path) -> Loaded:
    """A dataset written by ``DatasetDict.save_to_disk`` (or ``Dataset.save_to_disk``: one test split)."""
    where = f"disk:{directory}"
    datasets = _datasets(where)
    if not directory.is_dir():
        raise DataError("directory not found", where)
    try:
        dataset = datasets.load_from_disk(str(directory))
    except FileNotFoundError as err:
        detail = " ".join(str(err).split())[:200]
        raise DataError(f"not a dataset saved with save_to_disk ({detail})", where) from err
    if not isinstance(dataset, datasets.DatasetDict):
        dataset = datasets.DatasetDict({"test": dataset})
    return Loaded(dataset, where)


def tag_names(rows: Any, column: str, fixed: tuple[str, ...] | None, where: str) -> dict[int, str] | None:
    """Tag id -> name: the column's ``ClassLabel`` names, else ``fixed``; None when tags are strings."""
    feature = rows.features[column]
    inner = getattr(feature, "feature", None)  # Sequence(ClassLabel) or List(ClassLabel)
    if inner is None and isinstance(feature, list) and feature:
        inner = feature[0]
    names = getattr(inner, "names", None)
    if names:
        return dict(enumerate(names))
    if fixed is not None:
        return dict(enumerate(fixed))
    if getattr(inner, "dtype", "string") in ("string", "large_string"):
        return None
    raise DataError(
        f"column {column!r} holds integer tag ids without ClassLabel names; name them with "
        "dataset.cast_column(column, Sequence(ClassLabel(names=[...])))",
        where,
    )


def _datasets(where: str) -> Any:
    try:
        import datasets
    except ImportError:
        raise DataError(f"the 'datasets' package is needed for this source; {LOCAL_HELP}", where) from None
    return datasets
