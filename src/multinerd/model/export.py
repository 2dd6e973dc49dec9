"""ONNX export, int8 quantisation, and the parity check that decides whether each exported file is good.

An export directory is self-contained: ``model.onnx`` (float32; the encoder and the
token-classification head, dynamic batch and sequence axes), optionally
``model_int8.onnx``, the tokenizer files, ``config.json`` (for ``id2label``) and
``multinerd.yaml`` (for the window settings). It needs neither PyTorch nor the original
weights to run: ``Tagger.from_pretrained(export_dir)`` finds ``model.onnx`` and runs it with
ONNX Runtime (:mod:`multinerd.model.backends`), tagging the same words the same way.

**int8.** Dynamic quantisation (8-bit weights, one scale per output channel, with
SmoothQuant channel scaling; activations quantised per token at run time, their largest
channels multiplied in float) of the matrix
multiplies that measured harmless: a sensitivity search (:mod:`multinerd.model.quantise`)
ranks every product by how far its int8 alone moves the labels on the parity split's
windows, keeps the most sensitive ones in float32 and tries
candidates against the PyTorch model until one meets a margin stricter than the gate (or
keeps the best one tried). ``parity.json`` records which products are int8, which stayed
float and why (``quantisation``). Embedding look-ups stay float32 (no compute to save).

**Parity.** The check tags one split of a data source with the PyTorch model and with each
exported file, and gives every file its own verdict (``parity.json``, ``parity.md``). Tags are
decoded as ``predict`` decodes them (:mod:`multinerd.evaluate.decoding`, Viterbi by default). A file
is good when both hold:

* **entity agreement**: the micro F1 of the file's entities (sentence, type, word span)
  scored against the PyTorch model's entities is at least :data:`MIN_ENTITY_AGREEMENT`:
  0.999 for float32, which runs the same arithmetic in another order (differences around
  1e-6 change a decoded tag only at an exact tie, so less means a wrong graph: a baked-in shape,
  a missing mask); 0.98 for int8: at most one entity in fifty may change, the loss that
  published int8 BERT results (well under one F1 point) imply, and small enough that the
  model is recognisably the one that was evaluated.
* **F1 drop**: the strict micro F1 against gold falls by at most :data:`MAX_F1_DROP` (half
  a point) from the PyTorch model's: a loss a reader of the scores would notice. (The
  report sets no minimum effect between systems; it calls a difference real when its 95%
  interval excludes zero.)

A file that fails is deleted (its disagreements stay listed in ``parity.md``) unless
``force=True`` keeps it, with a ``<file>.REFUSED`` marker beside it that makes every later
load warn.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from multinerd import progress
from multinerd.evaluate.calibration import CALIBRATION_FILE
from multinerd.labels import DECODING_MODE, TagScheme, entity_spans
from multinerd.model.backends import INT8_FILE, ONNX_FILE
from multinerd.model.modeldir import (
    CONFIG_FILE,
    HF_CONFIG,
    PARITY_JSON,
    PARITY_MD,
    REFUSED_SUFFIX,
    read_labels,
    require_dir,
)
from multinerd.model.quantise import QuantReport
from multinerd.model.tagger import Tagger

#: The files besides the ONNX graphs that make an export directory self-contained.
COPIED_FILES = (HF_CONFIG, CONFIG_FILE, CALIBRATION_FILE)
#: Each exported variant: its backend name and the file it writes.
VARIANTS = {"fp32": ("onnx", ONNX_FILE), "int8": ("onnx-int8", INT8_FILE)}
#: Lowest entity-level micro F1 against the PyTorch model's entities (see the module docstring).
MIN_ENTITY_AGREEMENT = {"fp32": 0.999, "int8": 0.98}
#: Largest fall in strict micro F1 against gold (absolute, 0.005 = half a point) a file may cost.
MAX_F1_DROP = {"fp32": 0.005, "int8": 0.005}
#: The start of torch's DeprecationWarning for ``dynamo=False`` (a regular expression matched at the start).
LEGACY_EXPORTER_NOTICE = "You are using the legacy TorchScript-based ONNX export"
#: Warnings from tracing transformers' eager attention mask, as ``(message start, module)``, both
#: harmless for this export: the padding length it bakes in is 0 for every input (the mask is
#: always as long as the ids), and the indices of the ``aten::index`` are positions, never
#: negative. The parity check, which tags batches of many lengths, would show either wrong.
MASK_EXPORT_NOTICES = (
    ("Converting a tensor to a Python boolean", r"transformers\.masking_utils"),
    ("Exporting aten::index operator of advanced indexing", r"torch\.onnx\."),
)
#: Opset 17 is the first with a LayerNormalization operator, which keeps the graph small.
OPSET = 17
#: Disagreeing sentences listed in the report, for inspection.
MAX_EXAMPLES = 10


class ExportError(ValueError):
    """A model directory that cannot be exported, or an export that cannot be written."""


# ---------------------------------------------------------------------------- writing ONNX


def _logits_module(model: Any) -> Any:
    """The model as a module of two tensors to one, the signature the exported graph gets."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    # eval() on the wrapper, not only the model: export restores the wrapper's mode recursively.
    return LogitsOnly().eval()


