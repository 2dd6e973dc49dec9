"""What a system is: A, B or a subset, the types it keeps, and how gold is mapped for it.

A *system* is a model's task: the types it keeps out of its source's full type inventory.
System A keeps every type the data has (or ``data.types``); B keeps ``data.b_types``, by
default MultiNERD's five on MultiNERD data. Every other type of the inventory is set to O,
in training and, by the same rule, in gold when the model is scored (:meth:`System.gold`).
A gold type outside the inventory (MISC in a CoNLL file given to a MultiNERD model) is
one the model was never told about: scoring counts it as missed.

Two facts about a data source are kept apart, because they differ for the bundled sample:

* :func:`uses_multinerd_tags`: its tags are MultiNERD's fixed table (ids in MultiNERD's
  order, types from :data:`~multinerd.labels.MULTINERD_TYPES`). True for the sample,
  which is written in MultiNERD's layout from this project's own text.
* :func:`multinerd_licence_applies`: its text is MultiNERD's, so a model trained on it
  carries CC BY-NC-SA 4.0. False for the sample.

Corpus reading, training, the main job, ``evaluate``, the model card and the data audit
ask here; no other module holds a rule for either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from multinerd.config import Config, ConfigError
from multinerd.labels import OUTSIDE, SCHEME_B_TYPES, TagScheme, split_tag

DEFAULT_HUB_DATASET = "Babelscape/multinerd"
#: Source kinds whose readers read MultiNERD's own layouts (the hub's jsonl files, GitHub's tsv files).
MULTINERD_LAYOUTS = ("jsonl", "tsv")
#: The bundled sample: MultiNERD's layout and tag table, this project's own sentences.
SAMPLE_SOURCE = "sample"


def is_multinerd_hub(name: str) -> bool:
    """A hub dataset name that is MultiNERD: its id, or a local copy of its repository (``train/train_en.jsonl``)."""
    path = Path(name).expanduser()
    return name == DEFAULT_HUB_DATASET or (path.is_dir() and any(path.glob("train/train_*.jsonl")))


def uses_multinerd_tags(source: str) -> bool:
    """Whether ``source`` (a ``data.source`` string) stores MultiNERD's fixed tag table.

    Data fact: it decides the tag ids, the type order and that the tags are IOB2 already.
    """
    kind, sep, argument = source.partition(":")
    if kind == "hub":
        return is_multinerd_hub(argument if sep else DEFAULT_HUB_DATASET)
    return source == SAMPLE_SOURCE or (kind in MULTINERD_LAYOUTS and bool(sep))


def multinerd_licence_applies(source: str) -> bool:
    """Whether the text of ``source`` is MultiNERD's, so that its CC BY-NC-SA 4.0 licence binds a model.

    Licence fact: MultiNERD's tag table without the sample, whose sentences this project wrote.
    """
    return source != SAMPLE_SOURCE and uses_multinerd_tags(source)


class Corpus(Protocol):
    """What this module reads of a :class:`multinerd.data.corpus.Corpus` (which itself asks this module)."""

    splits: dict[str, list[Any]]
    multinerd_tags: bool


class SystemRecordError(ValueError):
    """A ``system`` record (in ``multinerd.yaml``) that is malformed."""


@dataclass(frozen=True)
class System:
    """A trained or to-be-trained system: its scheme out of the source's full type inventory."""

    scheme: TagScheme
    #: Every type the source has, kept or not; gold types outside it are unknown to the model.
    inventory: tuple[str, ...]
    #: Whether the source stored MultiNERD's tag table (:func:`uses_multinerd_tags`).
    multinerd_tags: bool = False

    @property
    def name(self) -> str:
        return self.scheme.name

    @property
    def set_to_o(self) -> tuple[str, ...]:
        """The inventory's types this system does not keep: O in its training data and in its gold."""
        kept = set(self.scheme.types)
        return tuple(t for t in self.inventory if t not in kept)

    def gold(self, tags: Sequence[str], scheme: TagScheme | None = None) -> list[str]:
        """Gold tags as this system is scored in ``scheme`` (default its own).

        Types of the inventory that ``scheme`` lacks become O, as in training; types outside
        the inventory stay, so that scoring counts them as missed.
        """
        kept = set((scheme or self.scheme).types)
        known = set(self.inventory)
        return [tag if (t := split_tag(tag)[1]) in kept or t not in known else OUTSIDE for tag in tags]

    def mapping_note(self, scheme: TagScheme | None = None) -> str:
        """How gold is mapped for ``scheme``: ``"10 other types set to O, as in training"``."""
        scored = scheme or self.scheme
        dropped = [t for t in self.inventory if t not in scored.types]
        if not dropped:
            return "no type set to O"
        words = "type" if len(dropped) == 1 else "types"
        same = scored.types == self.scheme.types
        return f"{len(dropped)} other {words} set to O" + (", as in training" if same else f" ({len(self.set_to_o)} in training)")

    def to_dict(self) -> dict[str, Any]:
        """What ``multinerd.yaml`` records under ``system``."""
        return {"name": self.name, "types": list(self.scheme.types), "inventory": list(self.inventory),
                "set_to_o": list(self.set_to_o), "multinerd_tags": self.multinerd_tags}  # fmt: skip

    @classmethod
    def from_dict(cls, record: dict[str, Any], where: str) -> System:
        """The system a ``multinerd.yaml`` records; a clear error names the file when it is malformed."""
        try:
            scheme = TagScheme(str(record["name"]), tuple(record["types"]))
            inventory = tuple(record["inventory"])
            multinerd_tags = bool(record.get("multinerd_tags", False))
        except (KeyError, TypeError, ValueError) as err:
            raise SystemRecordError(f"{where}: system must have name, types and inventory lists ({err})") from None
        missing = [t for t in scheme.types if t not in inventory]
        if missing:
            raise SystemRecordError(f"{where}: system types {missing} are not in its inventory {list(inventory)}")
        return cls(scheme, inventory, multinerd_tags)


