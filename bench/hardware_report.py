"""``bench/hardware.py``'s results as BENCHMARKS.md shows them: one CPU kind's section, and every
kind measured so far side by side (``bench/results/hardware/<cpu>.json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def markdown(result: dict[str, Any]) -> list[str]:
    """The BENCHMARKS.md section of these results, every figure beside its command."""
    from common import kind_targets
    from common import pct as _pct
    from common import table as _table
    from common import verdict as _met

    meta, peaks = result["meta"], result["peaks"]
    targets = kind_targets(meta.get("bf16_feature"))
    loaded = max(meta["load_before"][0], meta.get("load_after", [0])[0]) > meta["cores"]
    lines = [
        f"### {meta.get('cpu', 'CPU not recorded')} ({', '.join(meta.get('flags', [])) or 'flags not recorded'})",
        "",
        f"Command: `{meta['command']}` ({meta['date']}, {meta['seconds'] / 60:.1f} minutes, sizes "
        f"`{json.dumps(meta['sizes'])}`). Native bf16 on this CPU: {meta['bf16_feature'] or 'no'}. "
        f"Load average before {meta['load_before']}, after {meta.get('load_after')} on {meta['cores']} cores"
        + (": **the machine was shared with other work**, so absolute rates are low; ratios are side by side."
           if loaded else "."),
        "",
        *([f"Minutes per part: {', '.join(f'{name} {seconds / 60:.1f}' for name, seconds in parts.items())}.", ""]
          if (parts := meta.get("seconds_by_part")) else []),
        ("**Peaks** (`bench/flops.py`: sustained square matmuls on the same threads, one run, 2048 wide "
         "unless the format is so slow here that it was measured at 512; utilisation below is against the "
         "higher of start and end):"),
        "",
    ]
    fp32 = peaks["fp32"]["gflops"]
    lines += _table(
        ["format", "size", "G(FL)OP/s at start", "at end", "vs fp32"],
        [[fmt, str(p["size"]), f"{p['gflops']:.1f}" if p["gflops"] else p.get("error"),
          f"{result['peaks_after'][fmt]['gflops']:.1f}" if result["peaks_after"][fmt]["gflops"] else "-",
          f"{p['gflops'] / fp32:.2f}x" if p["gflops"] else "-"] for fmt, p in peaks.items()],
    )
    lines += ["**Training** (our path, same batches; utilisation against the peak of the format used):", ""]
    rows = []
    for speed in result["training"]["speed"]:
        for path in ("ours", "ours_bf16"):
            if path not in speed:
                continue
            f = speed[path]
            rows.append([speed["label"], speed["kind"], f["precision"], f"{f['sentences_per_s']:.2f}",
                         f"{f['mean_width']:.0f}", _pct(f["padding_share"]),
                         f"{f.get('useful_gflops', 0):.1f}", _pct(f.get("useful_fraction_of_matmul", 0)),
                         f"{f['sentences_per_s'] / speed['ours']['sentences_per_s']:.2f}x"])
    lines += _table(["encoder", "texts", "precision", "sentences/s", "mean width", "padding", "useful GFLOP/s",
                     "of its format's peak", "vs fp32"], rows)
    for speed in result["training"]["speed"]:
        if "bf16_speedup_vs_fp32" in speed:
            target = targets["bf16_minilm" if "MiniLM" in speed["label"] else "bf16_bert"]
            lines.append(f"- bf16 >= {target}x fp32 ({speed['label']}, {speed['kind']}): "
                         f"{_met(speed['bf16_speedup_vs_fp32'] >= target)} ({speed['bf16_speedup_vs_fp32']:.2f}x).")
    if "f1" in result:
        f1 = result["f1"]
        fp32, bf16 = f1["f1"]["fp32"], f1["f1"]["bf16"]
        moves = [b - f for f, b in zip(fp32, bf16)]
        spread = max(fp32) - min(fp32)
        lines.append(f"- Validation F1 after {f1['epochs']:g} epochs ({f1['n_train']} sample sentences), seeds "
                     f"1-{len(fp32)}: fp32 {[round(x, 4) for x in fp32]}, bf16 {[round(x, 4) for x in bf16]}; bf16 "
                     f"moves a seed's F1 by {', '.join(f'{100 * m:+.2f}' for m in moves)} points, less than changing "
                     f"the seed moves fp32's ({100 * spread:.2f} points): {_met(max(map(abs, moves)) < spread)}.")
    else:
        lines.append("- Validation F1 by precision was not measured in this run (`--f1-seeds 3` measures it).")
    lines += ["", ("**Inference** (same texts for every system; agreement: entity micro F1 against the PyTorch "
              "fp32 Tagger):"), ""]
    names = {"tagger_torch": "Tagger, PyTorch fp32", "tagger_torch_bf16": "Tagger, PyTorch bf16",
             "tagger_onnx": "Tagger, ONNX fp32", "tagger_onnx_int8": "Tagger, ONNX int8",
             "pipeline_batch1": "pipeline (default)"}
    rows = []
    for kind, inference in result["inference"].items():
        for key, f in inference["systems"].items():
            rows.append([kind, names.get(key, key), f"{f['words_per_s']:.0f}", f"{f['speedup_vs_pipeline']:.2f}x",
                         f"{f['entity_f1']:.4f}" if "entity_f1" in f else "reference",
                         _pct(f["useful_fraction_of_matmul"]) + f" of {f['format']}"
                         if "useful_fraction_of_matmul" in f else ""])
    lines += _table(["texts", "system", "words/s", "vs pipeline", "entity agreement", "useful FLOP/s"], rows)
    for kind, inference in result["inference"].items():
        systems = inference["systems"]
        good = [(f["speedup_vs_pipeline"], k) for k, f in systems.items()
                if k.startswith("tagger") and f.get("entity_f1", 1.0) >= 0.99]
        best, key = max(good)
        # In one process, where neither side pays for start-up; the targets are for whole
        # processes (judged under "Whole processes"), so these lines are the stricter reading.
        lines.append(f"- {kind}, in process: fastest path agreeing >= 0.99 with fp32 ({names[key]}) >= "
                     f"{targets['predict']:g}x pipeline: {_met(best >= targets['predict'])} ({best:.2f}x).")
        if "tagger_onnx_int8" in systems:
            int8 = systems["tagger_onnx_int8"]
            lines.append(f"- {kind}, in process: int8 >= {targets['int8_predict']:g}x pipeline with >= 0.98 agreement: "
                         f"{_met(int8['speedup_vs_pipeline'] >= targets['int8_predict'] and int8['entity_f1'] >= 0.98)} "
                         f"({int8['speedup_vs_pipeline']:.2f}x, agreement {int8['entity_f1']:.4f}).")
    parity = result["inference"]["multinerd"].get("parity")
    if parity:
        lines.append(
            f"- Gold F1 from the export's parity check (sample test split, {parity['n_sentences']} sentences): "
            f"torch {parity['torch_f1']:.4f}; "
            + "; ".join(f"{v} {parity[v]['strict_f1']:.4f} ({-parity[v]['f1_drop_points']:+.2f} points, entity "
                        f"agreement {parity[v]['entity_agreement']:.4f}, {'accepted' if parity[v]['passed'] else 'refused'})"
                        for v in ("fp32", "int8") if v in parity)
            + ". Target int8 <= 0.5 points lost: "
            + (_met(parity["int8"]["f1_drop_points"] <= 0.5) if "int8" in parity else "-") + "."
        )
    start = result["startup"]
    lines += ["", f"**Start-up**: one sentence from command to output (median of {start['repeats']} runs):", ""]
    lines += _table(["backend", "command", "seconds"],
                    [[name, f"`{c['command']}`", f"{c['median_s']:.2f}"] for name, c in start["cases"].items()])
    onnx, torch_s = start["cases"]["onnx fp32"]["median_s"], start["cases"]["torch fp32"]["median_s"]
    lines.append(f"- ONNX <= 1 s: {_met(onnx <= 1.0)} ({onnx:.2f} s); torch <= 3 s: {_met(torch_s <= 3)} "
                 f"({torch_s:.2f} s)" + (" on a loaded machine; the targets are for a quiet one." if loaded else "."))
    return lines + [""] + _newer_parts(result, targets)


def _process_verdicts(process: dict[str, Any], targets: dict[str, float]) -> list[str]:
    """Whole-process `predict` against the pipeline, judged by this CPU kind's targets (any path, then int8)."""
    from common import verdict as _met

    lines = []
    for kind, part in process.items():
        ours = {name: f for name, f in part["systems"].items() if name.startswith("multinerd")}
        best = max(f["speedup_vs_pipeline"] for f in ours.values())
        lines.append(f"- {kind}: {part['n_texts']} texts; best `multinerd predict` >= {targets['predict']:g}x the "
                     f"pipeline: {_met(best >= targets['predict'])} ({best:.2f}x).")
        int8 = next((f for name, f in ours.items() if "int8" in name), None)
        if int8:
            lines.append(f"- {kind}: int8 `multinerd predict` >= {targets['int8_predict']:g}x the pipeline: "
                         f"{_met(int8['speedup_vs_pipeline'] >= targets['int8_predict'])} "
                         f"({int8['speedup_vs_pipeline']:.2f}x, agreement {int8['entity_agreement_vs_torch_fp32']:.4f}).")
    return lines


