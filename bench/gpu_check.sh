#!/usr/bin/env bash
# The one prepared GPU check: sections 1 and 2 of BENCHMARKS.md on a GPU, bf16, bert-base-sized encoder.
#
#   bash bench/gpu_check.sh [OUTDIR]        (OUTDIR defaults to $OUT, else runs/bench-gpu)
#
# Training: our path (train.precision=auto -> bf16 on a bf16-capable GPU, length grouping, padding to a
# multiple of 8) against the baseline recipe (fp32, random batches of 32), same batches as on the CPU.
# Inference: the PyTorch Tagger with the model in bf16 against transformers.pipeline (bf16, batch 1 and
# 32) on the same texts. Prints and writes gpu_check.json: sentences/s, words/s, ratios, and the model
# FLOP utilisation (useful FLOPs from the encoder's shape / time / the card's dense bf16 peak).
# Sized to finish in about 5 minutes on one H100/H200-class card.
set -euo pipefail
cd "$(dirname "$0")/.."
OUTDIR="${1:-${OUT:-runs/bench-gpu}}"
mkdir -p "$OUTDIR"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY="${PY:-.venv/bin/python}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" - "$OUTDIR" <<'EOF'
import json, sys, time
from pathlib import Path

sys.path.insert(0, "bench")
import torch

import flops
import infer_throughput as it
import train_throughput as tt
from multinerd.labels import TagScheme
from multinerd.model.backends import TorchBackend
from multinerd.model.tagger import Tagger

out = Path(sys.argv[1])
work = out / "work"
assert torch.cuda.is_available(), "no CUDA device visible"
name = torch.cuda.get_device_name(0)
# Dense bf16 tensor-core peaks (no sparsity), TFLOP/s, from the vendors' data sheets (SXM parts).
peaks = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0}
peak_tflops = next((v for k, v in peaks.items() if k in name), None)
scheme = TagScheme.multinerd(None, name="A")
bert = tt.random_bert_base(work / "bert-base", scheme)
shape = {"layers": 12, "hidden": 768, "intermediate": 3072, "labels": len(scheme.labels)}
result = {"device": name, "peak_bf16_tflops": peak_tflops}

def mfu(batches, seconds, training):
    useful = flops.batch_flops(shape, batches, training=training)["useful"] / seconds / 1e12
    return {"useful_tflops": useful, "mfu": useful / peak_tflops if peak_tflops else None}

corpus = tt.bench_corpus(work / "speed-data", 8000)
speed = tt.compare_speed(bert, corpus, 60, work / "speed")
for path in ("baseline", "ours"):
    speed[path] |= mfu(speed[path]["batches"], speed[path]["seconds"], True)
    speed[path].pop("batches")
result["training"] = speed
print(f"training bert-base: baseline {speed['baseline']['sentences_per_s']:.1f} sent/s, "
      f"ours {speed['ours']['sentences_per_s']:.1f} sent/s (x{speed['speedup']:.2f}), "
      f"MFU ours {speed['ours']['mfu']}, baseline {speed['baseline']['mfu']}", flush=True)

texts = [" ".join(s.words) for s in tt.bench_corpus(work / "infer-data", 3000, seed=1).splits["train"]]
n_words = sum(len(it.split_words(t)) for t in texts)
from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline
model = AutoModelForTokenClassification.from_pretrained(bert, dtype=torch.bfloat16)
tagger = Tagger(AutoTokenizer.from_pretrained(bert), scheme.labels, TorchBackend(model, "cuda").logits,
                max_length=512, batch_size=64)
spans, seconds, batches = it.run_tagger(tagger, texts)
result["inference"] = {"n_texts": len(texts), "n_words": n_words,
                       "tagger_bf16": {"words_per_s": n_words / seconds} | mfu(batches, seconds, False)}
for batch_size in (1, 32):
    pipe = pipeline("token-classification", model=bert, aggregation_strategy="first", device=0,
                    dtype=torch.bfloat16)
    outputs, seconds = it.timed(lambda t: pipe(t, batch_size=batch_size), texts)
    result["inference"][f"pipeline_batch{batch_size}"] = {"words_per_s": n_words / seconds} | it.agreement(
        spans, it.pipeline_spans(outputs))
base = result["inference"]["pipeline_batch1"]["words_per_s"]
for key, figures in result["inference"].items():
    if isinstance(figures, dict):
        figures["speedup_vs_pipeline"] = figures["words_per_s"] / base
        print(f"inference {key}: {figures['words_per_s']:.0f} words/s x{figures['speedup_vs_pipeline']:.2f}"
              + (f", MFU {figures['mfu']}" if "mfu" in figures else ""), flush=True)
(out / "gpu_check.json").write_text(json.dumps(result, indent=1) + "\n")
print(f"wrote {out / 'gpu_check.json'}")
EOF