def default_b_types(config: Config, multinerd_tags: bool) -> list[str] | None:
    """B's types: ``data.b_types`` when set, else MultiNERD's five on MultiNERD data, else none."""
    return list(config.data.b_types or ()) or (list(SCHEME_B_TYPES) if multinerd_tags else None)


def data_inventory(split_tags: Sequence[Sequence[str]], multinerd_tags: bool) -> TagScheme:
    """The source's full inventory as a scheme: MultiNERD's fixed fifteen, else every type found."""
    if multinerd_tags:
        return TagScheme.multinerd(name="A")
    return TagScheme.from_tags(tag for tags in split_tags for tag in tags)


def define_systems(all_tags: Sequence[Sequence[str]], multinerd_tags: bool, config: Config) -> dict[str, System]:
    """System A and, where the data and settings define one, system B, over the data's inventory.

    ``all_tags`` are the tag sequences of every split. MultiNERD data keeps MultiNERD's fixed
    ids; other data takes its types from its own tags.
    """
    inventory = data_inventory(all_tags, multinerd_tags)
    scheme_a = inventory.subset(config.data.types, name="A") if config.data.types else inventory
    systems = {"A": System(scheme_a, inventory.types, multinerd_tags)}
    b_types = default_b_types(config, multinerd_tags)
    if b_types:
        systems["B"] = System(scheme_a.subset(b_types, name="B"), inventory.types, multinerd_tags)
    return systems


def systems_of(corpus: Corpus, config: Config) -> dict[str, System]:
    """The systems ``corpus`` and ``config`` define: A, and B where there are B types."""
    tags = [sentence.tags for split in corpus.splits.values() for sentence in split]
    return define_systems(tags, corpus.multinerd_tags, config)


def system_schemes(corpus: Corpus, config: Config) -> dict[str, TagScheme]:
    """The schemes of :func:`systems_of`, by system name."""
    return {name: system.scheme for name, system in systems_of(corpus, config).items()}


def scoring_scheme(model: TagScheme, name: str | None, b_types: Sequence[str] | None) -> TagScheme:
    """The scheme ``--scheme name`` scores a model predicting ``model`` in.

    Possible: the model's own scheme (``None`` or its name), ``B`` where B's types are
    among the model's, or a comma-separated subset of its types (``PER,LOC``). Anything
    else is a :class:`ConfigError` that lists what is possible, never a silent fallback.
    """
    if name is None or name == model.name:
        return model
    b_possible = model.name != "B" and bool(b_types) and set(b_types or ()) <= set(model.types)
    if name == "B" and b_possible:
        return model.subset(b_types or (), name="B")
    wanted = [t.strip() for t in name.split(",")] if "," in name or name in model.types else []
    if wanted and set(wanted) <= set(model.types):
        return model.subset(wanted, name=name)
    possible = [f"{model.name} (its own)"] + ([f"B ({','.join(b_types or ())})"] if b_possible else [])
    raise ConfigError(
        f"--scheme {name}: the model predicts scheme {model.name} ({', '.join(model.types)}); possible: "
        f"{', '.join(possible)}, or a comma-separated subset of its types such as {','.join(model.types[:2])}"
    )
