"""The sections of BENCHMARKS.md that ``run_all`` writes from its own results files.

Each function takes the parsed JSON of one results file and returns Markdown lines; a missing
file gives a line saying which command writes it. Kept apart from ``run_all`` so that the
orchestration and the prose stay short enough to read.
"""

from __future__ import annotations

from typing import Any

from common import INT8_TARGET, TAGGER_TARGET, pct, table, verdict

PATH_NAMES = {"baseline": "baseline", "ours": "ours", "ours_candidate": "ours, no attention dropout"}


def paths(speed: dict[str, Any]) -> list[str]:
    return [path for path in PATH_NAMES if path in speed]


def training_section(training: dict[str, Any], peak: float) -> list[str]:
    lines = [
        "## 1. Training throughput: our path against the baseline recipe",
        "",
        (
            "Baseline: `bench/baseline_recipe.py` (HF Trainer, batches of 32 in random order, padded to the "
            "longest row, fp32, no length grouping, sentences truncated at 512 sub-tokens; labels on first "
            "sub-tokens as in our path, since labelling does not change the compute). Ours: `training_arguments` "
            "+ `WindowDataset` + length-grouped sampler + `DataCollatorForTokenClassification` (multiple of 8 "
            "only on GPU), fp32. Same encoder, same generated English sentences (MultiNERD-like lengths), "
            "same number of steps of 32 rows, taken from one epoch of each path's own sampler order at evenly "
            "spaced quantiles of batch width (so wide batches are sampled in proportion); the first step is a "
            "warm-up (a median-width batch) and not timed. A row is a sentence (ours: a window; only sentences past 510 "
            "sub-tokens give more than one). Command: `.venv/bin/python bench/run_all.py` "
            "(one path alone: `.venv/bin/python bench/train_throughput.py --steps 11`)."
        ),
        "",
    ]
    rows = []
    for speed in training["speed"]:
        for path in paths(speed):
            f = speed[path]
            rows.append(
                [
                    speed["label"],
                    PATH_NAMES[path],
                    f["steps"],
                    f"{f['sentences_per_s']:.2f}",
                    f"{f['tokens_per_s']:.0f}",
                    f"{f['mean_width']:.0f}",
                    pct(f["padding_share"]),
                    pct(f["padding_flop_share"]),
                    f"{f.get('speedup', 1.0):.2f}x",
                ]
            )
    lines += table(
        [
            "encoder",
            "path",
            "timed steps",
            "sentences/s",
            "real tokens/s",
            "mean padded width",
            "padding (positions)",
            "padding (FLOPs)",
            "speed-up",
        ],
        rows,
    )
    target = all(speed["speedup"] >= 1.8 for speed in training["speed"])
    ratios = ", ".join(f"{speed['label']}: {speed['speedup']:.2f}x" for speed in training["speed"])
    lines.append(f"Target >= 1.8x baseline sentences/s on the CPU: {verdict(target)} ({ratios}).")
    candidates = [speed for speed in training["speed"] if "ours_candidate" in speed]
    for speed in candidates:
        gain = speed["ours_candidate"]["sentences_per_s"] / speed["ours"]["sentences_per_s"]
        lines.append(
            f"\nCandidate measured beside ours ({speed['label']}): loading the encoder with "
            "`attention_probs_dropout_prob=0.0` lets PyTorch's scaled dot-product attention use its fused "
            "kernel in training instead of the unfused math path (a [rows, heads, n, n] probability tensor "
            f"and dropout mask): {gain:.2f}x our path's sentences/s on the same batches."
        )
    f1 = training["f1"]
    lines += [
        "",
        (
            f"**Validation F1 after the same number of epochs** (MiniLM, {f1['epochs']:g} epochs at learning rate "
            f"{f1.get('learning_rate', 1e-4):g} of the first {f1['n_train']} English training sentences of the "
            f"bundled sample of at most {f1.get('max_words', 'any')} words (the generator's 540-word sentences, "
            "10x over-represented in a small slice, left out), validation on its "
            f"{f1['n_validation']} English validation sentences, each path with its own sampler, both scored by "
            "the library's Tagger, strict IOB2 micro F1):"
        ),
        "",
    ]
    lines += table(
        ["path", "strict F1", "sentences/s over the whole run", "padding (positions)"],
        [
            [
                p,
                f"{f1[p]['validation_f1']:.4f}",
                f"{f1[p]['sentences_per_s']:.2f}",
                pct(f1[p]["padding_share"]),
            ]
            for p in ("baseline", "ours")
        ],
    )
    lines.append(
        f"F1 no worse than the baseline: {verdict(f1['f1_difference'] >= 0)} "
        f"(difference {100 * f1['f1_difference']:+.2f} points; whole-run speed-up {f1['speedup']:.2f}x)."
    )
    return lines + [""]


