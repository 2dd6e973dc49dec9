"""ONNX export, int8 quantisation, and the parity check that decides whether an export is good.

An export directory is self-contained: ``model.onnx`` (float32; the encoder and the
token-classification head, dynamic batch and sequence axes), optionally
``model_int8.onnx`` (dynamic int8 quantisation by ONNX Runtime), the tokenizer files,
``config.json`` (for ``id2label``) and ``multinerd.yaml`` (for the window settings). It
needs neither PyTorch nor the original weights to run: :func:`load_tagger` with
``backend="onnx"`` (or ``"onnx-int8"``) builds the same :class:`~multinerd.tagger.Tagger`
as PyTorch does, with ONNX Runtime behind its one model call.

The parity check tags one split of a data source with the PyTorch model and with each
exported file and writes ``parity.json`` and ``parity.md`` next to them. An export is good
only when both hold:

* **sentence agreement**: the share of sentences whose entities (type and word span) are
  exactly those of the PyTorch model is at least :data:`MIN_AGREEMENT` -- 0.999 for float32,
  0.98 for int8. Float32 ONNX runs the same arithmetic in another kernel order (differences
  around 1e-6), which can only flip an argmax at an exact tie, so below 0.999 the graph
  itself is wrong (a baked-in shape, a missing mask). Dynamic int8 quantisation changes
  weights and activations by about 1% of their range; published BERT results lose well
  under one F1 point with it, and 2% of sentences changing is the most that still leaves
  the model recognisably the one that was evaluated.
* **F1 drop**: the strict micro F1 against gold falls by at most :data:`MAX_F1_DROP`
  (0.5 points) from the PyTorch model's -- the size of the smallest difference the
  report treats as meaningful between systems, so an export never costs a "real" difference.

A failed check keeps every file so the disagreements listed in the report can be inspected.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from multinerd.labels import DECODING_MODE, TagScheme, entity_spans
from multinerd.modelhub import ModelNotFoundError
from multinerd.tagger import (
    Tagger,
    TaggerError,
    read_labels,
    usable_cpus,
)

ONNX_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"
#: The files besides the ONNX graphs that make an export directory self-contained.
COPIED_FILES = ("config.json", "multinerd.yaml")
#: Backend names :func:`load_tagger` accepts, and the file each one runs.
ONNX_BACKENDS = {"onnx": ONNX_FILE, "onnx-int8": INT8_FILE}
BACKENDS = ("torch", *ONNX_BACKENDS)
#: Lowest share of sentences with exactly the PyTorch model's entities (see the module docstring).
MIN_AGREEMENT = {"fp32": 0.999, "int8": 0.98}
#: Largest fall in strict micro F1 (absolute, 0.005 = half a point) an export may cost.
MAX_F1_DROP = 0.005
#: Opset 17 is the first with a LayerNormalization operator, which keeps the graph small.
OPSET = 17
#: Disagreeing sentences listed in the report, for inspection.
MAX_EXAMPLES = 10


class ExportError(ValueError):
    """A model directory that cannot be exported, or an export directory that cannot be loaded."""


# ---------------------------------------------------------------------------- running ONNX


class OnnxBackend:
    """An ONNX Runtime session behind the Tagger's ``logits(input_ids, attention_mask)`` call.

    CPU only, with intra-op threads set to the CPUs this process may use (ONNX Runtime
    counts the machine's cores, which a container or taskset may not grant) and one
    inter-op thread: a BERT graph is a chain, so parallel branches buy nothing.
    """

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        import onnxruntime

        path = Path(path)
        if not path.is_file():
            raise ModelNotFoundError(f"ONNX model not found: {path}; write one with `multinerd export`")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or usable_cpus()
        options.inter_op_num_threads = 1
        self.path = path
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = {node.name for node in self.session.get_inputs()}
        if names != {"input_ids", "attention_mask"}:
            raise ExportError(f"{path}: inputs are {sorted(names)}; expected attention_mask and input_ids")

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": input_ids.astype(np.int64), "attention_mask": attention_mask.astype(np.int64)}
        return self.session.run(["logits"], feeds)[0]


def load_tagger(
    directory: str | Path,
    *,
    backend: str = "torch",
    device: str | None = None,
    batch_size: int = 32,
    name: str | None = None,
) -> Tagger:
    """A Tagger for a model directory (``"torch"``) or an export directory (``"onnx"``, ``"onnx-int8"``).

    The ONNX Tagger takes its labels, tokenizer and window settings from the export
    directory exactly as :meth:`Tagger.from_pretrained` does from a model directory, so
    both tag the same words the same way.
    """
    path = Path(directory)
    if not path.is_dir():
        raise ModelNotFoundError(f"model directory not found: {path}")
    if backend not in BACKENDS:
        raise TaggerError(f"unknown backend {backend!r} for {path} (expected one of {', '.join(BACKENDS)})")
    tagger = Tagger.from_pretrained(path, backend=backend, device=device, batch_size=batch_size)
    if name:
        tagger.name = name
    return tagger


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
    and gives a graph ONNX Runtime's quantiser handles; its deprecation warning is silenced.
    The example input has two rows of different content so no size-1 axis is specialised.
    """
    import onnx
    import torch
    from transformers import AutoModelForTokenClassification

    try:
        model = AutoModelForTokenClassification.from_pretrained(model_dir)
    except (OSError, ValueError) as err:
        raise ExportError(f"{model_dir}: cannot load a token-classification model: {err}") from None
    example = torch.tensor([[2, 3, 4, 5, 6, 7, 8, 9], [2, 3, 4, 5, 6, 0, 0, 0]], dtype=torch.long)
    mask = (example != 0).long()
    dynamic = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
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


def write_int8(source: Path, path: Path) -> None:
    """Dynamic int8 quantisation (int8 weights, activations quantised at run time) of ``source``.

    Weights get one scale per output channel: on MiniLM-L6 this halved the largest change
    in label probabilities against one scale per matrix (3.3e-3 against 7.0e-3 on the sample).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantiser logs a hint about optional pre-processing at WARNING on the root logger.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(source), str(path), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)


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


@dataclass
class VariantParity:
    """How one exported file compares with the PyTorch model on the parity split."""

    file: str
    size_bytes: int
    sentence_agreement: float
    tag_agreement: float
    n_disagreeing: int
    max_abs_prob_diff: float
    strict_f1: float
    f1_drop: float
    seconds: float
    min_agreement: float
    failures: list[str] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def _strict_f1(gold: list[list[str]], pred: list[list[str]], scheme: TagScheme) -> float:
    from multinerd.scoring import score

    return float(score(gold, pred, scheme=scheme, bootstrap=0)["strict"]["micro"]["f1"])


def judge(
    agreement: float, f1_drop: float, min_agreement: float, max_f1_drop: float = MAX_F1_DROP
) -> list[str]:
    """Why an export fails the parity thresholds; empty when it passes."""
    failures = []
    if agreement < min_agreement:
        failures.append(f"sentence agreement {agreement:.4f} is below {min_agreement}")
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
    tags = [tagger.labels_of(p) for p in probs]
    same = [_entities(a) == _entities(b) for a, b in zip(ref_tags, tags)]
    n_tags = sum(len(t) for t in tags)
    tag_same = sum(a == b for ref, pred in zip(ref_tags, tags) for a, b in zip(ref, pred))
    diffs = [float(np.abs(a - b).max()) for a, b in zip(ref_probs, probs) if len(a)]
    f1 = _strict_f1(gold, tags, scheme)
    agreement = sum(same) / len(same)
    examples = [
        {"index": i, "words": words[i], "torch": ref_tags[i], variant: tags[i]}
        for i, ok in enumerate(same)
        if not ok
    ][:MAX_EXAMPLES]
    return VariantParity(
        file=path.name,
        size_bytes=path.stat().st_size,
        sentence_agreement=agreement,
        tag_agreement=tag_same / n_tags if n_tags else 1.0,
        n_disagreeing=len(same) - sum(same),
        max_abs_prob_diff=max(diffs, default=0.0),
        strict_f1=f1,
        f1_drop=ref_f1 - f1,
        seconds=seconds,
        min_agreement=MIN_AGREEMENT[variant],
        failures=judge(agreement, ref_f1 - f1, MIN_AGREEMENT[variant]),
        examples=examples,
    )


@dataclass
class ExportResult:
    """What :func:`export_onnx` wrote and whether the export is good."""

    output_dir: Path
    files: list[str]
    data: str
    split: str
    n_sentences: int
    torch_f1: float
    torch_seconds: float
    variants: dict[str, VariantParity]

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
            "thresholds": {"min_sentence_agreement": MIN_AGREEMENT, "max_f1_drop": MAX_F1_DROP},
            "torch": {"strict_f1": self.torch_f1, "seconds": self.torch_seconds},
            "variants": {
                name: {**vars(variant), "passed": variant.passed}
                for name, variant in self.variants.items()
            },
            "passed": self.passed,
        }


def format_parity(result: ExportResult) -> str:
    """``parity.md``: the verdict, the table, the thresholds and the first disagreements."""
    verdict = "PASSED" if result.passed else "FAILED: " + "; ".join(result.failures())
    lines = [
        "# ONNX export parity",
        "",
        f"Verdict: **{verdict}**",
        "",
        f"{result.n_sentences} sentences of `{result.data}` ({result.split}), tagged by the PyTorch model "
        "and by each exported file.",
        "",
        "| model | file | MB | sentences with identical entities | identical tags | max prob diff "
        "| strict F1 | F1 drop (points) | seconds | passed |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
        f"| torch | (model directory) | | | | | {result.torch_f1:.4f} | | {result.torch_seconds:.2f} | |",
    ]
    for name, v in result.variants.items():
        lines.append(
            f"| {name} | {v.file} | {v.size_bytes / 1e6:.1f} | {v.sentence_agreement:.4f} "
            f"({v.n_disagreeing} differ) | {v.tag_agreement:.4f} | {v.max_abs_prob_diff:.2e} "
            f"| {v.strict_f1:.4f} "
            f"| {100 * v.f1_drop:+.2f} | {v.seconds:.2f} | {'yes' if v.passed else 'NO'} |"
        )
    lines += [
        "",
        "Thresholds: sentence agreement at least "
        + ", ".join(f"{k} {v}" for k, v in MIN_AGREEMENT.items())
        + f"; strict F1 drop at most {100 * MAX_F1_DROP:.1f} points (reasons in `multinerd.export`).",
    ]
    for name, v in result.variants.items():
        if v.examples:
            lines += ["", f"## First sentences where {name} differs from torch", ""]
            for example in v.examples:
                lines.append(f"- sentence {example['index']}: `{' '.join(example['words'])}`")
                lines.append(f"  - torch: {_entities(example['torch'])}")
                lines.append(f"  - {name}: {_entities(example[name])}")
    return "\n".join(lines) + "\n"


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
) -> ExportResult:
    """Tag one split with PyTorch and each exported variant; write ``parity.json`` and ``parity.md``."""
    from multinerd.corpus import load_corpus

    corpus = load_corpus(data, lang=lang, max_sentences=max_sentences)
    sentences = corpus.get(split)
    if not sentences:
        raise ExportError(f"{data} has no sentences in split {split!r} to check parity on")
    words = [list(sentence.words) for sentence in sentences]
    torch_tagger = load_tagger(model_dir, backend="torch", device="cpu", batch_size=batch_size)
    scheme = TagScheme.from_tags(torch_tagger.labels, name=model_dir.name)
    gold = [scheme.convert(sentence.tags) for sentence in sentences]
    started = time.perf_counter()
    ref_probs = torch_tagger.predict_proba(words)
    torch_seconds = time.perf_counter() - started
    ref_tags = [torch_tagger.labels_of(p) for p in ref_probs]
    reference = (ref_probs, ref_tags, _strict_f1(gold, ref_tags, scheme))
    compared = {}
    for variant in variants:
        backend = "onnx" if variant == "fp32" else "onnx-int8"
        tagger = load_tagger(output_dir, backend=backend, batch_size=batch_size)
        path = output_dir / ONNX_BACKENDS[backend]
        compared[variant] = compare_variant(variant, tagger, path, words, gold, reference, scheme)
    result = ExportResult(
        output_dir=output_dir,
        files=list(files),
        data=data,
        split=split,
        n_sentences=len(sentences),
        torch_f1=reference[2],
        torch_seconds=torch_seconds,
        variants=compared,
    )
    (output_dir / "parity.json").write_text(
        json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (output_dir / "parity.md").write_text(format_parity(result), encoding="utf-8")
    return result


def export_onnx(
    model_dir: str | Path,
    output_dir: str | Path,
    *,
    int8: bool = False,
    parity_data: str = "sample",
    parity_split: str = "validation",
    lang: str | None = "en",
    max_sentences: int | None = None,
    batch_size: int = 32,
    opset: int = OPSET,
) -> ExportResult:
    """Export ``model_dir`` to ONNX in ``output_dir`` (int8 too when asked) and check parity.

    Returns the result whatever the verdict; ``result.passed`` says whether the export is
    good, and the files stay either way.

    >>> result = export_onnx("runs/quickstart/A", "runs/onnx-A", int8=True)  # doctest: +SKIP
    >>> result.passed, result.variants["int8"].sentence_agreement  # doctest: +SKIP
    (True, 0.995)
    """
    model_dir, output_dir = Path(model_dir), Path(output_dir)
    if not model_dir.is_dir():
        raise ModelNotFoundError(f"model directory not found: {model_dir}")
    read_labels(model_dir)
    if output_dir.resolve() == model_dir.resolve():
        raise ExportError(f"output directory {output_dir} is the model directory; choose another")
    output_dir.mkdir(parents=True, exist_ok=True)
    write_onnx(model_dir, output_dir / ONNX_FILE, opset=opset)
    files = [ONNX_FILE]
    variants = ["fp32"]
    if int8:
        write_int8(output_dir / ONNX_FILE, output_dir / INT8_FILE)
        files.append(INT8_FILE)
        variants.append("int8")
    files += copy_model_files(model_dir, output_dir)
    return parity_check(
        model_dir,
        output_dir,
        variants,
        data=parity_data,
        split=parity_split,
        lang=lang,
        max_sentences=max_sentences,
        batch_size=batch_size,
        files=files + ["parity.json", "parity.md"],
    )