def write_onnx(model_dir: Path, path: Path, *, opset: int = OPSET) -> None:
    """Export the PyTorch model of ``model_dir`` to ``path`` with dynamic batch and sequence axes.

    The TorchScript-based exporter (``dynamo=False``) is used: for an encoder it is fast
    and gives plain MatMul nodes that the int8 rewrite (:mod:`multinerd.model.quantise`) finds;
    its deprecation notice is silenced, and so are the eager mask's two known ones (see below).
    The example input has two rows of different content so no size-1 axis is specialised.
    Attention is exported in transformers' eager form: its scaled-dot-product form adds two
    ``Where`` passes over every attention matrix (a mask select, and a NaN guard after the
    softmax) that ONNX Runtime runs as separate nodes: about 6% of the fp32 graph's time in an
    ONNX Runtime profile of MultiNERD-like batches (AVX-512 EPYC), a larger share of the int8 one's.
    """
    import onnx
    import torch
    from transformers import AutoModelForTokenClassification

    try:
        model = AutoModelForTokenClassification.from_pretrained(model_dir, attn_implementation="eager")
    except (OSError, ValueError) as err:
        raise ExportError(f"{model_dir}: cannot load a token-classification model: {err}") from None
    example = torch.tensor([[2, 3, 4, 5, 6, 7, 8, 9], [2, 3, 4, 5, 6, 0, 0, 0]], dtype=torch.long)
    mask = (example != 0).long()
    dynamic = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings():
        # Only known notices: that this exporter is the legacy one (chosen above), and the two
        # that tracing transformers' eager attention mask gives (MASK_EXPORT_NOTICES). Any other
        # tracer warning (a shape or a Python value baked into the graph) reaches the user.
        warnings.filterwarnings("ignore", message=LEGACY_EXPORTER_NOTICE, category=DeprecationWarning)
        for message, module in MASK_EXPORT_NOTICES:
            warnings.filterwarnings("ignore", message=message, module=module)
        torch.onnx.export(
            _logits_module(model),
            (example, mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic, "logits": dynamic},
            opset_version=opset,
            dynamo=False,
        )
    onnx.checker.check_model(str(path))