def inference_section(inference: dict[str, Any]) -> list[str]:
    names = {
        "tagger_torch": "Tagger, PyTorch",
        "tagger_onnx": "Tagger, ONNX fp32",
        "tagger_onnx_int8": "Tagger, ONNX int8",
        "pipeline_batch1": "pipeline (default batch 1)",
        "pipeline_batch32": "pipeline (batch_size=32)",
    }
    lines = [
        "## 2. Inference throughput: the Tagger against `transformers.pipeline`",
        "",
        (
            f"{inference['n_texts']} raw English texts ({inference['n_words']} words) drawn from a generated test "
            'split, the MiniLM model trained in section 1. `pipeline("token-classification", '
            'aggregation_strategy="first")` is the baseline, at its default batch size of 1 (and at 32). '
            "Agreement: entity-level (character span and type) micro F1 and exact-text agreement with the "
            "PyTorch Tagger; the pipeline splits words differently (hyphens, clitics), so part of its "
            "disagreement is word splitting. Command: `.venv/bin/python bench/run_all.py` "
            "(alone: `.venv/bin/python bench/infer_throughput.py --model-dir DIR`)."
        ),
        "",
    ]
    rows = []
    for key, f in inference["systems"].items():
        rows.append(
            [
                names.get(key, key),
                f"{f['words_per_s']:.0f}",
                f"{f['speedup_vs_pipeline']:.2f}x",
                f"{f['entity_f1']:.4f}" if "entity_f1" in f else "reference",
                pct(f["text_agreement"]) if "text_agreement" in f else "",
            ]
        )
    lines += table(["system", "words/s", "vs pipeline", "entity agreement F1", "texts identical"], rows)
    systems = inference["systems"]
    lines.append(
        f"Target Tagger (PyTorch) >= {TAGGER_TARGET:g}x pipeline: "
        f"{verdict(systems['tagger_torch']['speedup_vs_pipeline'] >= TAGGER_TARGET)} "
        f"({systems['tagger_torch']['speedup_vs_pipeline']:.2f}x)."
    )
    if "tagger_onnx_int8" in systems:
        lines.append(
            f"Target int8 >= {INT8_TARGET:g}x pipeline: "
            f"{verdict(systems['tagger_onnx_int8']['speedup_vs_pipeline'] >= INT8_TARGET)} "
            f"({systems['tagger_onnx_int8']['speedup_vs_pipeline']:.2f}x)."
        )
    parity = inference.get("parity")
    if parity:
        lines += [
            "",
            f"F1 against gold from the export's parity check (bundled sample, test split, {parity['n_sentences']} "
            f"sentences): PyTorch {parity['torch_f1']:.4f}, "
            + ", ".join(
                f"{v} {parity[v]['strict_f1']:.4f} (drop {parity[v]['f1_drop_points']:+.2f} points, "
                f"sentence agreement {pct(parity[v]['sentence_agreement'])})"
                for v in ("fp32", "int8")
                if v in parity
            )
            + ".",
        ]
        if "int8" in parity:
            lines.append(
                f"Target int8 F1 within 0.5 points of fp32: {verdict(parity['int8']['f1_drop_points'] <= 0.5)}."
            )
    return lines + [""]