def _newer_parts(result: dict[str, Any], targets: dict[str, float]) -> list[str]:
    """precision=auto, whole processes and the profile: parts that runs before them do not have."""
    from common import pct as _pct
    from common import table as _table

    lines: list[str] = []
    auto = result.get("precision_auto")
    if auto:
        lines += [(f"**precision=auto** (encoder {auto['shape']}, forward and backward at widths {auto['widths']}, "
                   f"batch {auto['batch']}): `{auto['line']}`. bf16 measured on this CPU regardless of its flags: "
                   f"**{auto['bf16_speedup_measured']:.2f}x** fp32."), ""]
    process = result.get("whole_process")
    if process:
        repeats = next(iter(process.values())).get("repeats", 1)
        lines += [("**Whole processes** (`bench/process_speed.py`: one fresh process per system, same text file, "
                   f"command to last line, median of {repeats} round{'s' if repeats > 1 else ''} with the systems "
                   "taking turns; agreement: entity F1 against `multinerd predict` in torch fp32):"), ""]
        rows = [[kind, name, f"{f['seconds']:.1f}", f"{f['texts_per_s']:.1f}", f"{f['speedup_vs_pipeline']:.2f}x",
                 f"{f['entity_agreement_vs_torch_fp32']:.4f}", f"{f['load_at_start']}"]
                for kind, part in process.items() for name, f in part["systems"].items()]
        lines += _table(["texts", "system", "seconds", "texts/s", "vs pipeline", "entity agreement", "load"], rows)
        lines += _process_verdicts(process, targets)
        lines.append("")
    profile = result.get("profile")
    if profile:
        groups = list(next(iter(profile.values()))["seconds"])
        lines += [("**Where the time goes** (`bench/profile_split.py`: torch profiler, self CPU time per operator "
                   "group; tokenisation timed apart; the rest of the wall time is Python and framework overhead):"), ""]
        lines += _table(["group", *[p["what"] for p in profile.values()]],
                        [[group, *[f"{_pct(p['shares'][group])} ({p['seconds'][group]:.2f} s)"
                                   for p in profile.values()]] for group in groups])
    return lines