def _calibration_feeds(output_dir: Path, words: list[list[str]], batch_size: int) -> list[dict[str, np.ndarray]]:
    """The fp32 graph's input batches for the first :data:`~multinerd.model.quantise.SENSITIVITY_WINDOWS`
    sentences, cut and padded by the Tagger exactly as tagging cuts them."""
    from multinerd.model.quantise import SENSITIVITY_WINDOWS

    tagger = Tagger.from_pretrained(output_dir, backend="onnx", batch_size=batch_size)
    feeds: list[dict[str, np.ndarray]] = []
    run = tagger.forward

    def recording(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feeds.append({"input_ids": input_ids, "attention_mask": attention_mask})
        return run(input_ids, attention_mask)

    tagger.forward = recording
    tagger.predict_proba(words[:SENSITIVITY_WINDOWS])
    return feeds


def write_int8(output_dir: Path, reference: ParityReference, batch_size: int = 32) -> QuantReport:
    """``model_int8.onnx`` beside ``model.onnx``, int8 wherever it measured harmless (:mod:`multinerd.model.quantise`).

    Candidates are judged against ``reference`` (the parity split tagged by PyTorch), so the
    file that reaches the export gate is the most-int8 one that meets the search's margin.
    """
    from multinerd.model.quantise import search

    path = output_dir / INT8_FILE

    def evaluate(candidate: Path) -> tuple[float, float]:
        tagger = Tagger.from_pretrained(output_dir, backend="onnx-int8", batch_size=batch_size)
        tags = tagger.tags_of(tagger.predict_proba(reference.words))
        return entity_agreement(reference.tags, tags), reference.f1 - _strict_f1(reference.gold, tags, reference.scheme)

    feeds = _calibration_feeds(output_dir, reference.words, batch_size)
    return search(output_dir / ONNX_FILE, path, feeds, evaluate, say=progress.say)


def copy_model_files(model_dir: Path, output_dir: Path) -> list[str]:
    """Tokenizer files, ``config.json`` and ``multinerd.yaml`` (when present) into ``output_dir``."""
    from transformers import AutoTokenizer

    written = AutoTokenizer.from_pretrained(model_dir).save_pretrained(output_dir)
    names = sorted({Path(name).name for name in written})
    for name in COPIED_FILES:
        if (model_dir / name).is_file():
            shutil.copyfile(model_dir / name, output_dir / name)
            names.append(name)
    return names


# ---------------------------------------------------------------------------- parity


def _entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """The entities a user sees for these tags (read leniently, as the Tagger reports them)."""
    return entity_spans(tags, DECODING_MODE)


def entity_agreement(reference: Sequence[Sequence[str]], other: Sequence[Sequence[str]]) -> float:
    """Micro F1 of ``other``'s entities against ``reference``'s (1.0 when neither has any)."""
    ref = {(i, *e) for i, tags in enumerate(reference) for e in _entities(tags)}
    got = {(i, *e) for i, tags in enumerate(other) for e in _entities(tags)}
    return 2 * len(ref & got) / (len(ref) + len(got)) if ref or got else 1.0


@dataclass
class VariantParity:
    """How one exported file compares with the PyTorch model on the parity split, and its verdict."""

    file: str
    size_bytes: int
    entity_agreement: float
    sentence_agreement: float
    tag_agreement: float
    n_disagreeing: int
    max_abs_prob_diff: float
    strict_f1: float
    f1_drop: float
    seconds: float
    min_entity_agreement: float
    max_f1_drop: float
    failures: list[str] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)
    #: ``accepted``, ``removed`` (failed; file deleted) or ``kept-refused`` (failed; kept by ``force``).
    status: str = "accepted"

    @property
    def passed(self) -> bool:
        return not self.failures


def _strict_f1(gold: list[list[str]], pred: list[list[str]], scheme: TagScheme) -> float:
    from multinerd.evaluate.scoring import score

    return float(score(gold, pred, scheme=scheme, bootstrap=0)["strict"]["micro"]["f1"])


def judge(agreement: float, f1_drop: float, min_agreement: float, max_f1_drop: float) -> list[str]:
    """Why an exported file fails the parity thresholds; empty when it passes."""
    failures = []
    if agreement < min_agreement:
        failures.append(f"entity agreement {agreement:.4f} is below {min_agreement}")
    if f1_drop > max_f1_drop + 1e-12:
        failures.append(f"strict F1 drops by {100 * f1_drop:.2f} points, more than {100 * max_f1_drop:.2f}")
    return failures