def data_scale_section(data_scale: dict[str, Any] | None) -> list[str]:
    lines = ["## 3. Data at full size", ""]
    if not data_scale:
        return lines + [
            (
                "`bench/results/data_scale.json` was not present when this file was written; "
                "run `.venv/bin/python bench/data_scale.py`."
            ),
            "",
        ]
    lines += [
        (
            f"From `bench/data_scale.py`, measured in its own run ({data_scale.get('date')}; command: "
            f"`{data_scale.get('command')}`), copied from `bench/results/data_scale.json`. Each step runs in a "
            "fresh child process; memory is that child's peak resident set size."
        ),
        "",
    ]
    rows = []
    for run in data_scale.get("results", []):
        load, encode = run.get("load_audit", {}), run.get("features") or {}
        rows.append(
            [
                sum(run.get("english_sentences", {}).values()),
                load.get("load_s"),
                load.get("audit_s"),
                load.get("load_audit_s"),
                load.get("peak_rss_mb"),
                encode.get("encode_s", "-"),
                encode.get("peak_rss_mb", "-"),
            ]
        )
    lines += table(
        [
            "English sentences",
            "load s",
            "audit s",
            "load + audit + fingerprint s",
            "peak MB",
            "featurise s (MiniLM tokenizer)",
            "featurise peak MB",
        ],
        rows,
    )
    if len(rows) > 1 and rows[0][3]:
        growth = rows[-1][3] / rows[0][3]
        lines.append(
            f"From {rows[0][0]} to {rows[-1][0]} sentences ({rows[-1][0] / rows[0][0]:.0f}x) load + audit "
            f"time grows {growth:.1f}x. Targets (theirs): {data_scale.get('targets')}, largest size within "
            f"them: {data_scale.get('largest_within_targets')}."
        )
    return lines + [""]


def load_test_section(load: dict[str, Any] | None) -> list[str]:
    if not load:
        return [
            "## Server under load",
            "",
            "`bench/results/load_test.json` is missing; run `bench/load_test.py`.",
            "",
        ]
    latency = load["latency_ms"]
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(load["status_counts"].items()))
    return [
        "## Server under load and abuse",
        "",
        (
            f"`{load['command']}` ({load['date']}; load average before {load['machine']['load_average']}): "
            f"{load['requests']} requests from {load['concurrency']} concurrent clients against `multinerd serve` "
            f"on loopback ({load['model']}), {load['bad_share']:.0%} of them malformed, oversized, non-UTF-8 or "
            "of the wrong shape."
        ),
        "",
        *table(
            [
                "good requests answered 200",
                "bad requests answered 4xx",
                "good right after a bad one",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "requests/s",
            ],
            [
                [
                    f"{load['good_succeeded']} / {load['good_requests']}",
                    f"{load['bad_answered_4xx']} / {load['bad_requests']}",
                    f"{load['good_right_after_bad_succeeded']} / {load['good_right_after_bad']}",
                    f"{latency['p50']:.0f}",
                    f"{latency['p90']:.0f}",
                    f"{latency['p99']:.0f}",
                    f"{load['throughput_rps']:.1f}",
                ]
            ],
        ),
        (
            f"Status codes: {statuses}. Healthy after the run: {load['healthy_after']}. The server binds to "
            f"{', '.join(load['binding']['listening'])} by default (non-loopback connection: "
            f"{', '.join(f'{k} {v}' for k, v in load['binding']['non_loopback_connect'].items()) or 'no other address'}). "
            "Model calls run one at a time; concurrent requests share them (dynamic batching, below)."
        ),
        "",
    ]


