"""Inference throughput: the Tagger (PyTorch, ONNX, int8 ONNX) against the transformers pipeline.

Every system tags the same raw texts, one after the other in one process. Words per second
counts the words of :func:`multinerd.model.tagger.split_words` in those texts for every system,
so the rates divide the same number. Agreement is entity-level against the PyTorch Tagger:
the micro F1 of a system's ``(start, end, type)`` character spans taken as predictions and
the Tagger's as reference, and the share of texts whose entities match exactly. The
pipeline splits words its own way (the tokenizer's pre-tokenizer) and reads a word's label
at its first sub-token (``aggregation_strategy="first"``); the Tagger splits clitics and
keeps hyphenated compounds whole, so some disagreement is word splitting, not the model.

F1 against gold for PyTorch, ONNX and int8 comes from the export's own parity check
(:func:`multinerd.model.export.export_onnx`) on the bundled sample's test split; the export keeps
a refused int8 file (``force``) so that it is still measured, with its verdict beside it.
``tagger_torch_bf16`` is the PyTorch Tagger under bf16 autocast, measured only where the
CPU computes bf16 natively.

    .venv/bin/python bench/infer_throughput.py --model-dir runs/quickstart/A --texts 600
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from multinerd.model.tagger import Tagger, split_words

Spans = set[tuple[int, int, str]]
#: Texts tagged once before timing, so that lazy initialisation is not timed.
WARMUP_TEXTS = 8


class ShapeRecorder:
    """Wraps a Tagger's model call and keeps, per batch, the real length of each row and the width."""

    def __init__(self, forward: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
        self.forward = forward
        self.batches: list[tuple[list[int], int]] = []

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        self.batches.append((attention_mask.sum(axis=1).tolist(), int(input_ids.shape[1])))
        return self.forward(input_ids, attention_mask)


def tagger_spans(outputs: Sequence[Sequence[dict[str, Any]]]) -> list[Spans]:
    return [{(e["start"], e["end"], e["type"]) for e in entities} for entities in outputs]


def pipeline_spans(outputs: Sequence[Sequence[dict[str, Any]]]) -> list[Spans]:
    return [{(int(e["start"]), int(e["end"]), e["entity_group"]) for e in entities} for entities in outputs]


def agreement(reference: Sequence[Spans], other: Sequence[Spans]) -> dict[str, float]:
    """Micro F1 of ``other``'s spans against ``reference``'s, and the share of texts that match exactly."""
    true_positive = sum(len(a & b) for a, b in zip(reference, other))
    n_ref, n_other = sum(map(len, reference)), sum(map(len, other))
    f1 = 2 * true_positive / (n_ref + n_other) if n_ref + n_other else 1.0
    exact = sum(a == b for a, b in zip(reference, other)) / len(reference) if reference else 1.0
    return {"entity_f1": f1, "text_agreement": exact}


def timed(call: Callable[[list[str]], Any], texts: list[str]) -> tuple[Any, float]:
    """One warm-up call on a few texts, then the timed call on all of them."""
    call(texts[:WARMUP_TEXTS])
    started = time.perf_counter()
    outputs = call(texts)
    return outputs, time.perf_counter() - started


def run_tagger(tagger: Tagger, texts: list[str]) -> tuple[list[Spans], float, list[tuple[list[int], int]]]:
    """Spans, seconds, and the batch shapes of the timed call."""
    tagger.progress = False
    tagger.predict_text(texts[:WARMUP_TEXTS])
    recorder = ShapeRecorder(tagger.forward)
    tagger.forward = recorder
    started = time.perf_counter()
    outputs = tagger.predict_text(texts)
    seconds = time.perf_counter() - started
    tagger.forward = recorder.forward
    return tagger_spans(outputs), seconds, recorder.batches


def _pipeline(model_dir: Path, batch_size: int) -> Callable[[list[str]], Any]:
    from transformers import pipeline

    tagger = pipeline("token-classification", model=str(model_dir), aggregation_strategy="first", device=-1)
    return lambda texts: tagger(texts, batch_size=batch_size)


def export_models(model_dir: Path, output_dir: Path) -> dict[str, Any]:
    """ONNX and int8 exports with their parity check (F1 against gold on the sample's test split)."""
    from multinerd.model.export import export_onnx

    result = export_onnx(model_dir, output_dir, int8=True, force=True, parity_data="sample", parity_split="test")
    parity = {"n_sentences": result.n_sentences, "torch_f1": result.torch_f1}
    for name, variant in result.variants.items():
        parity[name] = {
            "strict_f1": variant.strict_f1,
            "f1_drop_points": 100 * variant.f1_drop,
            "entity_agreement": variant.entity_agreement,
            "sentence_agreement": variant.sentence_agreement,
            "passed": variant.passed,
        }
    return parity


def compare_inference(
    model_dir: Path,
    texts: list[str],
    workdir: Path,
    *,
    onnx: bool = True,
    bf16: bool = False,
    pipeline_batches: Sequence[int] = (1, 32),
    export_dir: Path | None = None,
) -> dict[str, Any]:
    """Words/s and agreement with the PyTorch Tagger for every system on ``texts``.

    ``export_dir`` reuses an export written before (by an earlier call) instead of exporting again.
    """
    from multinerd.hardware import cpu_bf16_feature

    n_words = sum(len(split_words(text)) for text in texts)
    result: dict[str, Any] = {"n_texts": len(texts), "n_words": n_words, "systems": {}}
    torch_tagger = Tagger.from_pretrained(model_dir, backend="torch", device="cpu")
    reference, seconds, shapes = run_tagger(torch_tagger, texts)
    result["systems"]["tagger_torch"] = {
        "seconds": seconds,
        "words_per_s": n_words / seconds,
        "batches": shapes,
        "precision": "fp32",
    }
    runs: list[tuple[str, Path, str, str]] = []
    if bf16 and cpu_bf16_feature() is not None:
        runs.append(("tagger_torch_bf16", model_dir, "torch", "bf16"))
    elif bf16:
        result["tagger_torch_bf16_skipped"] = "this CPU has no native bf16 (no avx512_bf16 or amx_bf16 flag)"
    if onnx:
        if export_dir is None:
            export_dir = workdir / "onnx"
            result["parity"] = export_models(model_dir, export_dir)
        runs += [("tagger_onnx", export_dir, "onnx", "fp32"), ("tagger_onnx_int8", export_dir, "onnx-int8", "int8")]
    for name, directory, backend, precision in runs:
        tagger = Tagger.from_pretrained(
            directory, backend=backend, device="cpu" if backend == "torch" else None,
            precision=precision if backend == "torch" else "fp32",
        )
        spans, seconds, shapes = run_tagger(tagger, texts)
        result["systems"][name] = {
            "seconds": seconds,
            "words_per_s": n_words / seconds,
            "batches": shapes,
            "precision": precision,
        } | agreement(reference, spans)
    for batch_size in pipeline_batches:
        outputs, seconds = timed(_pipeline(model_dir, batch_size), texts)
        result["systems"][f"pipeline_batch{batch_size}"] = {
            "seconds": seconds,
            "words_per_s": n_words / seconds,
        } | agreement(reference, pipeline_spans(outputs))
    baseline = result["systems"][f"pipeline_batch{pipeline_batches[0]}"]["words_per_s"]
    for figures in result["systems"].values():
        figures["speedup_vs_pipeline"] = figures["words_per_s"] / baseline
    return result


def main(argv: Sequence[str] | None = None) -> None:
    from multinerd.data.corpus import load_corpus

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True, help="a trained model directory")
    parser.add_argument("--texts", type=int, default=600, help="generated English test sentences to tag")
    parser.add_argument("--workdir", type=Path, default=Path("runs/bench"))
    parser.add_argument("--no-onnx", action="store_true")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    from multinerd.data.samplegen import write_hub_layout

    data = args.workdir / "infer-data"
    write_hub_layout(data, sizes={"test": args.texts}, langs=("en",), seed=1)
    texts = [" ".join(s.words) for s in load_corpus(f"jsonl:{data}").splits["test"]]
    result = compare_inference(args.model_dir, texts, args.workdir, onnx=not args.no_onnx)
    if args.output:
        args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    for name, figures in result["systems"].items():
        print(f"{name:16s} {figures['words_per_s']:9.1f} words/s  x{figures['speedup_vs_pipeline']:.2f}")


if __name__ == "__main__":
    main()