def compare_variant(
    variant: str,
    tagger: Tagger,
    path: Path,
    words: list[list[str]],
    gold: list[list[str]],
    reference: tuple[list[np.ndarray], list[list[str]], float],
    scheme: TagScheme,
) -> VariantParity:
    """Tag ``words`` with ``tagger`` (which runs ``path``); compare with PyTorch's ``(probs, tags, F1)``."""
    ref_probs, ref_tags, ref_f1 = reference
    started = time.perf_counter()
    probs = tagger.predict_proba(words)
    seconds = time.perf_counter() - started
    tags = tagger.tags_of(probs)
    same = [_entities(a) == _entities(b) for a, b in zip(ref_tags, tags)]
    n_tags = sum(len(t) for t in tags)
    tag_same = sum(a == b for ref, pred in zip(ref_tags, tags) for a, b in zip(ref, pred))
    diffs = [float(np.abs(a - b).max()) for a, b in zip(ref_probs, probs) if len(a)]
    f1 = _strict_f1(gold, tags, scheme)
    agreement = entity_agreement(ref_tags, tags)
    examples = [
        {"index": i, "words": words[i], "torch": ref_tags[i], variant: tags[i]}
        for i, ok in enumerate(same)
        if not ok
    ][:MAX_EXAMPLES]
    minimum, max_drop = MIN_ENTITY_AGREEMENT[variant], MAX_F1_DROP[variant]
    return VariantParity(
        file=path.name,
        size_bytes=path.stat().st_size,
        entity_agreement=agreement,
        sentence_agreement=sum(same) / len(same),
        tag_agreement=tag_same / n_tags if n_tags else 1.0,
        n_disagreeing=len(same) - sum(same),
        max_abs_prob_diff=max(diffs, default=0.0),
        strict_f1=f1,
        f1_drop=ref_f1 - f1,
        seconds=seconds,
        min_entity_agreement=minimum,
        max_f1_drop=max_drop,
        failures=judge(agreement, ref_f1 - f1, minimum, max_drop),
        examples=examples,
    )


@dataclass
class ExportResult:
    """What :func:`export_onnx` wrote and the verdict of each exported file."""

    output_dir: Path
    files: list[str]
    data: str
    split: str
    n_sentences: int
    torch_f1: float
    torch_seconds: float
    variants: dict[str, VariantParity]
    #: How the int8 file was chosen: which products are int8, which stayed float and why.
    quantisation: QuantReport | None = None

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.variants.values())

    def failures(self) -> list[str]:
        return [f"{name}: {reason}" for name, v in self.variants.items() for reason in v.failures]

    def to_dict(self) -> dict[str, Any]:
        return {
            "output_dir": str(self.output_dir),
            "files": self.files,
            "data": self.data,
            "split": self.split,
            "n_sentences": self.n_sentences,
            "thresholds": {"min_entity_agreement": MIN_ENTITY_AGREEMENT, "max_f1_drop": MAX_F1_DROP},
            "torch": {"strict_f1": self.torch_f1, "seconds": self.torch_seconds},
            "variants": {
                name: {**vars(variant), "passed": variant.passed}
                for name, variant in self.variants.items()
            },
            "passed": self.passed,
            "quantisation": self.quantisation.to_dict() if self.quantisation else None,
        }


def _verdict(name: str, variant: VariantParity) -> str:
    if variant.passed:
        return f"{name}: **accepted**"
    return f"{name}: **refused** ({variant.status}): " + "; ".join(variant.failures)