def batching_section(batching: dict[str, Any] | None) -> list[str]:
    if not batching:
        missing = "`bench/results/load_batching.json` is missing; run `bench/load_test.py --batching`."
        return ["## Dynamic batching", "", missing, ""]
    rows = [[row["setting"], row["server_options"], row["clients"], row["requests"],
             f"{row['throughput_rps']:.1f}", f"{row['latency_ms']['p50']:.0f}", f"{row['latency_ms']['p99']:.0f}",
             row["good_failed"], row["bad_not_4xx"]] for row in batching["rows"]]  # fmt: skip
    scaling = ", ".join(f"{setting} {ratio:.2f}x" for setting, ratio in batching["scaling_50_over_1"].items())
    return [
        "## Dynamic batching: 1, 10 and 50 clients, before and after",
        "",
        (
            f"`{batching['command']}` ({batching['date']}; model: {batching['model']}; load average before "
            f"{batching['machine']['load_average']}, after {batching['machine']['load_average_after']}). "
            '"before" is the server with batching off (one request per model call), "after" its defaults; '
            "each row is one run of the same seeded mix of requests (10% bad) against a fresh server after a warm-up."
        ),
        "",
        *table(
            [
                "setting",
                "serve options",
                "clients",
                "requests",
                "requests/s",
                "p50 ms",
                "p99 ms",
                "good failed",
                "bad not 4xx",
            ],
            rows,
        ),
        f"Requests/s at 50 clients over 1 client: {scaling} (target: at least 2x, p99 at most 1 s).",
        ""
        if max(batching["machine"]["load_average"][0], batching["machine"]["load_average_after"][0])
        <= batching["machine"]["cpu_count"]
        else "The machine was shared with other work during the run (load average above its core count): "
        "absolute rates and latencies are far from a quiet machine's; compare the rows with each other.",
        "",
    ]


def limit_section(results: dict[str, Any]) -> list[str]:
    meta, training, inference, profiles = (
        results["meta"],
        results["training"],
        results["inference"],
        results["profiles"],
    )
    peak = max(meta["matmul"]["gflops"], meta["matmul_after"]["gflops"])
    lines = [
        "## 4. How close to the limit",
        "",
        (
            f"Sustained fp32 matmul rate (torch, {meta['matmul']['size']}x{meta['matmul']['size']}, "
            f"{meta['matmul']['threads']} threads): {meta['matmul']['gflops']:.1f} GFLOP/s at the start of the run, "
            f"{meta['matmul_after']['gflops']:.1f} GFLOP/s at the end; fractions below are of the higher, "
            f"**{peak:.1f} GFLOP/s**. FLOPs counted from the encoder's shape "
            "(`bench/flops.py`: linear layers + attention, training = 3x forward); *useful* counts real tokens, "
            "*executed* counts padded positions. Command: `.venv/bin/python bench/run_all.py` "
            "(matmul alone: `.venv/bin/python bench/flops.py`)."
        ),
        "",
    ]
    rows = []
    for speed in training["speed"]:
        for path in paths(speed):
            f = speed[path]
            rows.append(
                [
                    f"training, {speed['label']}, {PATH_NAMES[path]}",
                    f"{f['useful_gflops']:.1f}",
                    pct(f["useful_gflops"] / peak),
                    f"{f['executed_gflops']:.1f}",
                    pct(f["executed_gflops"] / peak),
                ]
            )
    for key, f in inference["systems"].items():
        if "useful_gflops" in f:
            own = f.get("peak_gflops", peak) if f.get("format", "fp32") != "fp32" else peak
            rows.append(
                [
                    f"inference, MiniLM, {key}",
                    f"{f['useful_gflops']:.1f}",
                    pct(f["useful_gflops"] / own),
                    f"{f['executed_gflops']:.1f}",
                    pct(f["executed_gflops"] / own),
                ]
            )
    lines += table(
        [
            "what",
            "useful GFLOP/s",
            "of its format's matmul rate",
            "executed GFLOP/s",
            "of its format's matmul rate",
        ],
        rows,
    )
    if "peaks" in meta:
        lines.append(
            "Each row is against the matmul rate of the format it computes in, measured at the start of the "
            "run: "
            + ", ".join(f"{fmt} {p['gflops']:.1f}" for fmt, p in meta["peaks"].items() if p["gflops"])
            + " G(FL)OP/s (int8 ONNX keeps its feed-forward layers in fp32, so its share is a lower bound)."
        )
    else:
        lines.append(
            "int8 rows count the same FLOPs against the fp32 matmul rate (these results predate "
            "per-format peaks; rerun `bench/run_all.py`)."
        )
    lines.append("")
    lines.append("**Where the time goes** (cProfile cumulative shares; profiling inflates Python overhead):")
    lines.append("")
    for part in ("training", "inference"):
        p = profiles[part]
        shares = ", ".join(f"{k} {pct(v)}" for k, v in p["shares"].items())
        ops = ", ".join(f"{k} {pct(v)}" for k, v in p["ops"]["top_ops"][:6])
        lines.append(
            f"- {part} (MiniLM, our path, {p['seconds']:.1f} s profiled): {shares}. "
            f"torch operators: matmuls {pct(p['ops']['matmul_share'])} of operator time; top: {ops}."
        )
    return lines + [""]