def load_all(results_dir: Path) -> list[dict[str, Any]]:
    """Every CPU kind's results under ``results_dir/hardware/``, in file-name order."""
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted((results_dir / "hardware").glob("*.json"))]


def _side_by_side_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    """One row per measure, one column per CPU kind; ``-`` where a run did not measure it."""
    def figure(result: dict[str, Any], read: Any) -> str:
        try:
            return read(result)
        except (KeyError, TypeError, StopIteration, ValueError):
            return "-"

    def training(label: str, kind: str) -> Any:
        return lambda r: f"{next(s for s in r['training']['speed'] if label in s['label'] and s['kind'] == kind)['bf16_speedup_vs_fp32']:.2f}x"

    def process(kind: str, system: str) -> Any:
        return lambda r: f"{r['whole_process'][kind]['systems'][system]['speedup_vs_pipeline']:.2f}x"

    measures = [
        ("load average at start", lambda r: str(r["meta"]["load_before"][0])),
        ("fp32 matmul peak, GFLOP/s", lambda r: f"{r['peaks']['fp32']['gflops']:.0f}"),
        ("bf16 peak vs fp32", lambda r: f"{r['peaks']['bf16']['gflops'] / r['peaks']['fp32']['gflops']:.2f}x"),
        ("int8 peak vs fp32", lambda r: f"{r['peaks']['int8']['gflops'] / r['peaks']['fp32']['gflops']:.2f}x"),
        ("precision=auto picks", lambda r: r["precision_auto"]["verdict"]["precision"]),
        ("bf16 / fp32, auto's measurement", lambda r: f"{r['precision_auto']['bf16_speedup_measured']:.2f}x"),
        ("bf16 / fp32 training, MiniLM, MultiNERD-like", training("MiniLM", "multinerd")),
        ("bf16 / fp32 training, MiniLM, short texts", training("MiniLM", "short")),
        ("bf16 / fp32 training, bert-base-sized, MultiNERD-like", training("bert-base", "multinerd")),
        ("predict torch auto / pipeline, processes, MultiNERD-like", process("multinerd", "multinerd predict, torch auto")),
        ("predict torch auto / pipeline, processes, short", process("short", "multinerd predict, torch auto")),
        ("predict onnx int8 / pipeline, processes, MultiNERD-like", process("multinerd", "multinerd predict, onnx int8")),
        ("predict onnx int8 / pipeline, processes, short", process("short", "multinerd predict, onnx int8")),
        ("one sentence, onnx fp32, s", lambda r: f"{r['startup']['cases']['onnx fp32']['median_s']:.2f}"),
        ("one sentence, torch fp32, s", lambda r: f"{r['startup']['cases']['torch fp32']['median_s']:.2f}"),
    ]
    return [[name, *[figure(r, read) for r in results]] for name, read in measures]


def section(results: list[dict[str, Any]]) -> list[str]:
    """BENCHMARKS.md's number-format section: every CPU kind measured, side by side, then each in detail."""
    from common import table as _table

    lines = ["## Number formats: fp32, bf16, int8, per CPU kind", ""]
    if not results:
        return lines + [("No `bench/results/hardware/*.json` yet; run "
                         "`.venv/bin/python bench/hardware.py --model-dir runs/quickstart/A`."), ""]
    lines += [("Each column is one run of `bench/hardware.py` on one kind of CPU (its results file "
               "`bench/results/hardware/<cpu>.json`); ratios are measured side by side within that run. "
               "`-`: not measured by that run (it predates the measure)."), ""]
    names = [f"{r['meta'].get('cpu', '?')} ({r['meta'].get('bf16_feature') or 'no bf16'}), {r['meta']['date'][:10]}"
             for r in results]
    lines += _table(["measure", *names], _side_by_side_rows(results))
    for result in results:
        lines += markdown(result)
    return lines