def format_parity(result: ExportResult) -> str:
    """``parity.md``: one verdict per file, the table, the thresholds and the first disagreements."""
    lines = [
        "# ONNX export parity",
        "",
        *(f"- {_verdict(name, v)}" for name, v in result.variants.items()),
        "",
        (f"{result.n_sentences} sentences of `{result.data}` ({result.split}), tagged by the PyTorch model "
        "and by each exported file."),
        "",
        ("| model | file | MB | entity agreement (F1 vs torch) | sentences with identical entities "
        "| identical tags | max prob diff | strict F1 | F1 drop (points) | seconds | verdict |"),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        f"| torch | (model directory) | | | | | | {result.torch_f1:.4f} | | {result.torch_seconds:.2f} | |",
    ]
    for name, v in result.variants.items():
        lines.append(
            f"| {name} | {v.file} | {v.size_bytes / 1e6:.1f} | {v.entity_agreement:.4f} "
            f"| {v.sentence_agreement:.4f} ({v.n_disagreeing} differ) | {v.tag_agreement:.4f} "
            f"| {v.max_abs_prob_diff:.2e} | {v.strict_f1:.4f} | {100 * v.f1_drop:+.2f} | {v.seconds:.2f} "
            f"| {'accepted' if v.passed else 'refused'} |"
        )
    lines += [
        "",
        "Thresholds: entity agreement at least "
        + ", ".join(f"{k} {v}" for k, v in MIN_ENTITY_AGREEMENT.items())
        + "; strict F1 drop at most "
        + ", ".join(f"{k} {100 * v:.1f} points" for k, v in MAX_F1_DROP.items())
        + " (reasons in `multinerd.model.export`).",
    ]
    for name, v in result.variants.items():
        if v.examples:
            lines += ["", f"## First sentences where {name} differs from torch", ""]
            for example in v.examples:
                lines.append(f"- sentence {example['index']}: `{' '.join(example['words'])}`")
                lines.append(f"  - torch: {_entities(example['torch'])}")
                lines.append(f"  - {name}: {_entities(example[name])}")
    return "\n".join(lines) + "\n"


@dataclass
class ParityReference:
    """One split tagged by the PyTorch model (fp32): what every exported file is compared with."""

    data: str
    split: str
    words: list[list[str]]
    gold: list[list[str]]
    scheme: TagScheme
    probs: list[np.ndarray]
    tags: list[list[str]]
    f1: float
    seconds: float


def parity_reference(
    model_dir: Path,
    *,
    data: str = "sample",
    split: str = "validation",
    lang: str | None = "en",
    max_sentences: int | None = None,
    batch_size: int = 32,
) -> ParityReference:
    """Tag one split of ``data`` with the PyTorch model in fp32, with the gold tags in its scheme."""
    from multinerd.data.corpus import load_corpus

    corpus = load_corpus(data, lang=lang, max_sentences=max_sentences)
    sentences = corpus.get(split)
    if not sentences:
        raise ExportError(f"{data} has no sentences in split {split!r} to check parity on")
    words = [list(sentence.words) for sentence in sentences]
    torch_tagger = Tagger.from_pretrained(model_dir, backend="torch", device="cpu", batch_size=batch_size)
    scheme = TagScheme.from_tags(torch_tagger.labels, name=model_dir.name)
    gold = [scheme.convert(sentence.tags) for sentence in sentences]
    started = time.perf_counter()
    probs = torch_tagger.predict_proba(words)
    seconds = time.perf_counter() - started
    tags = torch_tagger.tags_of(probs)
    return ParityReference(data, split, words, gold, scheme, probs, tags, _strict_f1(gold, tags, scheme), seconds)