def tune_section(runs: list[dict[str, Any]]) -> list[str]:
    """``multinerd tune`` against the quickstart's defaults (``bench/tune_search.py``)."""
    lines = ["## Tuning: 8 trials against the defaults", ""]
    if not runs:
        return lines + [
            "`bench/results/tune_search_*.json` is missing; run `.venv/bin/python bench/tune_search.py`.",
            "",
        ]
    rows = []
    for run in runs:
        for r in run["results"]:
            low, high = r["gain_ci95"] if r.get("gain_ci95") else (None, None)
            interval = f"[{low:+.3f}, {high:+.3f}]" if low is not None else "n/a"
            rows.append(
                [
                    f"{r['corpus']} ({r['sentences']['train']}/{r['sentences']['validation']}/{r['sentences']['test']})",
                    f"{r['validation_f1_default']:.3f} / {r['validation_f1_best_trial']:.3f}",
                    f"{r['test_f1_default']:.3f} / {r['test_f1_tuned']:.3f}",
                    f"{r['gain']:+.3f} {interval}",
                    f"{r['search_seconds']:.0f} s of {r['search_budget_seconds']:.0f} s",
                    f"`{run['command']}`",
                ]
            )
    lines += table(
        [
            "corpus (train/validation/test)",
            "validation F1: defaults / best trial",
            "test F1: defaults / tuned",
            "test gain [95% CI]",
            "search time of the budget (8 default runs)",
            "command",
        ],
        rows,
    )
    return lines + [
        (
            "System B, quickstart settings as the defaults, strict micro F1. The corpora are small slices "
            "(the benchmark ran on a machine shared with other work, so it had to fit in minutes); on them "
            "the defaults' 2 epochs do not learn any entity, and the search mostly finds more epochs at a "
            "higher learning rate. With 8 trials Optuna's TPE sampler is still in its random start-up "
            "trials, so this is in effect a random search; the intervals are paired bootstrap intervals "
            "over test sentences."
        ),
        "",
    ]


def dry_run_section(dry: dict[str, Any] | None) -> list[str]:
    """``--dry-run``'s estimate against a real training run of the same system (``bench/dry_run.py``)."""
    lines = ["## The dry run's estimate against a real run", ""]
    if not dry:
        return lines + [
            "`bench/results/dry_run.json` is missing; run `.venv/bin/python bench/dry_run.py`.",
            "",
        ]
    ratio = dry["estimate_over_real"]
    lines += table(
        [
            "dry run took",
            "estimated training",
            "real training",
            "estimate / real",
            "target (within 1.5x)",
            "load before / after",
            "command",
        ],
        [
            [
                f"{dry['dry_run_seconds']:.0f} s",
                f"{dry['estimated_total_seconds']:.0f} s",
                f"{dry['real_total_seconds']:.0f} s",
                f"{ratio:.2f}",
                verdict(1 / 1.5 <= ratio <= 1.5),
                f"{dry['load_average_before'][0]:.1f} / {dry['load_average_after'][0]:.1f}",
                f"`{dry['command']}`",
            ]
        ],
    )
    return lines