def parity_check(
    model_dir: Path,
    output_dir: Path,
    variants: Sequence[str],
    *,
    data: str = "sample",
    split: str = "validation",
    lang: str | None = "en",
    max_sentences: int | None = None,
    batch_size: int = 32,
    files: Sequence[str] = (),
    reference: ParityReference | None = None,
) -> ExportResult:
    """Tag one split with PyTorch (fp32) and each exported variant; judge each variant on its own.

    ``reference`` is the PyTorch side when it was already computed (the int8 search needs it first).
    """
    ref = reference or parity_reference(
        model_dir, data=data, split=split, lang=lang, max_sentences=max_sentences, batch_size=batch_size
    )
    compared = {}
    for variant in variants:
        backend, file = VARIANTS[variant]
        tagger = Tagger.from_pretrained(output_dir, backend=backend, batch_size=batch_size)
        compared[variant] = compare_variant(
            variant, tagger, output_dir / file, ref.words, ref.gold, (ref.probs, ref.tags, ref.f1), ref.scheme
        )
    return ExportResult(
        output_dir=output_dir,
        files=list(files),
        data=ref.data,
        split=ref.split,
        n_sentences=len(ref.words),
        torch_f1=ref.f1,
        torch_seconds=ref.seconds,
        variants=compared,
    )


def settle_refused(result: ExportResult, *, force: bool) -> None:
    """Delete each refused file, or with ``force`` keep it beside a ``.REFUSED`` marker that makes loads warn."""
    for variant in result.variants.values():
        path = result.output_dir / variant.file
        marker = path.with_name(path.name + REFUSED_SUFFIX)
        if variant.passed:
            continue
        if force:
            marker.write_text("; ".join(variant.failures) + "\n", encoding="utf-8")
            variant.status = "kept-refused"
            result.files.append(marker.name)
        else:
            path.unlink()
            variant.status = "removed"
            result.files.remove(path.name)


def write_parity(result: ExportResult) -> None:
    """``parity.json`` and ``parity.md`` in the export directory."""
    (result.output_dir / PARITY_JSON).write_text(
        json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (result.output_dir / PARITY_MD).write_text(format_parity(result), encoding="utf-8")


def export_onnx(
    model_dir: str | Path,
    output_dir: str | Path,
    *,
    int8: bool = False,
    force: bool = False,
    parity_data: str = "sample",
    parity_split: str = "validation",
    lang: str | None = "en",
    max_sentences: int | None = None,
    batch_size: int = 32,
    opset: int = OPSET,
) -> ExportResult:
    """Export ``model_dir`` to ONNX in ``output_dir`` (int8 too when asked) and judge each file.

    Returns the result whatever the verdicts; a refused file is deleted, or kept and marked
    when ``force`` (see :func:`settle_refused`).

    >>> result = export_onnx("runs/quickstart/A", "runs/onnx-A", int8=True)  # doctest: +SKIP
    >>> result.variants["int8"].passed, result.variants["int8"].entity_agreement  # doctest: +SKIP
    (True, 0.99)
    """
    model_dir, output_dir = require_dir(model_dir), Path(output_dir)
    read_labels(model_dir)
    if output_dir.resolve() == model_dir.resolve():
        raise ExportError(f"output directory {output_dir} is the model directory; choose another")
    output_dir.mkdir(parents=True, exist_ok=True)
    for _, file in VARIANTS.values():  # files about to be rewritten lose their old verdict
        (output_dir / (file + REFUSED_SUFFIX)).unlink(missing_ok=True)
    write_onnx(model_dir, output_dir / ONNX_FILE, opset=opset)
    files = [ONNX_FILE]
    variants = ["fp32"]
    copied = copy_model_files(model_dir, output_dir)
    reference = parity_reference(
        model_dir, data=parity_data, split=parity_split, lang=lang, max_sentences=max_sentences, batch_size=batch_size
    )
    quantisation = None
    if int8:
        quantisation = write_int8(output_dir, reference, batch_size)
        files.append(INT8_FILE)
        variants.append("int8")
    else:
        (output_dir / INT8_FILE).unlink(missing_ok=True)
    files += copied
    result = parity_check(
        model_dir, output_dir, variants, batch_size=batch_size, files=files + [PARITY_JSON, PARITY_MD],
        reference=reference,
    )
    result.quantisation = quantisation
    settle_refused(result, force=force)
    write_parity(result)
    return result
